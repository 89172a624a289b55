"""Sends what the engine committed to the outbox, and marks it sent once the server acknowledged.

A crash between send and mark is harmless: the row is sent again with the same
transaction id, and the homeserver answers with the original event id.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import timedelta
from typing import Any, Protocol

from bot.clock import Clock
from bot.errors import HomeserverUnavailable, SendError
from bot.faults import CrashPoints
from bot.ids import EventId, RoomId
from storage.uow import Database

log = logging.getLogger(__name__)

MAX_RETRY_DELAY = timedelta(minutes=10)
# About two hours of retries (1 s doubling to 10 min); then the message is given up,
# loudly: a permanent refusal (bot removed from the room) must not retry forever.
MAX_ATTEMPTS = 20
PAGE = 50


class Sender(Protocol):
    async def send(
        self, room_id: RoomId, event_type: str, content: dict[str, Any], txn_id: str
    ) -> EventId: ...

    def room_is_encrypted(self, room_id: RoomId) -> bool: ...


def retry_delay(attempts: int) -> timedelta:
    """1 s, 2 s, 4 s … capped at ten minutes."""
    return min(timedelta(seconds=2 ** min(attempts, 20)), MAX_RETRY_DELAY)


class OutboxSender:
    def __init__(
        self,
        db: Database,
        sender: Sender,
        clock: Clock,
        *,
        require_encryption: bool,
        crash: CrashPoints | None = None,
    ) -> None:
        self._db = db
        self._sender = sender
        self._clock = clock
        self._require_encryption = require_encryption
        self._crash = crash or CrashPoints()
        self._wake = asyncio.Event()
        self._may_retry = True  # rows from before a restart may be waiting for a retry
        self.sent = 0

    def wake(self) -> None:
        self._wake.set()

    async def flush(self) -> int:
        """Send everything due now; returns how many messages were sent."""
        sent = 0
        while True:
            with self._db.uow() as uow:
                rows = list(uow.outbox.due(self._clock.now(), PAGE))
            if not rows:
                return sent
            for row in rows:
                room = RoomId(row.room_id)
                if (
                    row.requires_encryption
                    and self._require_encryption
                    and not self._sender.room_is_encrypted(room)
                ):
                    log.error("Nachricht %s nicht gesendet: Raum %s unverschlüsselt", row.id, room)
                    with self._db.uow() as uow:
                        uow.outbox.mark_refused(row.id, "room not encrypted")
                        uow.commit()
                    continue
                try:
                    event_id = await self._sender.send(
                        room, row.event_type, row.content, row.txn_id
                    )
                except HomeserverUnavailable as exc:
                    self._failed(row.id, row.attempts, exc)
                    return sent  # the whole server is away; the sync loop backs off
                except SendError as exc:
                    self._failed(row.id, row.attempts, exc)
                    continue
                self._crash.hit("after_send_before_mark")
                with self._db.uow() as uow:
                    uow.outbox.mark_sent(row.id, event_id, self._clock.now())
                    uow.commit()
                sent += 1
                self.sent += 1
            if len(rows) < PAGE:
                # Nothing more was due; rows committed meanwhile have set the wake event.
                return sent
            # Failed rows now have a future not_before, so the next page is new work.

    def _failed(self, row_id: int, attempts: int, exc: Exception) -> None:
        if attempts + 1 >= MAX_ATTEMPTS:
            log.error("Nachricht %s nach %d Versuchen aufgegeben: %s", row_id, attempts + 1, exc)
            with self._db.uow() as uow:
                uow.outbox.mark_given_up(row_id, str(exc))
                uow.commit()
            return
        self._may_retry = True
        delay = retry_delay(attempts)
        log.warning(
            "Senden von Nachricht %s fehlgeschlagen (%s); neuer Versuch in %s", row_id, exc, delay
        )
        with self._db.uow() as uow:
            uow.outbox.mark_failed(row_id, str(exc), self._clock.now() + delay)
            uow.commit()

    async def run(self) -> None:
        """Flush whenever woken, and when the earliest retry falls due."""
        while True:
            self._wake.clear()  # before flushing, so a wake during the flush is not lost
            await self.flush()
            retry_at = None
            if self._may_retry:
                with self._db.uow() as uow:
                    retry_at = uow.outbox.next_retry_at()
                self._may_retry = retry_at is not None
            timeout = None
            if retry_at is not None:
                timeout = max(0.05, (retry_at - self._clock.now()).total_seconds())
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout)
