"""Sends what the engine committed to the outbox, and marks it sent once the server acknowledged.

A crash between send and mark is harmless: the row is sent again with the same
transaction id, and the homeserver answers with the original event id.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Protocol

from bot.bugs import log_internal_error
from bot.clock import Clock
from bot.errors import HomeserverUnavailable, SendError
from bot.faults import CrashPoints
from bot.ids import EventId, RoomId
from bot.upload import needs_upload, with_upload
from storage.models import OutboxMessage
from storage.uow import Database

log = logging.getLogger(__name__)

MAX_RETRY_DELAY = timedelta(minutes=10)
# About two hours of retries (1 s doubling to 10 min); then the message is given up,
# loudly: a permanent refusal (bot removed from the room) must not retry forever.
MAX_ATTEMPTS = 20
PAGE = 50
# Transient failures back off to 2**5 = 32 s at most: the sync loop notices when the
# homeserver is back and calls retry_now() anyway.
TRANSIENT_BACKOFF_STEPS = 5


class Sender(Protocol):
    async def send(
        self, room_id: RoomId, event_type: str, content: dict[str, Any], txn_id: str
    ) -> EventId: ...

    def room_is_encrypted(self, room_id: RoomId) -> bool: ...

    async def upload(
        self, data: bytes, mimetype: str, filename: str, *, encrypt: bool
    ) -> dict[str, Any]: ...


def retry_delay(attempts: int) -> timedelta:
    """1 s, 2 s, 4 s … capped at ten minutes."""
    return min(timedelta(seconds=2 ** min(attempts, 20)), MAX_RETRY_DELAY)


@dataclass(frozen=True)
class OutboxItem:
    """A committed outbox row, handed to the sender in memory to skip re-reading it."""

    id: int
    txn_id: str
    room_id: str
    event_type: str
    content: dict[str, Any]
    requires_encryption: bool
    attempts: int

    @classmethod
    def of(cls, row: OutboxMessage) -> OutboxItem:
        return cls(
            row.id,
            row.txn_id,
            row.room_id,
            row.event_type,
            row.content,
            row.requires_encryption,
            row.attempts,
        )


class OutboxSender:
    """Delivers outbox rows. The database is the truth; the queue is a shortcut.

    Rows committed by this process are handed over with :meth:`submit` and sent at
    once. The database is read at start (rows left from before a crash) and when a
    retry falls due.
    """

    def __init__(
        self,
        db: Database,
        sender: Sender,
        clock: Clock,
        *,
        require_encryption: bool,
        crash: CrashPoints | None = None,
        may_send: Callable[[], bool] = lambda: True,
    ) -> None:
        self._db = db
        # False once the instance is fenced (lost its failover lock): not one more send.
        self._may_send = may_send
        self._sender = sender
        self._clock = clock
        self._require_encryption = require_encryption
        self._crash = crash or CrashPoints()
        self._wake = asyncio.Event()
        self._queue: deque[OutboxItem] = deque()
        self._queued: set[int] = set()
        self._may_retry = True  # rows from before a restart may be waiting
        self._flush_requested = False
        self.sent = 0

    def submit(self, items: list[OutboxItem]) -> None:
        for item in items:
            if item.id not in self._queued:
                self._queue.append(item)
                self._queued.add(item.id)
        if items:
            self._wake.set()

    def wake(self) -> None:
        self._wake.set()

    async def flush(self) -> int:
        """Send what was handed over, then everything else due in the database."""
        sent, server_away = await self._drain()
        if server_away:
            return sent
        while True:
            with self._db.uow() as uow:
                rows = [
                    OutboxItem.of(r)
                    for r in uow.outbox.due(self._clock.now(), PAGE)
                    if r.id not in self._queued
                ]
            if not rows:
                return sent
            for item in rows:
                delivered = await self._deliver(item)
                if delivered is None:
                    return sent  # the whole server is away; the sync loop backs off
                sent += delivered
            if len(rows) < PAGE:
                return sent  # rows committed meanwhile were submitted and set the wake
            # Failed rows now have a future not_before, so the next page is new work.

    async def drain(self) -> int:
        """Send only what was submitted (the hot path); returns how many were sent."""
        sent, _ = await self._drain()
        return sent

    async def _drain(self) -> tuple[int, bool]:
        """Send the queue; returns how many were sent and whether the server went away."""
        sent = 0
        while self._queue:
            item = self._queue.popleft()
            self._queued.discard(item.id)
            delivered = await self._deliver(item)
            if delivered is None:
                # The rest stay pending in the database and go out with the retry.
                self._queue.clear()
                self._queued.clear()
                return sent, True
            sent += delivered
        return sent, False

    async def _deliver(self, item: OutboxItem) -> int | None:
        """1 if sent, 0 if refused or failed (retry scheduled), None if the server is away
        (or this instance is fenced: the row stays pending for the one that took over)."""
        if not self._may_send():
            return None
        room = RoomId(item.room_id)
        if (
            item.requires_encryption
            and self._require_encryption
            and not self._sender.room_is_encrypted(room)
        ):
            log.error("Nachricht %s nicht gesendet: Raum %s unverschlüsselt", item.id, room)
            with self._db.uow() as uow:
                uow.outbox.mark_refused(item.id, "room not encrypted")
                uow.commit()
            return 0
        try:
            content = item.content
            if needs_upload(content):
                content = await with_upload(
                    self._sender, content, encrypt=self._sender.room_is_encrypted(room)
                )
                if not self._may_send():
                    return None
            event_id = await self._sender.send(room, item.event_type, content, item.txn_id)
        except HomeserverUnavailable as exc:
            self._failed(item.id, item.attempts, exc, permanent=False)
            return None
        except SendError as exc:
            self._failed(item.id, item.attempts, exc, permanent=exc.permanent)
            return 0
        except Exception as exc:  # a bug must not kill the outbox and stall every room
            ref = log_internal_error(exc, f"Nachricht {item.id}")
            self._failed(item.id, item.attempts, SendError(f"Ref {ref}"), permanent=True)
            return 0
        self._crash.hit("after_send_before_mark")
        with self._db.uow() as uow:
            uow.outbox.mark_sent(item.id, event_id, self._clock.now())
            uow.commit()
        self.sent += 1
        return 1

    def _failed(self, row_id: int, attempts: int, exc: Exception, *, permanent: bool) -> None:
        """Schedule a retry. Only a permanent refusal can end in giving up: an outage, a
        5xx or a rate limit must not turn into a lost reply, however long it lasts."""
        self._may_retry = True
        if permanent and attempts + 1 >= MAX_ATTEMPTS:
            log.error("Nachricht %s nach %d Versuchen aufgegeben: %s", row_id, attempts + 1, exc)
            with self._db.uow() as uow:
                uow.outbox.mark_given_up(row_id, str(exc))
                uow.commit()
            return
        delay = retry_delay(attempts if permanent else min(attempts, TRANSIENT_BACKOFF_STEPS))
        log.warning(
            "Senden von Nachricht %s fehlgeschlagen (%s); neuer Versuch in %s", row_id, exc, delay
        )
        with self._db.uow() as uow:
            uow.outbox.mark_failed(row_id, str(exc), self._clock.now() + delay)
            uow.commit()

    def retry_now(self) -> None:
        """The homeserver is back: send what waits for a retry without waiting longer."""
        self._flush_requested = True
        self._wake.set()

    async def run(self) -> None:
        """Send submitted rows at once; read the database at start and when a retry is due."""
        await self.flush()
        while True:
            self._wake.clear()  # before draining, so a submit meanwhile is not lost
            if self._flush_requested:
                self._flush_requested = False
                with self._db.uow() as uow:
                    uow.outbox.release_retries()
                    uow.commit()
                await self.flush()
            await self.drain()
            timeout = None
            if self._may_retry:
                with self._db.uow() as uow:
                    retry_at = uow.outbox.next_retry_at()
                self._may_retry = retry_at is not None
                if retry_at is not None:
                    timeout = max(0.05, (retry_at - self._clock.now()).total_seconds())
            try:
                await asyncio.wait_for(self._wake.wait(), timeout)
            except TimeoutError:
                await self.flush()
