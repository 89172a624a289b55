"""Timed work in chunks: after an outage, or in the daily pass, commands get their turn.

The runner does one bounded chunk per call (one room's daily pass, or up to
``CHUNK_JOBS`` due jobs), each in its own transaction; the timer schedules the next
chunk after the event loop has run. Exactly-once stays: a chunk's messages and the
marks on its reminder rows commit together.

The clock starts on Monday 23.11.2026, 10:00 in Berlin.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from bot.clock import FakeClock
from bot.reminders import CHUNK_JOBS
from bot.testing.harness import JA1, NEW_CASE, ORG, Room
from bot.testing.seed import seed_cases
from bot.timer import ReminderTimer
from storage.models import AuditEntry, Reminder
from storage.models import Session as SessionRow
from storage.uow import Database


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(datetime(2026, 11, 23, 9, 0, tzinfo=UTC))


def test_a_command_is_answered_between_two_rooms_daily_passes(
    sqlite_database: Database, clock: FakeClock
) -> None:
    room_a = Room(sqlite_database, clock)
    room_b = room_a.other_room("!zweiter-kreis:fk.test")
    room_a.adhoc("26.11.2026 10:00")
    room_b.adhoc("26.11.2026 10:00")
    seed_cases(sqlite_database, room_a.room_id, clock.now(), 30, start=1000)
    seed_cases(sqlite_database, room_b.room_id, clock.now(), 30, start=5000)
    runner = room_a.runner
    runner.run_chunk()  # the first room's daily pass
    assert runner.more
    reply = room_a.say(JA1, "fall neu")  # a command while the pass is half done
    created = NEW_CASE.search(reply)
    assert created is not None
    runner.run_due()
    assert not runner.more
    with sqlite_database.uow() as uow:
        entries = list(uow.session.scalars(select(AuditEntry).order_by(AuditEntry.seq)))
    command = next(e.seq for e in entries if e.pseudonym == created.group(1))
    placed = {e.room_id: e.seq for e in entries if e.action == "agenda_eingeplant"}
    # one room was planned before the command was answered, the other after it
    assert sorted(placed) == sorted([room_a.room_id, room_b.room_id])
    assert min(placed.values()) < command < max(placed.values())


def _overdue_reminders(db: Database, clock: FakeClock, room: Room, count: int) -> None:
    """``count`` sessions today whose one-day reminders fell due while the bot was
    down: what a start after a long outage finds."""
    now = clock.now()
    with db.uow() as uow:
        for i in range(count):
            starts = now + timedelta(hours=2, minutes=i)
            session = SessionRow(
                series_id=None,
                room_id=room.room_id,
                original_day=None,
                name="Fallkonferenz",
                starts_at=starts,
                ends_at=starts + timedelta(hours=1),
                capacity=6,
                slot_minutes=20,
                state="geplant",
                sequence=0,
                created_at=now,
                updated_at=now,
            )
            uow.session.add(session)
            uow.session.flush()
            for offset in (24 * 60 + 30, 24 * 60 + 60):  # two missed: one late notice
                uow.session.add(
                    Reminder(
                        session_id=session.id,
                        kind="termin",
                        offset_minutes=offset,
                        due_at=starts - timedelta(minutes=offset),
                        state="offen",
                    )
                )
        uow.commit()


def test_thousands_of_overdue_reminders_go_out_in_chunks_exactly_once(
    sqlite_database: Database, clock: FakeClock
) -> None:
    room = Room(sqlite_database, clock)
    count = 2 * CHUNK_JOBS + 50
    _overdue_reminders(sqlite_database, clock, room, count)
    runner = room.runner
    assert runner.run_chunk() == 0  # today's daily pass comes first
    first = runner.run_chunk()
    assert first == CHUNK_JOBS
    assert runner.more
    rest = runner.run_due()
    assert first + rest == count  # one late notice per session, not two
    assert runner.run_due() == 0  # and never again
    with sqlite_database.uow() as uow:
        states = list(uow.session.scalars(select(Reminder.state)))
    assert states.count("gesendet") == count
    assert states.count("übersprungen") == count


async def test_the_timer_lets_the_loop_run_between_chunks(
    sqlite_database: Database, clock: FakeClock
) -> None:
    room = Room(sqlite_database, clock)
    _overdue_reminders(sqlite_database, clock, room, CHUNK_JOBS + 10)
    runner = room.runner
    timer = ReminderTimer(runner, clock)
    timer.fire()  # the daily pass: one chunk, the rest is scheduled
    assert runner.more
    turns = 0
    while runner.more and turns < 50:
        await asyncio.sleep(0)  # the loop's turn: a command could be handled here
        turns += 1
    assert not runner.more
    assert turns >= 2  # the work was split across loop turns
    with sqlite_database.uow() as uow:
        sent = uow.session.scalars(select(Reminder).where(Reminder.state == "gesendet")).all()
    assert len(sent) == CHUNK_JOBS + 10
    timer.stop()


def test_the_daily_pass_forgets_old_quarantine_records(
    sqlite_database: Database, clock: FakeClock
) -> None:
    from bot.reminders import ReminderRunner, Retention
    from storage.models import QuarantinedEvent

    room = Room(sqlite_database, clock)
    with sqlite_database.uow() as uow:
        for days, event_id in ((91, "$alt"), (89, "$neu")):
            uow.quarantine.add(
                QuarantinedEvent(
                    event_id=event_id,
                    room_id=room.room_id,
                    event_type="m.room.message",
                    sender="@mallory:fk.test",
                    reason="content.body: kein Text",
                    quarantined_at=clock.now() - timedelta(days=days),
                )
            )
        uow.commit()
    runner = ReminderRunner(sqlite_database, clock, ORG, retention=Retention(182, 30, 90))
    runner.run_due()
    with sqlite_database.uow() as uow:
        left = [row.event_id for row in uow.quarantine.recent()]
    assert left == ["$neu"]
