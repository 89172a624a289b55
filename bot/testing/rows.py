"""Rows for the storage tests: cases, requests, sessions, polls, sittings, outcomes.

Every builder fills the required columns with plausible, fixed values (no clock, no
time zone of the machine) and takes keyword overrides; the ``add_*`` helpers store a
row through its repository in an open unit of work and return it with its id.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

from storage.models import (
    CaseFile,
    ConferenceRequest,
    OutboxMessage,
    Poll,
    Review,
    Session,
    SessionSeries,
    Sitting,
    Task,
)
from storage.uow import UnitOfWork

T0 = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)  # a Monday, 10:00 in Berlin
ROOM_A = "!kreis-a:fk.test"
ROOM_B = "!kreis-b:fk.test"
CASE_A = "FK-7QX2-M6"
CASE_B = "FK-ABCD-E7"
JA = "@anna.jugendamt:fk.test"
JC = "@carla.jobcenter:fk.test"
MOD = "@mona.moderation:fk.test"


def _with(defaults: dict[str, Any], overrides: dict[str, Any]) -> dict[str, Any]:
    return {**defaults, **overrides}


def case_file(pseudonym: str = CASE_A, room_id: str = ROOM_A, **overrides: Any) -> CaseFile:
    return CaseFile(
        **_with(
            {
                "pseudonym": pseudonym,
                "room_id": room_id,
                "owner_institution": "jugendamt",
                "created_by": JA,
                "created_at": T0,
            },
            overrides,
        )
    )


def request(pseudonym: str = CASE_A, **overrides: Any) -> ConferenceRequest:
    return ConferenceRequest(
        **_with(
            {
                "case_pseudonym": pseudonym,
                "requested_by": JC,
                "requesting_institution": "jobcenter",
                "topic": "Ausbildung",
                "urgency": "regulär",
                "participants": ["jugendamt", "jobcenter"],
                "latest_date": None,
                "state": "bereit",
                "created_at": T0,
                "updated_at": T0,
            },
            overrides,
        )
    )


def series(room_id: str = ROOM_A, **overrides: Any) -> SessionSeries:
    return SessionSeries(
        **_with(
            {
                "room_id": room_id,
                "name": "Fallkonferenz",
                "rule": "jeden 2. Mittwoch im Monat",
                "first_day": date(2026, 12, 9),
                "start_time": "10:00",
                "duration_minutes": 120,
                "capacity": 4,
                "slot_minutes": 30,
                "holiday_rule": "entfällt",
                "active": True,
                "created_by": MOD,
                "created_at": T0,
            },
            overrides,
        )
    )


def session(
    room_id: str = ROOM_A, starts_at: datetime = T0 + timedelta(days=7), **overrides: Any
) -> Session:
    return Session(
        **_with(
            {
                "room_id": room_id,
                "series_id": None,
                "original_day": None,
                "name": "Fallkonferenz",
                "starts_at": starts_at,
                "ends_at": starts_at + timedelta(hours=2),
                "capacity": 4,
                "slot_minutes": 30,
                "state": "geplant",
                "sequence": 0,
                "created_at": T0,
                "updated_at": T0,
            },
            overrides,
        )
    )


def poll(request_id: int, room_id: str = ROOM_A, **overrides: Any) -> Poll:
    return Poll(
        **_with(
            {
                "room_id": room_id,
                "request_id": request_id,
                "txn_id": f"umfrage-{request_id}-{room_id}",
                "slots": ["2026-12-01T09:00:00+00:00", "2026-12-02T13:00:00+00:00"],
                "duration_minutes": 60,
                "max_selections": 2,
                "state": "offen",
                "created_by": MOD,
                "created_at": T0,
            },
            overrides,
        )
    )


def sitting(session_id: int, room_id: str = ROOM_A, **overrides: Any) -> Sitting:
    return Sitting(
        **_with(
            {
                "session_id": session_id,
                "room_id": room_id,
                "opened_at": T0,
                "opened_by": MOD,
                "opening_txn_id": f"sitzung-{session_id}",
                "quorum": 2,
            },
            overrides,
        )
    )


def task(session_id: int, pseudonym: str = CASE_A, **overrides: Any) -> Task:
    return Task(
        **_with(
            {
                "session_id": session_id,
                "case_pseudonym": pseudonym,
                "owner": JA,
                "owner_institution": "jugendamt",
                "text": "Hilfeplangespräch vorbereiten",
                "due": None,
                "state": "offen",
                "created_by": MOD,
                "at": T0,
            },
            overrides,
        )
    )


def review(
    session_id: int, pseudonym: str = CASE_A, room_id: str = ROOM_A, **overrides: Any
) -> Review:
    return Review(
        **_with(
            {
                "session_id": session_id,
                "room_id": room_id,
                "case_pseudonym": pseudonym,
                "due": date(2027, 1, 13),
                "state": "offen",
                "created_by": MOD,
                "at": T0,
            },
            overrides,
        )
    )


# -- stored through the repositories -------------------------------------------------------


def add_case(uow: UnitOfWork, pseudonym: str = CASE_A, room_id: str = ROOM_A) -> CaseFile:
    row = case_file(pseudonym, room_id)
    uow.cases.add(row)
    return row


def add_request(uow: UnitOfWork, pseudonym: str = CASE_A, **overrides: Any) -> ConferenceRequest:
    """A request of an existing case; it takes the case's room."""
    row = request(pseudonym, **overrides)
    uow.cases.add_request(row)
    return row


def add_session(
    uow: UnitOfWork,
    room_id: str = ROOM_A,
    starts_at: datetime = T0 + timedelta(days=7),
    **overrides: Any,
) -> Session:
    row = session(room_id, starts_at, **overrides)
    uow.sessions.add(row)
    return row


def add_sent(uow: UnitOfWork, txn_id: str, room_id: str, event_id: str | None) -> OutboxMessage:
    """An outbox row; acknowledged by the homeserver as ``event_id`` unless that is None."""
    row = uow.outbox.add(
        txn_id=txn_id,
        room_id=room_id,
        event_type="m.room.message",
        content={"msgtype": "m.text", "body": txn_id},
        requires_encryption=True,
        now=T0,
    )
    if event_id is not None:
        uow.outbox.mark_sent(row.id, event_id, T0)
    return row


def leave(uow: UnitOfWork, room_id: str) -> None:
    """The bot knew ``room_id`` and has left it."""
    uow.sync.add_room(room_id, T0)
    uow.session.flush()
    uow.sync.left(room_id, T0 + timedelta(minutes=1))
