"""Work grows with what changed, not with the data: statement counts and reply sizes.

A room is seeded through the storage layer with N cases, each with a consent and an
open request (every fifth one waiting for consent), and one session already full.
Each command then runs once to reach its steady state and once measured: the number
of SQL statements it sends must be the same at 50 and at 2 000 cases, on both
databases. The replies of the list commands stay under the 32 KiB limit at 5 000.

The clock starts on Monday 23.11.2026, 10:00 in Berlin.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import event

from bot.clock import FakeClock
from bot.engine import MAX_TEXT_BYTES
from bot.testing.harness import JA1, JC, Room
from bot.testing.seed import seed_cases
from storage.uow import Database

SMALL, LARGE = 50, 2000


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(datetime(2026, 11, 23, 9, 0, tzinfo=UTC))


@contextmanager
def counted(db: Database) -> Iterator[list[str]]:
    statements: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        statements.append(statement)

    event.listen(db.engine, "before_cursor_execute", record)
    try:
        yield statements
    finally:
        event.remove(db.engine, "before_cursor_execute", record)


def _world(database: Database, clock: FakeClock, count: int) -> tuple[Room, list[str], int]:
    room = Room(database, clock)
    session = room.adhoc("26.11.2026 10:00")
    cases = seed_cases(room.db, room.room_id, room.clock.now(), count)
    room.mod("einplanen")  # the session fills up: the steady state
    return room, cases, session


Command = Callable[[Room, list[str], int], str]
COMMANDS: dict[str, Command] = {
    "anfragen": lambda r, c, s: r.say(JA1, "anfragen"),
    "anfragen status=wartet": lambda r, c, s: r.say(JA1, "anfragen status=wartet"),
    "übersicht": lambda r, c, s: r.mod("übersicht"),
    "agenda": lambda r, c, s: r.say(JA1, f"agenda {s}"),
    "termine": lambda r, c, s: r.say(JA1, "termine"),
    "status": lambda r, c, s: r.say(JA1, f"status {c[3]}"),
    "einwilligung": lambda r, c, s: r.consent(c[5], "jugendamt,jobcenter"),
    "widerruf": lambda r, c, s: r.say(JA1, f"widerruf {c[7]}"),
    "anfrage": lambda r, c, s: r.say(
        JC, f"anfrage {c[9]} thema=Familie dringlichkeit=regulär teilnehmer=jugendamt"
    ),
    "einplanen": lambda r, c, s: r.mod("einplanen"),
    "termin neu": lambda r, c, s: r.mod("termin neu 27.11.2026 10:00 plätze=1"),
}


def _statements(database: Database, clock: FakeClock, count: int, name: str) -> int:
    room, cases, session = _world(database, clock, count)
    run = COMMANDS[name]
    with counted(database) as statements:
        reply = run(room, cases, session)
    assert not reply.startswith(("⚠️", "❌")), reply
    return len(statements)


@pytest.mark.parametrize("name", list(COMMANDS))
def test_a_command_sends_as_many_statements_at_2000_cases_as_at_50(
    database: Database, name: str
) -> None:
    small = _statements(database, FakeClock(datetime(2026, 11, 23, 9, 0, tzinfo=UTC)), SMALL, name)
    with database.uow() as uow:  # a fresh world for the large run
        for table in reversed(_tables()):
            uow.session.execute(table.delete())
        uow.commit()
    large = _statements(database, FakeClock(datetime(2026, 11, 23, 9, 0, tzinfo=UTC)), LARGE, name)
    assert small == large, (name, small, large)


def _tables() -> list[Any]:
    from storage.models import Base

    return list(Base.metadata.sorted_tables)


def test_the_daily_pass_sends_as_many_statements_at_2000_cases_as_at_50(
    database: Database,
) -> None:
    counts = []
    for count in (SMALL, LARGE):
        with database.uow() as uow:
            for table in reversed(_tables()):
                uow.session.execute(table.delete())
            uow.commit()
        clock = FakeClock(datetime(2026, 11, 23, 9, 0, tzinfo=UTC))
        room, _, _ = _world(database, clock, count)
        room.run()  # today's pass, as after the start
        clock.advance(timedelta(days=1))
        with counted(database) as statements:
            room.runner.run_due()
        counts.append(len(statements))
    assert counts[0] == counts[1], counts


def test_list_replies_stay_under_the_limit_at_5000_open_requests(
    sqlite_database: Database, clock: FakeClock
) -> None:
    room, _, session = _world(sqlite_database, clock, 5000)
    for reply in (
        room.say(JA1, "anfragen"),
        room.say(JA1, "anfragen status=wartet seite=3"),
        room.mod("übersicht"),
        room.say(JA1, f"agenda {session}"),
        room.say(JA1, "termine"),
    ):
        assert len(reply.encode()) < MAX_TEXT_BYTES, len(reply.encode())
    first = room.say(JA1, "anfragen")
    assert first.startswith("Offene Anfragen (5000)"), first[:80]
    assert "Seite 1 von 100. Weiter: !fk anfragen seite=2" in first
    waiting = room.say(JA1, "anfragen status=wartet seite=20")
    assert waiting.startswith("Offene Anfragen (1000, gefiltert)"), waiting[:80]
    assert "Seite 20 von 20." in waiting
