"""The operator's view of rooms: which the bot knows, what each holds, assign and move.

A room is the boundary of a conference circle; these functions are the only way data
changes room, and each is audited by its caller.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from domain.text import N_, Msg, Translator
from storage.models import (
    Agenda,
    CaseFile,
    ConferenceRequest,
    KnownRoom,
    Poll,
    Review,
    SessionSeries,
    Sitting,
)
from storage.models import (
    Session as SessionRow,
)
from storage.states import CaseState, SessionState

# Every table with a room column that belongs to a circle (not bookkeeping).
ROOM_TABLES = (
    CaseFile,
    ConferenceRequest,
    SessionSeries,
    SessionRow,
    Agenda,
    Poll,
    Sitting,
    Review,
)


@dataclass(frozen=True)
class RoomSummary:
    room_id: str | None  # None: cases kept apart (not assigned to any room)
    member: bool  # the bot is in the room now
    direct: bool
    first_seen_at: datetime | None
    left_at: datetime | None
    open_cases: int
    closed_cases: int
    upcoming_sessions: int


class RoomError(ValueError):
    """An assignment or move that would mix or lose a circle; ``str()`` is German (logs),
    :meth:`render` is in the operator's language."""

    def __init__(self, msgid: str, **values: object) -> None:
        self.text = Msg(msgid, **values)
        super().__init__(msgid % values if values else msgid)

    def render(self, t: Translator) -> str:
        return self.text.render(t)


def summaries(session: Session, now: datetime) -> list[RoomSummary]:
    """Every known room and every room that holds cases, with counts (3 queries)."""
    cases: dict[str | None, dict[str, int]] = {}
    for room_id, state, count in session.execute(
        select(CaseFile.room_id, CaseFile.state, func.count()).group_by(
            CaseFile.room_id, CaseFile.state
        )
    ):
        key = "closed" if state == CaseState.CLOSED else "open"
        cases.setdefault(room_id, {}).setdefault(key, 0)
        cases[room_id][key] += int(count)
    sessions: dict[str | None, int] = {
        room_id: int(count)
        for room_id, count in session.execute(
            select(SessionRow.room_id, func.count())
            .where(SessionRow.starts_at > now, SessionRow.state == SessionState.PLANNED)
            .group_by(SessionRow.room_id)
        )
    }
    known = {r.room_id: r for r in session.scalars(select(KnownRoom))}
    result = []
    for room_id in sorted(
        set(known) | set(cases) | set(sessions), key=lambda r: (r is None, r or "")
    ):
        row = None if room_id is None else known.get(room_id)
        counts = cases.get(room_id, {})
        result.append(
            RoomSummary(
                room_id=room_id,
                member=row is not None and row.left_at is None,
                direct=bool(row and row.direct),
                first_seen_at=row.first_seen_at if row else None,
                left_at=row.left_at if row else None,
                open_cases=counts.get("open", 0),
                closed_cases=counts.get("closed", 0),
                upcoming_sessions=int(sessions.get(room_id, 0)),
            )
        )
    return result


def assign(session: Session, pseudonym: str, room_id: str) -> None:
    """Give a case that the migration kept apart its room (and its requests)."""
    case = session.get(CaseFile, pseudonym)
    if case is None:
        raise RoomError(N_("Einen Fall %(pseudonym)s gibt es nicht."), pseudonym=pseudonym)
    if case.room_id is not None:
        raise RoomError(
            N_("%(pseudonym)s gehört schon zu %(room)s; ganze Räume zieht `fkbot rooms move` um."),
            pseudonym=pseudonym,
            room=case.room_id,
        )
    case.room_id = room_id
    session.execute(
        update(ConferenceRequest)
        .where(ConferenceRequest.case_pseudonym == pseudonym)
        .values(room_id=room_id)
    )
    session.flush()


def move(session: Session, source: str, target: str) -> dict[str, int]:
    """Move a whole circle to another room (e.g. after a room upgrade); rows per table.

    Refused if the target already holds a circle: two circles are never mixed.
    """
    if source == target:
        raise RoomError(N_("Quelle und Ziel sind derselbe Raum."))
    moved: dict[str, int] = {}
    for model in ROOM_TABLES:
        column = model.room_id
        if session.scalar(select(func.count()).select_from(model).where(column == target)):
            raise RoomError(
                N_(
                    "Im Zielraum %(room)s gibt es schon Daten (%(table)s); "
                    "zwei Konferenzkreise werden nie vermischt."
                ),
                room=target,
                table=model.__tablename__,
            )
    for model in ROOM_TABLES:
        column = model.room_id
        result = session.execute(update(model).where(column == source).values(room_id=target))
        moved[model.__tablename__] = int(getattr(result, "rowcount", 0) or 0)
    if not any(moved.values()):
        raise RoomError(N_("Im Raum %(room)s gibt es keine Daten."), room=source)
    session.flush()
    return moved


def unassigned(session: Session) -> Sequence[str]:
    return session.scalars(
        select(CaseFile.pseudonym).where(CaseFile.room_id.is_(None)).order_by(CaseFile.pseudonym)
    ).all()
