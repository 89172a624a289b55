"""Series, sessions, placements and session reminders (SessionRepository) on both databases.

Rows are written in one unit of work and read back in another; a unit of work confined
to a room (``uow.in_room``) must not see another room's series, sessions or plans.
"""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from bot.testing.rows import (
    CASE_A,
    CASE_B,
    ROOM_A,
    ROOM_B,
    T0,
    add_case,
    add_request,
    add_session,
    leave,
    series,
)
from storage.models import Reminder
from storage.sessions import CrossRoomPlacement
from storage.uow import Database, UnitOfWork

DAY = timedelta(days=1)
HOUR = timedelta(hours=1)


def _reminders(uow: UnitOfWork, session_id: int, kind: str = "termin") -> dict[int, Reminder]:
    return {
        r.offset_minutes: r
        for r in uow.session.query(Reminder).filter_by(session_id=session_id, kind=kind)
    }


# -- sessions -------------------------------------------------------------------------------


def test_a_session_is_stored_and_read_back(database: Database) -> None:
    starts = T0 + 7 * DAY
    with database.uow() as uow:
        row = add_session(uow, ROOM_A, starts, name="Schnittstellengespräch", capacity=6)
        uow.commit()
        session_id = row.id
    assert session_id is not None
    with database.uow() as uow:
        back = uow.sessions.get(session_id)
        assert back is not None
        assert (back.room_id, back.name, back.capacity, back.state) == (
            ROOM_A,
            "Schnittstellengespräch",
            6,
            "geplant",
        )
        assert back.starts_at == starts
        assert back.starts_at.utcoffset() == timedelta(0)
        assert back.ends_at == starts + 2 * HOUR
        assert uow.sessions.get(session_id + 1000) is None


def test_a_session_of_another_room_is_not_visible_in_a_confined_unit_of_work(
    database: Database,
) -> None:
    with database.uow() as uow:
        mine, theirs = add_session(uow, ROOM_A), add_session(uow, ROOM_B)
        uow.commit()
    with database.uow() as uow:
        uow.in_room(ROOM_A)
        assert uow.sessions.get(mine.id) is not None
        assert uow.sessions.get(theirs.id) is None
    with database.uow() as uow:
        uow.in_room(ROOM_B)
        assert uow.sessions.get(theirs.id) is not None
        assert uow.sessions.get(mine.id) is None
    with database.uow() as uow:  # unconfined: the runner and the operator see all
        assert uow.sessions.get(theirs.id) is not None


def test_upcoming_lists_planned_sessions_after_now_in_time_order_of_the_room(
    database: Database,
) -> None:
    now = T0
    with database.uow() as uow:
        late = add_session(uow, ROOM_A, now + 3 * DAY)
        early = add_session(uow, ROOM_A, now + DAY)
        same_time = add_session(uow, ROOM_A, now + 3 * DAY)  # tie: the lower id first
        add_session(uow, ROOM_A, now)  # starts right now: no longer upcoming
        add_session(uow, ROOM_A, now - DAY)
        add_session(uow, ROOM_A, now + 2 * DAY, state="abgesagt")
        other = add_session(uow, ROOM_B, now + 2 * DAY)
        uow.commit()
    with database.uow() as uow:
        assert [s.id for s in uow.sessions.upcoming(now)] == [
            early.id,
            other.id,
            late.id,
            same_time.id,
        ]
        assert [s.id for s in uow.sessions.upcoming(now, limit=2)] == [early.id, other.id]
        uow.in_room(ROOM_A)
        assert [s.id for s in uow.sessions.upcoming(now)] == [early.id, late.id, same_time.id]


# -- series ---------------------------------------------------------------------------------


def test_active_series_of_the_room_in_creation_order(database: Database) -> None:
    with database.uow() as uow:
        first, ended, second = (
            series(ROOM_A, name="Erste"),
            series(ROOM_A, name="Beendet", active=False),
            series(ROOM_A, name="Zweite"),
        )
        other = series(ROOM_B, name="Anderer Kreis")
        for row in (first, ended, second, other):
            uow.sessions.add_series(row)
        uow.commit()
    with database.uow() as uow:
        assert [s.name for s in uow.sessions.active_series()] == [
            "Erste",
            "Zweite",
            "Anderer Kreis",
        ]
        uow.in_room(ROOM_A)
        assert [s.name for s in uow.sessions.active_series()] == ["Erste", "Zweite"]
        assert uow.sessions.get_series(first.id) is not None
        assert uow.sessions.get_series(ended.id) is not None  # ended, but still readable
        assert uow.sessions.get_series(other.id) is None


