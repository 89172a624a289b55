"""Repositories: the only code that writes queries. Use cases see these, not SQL."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, insert, or_, select, update
from sqlalchemy.orm import Session

from storage.cases import OPEN_REQUEST_STATES
from storage.errors import NotFoundError
from storage.models import (
    ConferenceRequest,
    InboxEvent,
    KnownRoom,
    OutboxCase,
    OutboxMessage,
    PendingDecryption,
    QuarantinedEvent,
    SessionSeries,
    SyncCheckpoint,
)
from storage.outbox_text import pseudonyms_in
from storage.states import DecryptionState, OutboxState


class SyncRepository:
    def __init__(self, session: Session) -> None:
        self._s = session

    def checkpoint(self) -> str | None:
        row = self._s.get(SyncCheckpoint, 1)
        return row.next_batch if row else None

    def save_checkpoint(self, next_batch: str, now: datetime) -> None:
        updated = self._s.execute(
            update(SyncCheckpoint)
            .where(SyncCheckpoint.id == 1)
            .values(next_batch=next_batch, updated_at=now)
        )
        if getattr(updated, "rowcount", 0) == 0:
            self._s.add(SyncCheckpoint(id=1, next_batch=next_batch, updated_at=now))

    def known_rooms(self) -> set[str]:
        return set(self._s.scalars(select(KnownRoom.room_id)))

    def direct_rooms(self) -> set[str]:
        return set(self._s.scalars(select(KnownRoom.room_id).where(KnownRoom.direct.is_(True))))

    def add_room(self, room_id: str, now: datetime, *, direct: bool = False) -> None:
        row = self._s.get(KnownRoom, room_id)
        if row is None:
            self._s.add(KnownRoom(room_id=room_id, first_seen_at=now, direct=direct))
        elif direct:
            row.direct = True

    def room_language(self, room_id: str) -> str | None:
        """The room's own language, or None: the bot's default."""
        row = self._s.get(KnownRoom, room_id)
        return row.language if row is not None else None

    def set_room_language(self, room_id: str, language: str, now: datetime) -> None:
        row = self._s.get(KnownRoom, room_id)
        if row is None:
            self._s.add(KnownRoom(room_id=room_id, first_seen_at=now, language=language))
        else:
            row.language = language

    def joined(self, room_id: str) -> None:
        """The bot is (again) a member: the room's data and timed jobs are live again."""
        self._s.execute(update(KnownRoom).where(KnownRoom.room_id == room_id).values(left_at=None))

    def left(self, room_id: str, now: datetime) -> None:
        self._s.execute(
            update(KnownRoom)
            .where(KnownRoom.room_id == room_id, KnownRoom.left_at.is_(None))
            .values(left_at=now)
        )

    def live_case_rooms(self) -> list[str]:
        """Rooms the bot is in that have an active series or an open request (the daily
        pass's work), in a stable order."""
        gone = select(KnownRoom.room_id).where(KnownRoom.left_at.is_not(None))
        series = select(SessionSeries.room_id).where(SessionSeries.active.is_(True))
        requests = select(ConferenceRequest.room_id).where(
            ConferenceRequest.state.in_(OPEN_REQUEST_STATES),
            ConferenceRequest.room_id.is_not(None),
        )
        rooms = {str(r) for r in self._s.scalars(series.union(requests))}
        return sorted(rooms - set(self._s.scalars(gone)))

    def rooms(self) -> Sequence[KnownRoom]:
        return self._s.scalars(select(KnownRoom).order_by(KnownRoom.first_seen_at)).all()


class InboxRepository:
    def __init__(self, session: Session) -> None:
        self._s = session

    def seen(self, event_id: str) -> bool:
        return self._s.get(InboxEvent, event_id) is not None

    def add(self, row: InboxEvent) -> None:
        self._s.add(row)
        self._s.flush()

    def get(self, event_id: str) -> InboxEvent:
        row = self._s.get(InboxEvent, event_id)
        if row is None:
            raise NotFoundError(event_id)
        return row

    def count(self) -> int:
        return int(self._s.scalar(select(func.count()).select_from(InboxEvent)) or 0)


def sent_event_id(session: Session, txn_id: str | None) -> str | None:
    """The event id the homeserver gave the outbox row ``txn_id``, once it acknowledged it."""
    if txn_id is None:
        return None
    return session.scalar(
        select(OutboxMessage.remote_event_id).where(OutboxMessage.txn_id == txn_id)
    )


