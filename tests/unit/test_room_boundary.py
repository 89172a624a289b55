"""A room is the boundary of a case: two rooms on one bot behave like two bots.

Room A holds a whole conference circle: cases (ready, waiting, urgent), consent, a
series, a held session with decisions, a Lotse, a Wiedervorlage, a task and a poll.
Room B, on the same bot and database, then runs every command of the registry, from
its own examples, once with room A's pseudonym and ids and once with ones that never
existed. Room B must see nothing of room A, change nothing of it, and get the same
answer as for a case or number that does not exist. A new command is covered by
being registered with examples.

The clock starts on Monday 23.11.2026, 10:00 in Berlin.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import false, func, select

from bot.clock import FakeClock
from bot.engine import BOOKKEEPING_TABLES
from bot.events import OwnJoin, SyncBatch
from bot.ids import EventId, RoomId
from bot.testing.harness import ADMIN, JA1, JC, MOD, NEW_CASE, PREFIX, Room, utc
from commands.core import build_registry
from commands.framework import CommandSpec
from domain.org import Role
from domain.pseudonym import new_pseudonym
from storage.models import AuditEntry, Base, OutboxMessage, Placement
from storage.uow import Database

ROOM_B = "!anderer-kreis:fk.test"
EXAMPLE_CASE = "FK-7QX2-M6"
SERIES = "KreisrundeA"
# Tables that record that something happened, not what belongs to a case.
# The bot's own state, not a room's: bookkeeping, and nio's crypto store (its
# "session_id" is a Megolm session's, not a meeting's).
BOOKKEEPING = (
    BOOKKEEPING_TABLES
    | {"role_snapshot", "identity_pin"}
    | {t.name for t in Base.metadata.sorted_tables if t.name.startswith("crypto_")}
)
SENDER = {Role.MODERATION: MOD, Role.FACHKRAFT: JA1, Role.ADMIN: ADMIN, None: JA1}


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(datetime(2026, 11, 23, 9, 0, tzinfo=UTC))


@dataclass
class CircleA:
    room: Room
    cases: list[str]
    sessions: list[int]
    requests: list[int]
    polls: list[int]

    @property
    def ids(self) -> list[int]:
        return sorted({*self.sessions, *self.requests, *self.polls})


def _circle(room: Room) -> CircleA:
    """Room A's conference circle, held up to the middle of its first session."""
    session = room.adhoc("26.11.2026 10:00")
    ready, ready_request, _ = room.ready_case(participants="jugendamt,jobcenter")
    waiting = room.new_case()
    waiting_request, _ = room.request(waiting)
    urgent, urgent_request, _ = room.ready_case(urgency="dringend")
    poll_reply = room.mod(f"umfrage {urgent_request}")
    polls = [int(m.group(1)) for m in re.finditer(r"Umfrage #(\d+)", poll_reply)]
    series = room.mod(
        f'reihe neu {SERIES} regel="jeden Donnerstag" zeit=14:00-16:00 plätze=6 minuten=20'
    )
    assert "Reihe" in series, series
    assert ready_request in room.agenda_ids(session)
    room.clock.set(utc("26.11.2026", "09:30"))
    assert "Sitzung eröffnet" in room.mod("sitzung start")
    room.say(JA1, "anwesend")
    assert "Beschluss" in room.mod(f"beschluss {ready} Teilnahme am Projekt ab Januar")
    room.mod(f"lotse {ready} {JC}")
    room.mod(f"wiedervorlage {ready} 15.03.2027")
    room.mod(f"aufgabe {ready} {JC} Termin Berufsberatung bis 15.01.2027")
    return CircleA(
        room,
        [ready, waiting, urgent],
        [s.id for s in room.sessions()],
        [ready_request, waiting_request, urgent_request],
        polls,
    )


def _rows_of(circle: CircleA) -> dict[str, list[tuple[Any, ...]]]:
    """Every row that belongs to room A, table by table."""
    found: dict[str, list[tuple[Any, ...]]] = {}
    links = {
        "room_id": [circle.room.room_id],
        "case_pseudonym": circle.cases,
        "session_id": circle.sessions,
        "from_session": circle.sessions,
        "request_id": circle.requests,
        "poll_id": circle.polls,
    }
    with circle.room.db.uow() as uow:
        for table in Base.metadata.sorted_tables:
            if table.name in BOOKKEEPING:
                continue
            condition = false()
            for column, values in links.items():
                if column in table.c:
                    condition = condition | table.c[column].in_(values)
            if table.name == "case_file":
                condition = condition | table.c.pseudonym.in_(circle.cases)
            if table.name in ("session", "conference_request", "poll"):
                ids = {
                    "session": circle.sessions,
                    "conference_request": circle.requests,
                    "poll": circle.polls,
                }[table.name]
                condition = condition | table.c.id.in_(ids)
            rows = uow.session.execute(
                select(table).where(condition).order_by(*table.primary_key.columns)
            ).all()
            found[table.name] = [tuple(r) for r in rows]
    return found