def test_an_occurrence_is_found_by_its_series_and_original_day(database: Database) -> None:
    with database.uow() as uow:
        rule = series(ROOM_A)
        uow.sessions.add_series(rule)
        # The occurrence of 9 December was moved to the 10th: it keeps its original day.
        moved = add_session(
            uow, ROOM_A, T0 + 17 * DAY, series_id=rule.id, original_day=date(2026, 12, 9)
        )
        add_session(uow, ROOM_A, T0 + 45 * DAY, series_id=rule.id, original_day=date(2027, 1, 13))
        uow.commit()
    with database.uow() as uow:
        found = uow.sessions.occurrence(rule.id, date(2026, 12, 9))
        assert found is not None
        assert found.id == moved.id
        assert uow.sessions.occurrence(rule.id, date(2026, 12, 10)) is None
        assert uow.sessions.occurrence(rule.id + 1, date(2026, 12, 9)) is None


# -- placements -----------------------------------------------------------------------------


def test_placements_are_numbered_in_order_per_session(database: Database) -> None:
    with database.uow() as uow:
        add_case(uow, CASE_A, ROOM_A)
        first, second = add_session(uow), add_session(uow, starts_at=T0 + 14 * DAY)
        requests = [add_request(uow, CASE_A, topic=t) for t in ("Ausbildung", "Wohnen", "Schule")]
        a = uow.sessions.place(first.id, requests[0].id, T0)
        b = uow.sessions.place(second.id, requests[1].id, T0)
        c = uow.sessions.place(first.id, requests[2].id, T0 + HOUR)
        uow.commit()
    assert (a.position, b.position, c.position) == (1, 1, 2)
    with database.uow() as uow:
        assert [(p.request_id, p.position) for p in uow.sessions.placements(first.id)] == [
            (requests[0].id, 1),
            (requests[2].id, 2),
        ]
        assert [(r.topic, p.position) for p, r in uow.sessions.agenda(first.id)] == [
            ("Ausbildung", 1),
            ("Schule", 2),
        ]
        assert uow.sessions.taken([first.id, second.id, second.id + 99]) == {
            first.id: 2,
            second.id: 1,
        }
        assert uow.sessions.taken([]) == {}
        placement = uow.sessions.placement_of(requests[2].id)
        assert placement is not None
        assert (placement.session_id, placement.placed_at) == (first.id, T0 + HOUR)


def test_unplacing_frees_the_request_and_a_new_item_goes_to_the_end(database: Database) -> None:
    with database.uow() as uow:
        add_case(uow)
        plan = add_session(uow)
        one, two, three = (add_request(uow) for _ in range(3))
        uow.sessions.place(plan.id, one.id, T0)
        uow.sessions.place(plan.id, two.id, T0)
        removed = uow.sessions.unplace(one.id)
        assert removed is not None
        assert removed.request_id == one.id
        assert uow.sessions.unplace(one.id) is None  # not placed (any more)
        again = uow.sessions.place(plan.id, three.id, T0)
        uow.commit()
    assert again.position == 3  # after the highest, never into a gap
    with database.uow() as uow:
        assert uow.sessions.placement_of(one.id) is None
        assert [p.request_id for p in uow.sessions.placements(plan.id)] == [two.id, three.id]


def test_a_request_is_never_placed_in_a_session_of_another_room(database: Database) -> None:
    with database.uow() as uow:
        add_case(uow, CASE_A, ROOM_A)
        theirs = add_session(uow, ROOM_B)
        mine = add_session(uow, ROOM_A)
        req = add_request(uow, CASE_A)
        with pytest.raises(CrossRoomPlacement):
            uow.sessions.place(theirs.id, req.id, T0)
        with pytest.raises(CrossRoomPlacement):
            uow.sessions.place(mine.id + theirs.id + 100, req.id, T0)  # no such session
        with pytest.raises(CrossRoomPlacement):
            uow.sessions.place(mine.id, req.id + 100, T0)  # no such request
        assert uow.sessions.placements(theirs.id) == []
        assert uow.sessions.placement_of(req.id) is None


