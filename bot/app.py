"""The one place that wires everything: storage, Matrix edge, engine, outbox, commands.

Construction has no side effects; :meth:`App.run` acquires the store lock,
migrates the database, restores the login, and then loops: sync → durable
ingest → send. Start and stop mirror each other.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from datetime import timedelta

from bot.clock import Clock, SystemClock
from bot.config import Settings
from bot.engine import Engine
from bot.errors import HomeserverUnavailable, MatrixError
from bot.events import SyncBatch, TextMessage
from bot.faults import CrashPoints
from bot.health import HealthServer
from bot.ids import server_name
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
        matrix_cfg = self.settings.matrix
        if matrix_cfg.pickle_key is None:
            raise MatrixError(N_("Kein Pickle-Schlüssel konfiguriert (FKBOT_MATRIX__PICKLE_KEY)."))
        with StoreLock(matrix_cfg.store_path):
            engine = make_engine(self.settings.database.url)
            try:
                upgrade(engine)
                db = Database(engine)
                self.metrics.watch(db)
                with db.uow() as uow:
                    changes = record_role_changes(uow, self.org, self.clock.now())
                    uow.commit()
                if changes:
                    log.info(
                        "Rollen geändert seit dem letzten Start: %d Einträge im Audit", changes
                    )
                gateway = MatrixGateway(
                    matrix_cfg,
                    pickle_key=matrix_cfg.pickle_key.get_secret_value(),
                    database_url=self.settings.database.url,
                )
                self.gateway = gateway
                await self._start_health()
                try:
                    password = matrix_cfg.password
                    await gateway.open(password.get_secret_value() if password else None)
                    self.metrics.active.set(1)
                    await self._loop(db, gateway)
                finally:
                    self.metrics.active.set(0)
                    await gateway.close()
                    if self.health is not None:
                        await self.health.stop()
            finally:
                engine.dispose()

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
                        await gateway.ensure_identity(*self._identity_secrets())
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
                result = engine.ingest(batch)
                pending = engine.process_pending(gateway.try_decrypt)
                if result.outbox or pending.outbox:
                    self.crash.hit("after_commit_before_send")
                if sender_task is None:
                    # Replies left over from before a crash go out once we are in sync;
                    # reminders that fell due while the bot was down, too.
                    sender_task = asyncio.create_task(sender.run(), name="outbox")
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
            reminders.stop()
            if sender_task is not None:
                sender_task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await sender_task
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

    def _identity_secrets(self) -> tuple[str, str | None]:
        matrix = self.settings.matrix
        assert matrix.pickle_key is not None
        password = matrix.password.get_secret_value() if matrix.password else None
        return matrix.pickle_key.get_secret_value(), password

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