def _audit_of(circle: CircleA) -> int:
    with circle.room.db.uow() as uow:
        return int(
            uow.session.scalar(
                select(func.count())
                .select_from(AuditEntry)
                .where(AuditEntry.pseudonym.in_(circle.cases))
            )
            or 0
        )


def _outbox_to(room: Room) -> int:
    with room.db.uow() as uow:
        return int(
            uow.session.scalar(
                select(func.count())
                .select_from(OutboxMessage)
                .where(OutboxMessage.room_id == room.room_id)
            )
            or 0
        )


def _variants(
    spec: CommandSpec, example: str, circle: CircleA, ghost_case: str
) -> list[tuple[str, str]]:
    """(with room A's data, with data that never existed) for one example."""
    variants = []
    numbered = re.match(rf"{re.escape(spec.name)} (\d+)(?!\S)", example)
    if EXAMPLE_CASE in example:
        for case in circle.cases:
            variants.append(
                (example.replace(EXAMPLE_CASE, case), example.replace(EXAMPLE_CASE, ghost_case))
            )
    elif numbered:  # a session, request or poll number: try each of room A's
        at = slice(numbered.start(1), numbered.end(1))
        for number in circle.ids:
            variants.append(
                (
                    example[: at.start] + str(number) + example[at.stop :],
                    example[: at.start] + "9999" + example[at.stop :],
                )
            )
    else:
        variants.append((example, example))
    return variants


def _normalised(reply: str, *values: str) -> str:
    for value in values:
        reply = re.sub(rf"(?<![\w.:]){re.escape(value)}(?![\w.:])", "«x»", reply)
    return reply


CASE_COMMANDS = [spec for spec in build_registry() if spec.case_data or spec.name == "termine"]


@pytest.mark.parametrize("spec", CASE_COMMANDS, ids=[s.name for s in CASE_COMMANDS])
def test_another_room_sees_and_changes_nothing_of_a_case(
    database: Database, clock: FakeClock, spec: CommandSpec
) -> None:
    circle = _circle(Room(database, clock))
    other = circle.room.other_room(ROOM_B)
    other.adhoc("27.11.2026 10:00")  # room B's own session: placement has somewhere to go
    before, audit_before = _rows_of(circle), _audit_of(circle)
    outbox_a = _outbox_to(circle.room)
    sender = SENDER[spec.role]
    ghost = new_pseudonym()
    assert spec.examples or spec.name == "einplanen", spec.name
    for example in spec.examples:
        for theirs, none in _variants(spec, example, circle, ghost):
            reply = other.say(sender, theirs, power_level=0)
            for secret in (*circle.cases, SERIES):
                assert secret not in reply, (theirs, reply)
            if theirs != none:
                answer = other.say(sender, none, power_level=0)
                ids = [str(n) for n in (*circle.ids, 9999)]
                assert _normalised(reply, *circle.cases, ghost, *ids) == _normalised(
                    answer, *circle.cases, ghost, *ids
                ), (theirs, reply, answer)
    assert _rows_of(circle) == before
    assert _audit_of(circle) == audit_before
    assert _outbox_to(circle.room) == outbox_a
    # and room A still sees all of it
    assert circle.cases[0] in circle.room.say(JA1, f"status {circle.cases[0]}")


def test_the_daily_pass_places_each_room_in_its_own_sessions(
    database: Database, clock: FakeClock
) -> None:
    room_a = Room(database, clock)
    room_b = room_a.other_room(ROOM_B)
    session_b = room_b.adhoc("26.11.2026 10:00")  # the only session, and it is room B's
    case_a, request_a, _ = room_a.ready_case()
    assert request_a not in room_a.placements()  # room B's session is not room A's
    room_a.run()  # the daily pass
    assert request_a not in room_a.placements()
    session_a = room_a.adhoc("26.11.2026 14:00")
    assert room_a.placements()[request_a] == session_a
    case_b, request_b, _ = room_b.ready_case()
    clock.advance(timedelta(days=1))
    room_a.run()
    assert room_a.placements() == {request_a: session_a, request_b: session_b}
    for row in room_a.outbox():
        mine = case_a if row.room_id == room_a.room_id else case_b
        theirs = case_b if mine == case_a else case_a
        assert theirs not in str(row.content), row.content


