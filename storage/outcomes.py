"""Queries for sittings, attendance and the outcomes recorded in them."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session as OrmSession

from storage.models import (
    Attendance,
    Carryover,
    CaseReminder,
    Decision,
    Navigator,
    OutboxMessage,
    Review,
    Session,
    Sitting,
    Task,
)
from storage.repositories import sent_event_id
from storage.scope import Scope, left_rooms
from storage.states import JobState, ReviewState, TaskState


class OutcomeRepository:
    def __init__(self, session: OrmSession, scope: Scope | None = None) -> None:
        self._s = session
        self._scope = scope or Scope()

    def add(self, row: object) -> None:
        self._s.add(row)
        self._s.flush()

    # sittings
    def sitting(self, session_id: int) -> Sitting | None:
        sitting = self._s.get(Sitting, session_id)
        if sitting is None or not self._scope.visible(sitting.room_id):
            return None
        return sitting

    def open_sitting(self, room_id: str) -> Sitting | None:
        return self._s.scalars(
            select(Sitting)
            .where(Sitting.room_id == room_id, Sitting.closed_at.is_(None))
            .order_by(Sitting.opened_at.desc())
        ).first()

    def last_closed(self, room_id: str) -> Sitting | None:
        return self._s.scalars(
            select(Sitting)
            .where(Sitting.room_id == room_id, Sitting.closed_at.is_not(None))
            .order_by(Sitting.closed_at.desc())
        ).first()

    def sitting_by_opening(self, event_id: str) -> Sitting | None:
        return self._s.scalars(
            select(Sitting)
            .join(OutboxMessage, OutboxMessage.txn_id == Sitting.opening_txn_id)
            .where(
                OutboxMessage.remote_event_id == event_id,
                OutboxMessage.room_id == Sitting.room_id,
                self._scope.where(Sitting.room_id),
            )
        ).one_or_none()

    def sitting_by_minutes(self, event_id: str) -> Sitting | None:
        return self._s.scalars(
            select(Sitting)
            .join(OutboxMessage, OutboxMessage.txn_id == Sitting.minutes_txn_id)
            .where(
                OutboxMessage.remote_event_id == event_id,
                OutboxMessage.room_id == Sitting.room_id,
                self._scope.where(Sitting.room_id),
            )
        ).one_or_none()

    def minutes_event(self, sitting: Sitting) -> str | None:
        return sent_event_id(self._s, sitting.minutes_txn_id)

    def dirty_minutes(self) -> Sequence[Sitting]:
        return self._s.scalars(
            select(Sitting).where(
                Sitting.minutes_dirty.is_(True), Sitting.room_id.not_in(left_rooms())
            )
        ).all()

    def unconfirmed_minutes(self) -> Sequence[Sitting]:
        return self._s.scalars(
            select(Sitting).where(
                Sitting.closed_at.is_not(None),
                Sitting.confirmed_at.is_(None),
                self._scope.where(Sitting.room_id),
            )
        ).all()

    # attendance
    def attendance(self, session_id: int) -> Sequence[Attendance]:
        return self._s.scalars(
            select(Attendance).where(Attendance.session_id == session_id).order_by(Attendance.id)
        ).all()

    def mark(
        self, session_id: int, institution: str, user_id: str, kind: str, now: datetime
    ) -> bool:
        """Record presence or apologies; False if exactly this was recorded already."""
        row = self._s.scalars(
            select(Attendance).where(
                Attendance.session_id == session_id,
                Attendance.institution == institution,
                Attendance.user_id == user_id,
            )
        ).one_or_none()
        if row is not None and row.kind == kind:
            return False
        if row is None:
            self._s.add(
                Attendance(
                    session_id=session_id,
                    institution=institution,
                    user_id=user_id,
                    kind=kind,
                    at=now,
                )
            )
        else:
            row.kind, row.at = kind, now
        self._s.flush()
        return True

    # outcomes of one session
    def decisions(self, session_id: int, pseudonym: str | None = None) -> Sequence[Decision]:
        query = select(Decision).where(Decision.session_id == session_id)
        if pseudonym is not None:
            query = query.where(Decision.case_pseudonym == pseudonym)
        return self._s.scalars(query.order_by(Decision.id)).all()

    def navigators(self, session_id: int) -> Sequence[Navigator]:
        return self._s.scalars(
            select(Navigator).where(Navigator.session_id == session_id).order_by(Navigator.id)
        ).all()

    def active_navigator(self, pseudonym: str) -> Navigator | None:
        return self._s.scalars(
            select(Navigator)
            .where(
                Navigator.case_pseudonym == pseudonym,
                Navigator.active.is_(True),
                self._scope.case_filter(Navigator.case_pseudonym),
            )
            .order_by(Navigator.id.desc())
        ).first()

    def tasks(self, session_id: int) -> Sequence[Task]:
        return self._s.scalars(
            select(Task).where(Task.session_id == session_id).order_by(Task.id)
        ).all()

    def open_tasks(self, pseudonym: str) -> Sequence[Task]:
        return self._s.scalars(
            select(Task).where(
                Task.case_pseudonym == pseudonym,
                Task.state == TaskState.OPEN,
                self._scope.case_filter(Task.case_pseudonym),
            )
        ).all()

    def overdue_tasks(self, today: date) -> Sequence[Task]:
        return self._s.scalars(
            select(Task)
            .join(Session, Session.id == Task.session_id)
            .where(
                Task.state == TaskState.OPEN, Task.due < today, self._scope.where(Session.room_id)
            )
            .order_by(Task.due)
        ).all()

    def reviews(self, session_id: int) -> Sequence[Review]:
        return self._s.scalars(
            select(Review).where(Review.session_id == session_id).order_by(Review.id)
        ).all()

    def open_review(self, pseudonym: str) -> Review | None:
        return self._s.scalars(
            select(Review)
            .where(
                Review.case_pseudonym == pseudonym,
                Review.state.in_((ReviewState.OPEN, ReviewState.OVERDUE)),
                self._scope.case_filter(Review.case_pseudonym),
            )
            .order_by(Review.id.desc())
        ).first()

    def overdue_reviews(self) -> Sequence[Review]:
        return self._s.scalars(
            select(Review)
            .where(Review.state == ReviewState.OVERDUE, self._scope.where(Review.room_id))
            .order_by(Review.due)
        ).all()

    def carryovers(self, session_id: int) -> Sequence[Carryover]:
        return self._s.scalars(
            select(Carryover).where(Carryover.from_session == session_id).order_by(Carryover.id)
        ).all()

    def handled(self, session_id: int, pseudonym: str) -> bool:
        """Did the conference record anything for this case in this session?"""
        for model in (Decision, Navigator, Task, Review):
            found = self._s.scalar(
                select(model.id).where(
                    model.session_id == session_id,
                    model.case_pseudonym == pseudonym,
                )
            )
            if found is not None:
                return True
        return False

    # case reminders (Wiedervorlage)
    def arm_review(
        self, review: Review, offsets: Sequence[tuple[str, int, datetime]], now: datetime
    ) -> None:
        for kind, offset, due in offsets:
            self._s.add(
                CaseReminder(
                    review_id=review.id,
                    kind=kind,
                    offset_minutes=offset,
                    due_at=due,
                    state=JobState.OPEN if due > now else JobState.OBSOLETE,
                )
            )
        self._s.flush()

    def cancel_review_reminders(self, review_id: int) -> None:
        for row in self._s.scalars(
            select(CaseReminder).where(
                CaseReminder.review_id == review_id, CaseReminder.state == JobState.OPEN
            )
        ):
            row.state = JobState.OBSOLETE
        self._s.flush()

    def due_case_reminders(self, now: datetime) -> Sequence[CaseReminder]:
        return self._s.scalars(
            select(CaseReminder)
            .join(Review, Review.id == CaseReminder.review_id)
            .where(
                CaseReminder.state == JobState.OPEN,
                CaseReminder.due_at <= now,
                Review.room_id.not_in(left_rooms()),
            )
            .order_by(CaseReminder.due_at, CaseReminder.id)
        ).all()

    def next_case_reminder_at(self) -> datetime | None:
        return self._s.scalar(
            select(func.min(CaseReminder.due_at))
            .join(Review, Review.id == CaseReminder.review_id)
            .where(CaseReminder.state == JobState.OPEN, Review.room_id.not_in(left_rooms()))
        )

    def review(self, review_id: int) -> Review | None:
        review = self._s.get(Review, review_id)
        if review is None or not self._scope.visible(review.room_id):
            return None
        return review
