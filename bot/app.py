"""The one place that wires everything: storage, Matrix edge, engine, outbox, commands.

Construction has no side effects; :meth:`App.run` acquires the store lock (SQLite)
or stands by until it holds the bot's advisory lock (PostgreSQL, bot/activelock.py),
migrates the database, restores the login, and then loops: sync → durable
ingest → send. Start and stop mirror each other. On PostgreSQL a watchdog checks
the lock connection; when it is lost the instance fences itself (no sync, no send)
and :meth:`App.run` raises :class:`FencedError`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from datetime import timedelta
from typing import Any

from sqlalchemy import Engine as SqlEngine

from bot.activelock import ActiveLock, LockLost
from bot.clock import Clock, SystemClock
from bot.config import Settings
from bot.engine import Engine
from bot.errors import FencedError, HomeserverUnavailable, MatrixError
from bot.events import SyncBatch, TextMessage
from bot.faults import CrashPoints
from bot.health import HealthServer
from bot.ids import server_name
from bot.instance import DatabaseLoginStore
from bot.keeper import TrustKeeper
from bot.matrix import MatrixGateway
from bot.metrics import Metrics
from bot.outbox import OutboxSender
from bot.reminders import ReminderRunner, Retention
from bot.storelock import StoreLock
from bot.timer import ReminderTimer
from bot.trust import SharingMode
from commands.core import build_registry
from commands.dispatch import Dispatcher
from commands.framework import CommandRegistry
from commands.i18n import N_
from commands.people import record_role_changes
from domain.org import Role
from storage.db import make_engine, upgrade
from storage.uow import Database

log = logging.getLogger(__name__)


class Backoff:
    """Exponential backoff with jitter: 1, 2, 4 … seconds up to a cap; never a busy loop."""

    def __init__(self, cap: float, base: float = 1.0) -> None:
        self._cap = cap
        self._base = base
        self._attempt = 0

    def next(self) -> float:
        delay = min(self._cap, self._base * 2 ** min(self._attempt, 30))
        self._attempt += 1
        return float(delay * random.uniform(0.8, 1.0))

    @property
    def used(self) -> bool:
        return self._attempt > 0

    def reset(self) -> None:
        self._attempt = 0


class App:
    def __init__(
        self,
        settings: Settings,
        *,
        clock: Clock | None = None,
        registry: CommandRegistry | None = None,
        crash: CrashPoints | None = None,
    ) -> None:
        self.settings = settings
        self.clock = clock or SystemClock()
        self.registry = registry or build_registry()
        self.org = settings.agency.organisation()
        self.crash = crash or CrashPoints()
        self.stopping = asyncio.Event()
        self.first_sync_done = asyncio.Event()
        self.gateway: MatrixGateway | None = None  # while running; tests watch it
        self.timer: ReminderTimer | None = None  # while running; tests fire it
        self.metrics = Metrics(self.clock)
        self.health: HealthServer | None = None  # while running, if configured
        self.lock: ActiveLock | None = None  # PostgreSQL: the advisory lock
        # Set the moment the lock is found lost: nothing is synced or sent after that.
        self.fenced = False
        self._outbox_task: asyncio.Task[None] | None = None

    def stop(self) -> None:
        self.stopping.set()

    async def _start_health(self) -> None:
        address = self.settings.health.address
        if address is None:
            return
        self.health = HealthServer(
            self.metrics, ready_within_seconds=self.settings.health.ready_within_seconds
        )
        try:
            await self.health.start(*address)
        except OSError as exc:
            # The bot's work matters more than its dashboard: say so, carry on.
            log.error("Gesundheits-Endpunkt %s:%s nicht gestartet: %s", *address, exc.strerror)
            self.health = None

    async def run(self) -> None:
        """Run until stopped. SQLite: one process per store (the store lock). PostgreSQL:
        stand by until this instance holds the bot's advisory lock, then run as the
        active one until stopped or fenced (:class:`FencedError` on lock loss)."""
        matrix_cfg = self.settings.matrix
        if matrix_cfg.pickle_key is None:
            raise MatrixError(N_("Kein Pickle-Schlüssel konfiguriert (FKBOT_MATRIX__PICKLE_KEY)."))
        engine = make_engine(self.settings.database.url)
        try:
            if engine.dialect.name == "postgresql":
                await self._run_failover(engine)
            else:
                with StoreLock(matrix_cfg.store_path):
                    await self._start_health()
                    try:
                        await self._run_active(engine, None)
                    finally:
                        await self._stop_health()
        finally:
            engine.dispose()

    async def _stop_health(self) -> None:
        if self.health is not None:
            await self.health.stop()
            self.health = None

    async def _run_failover(self, engine: SqlEngine) -> None:
        failover = self.settings.failover
        lock = ActiveLock(
            self.settings.database.url,
            self.settings.matrix.user_id,
            check_seconds=failover.check_seconds,
            check_timeout_seconds=failover.check_timeout_seconds,
            retry_seconds=failover.retry_seconds,
        )
        self.lock = lock
        await self._start_health()
        try:
            if not await lock.acquire(self.stopping, self.metrics.standing_by):
                return  # stopped while standing by
            try:
                await self._run_active(engine, lock)
            finally:
                lock.release()
        finally:
            await self._stop_health()

    async def _run_active(self, engine: SqlEngine, lock: ActiveLock | None) -> None:
        """The active instance. With a lock: a watchdog checks it and fences on loss."""
        matrix_cfg = self.settings.matrix
        assert matrix_cfg.pickle_key is not None
        pickle_key = matrix_cfg.pickle_key.get_secret_value()
        # A holder that lost its connection may believe itself active this long; the
        # crypto store and sending wait for it (migrating meanwhile is harmless).
        window = asyncio.create_task(asyncio.sleep(lock.fence_window if lock else 0))
        watchdog = asyncio.create_task(lock.watch(), name="lock") if lock else None
        try:
            upgrade(engine)
            db = Database(engine)
            self.metrics.watch(db)
            with db.uow() as uow:
                changes = record_role_changes(uow, self.org, self.clock.now())
                uow.commit()
            if changes:
                log.info("Rollen geändert seit dem letzten Start: %d Einträge im Audit", changes)
            login_store = (
                DatabaseLoginStore(engine, pickle_key, matrix_cfg.store_path) if lock else None
            )
            await window
            if lock is not None:
                # Still ours after the window (and after a migration that may have kept
                # the watchdog from running)? Else fence before the crypto store opens.
                try:
                    await lock.check()
                except LockLost as early:
                    self.fenced = True
                    self.metrics.fenced()
                    raise FencedError(
                        N_("Datenbanksperre vor dem Start verloren (%(reason)s)."),
                        reason=str(early),
                    ) from early
            gateway = MatrixGateway(
                matrix_cfg,
                pickle_key=pickle_key,
                login_store=login_store,
                may_send=lambda: not self.fenced,
                database_url=self.settings.database.url,
            )
            self.gateway = gateway
            try:
                work = asyncio.create_task(self._open_and_loop(db, gateway), name="active")
                waiting: set[asyncio.Task[Any]] = {work} | ({watchdog} if watchdog else set())
                done, _ = await asyncio.wait(waiting, return_when=asyncio.FIRST_COMPLETED)
                if watchdog is not None and watchdog in done and work not in done:
                    lost = watchdog.result()
                    # FENCE: from here on nothing syncs and nothing is sent. The flag is
                    # checked before every send; the cancellation ends what is running.
                    self.fenced = True
                    self.metrics.fenced()
                    log.error("Sperre verloren (%s): kein Sync, kein Senden mehr", lost)
                    work.cancel()
                    if self._outbox_task is not None:
                        self._outbox_task.cancel()  # a send in progress ends here, too
                    with contextlib.suppress(asyncio.CancelledError, Exception):
                        await work
                    raise FencedError(
                        N_(
                            "Aktive Instanz hat die Datenbanksperre verloren und hält an; "
                            "eine andere Instanz übernimmt."
                        )
                    )
                work.result()
            finally:
                self.metrics.active.set(0)
                await gateway.close()
        finally:
            window.cancel()
            if watchdog is not None:
                watchdog.cancel()

    async def _open_and_loop(self, db: Database, gateway: MatrixGateway) -> None:
        password = self.settings.matrix.password
        await gateway.open(password.get_secret_value() if password else None)
        self.metrics.became_active()
        await self._loop(db, gateway)

    async def _loop(self, db: Database, gateway: MatrixGateway) -> None:
        cfg = self.settings
        dispatcher = Dispatcher(self.registry, cfg.bot.command_prefix, cfg.bot.max_message_length)
        engine = Engine(
            db,
            dispatcher,
            self.clock,
            allowed_homeservers=cfg.matrix.allowed_homeservers,
            require_encryption=cfg.matrix.require_encryption,
            undecryptable_timeout=timedelta(seconds=cfg.matrix.undecryptable_timeout_seconds),
            org=self.org,
            calendar=cfg.calendar(),
            circles=cfg.circles(),
            metrics=self.metrics,
            language=cfg.bot.language,
        )
        sender = OutboxSender(
            db,
            gateway,
            self.clock,
            require_encryption=cfg.matrix.require_encryption,
            crash=self.crash,
            may_send=lambda: not self.fenced,
        )
        keeper = TrustKeeper(
            db,
            self.clock,
            mode=cfg.matrix.key_sharing,
            own_user=cfg.matrix.user_id,
            allowed_homeservers=cfg.matrix.allowed_homeservers,
            pinned_devices=cfg.matrix.pinned_devices,
            org=self.org,
            prefix=cfg.bot.command_prefix,
            submit=sender.submit,
            language=cfg.bot.language,
        )
        gateway.set_policy(keeper)
        if cfg.matrix.key_sharing is SharingMode.ALL_MEMBERS:
            log.warning(
                "ACHTUNG: key_sharing = all-members – Raumschlüssel gehen an JEDES Gerät "
                "jedes Mitglieds, auch unverifizierte. Nur für Testräume!"
            )
        reminders = ReminderTimer(
            ReminderRunner(
                db,
                self.clock,
                self.org,
                submit=sender.submit,
                moderators=lambda room_id: self._moderators(gateway, room_id),
                prefix=cfg.bot.command_prefix,
                calendar=cfg.calendar(),
                circles=cfg.circles(),
                retention=Retention(
                    cfg.retention.closed_days,
                    cfg.retention.revoked_grace_days,
                    cfg.retention.quarantine_days,
                ),
                metrics=self.metrics,
                language=cfg.bot.language,
            ),
            self.clock,
        )
        self.timer = reminders
        sender_task: asyncio.Task[None] | None = None
        sync: asyncio.Task[SyncBatch] | None = None
        backoff = Backoff(cfg.matrix.reconnect_max_seconds)
        full_state = True  # nio keeps no room state across restarts
        identity_ready = False
        stop_wait = asyncio.create_task(self.stopping.wait())
        try:
            while not self.stopping.is_set():
                if sender_task is not None and sender_task.done():
                    sender_task.result()  # a dead outbox is fatal, never silent
                if not identity_ready:
                    # Before the first sync: a message sent to a device that is not yet
                    # cross-signed stays undecryptable for strict clients' senders.
                    try:
                        await gateway.ensure_identity(self._password())
                    except HomeserverUnavailable as exc:
                        await self._back_off(backoff, "Identität nicht geprüft", exc)
                        continue
                    identity_ready = True
                since = engine.checkpoint()
                known_rooms = engine.known_rooms()
                timeout_ms = 0 if full_state else int(cfg.matrix.sync_timeout_seconds * 1000)
                sync = asyncio.create_task(
                    gateway.sync(
                        since, full_state=full_state, timeout_ms=timeout_ms, known_rooms=known_rooms
                    )
                )
                done, _ = await asyncio.wait({sync, stop_wait}, return_when=asyncio.FIRST_COMPLETED)
                if sync not in done:
                    sync.cancel()
                    with contextlib.suppress(asyncio.CancelledError, MatrixError):
                        await sync
                    break
                try:
                    batch = sync.result()
                except HomeserverUnavailable as exc:
                    await self._back_off(backoff, "Homeserver nicht erreichbar", exc)
                    continue
                self.metrics.synced()
                if backoff.used:
                    sender.retry_now()  # the homeserver is back: waiting replies go first
                backoff.reset()
                await self._handle_invites(gateway, batch)
                if any(isinstance(e, TextMessage) for e in batch.events):
                    self.crash.hit("after_sync_before_commit")
                if self.fenced:
                    break
                result = engine.ingest(batch)
                pending = engine.process_pending(gateway.try_decrypt)
                if result.outbox or pending.outbox:
                    self.crash.hit("after_commit_before_send")
                if sender_task is None:
                    # Replies left over from before a crash go out once we are in sync;
                    # reminders that fell due while the bot was down, too.
                    sender_task = asyncio.create_task(sender.run(), name="outbox")
                    self._outbox_task = sender_task
                    reminders.start()
                sender.submit(result.outbox + pending.outbox)
                if result.timed_work and sender_task is not None:
                    # A command or reaction may have changed an agenda or the next due
                    # time; look after the replies are on their way.
                    asyncio.get_running_loop().call_soon(reminders.fire)
                for source, room_id in result.key_requests:
                    await gateway.request_room_key(source, room_id)
                full_state = False
                self.first_sync_done.set()
        finally:
            stop_wait.cancel()
            if sync is not None and not sync.done():
                sync.cancel()  # fenced or stopped mid-sync: its answer is not wanted
            reminders.stop()
            if sender_task is not None:
                sender_task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await sender_task
            if not self.fenced:  # a fenced instance sends nothing more, not even now
                with contextlib.suppress(TimeoutError, MatrixError):
                    await asyncio.wait_for(sender.flush(), 5)

    async def _back_off(self, backoff: Backoff, what: str, exc: Exception) -> None:
        """Wait the next backoff delay, or less if the bot is asked to stop."""
        delay = backoff.next()
        log.warning("%s (%s); neuer Versuch in %.1f s", what, exc, delay)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.stopping.wait(), delay)

    def _moderators(self, gateway: MatrixGateway, room_id: str) -> list[str]:
        policy = self.settings.circles().policy(room_id)
        return [
            user
            for user in gateway.joined_members(room_id)
            if policy.member(self.org, user, gateway.power_level(room_id, user)).has(
                Role.MODERATION
            )
        ]

    def _password(self) -> str | None:
        password = self.settings.matrix.password
        return password.get_secret_value() if password else None

    async def _handle_invites(self, gateway: MatrixGateway, batch: SyncBatch) -> None:
        allowed = self.settings.matrix.allowed_homeservers
        for invite in batch.invites:
            try:
                if server_name(invite.inviter).lower() in allowed:
                    log.info("Einladung in %s von %s angenommen", invite.room_id, invite.inviter)
                    await gateway.join(invite.room_id)
                else:
                    log.warning(
                        "Einladung in %s von %s abgelehnt: Homeserver nicht zugelassen",
                        invite.room_id,
                        invite.inviter,
                    )
                    await gateway.decline(invite.room_id)
            except MatrixError as exc:
                log.warning("Einladung %s nicht bearbeitet: %s", invite.room_id, exc)
