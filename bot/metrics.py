"""What an operator alerts on, in Prometheus' terms; no label names a room, person or case.

Counters and histograms are fed by the engine, the timed runner and the sync loop;
the gauges that describe stored state (outbox backlog, quarantine, the database pool)
are read from the database when /metrics is scraped, so they are true after a restart.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy import func, select

from bot.clock import Clock
from storage.models import OutboxMessage, QuarantinedEvent
from storage.states import OutboxState
from storage.uow import Database

COMMAND_BUCKETS = (0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0)


class Metrics:
    def __init__(self, clock: Clock, registry: CollectorRegistry | None = None) -> None:
        self.clock = clock
        self.registry = registry or CollectorRegistry()
        r = self.registry
        self.commands = Counter(
            "fkbot_commands",
            "Befehle nach Ergebnis (ok, user_error, internal_error)",
            ["outcome"],
            registry=r,
        )
        self.command_seconds = Histogram(
            "fkbot_command_seconds",
            "Bearbeitungszeit eines Befehls bis zur Antwort im Ausgang",
            buckets=COMMAND_BUCKETS,
            registry=r,
        )
        self.quarantined = Counter(
            "fkbot_quarantined_events",
            "Ereignisse, die nicht ins erwartete Format passten",
            registry=r,
        )
        self.reminders = Counter(
            "fkbot_reminders_sent",
            "Gesendete Erinnerungen; late=true: verspätet",
            ["late"],
            registry=r,
        )
        self.active = Gauge(
            "fkbot_active",
            "1: diese Instanz synchronisiert und sendet; 0: sie wartet",
            registry=r,
        )
        self.standby = Gauge(
            "fkbot_standby",
            "1: diese Instanz wartet in Bereitschaft und erreicht die Datenbank",
            registry=r,
        )
        self.last_sync = Gauge(
            "fkbot_last_sync_timestamp_seconds",
            "Zeitpunkt des letzten erfolgreichen Syncs",
            registry=r,
        )
        self._synced_at: datetime | None = None
        # starting → (standby →) active → (fenced); see bot/activelock.py
        self.role = "starting"
        self._standby_seen_at: datetime | None = None

    def command(self, outcome: str, seconds: float) -> None:
        self.commands.labels(outcome=outcome).inc()
        self.command_seconds.observe(seconds)

    def reminder(self, *, late: bool) -> None:
        self.reminders.labels(late="true" if late else "false").inc()

    def synced(self) -> None:
        self._synced_at = self.clock.now()
        self.last_sync.set(self._synced_at.timestamp())

    def standing_by(self, reachable: bool) -> None:
        """A standby's attempt for the lock; ``reachable``: the database answered."""
        self.role = "standby"
        if reachable:
            self._standby_seen_at = self.clock.now()
        self.standby.set(1 if reachable else 0)

    def became_active(self) -> None:
        self.role = "active"
        self.standby.set(0)
        self.active.set(1)

    def fenced(self) -> None:
        """The lock is lost: this instance stopped syncing and sending."""
        self.role = "fenced"
        self.standby.set(0)
        self.active.set(0)

    def standby_age(self) -> float | None:
        """Seconds since a standby last reached the database; None if it never did."""
        if self._standby_seen_at is None:
            return None
        return max(0.0, (self.clock.now() - self._standby_seen_at).total_seconds())

    def sync_age(self) -> float | None:
        """Seconds since the last successful sync; None before the first."""
        if self._synced_at is None:
            return None
        return max(0.0, (self.clock.now() - self._synced_at).total_seconds())

    def watch(self, db: Database) -> None:
        """Read the stored state's gauges from ``db`` at every scrape."""
        self.registry.register(_StoredState(db, self))


class _StoredState(Collector):
    def __init__(self, db: Database, metrics: Metrics) -> None:
        self._db = db
        self._metrics = metrics

    def collect(self) -> Iterator[GaugeMetricFamily]:
        now = self._metrics.clock.now()
        with self._db.uow() as uow:
            pending, oldest = uow.session.execute(
                select(func.count(), func.min(OutboxMessage.created_at)).where(
                    OutboxMessage.state == OutboxState.PENDING
                )
            ).one()
            quarantined = uow.session.scalar(select(func.count()).select_from(QuarantinedEvent))
        yield GaugeMetricFamily(
            "fkbot_outbox_pending", "Nachrichten im Ausgang, noch nicht gesendet", value=pending
        )
        age = 0.0 if oldest is None else max(0.0, (now - oldest).total_seconds())
        yield GaugeMetricFamily(
            "fkbot_outbox_oldest_pending_seconds",
            "Alter der ältesten ungesendeten Nachricht (0: keine)",
            value=age,
        )
        yield GaugeMetricFamily(
            "fkbot_quarantine_rows",
            "Zurückgestellte Ereignisse in der Datenbank",
            value=quarantined or 0,
        )
        sync_age = self._metrics.sync_age()
        yield GaugeMetricFamily(
            "fkbot_sync_lag_seconds",
            "Sekunden seit dem letzten erfolgreichen Sync (-1: noch keiner)",
            value=-1.0 if sync_age is None else sync_age,
        )
        pool = self._db.engine.pool
        checked_out = getattr(pool, "checkedout", None)
        size = getattr(pool, "size", None)
        yield GaugeMetricFamily(
            "fkbot_db_pool_checked_out",
            "Belegte Datenbankverbindungen",
            value=float(checked_out()) if callable(checked_out) else 0.0,
        )
        yield GaugeMetricFamily(
            "fkbot_db_pool_size",
            "Größe des Verbindungspools",
            value=float(size()) if callable(size) else 0.0,
        )