class OutboxRepository:
    def __init__(self, session: Session) -> None:
        self._s = session

    def add(
        self,
        *,
        txn_id: str,
        room_id: str,
        event_type: str,
        content: dict[str, Any],
        requires_encryption: bool,
        now: datetime,
    ) -> OutboxMessage:
        row = OutboxMessage(
            txn_id=txn_id,
            room_id=room_id,
            event_type=event_type,
            content=content,
            requires_encryption=requires_encryption,
            created_at=now,
            state=OutboxState.PENDING,
            attempts=0,
        )
        self._s.add(row)
        self._s.flush()
        carried = pseudonyms_in(content)
        if carried:  # for retention: which cases this message names
            self._s.execute(
                insert(OutboxCase), [{"outbox_id": row.id, "pseudonym": p} for p in carried]
            )
        return row

    def exists(self, txn_id: str) -> bool:
        return (
            self._s.scalar(select(OutboxMessage.id).where(OutboxMessage.txn_id == txn_id))
            is not None
        )

    def due(self, now: datetime, limit: int = 50) -> Sequence[OutboxMessage]:
        return self._s.scalars(
            select(OutboxMessage)
            .where(OutboxMessage.state == OutboxState.PENDING)
            .where(or_(OutboxMessage.not_before.is_(None), OutboxMessage.not_before <= now))
            .order_by(OutboxMessage.id)
            .limit(limit)
        ).all()

    def next_retry_at(self) -> datetime | None:
        """When the next pending row is due; a row never tried counts as due since creation."""
        return self._s.scalar(
            select(
                func.min(func.coalesce(OutboxMessage.not_before, OutboxMessage.created_at))
            ).where(OutboxMessage.state == OutboxState.PENDING)
        )

    def mark_sent(self, message_id: int, remote_event_id: str, now: datetime) -> None:
        self._s.execute(
            update(OutboxMessage)
            .where(OutboxMessage.id == message_id)
            .values(
                state=OutboxState.SENT,
                sent_at=now,
                remote_event_id=remote_event_id,
                last_error=None,
            )
        )

    def mark_failed(self, message_id: int, error: str, retry_at: datetime) -> None:
        self._s.execute(
            update(OutboxMessage)
            .where(OutboxMessage.id == message_id)
            .values(
                attempts=OutboxMessage.attempts + 1,
                last_error=error[:500],
                not_before=retry_at,
            )
        )

    def release_retries(self) -> None:
        """Make every waiting row due now (the homeserver is reachable again)."""
        self._s.execute(
            update(OutboxMessage)
            .where(OutboxMessage.state == OutboxState.PENDING)
            .where(OutboxMessage.not_before.is_not(None))
            .values(not_before=None)
        )

    def mark_given_up(self, message_id: int, error: str) -> None:
        self._s.execute(
            update(OutboxMessage)
            .where(OutboxMessage.id == message_id)
            .values(
                state=OutboxState.FAILED,
                attempts=OutboxMessage.attempts + 1,
                last_error=error[:500],
            )
        )

    def mark_refused(self, message_id: int, reason: str) -> None:
        self._s.execute(
            update(OutboxMessage)
            .where(OutboxMessage.id == message_id)
            .values(state=OutboxState.REFUSED, last_error=reason[:500])
        )

    def all(self) -> Sequence[OutboxMessage]:
        return self._s.scalars(select(OutboxMessage).order_by(OutboxMessage.id)).all()


class PendingDecryptionRepository:
    def __init__(self, session: Session) -> None:
        self._s = session

    def add_if_new(self, row: PendingDecryption) -> bool:
        if self._s.get(PendingDecryption, row.event_id) is not None:
            return False
        self._s.add(row)
        self._s.flush()
        return True

    def waiting(self) -> Sequence[PendingDecryption]:
        return self._s.scalars(
            select(PendingDecryption)
            .where(PendingDecryption.state.in_((DecryptionState.WAITING, DecryptionState.NOTIFIED)))
            .order_by(PendingDecryption.first_seen_at)
        ).all()

    def get(self, event_id: str) -> PendingDecryption:
        row = self._s.get(PendingDecryption, event_id)
        if row is None:
            raise NotFoundError(event_id)
        return row


class QuarantineRepository:
    """Events the Matrix edge set aside (ids, type, sender, reason; never content)."""

    def __init__(self, session: Session) -> None:
        self._s = session

    def add(self, row: QuarantinedEvent) -> bool:
        """False if an event with this id is already set aside (a replayed batch)."""
        if row.event_id is not None and self._s.scalar(
            select(QuarantinedEvent.id).where(QuarantinedEvent.event_id == row.event_id)
        ):
            return False
        self._s.add(row)
        self._s.flush()
        return True

    def recent(self, limit: int = 100) -> Sequence[QuarantinedEvent]:
        """The newest first."""
        return self._s.scalars(
            select(QuarantinedEvent)
            .order_by(QuarantinedEvent.quarantined_at.desc(), QuarantinedEvent.id.desc())
            .limit(limit)
        ).all()

    def count(self) -> int:
        return int(self._s.scalar(select(func.count()).select_from(QuarantinedEvent)) or 0)

    def prune(self, before: datetime) -> int:
        """Forget what was set aside before ``before`` (the rows name senders)."""
        result = self._s.execute(
            delete(QuarantinedEvent).where(QuarantinedEvent.quarantined_at < before)
        )
        return int(getattr(result, "rowcount", 0) or 0)