def test_planned_and_placements_of_answer_for_many_requests_at_once(database: Database) -> None:
    with database.uow() as uow:
        add_case(uow, CASE_A, ROOM_A)
        add_case(uow, CASE_B, ROOM_B)
        mine, theirs = add_session(uow, ROOM_A), add_session(uow, ROOM_B)
        placed = add_request(uow, CASE_A)
        waiting = add_request(uow, CASE_A)
        elsewhere = add_request(uow, CASE_B)
        uow.sessions.place(mine.id, placed.id, T0)
        uow.sessions.place(theirs.id, elsewhere.id, T0)
        uow.commit()
    ids = [placed.id, waiting.id, elsewhere.id, placed.id]  # a repeated id is asked once
    with database.uow() as uow:
        assert {k: s.id for k, s in uow.sessions.planned(ids).items()} == {
            placed.id: mine.id,
            elsewhere.id: theirs.id,
        }
        assert {k: p.session_id for k, p in uow.sessions.placements_of(ids).items()} == {
            placed.id: mine.id,
            elsewhere.id: theirs.id,
        }
        assert uow.sessions.planned([]) == {}
        uow.in_room(ROOM_A)
        assert {k: s.id for k, s in uow.sessions.planned(ids).items()} == {placed.id: mine.id}


# -- session reminders ----------------------------------------------------------------------


def test_reminders_are_armed_open_ahead_and_void_when_already_past(database: Database) -> None:
    starts = T0 + 2 * DAY
    with database.uow() as uow:
        plan = add_session(uow, starts_at=starts)
        # a week (past already), a day and an hour before
        uow.sessions.arm_reminders(plan, [7 * 24 * 60, 24 * 60, 60], now=T0)
        uow.commit()
    with database.uow() as uow:
        armed = _reminders(uow, plan.id)
        assert {k: (r.state, r.due_at) for k, r in armed.items()} == {
            7 * 24 * 60: ("hinfällig", starts - 7 * DAY),
            24 * 60: ("offen", starts - DAY),
            60: ("offen", starts - HOUR),
        }


def test_moving_a_session_rearms_its_reminders_and_a_sent_one_stays_sent(
    database: Database,
) -> None:
    starts = T0 + 2 * DAY
    with database.uow() as uow:
        plan = add_session(uow, starts_at=starts)
        uow.sessions.arm_reminders(plan, [24 * 60, 60], now=T0)
        uow.commit()
    now = starts - DAY + HOUR  # the day-before reminder went out
    with database.uow() as uow:
        day_before = _reminders(uow, plan.id)[24 * 60]
        day_before.state, day_before.sent_at = "gesendet", starts - DAY
        uow.commit()
    # Moved an hour earlier: the one-hour reminder is still ahead, the sent one stays sent.
    with database.uow() as uow:
        moved = uow.sessions.get(plan.id)
        assert moved is not None
        moved.starts_at = starts - HOUR
        uow.sessions.arm_reminders(moved, [24 * 60, 60], now=now)
        uow.commit()
    with database.uow() as uow:
        armed = _reminders(uow, plan.id)
        assert (armed[24 * 60].state, armed[24 * 60].sent_at) == ("gesendet", starts - DAY)
        assert (armed[60].state, armed[60].due_at) == ("offen", starts - 2 * HOUR)
    # Moved a week later: both lie ahead again and are open, the sent mark is gone.
    with database.uow() as uow:
        moved = uow.sessions.get(plan.id)
        assert moved is not None
        moved.starts_at = starts + 7 * DAY
        uow.sessions.arm_reminders(moved, [24 * 60, 60], now=now)
        uow.commit()
    with database.uow() as uow:
        armed = _reminders(uow, plan.id)
        assert {k: (r.state, r.sent_at) for k, r in armed.items()} == {
            24 * 60: ("offen", None),
            60: ("offen", None),
        }
        assert len(uow.session.query(Reminder).all()) == 2  # re-armed, not added again
    # Moved to an hour from now: the open one-day reminder has passed and is void.
    with database.uow() as uow:
        moved = uow.sessions.get(plan.id)
        assert moved is not None
        moved.starts_at = now + HOUR
        uow.sessions.arm_reminders(moved, [24 * 60, 60], now=now)
        uow.commit()
    with database.uow() as uow:
        armed = _reminders(uow, plan.id)
        assert armed[24 * 60].state == "hinfällig"
        assert armed[60].state == "hinfällig"  # due exactly now: not ahead