def test_a_placement_across_rooms_is_refused_by_storage(
    database: Database, clock: FakeClock
) -> None:
    room_a = Room(database, clock)
    room_b = room_a.other_room(ROOM_B)
    session_b = room_b.adhoc("26.11.2026 10:00")
    _, request_a, _ = room_a.ready_case()
    with database.uow() as uow, pytest.raises(ValueError, match="gehört nicht"):
        uow.sessions.place(session_b, request_a, clock.now())
    with database.uow() as uow:
        assert uow.session.scalar(select(func.count()).select_from(Placement)) == 0


def test_a_pseudonym_is_never_given_out_twice_not_even_in_another_room(
    database: Database, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    room_a = Room(database, clock)
    taken = room_a.new_case()
    fresh = iter([taken, "FK-ZZZZ-Z" + "Z"])
    import commands.cases as cases_module

    issued: list[str] = []

    def scripted(seed: str | None = None) -> str:
        value = next(fresh, None) or new_pseudonym(seed)
        issued.append(value)
        return value

    monkeypatch.setattr(cases_module, "new_pseudonym", scripted)
    room_b = room_a.other_room(ROOM_B)
    reply = room_b.say(JA1, "fall neu")
    match = NEW_CASE.search(reply)
    assert match is not None, reply
    assert match.group(1) != taken
    assert issued[0] == taken  # it was offered, and refused
    with database.uow() as uow:
        assert uow.cases.pseudonym_taken(taken)
        uow.in_room(ROOM_B)
        assert uow.cases.get(taken) is None
        assert uow.cases.get(match.group(1)) is not None


def test_a_purged_pseudonym_stays_taken(database: Database, clock: FakeClock) -> None:
    room = Room(database, clock)
    case = room.new_case()
    with database.uow() as uow:
        uow.session.execute(
            Base.metadata.tables["case_file"]
            .delete()
            .where(Base.metadata.tables["case_file"].c.pseudonym == case)
        )
        uow.commit()
    with database.uow() as uow:
        assert uow.cases.pseudonym_taken(case)  # the audit remembers it


def test_audit_entries_record_their_room_and_still_verify(
    database: Database, clock: FakeClock
) -> None:
    from storage.audit import verify

    room_a = Room(database, clock)
    room_b = room_a.other_room(ROOM_B)
    case_a, case_b = room_a.new_case(), room_b.new_case()
    with database.uow() as uow:
        entries = list(uow.audit.entries())
        assert {(e.pseudonym, e.room_id) for e in entries if e.action == "fall_angelegt"} == {
            (case_a, room_a.room_id),
            (case_b, ROOM_B),
        }
        assert verify(uow.audit.entries(), uow.audit.head()).ok
        only_b = list(uow.audit.entries(room_id=ROOM_B))
        assert only_b
        assert all(e.room_id == ROOM_B for e in only_b)
        # the room is part of what the hash covers
        entry = only_b[0]
        entry.room_id = room_a.room_id
        assert not verify(uow.audit.entries(), uow.audit.head()).ok


# -- direct chats -----------------------------------------------------------------------


def test_a_direct_chat_refuses_case_commands_and_says_where_they_belong(
    database: Database, clock: FakeClock
) -> None:
    room = Room(database, clock)
    direct = RoomId("!direkt:fk.test")
    room.engine.ingest(
        SyncBatch(
            next_batch="direkt-1",
            since=None,
            events=(OwnJoin(EventId("$join-direkt"), direct, direct=True),),
            invites=(),
            joined_rooms=(direct,),
            keys_arrived=False,
        )
    )
    chat = room.other_room(direct)
    refusal = chat.say(JA1, "fall neu")
    assert refusal.startswith("⚠️ Das hier ist ein Direktchat mit mir, kein Konferenzraum."), refusal
    assert f"{PREFIX} hilfe" in refusal
    assert chat.say(JA1, "status FK-7QX2-M6").startswith("⚠️ Das hier ist ein Direktchat")
    assert "pong" in chat.say(JA1, "ping").casefold()
    assert "Jugendamt" in chat.say(JA1, "wer")
    assert chat.say(JA1, "hilfe")
    with database.uow() as uow:
        assert uow.sync.direct_rooms() == {direct}
    # the same words in the conference room work
    assert NEW_CASE.search(room.say(JA1, "fall neu"))


# -- leaving and re-joining --------------------------------------------------------------


def _leave(room: Room, *, rejoin: bool = False) -> None:
    events = (OwnJoin(EventId(f"$rejoin-{room.clock.now()}"), room.room_id),) if rejoin else ()
    room.engine.ingest(
        SyncBatch(
            next_batch=f"leave-{room.clock.now().timestamp()}-{rejoin}",
            since=None,
            events=events,
            invites=(),
            joined_rooms=(room.room_id,) if rejoin else (),
            keys_arrived=False,
            left_rooms=() if rejoin else (room.room_id,),
        )
    )


def test_a_left_rooms_reminders_wait_and_catch_up_once_on_rejoin(
    database: Database, clock: FakeClock
) -> None:
    room_a = Room(database, clock)
    room_b = room_a.other_room(ROOM_B)
    session_a = room_a.adhoc("30.11.2026 10:00")
    session_b = room_b.adhoc("30.11.2026 10:00")
    room_a.run()
    _leave(room_b)
    clock.set(utc("29.11.2026", "12:00"))  # the one-day reminders are due
    rooms = {row.room_id for row in room_a.run_rows()}
    assert rooms == {room_a.room_id}
    assert [r.state for r in room_a.reminders(session_b, "termin") if r.state == "gesendet"] == []
    with database.uow() as uow:
        assert ROOM_B not in uow.sync.live_case_rooms()
        left = {r.room_id: r.left_at for r in uow.sync.rooms()}
        assert left[ROOM_B] is not None
        assert left[room_a.room_id] is None
    _leave(room_b, rejoin=True)
    late = room_a.run_rows()
    assert {row.room_id for row in late} == {ROOM_B}
    assert any("Erinnerung" in str(row.content.get("body")) for row in late)
    assert room_a.run_rows() == []  # once
    assert session_a != session_b


# -- the property: any sequence over two rooms ------------------------------------------

STEPS = st.lists(
    st.tuples(
        st.sampled_from(["a", "b"]),
        st.sampled_from(
            [
                "fall neu",
                "consent",
                "request",
                "urgent",
                "termin",
                "anfragen",
                "übersicht",
                "agenda",
                "termine",
                "status",
                "einplanen",
                "widerruf",
                "day",
            ]
        ),
    ),
    min_size=1,
    max_size=14,
)


@settings(
    max_examples=12,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(steps=STEPS)
def test_any_commands_over_two_rooms_keep_each_rooms_pseudonyms_in_it(
    sqlite_database: Database, steps: list[tuple[str, str]]
) -> None:
    clock = FakeClock(datetime(2026, 11, 23, 9, 0, tzinfo=UTC))
    with sqlite_database.uow() as uow:  # hypothesis reuses the database: start empty
        for table in reversed(Base.metadata.sorted_tables):
            uow.session.execute(table.delete())
        uow.commit()
    room_a = Room(sqlite_database, clock)
    rooms = {"a": room_a, "b": room_a.other_room(ROOM_B)}
    cases: dict[str, list[str]] = {"a": [], "b": []}
    days = iter(range(1, 40))
    for where, step in steps:
        room, mine = rooms[where], cases[where]
        last = mine[-1] if mine else "FK-7QX2-M6"
        if step == "fall neu":
            mine.append(room.new_case())
        elif step == "consent":
            room.consent(last, "jugendamt,jobcenter,agentur")
        elif step in ("request", "urgent"):
            urgency = "dringend" if step == "urgent" else "regulär"
            room.say(
                JC, f"anfrage {last} thema=Ausbildung dringlichkeit={urgency} teilnehmer=jugendamt"
            )
        elif step == "termin":
            room.mod(f"termin neu {25 + next(days) % 5}.11.2026 1{next(days) % 8}:00")
        elif step == "status":
            room.say(JA1, f"status {last}")
        elif step == "widerruf":
            room.say(JA1, f"widerruf {last}")
        elif step == "day":
            clock.advance(timedelta(days=1))
            room.run()
        else:
            room.say(MOD, step)
    for row in room_a.outbox():
        other = "b" if row.room_id == room_a.room_id else "a"
        for case in cases[other]:
            assert case not in str(row.content), (row.room_id, row.content)
