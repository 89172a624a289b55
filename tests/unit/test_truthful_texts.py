"""What the bot says must be true: late reminders, counts, typos, odd days.

The clock starts on Monday 23.11.2026, 10:00 in Berlin.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from bot.clock import FakeClock
from bot.testing.harness import JA1, Room, utc
from storage.uow import Database


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(datetime(2026, 11, 23, 9, 0, tzinfo=UTC))


def test_a_late_reminder_says_how_long_it_really_is(database: Database, clock: FakeClock) -> None:
    room = Room(database, clock)
    session = room.adhoc("26.11.2026 10:00")
    room.run()
    # 09:56 in Berlin; the bot was down: the hour's reminder is late
    clock.set(utc("26.11.2026", "08:56"))
    [reminder] = [c["body"] for c in room.run() if "Erinnerung" in c["body"]]
    assert f"(Termin #{session})" in reminder
    assert "– in 4 Minuten." in reminder, reminder
    assert "verspätet" in reminder


def test_an_on_time_reminder_keeps_its_distance(database: Database, clock: FakeClock) -> None:
    room = Room(database, clock)
    room.adhoc("26.11.2026 10:00")
    room.run()
    clock.set(utc("26.11.2026", "08:01"))  # one minute after the hour's reminder fell due
    [reminder] = [c["body"] for c in room.run() if "Erinnerung" in c["body"]]
    assert "– in 1 Stunde." in reminder, reminder
    assert "1 Fall auf" not in reminder
    assert "0 Fälle auf der Tagesordnung" in reminder


def test_termin_neu_counts_the_cases_it_placed(database: Database, clock: FakeClock) -> None:
    room = Room(database, clock)
    _, request, _ = room.ready_case()
    reply = room.mod("termin neu 26.11.2026 10:00")
    assert "– 1/6 Fälle" in reply.splitlines()[0], reply
    assert request in room.placements()


@pytest.mark.parametrize(
    ("when", "warning"),
    [
        ("28.11.2026 10:00", "⚠️ Der 28.11.2026 ist ein Samstag."),
        ("29.11.2026 10:00", "⚠️ Der 29.11.2026 ist ein Sonntag."),
        ("25.12.2026 10:00", "⚠️ Der 25.12.2026 ist ein Feiertag."),
    ],
)
def test_a_session_on_a_weekend_or_holiday_is_said(
    database: Database, clock: FakeClock, when: str, warning: str
) -> None:
    room = Room(database, clock)
    reply = room.mod(f"termin neu {when}")
    assert reply.startswith("📅 Termin angelegt"), reply
    assert warning in reply, reply
    ordinary = room.mod("termin neu 26.11.2026 10:00")
    assert "⚠️" not in ordinary
    moved = room.mod(f"termin verschieben {room.sessions()[-1].id} {when}")
    assert warning in moved, moved


def test_a_typo_inside_a_pseudonym_is_not_blamed_on_the_last_character(
    database: Database, clock: FakeClock
) -> None:
    room = Room(database, clock)
    case = room.new_case()
    typo = case[:4] + ("A" if case[4] != "A" else "B") + case[5:]
    reply = room.say(JA1, f"status {typo}")
    assert "Tippfehler" in reply
    assert "nicht unbedingt am Ende" in reply
    assert "das letzte Zeichen" not in reply
