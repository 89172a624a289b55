"""Queries for session series, sessions and placements."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session as OrmSession

from storage.cases import IN_CHUNK
from storage.errors import NotFoundError
from storage.models import ConferenceRequest, Placement, Reminder, Session, SessionSeries
from storage.scope import Scope, left_rooms
from storage.states import JobState, SessionState


class CrossRoomPlacement(ValueError):
    """A request may only go on the agenda of a session in its own room."""


class SessionRepository:
    """Series, sessions, placements; in a room-scoped unit of work, only that room's."""

    def __init__(self, session: OrmSession, scope: Scope | None = None) -> None:
        self._s = session
        self._scope = scope or Scope()

    # series
    def add_series(self, series: SessionSeries) -> None:
        self._s.add(series)
        self._s.flush()

    def active_series(self) -> Sequence[SessionSeries]:
        return self._s.scalars(
            select(SessionSeries)
            .where(SessionSeries.active.is_(True), self._scope.where(SessionSeries.room_id))
            .order_by(SessionSeries.id)
        ).all()

    def get_series(self, series_id: int) -> SessionSeries | None:
        series = self._s.get(SessionSeries, series_id)
        if series is None or not self._scope.visible(series.room_id):
            return None
        return series

    def occurrence(self, series_id: int, original_day: object) -> Session | None:
        return self._s.scalars(
            select(Session).where(
                Session.series_id == series_id, Session.original_day == original_day
            )
        ).one_or_none()

    # sessions
    def add(self, row: Session) -> None:
        self._s.add(row)
        self._s.flush()

    def get(self, session_id: int) -> Session | None:
        session = self._s.get(Session, session_id)
        if session is None or not self._scope.visible(session.room_id):
            return None
        return session

    def require(self, session_id: int) -> Session:
        """A session that must exist (a sitting's, an agenda's): NotFoundError if not."""
        session = self.get(session_id)
        if session is None:
            raise NotFoundError(f"Termin {session_id}")
        return session

    def upcoming(self, now: datetime, limit: int = 100) -> Sequence[Session]:
        return self._s.scalars(
            select(Session)
            .where(
                Session.starts_at > now,
                Session.state == SessionState.PLANNED,
                self._scope.where(Session.room_id),
            )
            .order_by(Session.starts_at, Session.id)
            .limit(limit)
        ).all()

    # placements
    def placements(self, session_id: int) -> Sequence[Placement]:
        return self._s.scalars(
            select(Placement).where(Placement.session_id == session_id).order_by(Placement.position)
        ).all()

    def taken(self, session_ids: Sequence[int]) -> dict[int, int]:
        if not session_ids:
            return {}
        rows = self._s.execute(
            select(Placement.session_id, func.count())
            .where(Placement.session_id.in_(session_ids))
            .group_by(Placement.session_id)
        ).all()
        return {int(session_id): int(count) for session_id, count in rows}

    def placements_of(self, request_ids: Sequence[int]) -> dict[int, Placement]:
        """Request id → its placement, for many requests in one query (per IN_CHUNK ids)."""
        found: dict[int, Placement] = {}
        ids = sorted(set(request_ids))
        for start in range(0, len(ids), IN_CHUNK):
            for row in self._s.scalars(
                select(Placement).where(Placement.request_id.in_(ids[start : start + IN_CHUNK]))
            ):
                found[row.request_id] = row
        return found

    def planned(self, request_ids: Sequence[int]) -> dict[int, Session]:
        """Request id → the session it is placed in (one query per IN_CHUNK ids)."""
        found: dict[int, Session] = {}
        ids = sorted(set(request_ids))
        for start in range(0, len(ids), IN_CHUNK):
            for request_id, session in self._s.execute(
                select(Placement.request_id, Session)
                .join(Session, Session.id == Placement.session_id)
                .where(
                    Placement.request_id.in_(ids[start : start + IN_CHUNK]),
                    self._scope.where(Session.room_id),
                )
            ):
                found[int(request_id)] = session
        return found

    def placement_of(self, request_id: int) -> Placement | None:
        return self._s.scalars(
            select(Placement).where(Placement.request_id == request_id)
        ).one_or_none()

    def place(self, session_id: int, request_id: int, now: datetime) -> Placement:
        session = self._s.get(Session, session_id)
        request = self._s.get(ConferenceRequest, request_id)
        if session is None or request is None or session.room_id != request.room_id:
            raise CrossRoomPlacement(f"Anfrage {request_id} gehört nicht in Termin {session_id}")
        position = int(
            self._s.scalar(
                select(func.coalesce(func.max(Placement.position), 0)).where(
                    Placement.session_id == session_id
                )
            )
            or 0
        )
        row = Placement(
            session_id=session_id, request_id=request_id, position=position + 1, placed_at=now
        )
        self._s.add(row)
        self._s.flush()
        return row

    def unplace(self, request_id: int) -> Placement | None:
        row = self.placement_of(request_id)
        if row is not None:
            self._s.delete(row)
            self._s.flush()
        return row

    def agenda(self, session_id: int) -> Sequence[tuple[Placement, ConferenceRequest]]:
        rows = self._s.execute(
            select(Placement, ConferenceRequest)
            .join(ConferenceRequest, ConferenceRequest.id == Placement.request_id)
            .where(Placement.session_id == session_id)
            .order_by(Placement.position)
        ).all()
        return [(p, r) for p, r in rows]

    # reminders
    def arm_reminders(
        self, session: Session, offsets: Sequence[int], now: datetime, kind: str = "termin"
    ) -> None:
        """(Re)compute a session's reminders after it was created or moved.

        A reminder whose time has already passed is not sent (``hinfällig``) — except
        one already sent, which stays sent; one whose new time lies ahead is open again.
        """
        existing = {
            r.offset_minutes: r
            for r in self._s.scalars(
                select(Reminder).where(Reminder.session_id == session.id, Reminder.kind == kind)
            )
        }
        for offset in offsets:
            due = session.starts_at - timedelta(minutes=offset)
            row = existing.get(offset)
            if row is None:
                state = JobState.OPEN if due > now else JobState.OBSOLETE
                self._s.add(
                    Reminder(
                        session_id=session.id,
                        kind=kind,
                        offset_minutes=offset,
                        due_at=due,
                        state=state,
                    )
                )
                continue
            row.due_at = due
            if due > now:
                row.state, row.sent_at = JobState.OPEN, None
            elif row.state == JobState.OPEN:
                row.state = JobState.OBSOLETE
        self._s.flush()

    def arm_once(
        self, session_id: int, kind: str, due: datetime, now: datetime, *, catch_up: bool
    ) -> None:
        """(Re)arm a session's single timed job of ``kind`` (agenda post, checks).

        A due time already past is run at once with ``catch_up``, else dropped; a job
        that already ran stays done unless its new time lies ahead.
        """
        row = self._s.scalars(
            select(Reminder).where(
                Reminder.session_id == session_id,
                Reminder.kind == kind,
                Reminder.offset_minutes == 0,
            )
        ).one_or_none()
        if due <= now and catch_up:
            due = now
        ahead = due > now or catch_up
        if row is None:
            row = Reminder(
                session_id=session_id,
                kind=kind,
                offset_minutes=0,
                due_at=due,
                state=JobState.OPEN if ahead else JobState.OBSOLETE,
            )
            self._s.add(row)
        else:
            row.due_at = due
            if due > now or (catch_up and row.state != JobState.SENT):
                row.state, row.sent_at = JobState.OPEN, None
            elif row.state == JobState.OPEN:
                row.state = JobState.OBSOLETE
        self._s.flush()

    def cancel_reminders(self, session_id: int) -> None:
        for row in self._s.scalars(
            select(Reminder).where(
                Reminder.session_id == session_id, Reminder.state == JobState.OPEN
            )
        ):
            row.state = JobState.OBSOLETE
        self._s.flush()

    def due_reminders(self, now: datetime) -> Sequence[Reminder]:
        return self._s.scalars(
            select(Reminder)
            .join(Session, Session.id == Reminder.session_id)
            .where(
                Reminder.state == JobState.OPEN,
                Reminder.due_at <= now,
                Session.room_id.not_in(left_rooms()),
            )
            .order_by(Reminder.due_at, Reminder.id)
        ).all()

    def next_reminder_at(self) -> datetime | None:
        """Jobs of rooms the bot has left wait (held) until it re-joins."""
        return self._s.scalar(
            select(func.min(Reminder.due_at))
            .join(Session, Session.id == Reminder.session_id)
            .where(Reminder.state == JobState.OPEN, Session.room_id.not_in(left_rooms()))
        )
