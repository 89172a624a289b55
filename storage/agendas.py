"""Queries for agendas (posted, confirmed, edited) and availability polls."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session as OrmSession

from storage.models import Agenda, OutboxMessage, Poll, PollBallot
from storage.repositories import sent_event_id
from storage.scope import Scope, left_rooms
from storage.states import PollState


class AgendaRepository:
    def __init__(self, session: OrmSession, scope: Scope | None = None) -> None:
        self._s = session
        self._scope = scope or Scope()

    def get(self, session_id: int) -> Agenda | None:
        agenda = self._s.get(Agenda, session_id)
        if agenda is None or not self._scope.visible(agenda.room_id):
            return None
        return agenda

    def ensure(self, session_id: int, room_id: str) -> Agenda:
        row = self.get(session_id)
        if row is None:
            row = Agenda(
                session_id=session_id,
                room_id=room_id,
                revision=0,
                edits=0,
                dirty=False,
                reconfirm_notice=False,
                refused_reactors=[],
            )
            self._s.add(row)
            self._s.flush()
        return row

    def touch(self, session_id: int) -> bool:
        """The session or its items changed: a new revision, an edit of the posted
        message; returns True if that unlocked a confirmed agenda (the caller audits)."""
        agenda = self.get(session_id)
        if agenda is None:
            return False  # nothing posted or confirmed yet: the draft is always current
        was_confirmed = agenda.confirmed
        agenda.revision += 1
        posted = agenda.post_txn_id is not None
        agenda.dirty = posted
        if was_confirmed:
            agenda.reconfirm_notice = posted
        self._s.flush()
        return was_confirmed

    def posted_event(self, agenda: Agenda) -> str | None:
        """The event id of the posted agenda, once the homeserver has acknowledged it."""
        return sent_event_id(self._s, agenda.post_txn_id)

    def by_event(self, event_id: str) -> Agenda | None:
        """The agenda whose posted message is ``event_id`` (a reaction's target)."""
        return self._s.scalars(
            select(Agenda)
            .join(OutboxMessage, OutboxMessage.txn_id == Agenda.post_txn_id)
            .where(
                OutboxMessage.remote_event_id == event_id,
                OutboxMessage.room_id == Agenda.room_id,
                self._scope.where(Agenda.room_id),
            )
        ).one_or_none()

    def dirty(self) -> Sequence[Agenda]:
        return self._s.scalars(
            select(Agenda)
            .where(Agenda.dirty.is_(True), Agenda.room_id.not_in(left_rooms()))
            .order_by(Agenda.session_id)
        ).all()


class PollRepository:
    def __init__(self, session: OrmSession, scope: Scope | None = None) -> None:
        self._s = session
        self._scope = scope or Scope()

    def add(self, poll: Poll) -> None:
        self._s.add(poll)
        self._s.flush()

    def get(self, poll_id: int) -> Poll | None:
        poll = self._s.get(Poll, poll_id)
        if poll is None or not self._scope.visible(poll.room_id):
            return None
        return poll

    def by_event(self, event_id: str) -> Poll | None:
        """The poll whose start message is ``event_id`` (a poll response's target)."""
        return self._s.scalars(
            select(Poll)
            .join(OutboxMessage, OutboxMessage.txn_id == Poll.txn_id)
            .where(
                OutboxMessage.remote_event_id == event_id,
                OutboxMessage.room_id == Poll.room_id,
                self._scope.where(Poll.room_id),
            )
        ).one_or_none()

    def start_event(self, poll: Poll) -> str | None:
        return sent_event_id(self._s, poll.txn_id)

    def open_for(self, request_id: int) -> Poll | None:
        return self._s.scalars(
            select(Poll).where(
                Poll.request_id == request_id,
                Poll.state == PollState.OPEN,
                self._scope.where(Poll.room_id),
            )
        ).first()

    def add_ballot(self, ballot: PollBallot) -> bool:
        """Record a vote event once; False if this event was already counted."""
        exists = self._s.scalar(select(PollBallot.id).where(PollBallot.event_id == ballot.event_id))
        if exists is not None:
            return False
        self._s.add(ballot)
        self._s.flush()
        return True

    def ballots(self, poll_id: int) -> Sequence[PollBallot]:
        return self._s.scalars(
            select(PollBallot)
            .where(PollBallot.poll_id == poll_id)
            .order_by(PollBallot.voted_at, PollBallot.id)
        ).all()

    def open_polls(self) -> Sequence[Poll]:
        return self._s.scalars(
            select(Poll)
            .where(Poll.state == PollState.OPEN, self._scope.where(Poll.room_id))
            .order_by(Poll.id)
        ).all()

    def close(self, poll: Poll, by: str, now: datetime, chosen: str | None) -> None:
        poll.state = PollState.CLOSED if chosen is not None else PollState.NO_RESULT
        poll.closed_by, poll.closed_at, poll.chosen = by, now, chosen
        self._s.flush()