def test_arm_once_catches_up_a_missed_job_or_drops_it(database: Database) -> None:
    with database.uow() as uow:
        plan = add_session(uow)
        uow.sessions.arm_once(plan.id, "agenda", T0 - HOUR, T0, catch_up=True)
        uow.sessions.arm_once(plan.id, "pruefung", T0 - HOUR, T0, catch_up=False)
        uow.sessions.arm_once(plan.id, "nachlauf", T0 + DAY, T0, catch_up=False)
        uow.commit()
    with database.uow() as uow:
        agenda = _reminders(uow, plan.id, "agenda")[0]
        check = _reminders(uow, plan.id, "pruefung")[0]
        later = _reminders(uow, plan.id, "nachlauf")[0]
        assert (agenda.state, agenda.due_at) == ("offen", T0)  # at once
        assert (check.state, check.due_at) == ("hinfällig", T0 - HOUR)
        assert (later.state, later.due_at) == ("offen", T0 + DAY)
        agenda.state, agenda.sent_at = "gesendet", T0
        uow.commit()
    with database.uow() as uow:
        # A job that ran stays done when caught up again, and is open once moved ahead.
        uow.sessions.arm_once(plan.id, "agenda", T0 - HOUR, T0 + HOUR, catch_up=True)
        assert _reminders(uow, plan.id, "agenda")[0].state == "gesendet"
        uow.sessions.arm_once(plan.id, "agenda", T0 + DAY, T0 + HOUR, catch_up=True)
        reopened = _reminders(uow, plan.id, "agenda")[0]
        assert (reopened.state, reopened.sent_at, reopened.due_at) == ("offen", None, T0 + DAY)
        # An open job whose new time has passed, without catching up, is void.
        uow.sessions.arm_once(plan.id, "nachlauf", T0, T0 + HOUR, catch_up=False)
        assert _reminders(uow, plan.id, "nachlauf")[0].state == "hinfällig"
        assert len(uow.session.query(Reminder).filter_by(session_id=plan.id).all()) == 3


def test_due_reminders_in_time_order_without_left_rooms_or_cancelled_ones(
    database: Database,
) -> None:
    with database.uow() as uow:
        a = add_session(uow, ROOM_A, T0 + 3 * HOUR)
        b = add_session(uow, ROOM_A, T0 + 2 * HOUR)
        gone = add_session(uow, ROOM_B, T0 + 2 * HOUR)
        cancelled = add_session(uow, ROOM_A, T0 + 2 * HOUR)
        for plan in (a, b, gone, cancelled):
            uow.sessions.arm_reminders(plan, [120, 60], now=T0 - DAY)
        uow.sessions.cancel_reminders(cancelled.id)
        leave(uow, ROOM_B)
        uow.commit()
    with database.uow() as uow:
        assert uow.sessions.next_reminder_at() == T0  # b's two-hour reminder
        assert uow.sessions.due_reminders(T0 - timedelta(seconds=1)) == []
        due = uow.sessions.due_reminders(T0 + 2 * HOUR)
        assert [(r.session_id, r.offset_minutes) for r in due] == [
            (b.id, 120),  # T0
            (a.id, 120),  # T0 + 1 h
            (b.id, 60),  # T0 + 1 h, a later id
            (a.id, 60),  # T0 + 2 h, exactly due
        ]
        assert {r.state for r in _reminders(uow, cancelled.id).values()} == {"hinfällig"}


def test_cancelling_leaves_sent_reminders_as_they_were(database: Database) -> None:
    with database.uow() as uow:
        plan = add_session(uow, starts_at=T0 + 2 * DAY)
        uow.sessions.arm_reminders(plan, [24 * 60, 60], now=T0)
        sent = _reminders(uow, plan.id)[24 * 60]
        sent.state, sent.sent_at = "gesendet", T0 + DAY
        uow.sessions.cancel_reminders(plan.id)
        uow.commit()
    with database.uow() as uow:
        states = {k: r.state for k, r in _reminders(uow, plan.id).items()}
        assert states == {24 * 60: "gesendet", 60: "hinfällig"}
        assert uow.sessions.next_reminder_at() is None
