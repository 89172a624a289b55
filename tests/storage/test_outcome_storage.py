"""Sittings, attendance, outcomes and Wiedervorlage reminders (OutcomeRepository), both databases.

Rows are written in one unit of work and read back in another; a unit of work confined
to a room (``uow.in_room``) must not see another room's sittings, reviews, tasks or
navigators (those of a case of another room).
"""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from bot.testing.rows import (
    CASE_A,
    CASE_B,
    JA,
    JC,
    MOD,
    ROOM_A,
    ROOM_B,
    T0,
    add_case,
    add_request,
    add_sent,
    add_session,
    leave,
    review,
    sitting,
    task,
)
from storage.models import (
    Attendance,
    Carryover,
    CaseReminder,
    Decision,
    Navigator,
    Review,
    Sitting,
    Task,
)
from storage.uow import Database, UnitOfWork

DAY = timedelta(days=1)
HOUR = timedelta(hours=1)


def _cases(uow: UnitOfWork) -> None:
    add_case(uow, CASE_A, ROOM_A)
    add_case(uow, CASE_B, ROOM_B)


def _sitting(uow: UnitOfWork, room_id: str = ROOM_A, **fields: object) -> Sitting:
    session = add_session(uow, room_id)
    row = sitting(session.id, room_id, **fields)
    uow.outcomes.add(row)
    return row


def _decision(session_id: int, pseudonym: str, text: str) -> Decision:
    return Decision(
        session_id=session_id, case_pseudonym=pseudonym, text=text, recorded_by=MOD, at=T0
    )


def _navigator(session_id: int, pseudonym: str, user: str, *, active: bool = True) -> Navigator:
    return Navigator(
        session_id=session_id,
        case_pseudonym=pseudonym,
        user_id=user,
        institution="jugendamt",
        assigned_by=MOD,
        at=T0,
        active=active,
    )


# -- sittings -------------------------------------------------------------------------------


def test_a_sitting_is_stored_read_back_and_confined_to_its_room(database: Database) -> None:
    with database.uow() as uow:
        mine = _sitting(uow, ROOM_A, quorum=3)
        theirs = _sitting(uow, ROOM_B)
        uow.commit()
    with database.uow() as uow:
        back = uow.outcomes.sitting(mine.session_id)
        assert back is not None
        assert (back.room_id, back.opened_by, back.opened_at, back.quorum) == (ROOM_A, MOD, T0, 3)
        assert (back.closed_at, back.minutes_dirty, back.minutes_edits) == (None, False, 0)
        assert uow.outcomes.sitting(mine.session_id + theirs.session_id + 1) is None
        uow.in_room(ROOM_A)
        assert uow.outcomes.sitting(theirs.session_id) is None
        assert uow.outcomes.sitting(mine.session_id) is not None


def test_the_open_and_the_last_closed_sitting_of_a_room(database: Database) -> None:
    with database.uow() as uow:
        assert uow.outcomes.open_sitting(ROOM_A) is None
        assert uow.outcomes.last_closed(ROOM_A) is None
        older = _sitting(uow, closed_at=T0 + HOUR, closed_by=MOD, opening_txn_id="s1")
        newer = _sitting(uow, closed_at=T0 + 3 * HOUR, closed_by=MOD, opening_txn_id="s2")
        _sitting(uow, ROOM_B, opened_at=T0 + 5 * HOUR, opening_txn_id="s3")  # another room
        running = _sitting(uow, opened_at=T0 + 4 * HOUR, opening_txn_id="s4")
        uow.commit()
    with database.uow() as uow:
        current = uow.outcomes.open_sitting(ROOM_A)
        assert current is not None
        assert current.session_id == running.session_id
        last = uow.outcomes.last_closed(ROOM_A)
        assert last is not None
        assert last.session_id == newer.session_id != older.session_id
        assert uow.outcomes.last_closed(ROOM_B) is None


def test_a_sitting_is_found_by_its_opening_and_its_minutes_message(database: Database) -> None:
    with database.uow() as uow:
        mine = _sitting(uow, ROOM_A, opening_txn_id="auf-a", minutes_txn_id="prot-a")
        _sitting(uow, ROOM_B, opening_txn_id="auf-b", minutes_txn_id="prot-b")
        unsent = _sitting(uow, ROOM_A, opening_txn_id="auf-c")
        for txn, room in (("auf-a", ROOM_A), ("prot-a", ROOM_A), ("auf-b", ROOM_B)):
            add_sent(uow, txn, room, f"${txn}")
        add_sent(uow, "prot-b", ROOM_B, "$prot-b")
        uow.commit()
    with database.uow() as uow:
        by_opening = uow.outcomes.sitting_by_opening("$auf-a")
        by_minutes = uow.outcomes.sitting_by_minutes("$prot-a")
        assert by_opening is not None
        assert by_minutes is not None
        assert by_opening.session_id == by_minutes.session_id == mine.session_id
        assert uow.outcomes.sitting_by_minutes("$auf-a") is None  # an opening, not minutes
        assert uow.outcomes.minutes_event(mine) == "$prot-a"
        assert uow.outcomes.minutes_event(unsent) is None
        uow.in_room(ROOM_A)
        assert uow.outcomes.sitting_by_opening("$auf-b") is None
        assert uow.outcomes.sitting_by_minutes("$prot-b") is None


def test_minutes_to_edit_and_to_confirm(database: Database) -> None:
    with database.uow() as uow:
        dirty = _sitting(uow, ROOM_A, minutes_dirty=True, opening_txn_id="d1")
        _sitting(uow, ROOM_B, minutes_dirty=True, opening_txn_id="d2")  # the bot left
        unconfirmed = _sitting(uow, ROOM_A, closed_at=T0 + HOUR, opening_txn_id="u1")
        other = _sitting(uow, ROOM_B, closed_at=T0 + HOUR, opening_txn_id="u2")
        _sitting(uow, closed_at=T0 + HOUR, confirmed_at=T0 + DAY, opening_txn_id="c1")
        _sitting(uow, opening_txn_id="o1")  # still open
        leave(uow, ROOM_B)
        uow.commit()
    with database.uow() as uow:
        assert [s.session_id for s in uow.outcomes.dirty_minutes()] == [dirty.session_id]
        assert {s.session_id for s in uow.outcomes.unconfirmed_minutes()} == {
            unconfirmed.session_id,
            other.session_id,
        }
        uow.in_room(ROOM_A)
        assert [s.session_id for s in uow.outcomes.unconfirmed_minutes()] == [
            unconfirmed.session_id
        ]


# -- attendance -----------------------------------------------------------------------------


def test_attendance_is_recorded_once_and_changed_in_place(database: Database) -> None:
    with database.uow() as uow:
        session = add_session(uow)
        assert uow.outcomes.mark(session.id, "jugendamt", JA, "anwesend", T0)
        assert uow.outcomes.mark(session.id, "jobcenter", JC, "entschuldigt", T0)
        assert not uow.outcomes.mark(session.id, "jugendamt", JA, "anwesend", T0 + HOUR)
        assert uow.outcomes.mark(session.id, "jobcenter", JC, "anwesend", T0 + HOUR)
        uow.commit()
    with database.uow() as uow:
        rows = uow.outcomes.attendance(session.id)
        assert [(a.user_id, a.kind, a.at) for a in rows] == [
            (JA, "anwesend", T0),  # unchanged: the repeat did not touch the time
            (JC, "anwesend", T0 + HOUR),
        ]
        assert uow.session.query(Attendance).count() == 2
        assert uow.outcomes.attendance(session.id + 1) == []


# -- outcomes of a session ------------------------------------------------------------------


def test_decisions_in_order_and_by_case(database: Database) -> None:
    with database.uow() as uow:
        _cases(uow)
        session, later = add_session(uow), add_session(uow, starts_at=T0 + 30 * DAY)
        for pseudonym, text in ((CASE_A, "erste"), (CASE_B, "andere"), (CASE_A, "zweite")):
            uow.outcomes.add(_decision(session.id, pseudonym, text))
        uow.outcomes.add(_decision(later.id, CASE_A, "später"))
        uow.commit()
    with database.uow() as uow:
        assert [d.text for d in uow.outcomes.decisions(session.id)] == [
            "erste",
            "andere",
            "zweite",
        ]
        assert [d.text for d in uow.outcomes.decisions(session.id, CASE_A)] == [
            "erste",
            "zweite",
        ]
        assert uow.outcomes.decisions(session.id, "FK-0000-00") == []


def test_the_active_navigator_is_the_latest_active_one_of_a_case_of_the_room(
    database: Database,
) -> None:
    with database.uow() as uow:
        _cases(uow)
        session = add_session(uow)
        uow.outcomes.add(_navigator(session.id, CASE_A, JA))
        latest = _navigator(session.id, CASE_A, JC)
        uow.outcomes.add(latest)
        uow.outcomes.add(_navigator(session.id, CASE_A, MOD, active=False))
        uow.outcomes.add(_navigator(session.id, CASE_B, JA))
        uow.commit()
    with database.uow() as uow:
        assert [n.user_id for n in uow.outcomes.navigators(session.id)] == [JA, JC, MOD, JA]
        found = uow.outcomes.active_navigator(CASE_A)
        assert found is not None
        assert (found.id, found.user_id) == (latest.id, JC)
        uow.in_room(ROOM_A)
        assert uow.outcomes.active_navigator(CASE_A) is not None
        assert uow.outcomes.active_navigator(CASE_B) is None  # a case of another room


def test_open_and_overdue_tasks(database: Database) -> None:
    today = date(2026, 12, 10)
    with database.uow() as uow:
        _cases(uow)
        mine, theirs = add_session(uow, ROOM_A), add_session(uow, ROOM_B)
        rows = [
            task(mine.id, CASE_A, text="fällig gestern", due=date(2026, 12, 9)),
            task(mine.id, CASE_A, text="fällig heute", due=today),
            task(mine.id, CASE_A, text="ohne Frist", due=None),
            task(mine.id, CASE_A, text="erledigt", due=date(2026, 12, 1), state="erledigt"),
            task(mine.id, CASE_A, text="längst fällig", due=date(2026, 12, 2)),
            task(theirs.id, CASE_B, text="anderer Kreis", due=date(2026, 12, 5)),
        ]
        for row in rows:
            uow.outcomes.add(row)
        uow.commit()
    with database.uow() as uow:
        assert [t.text for t in uow.outcomes.tasks(mine.id)] == [r.text for r in rows[:5]]
        assert sorted(t.text for t in uow.outcomes.open_tasks(CASE_A)) == [
            "fällig gestern",
            "fällig heute",
            "längst fällig",
            "ohne Frist",
        ]
        assert [t.text for t in uow.outcomes.overdue_tasks(today)] == [
            "längst fällig",
            "anderer Kreis",
            "fällig gestern",
        ]
        uow.in_room(ROOM_A)
        assert [t.text for t in uow.outcomes.overdue_tasks(today)] == [
            "längst fällig",
            "fällig gestern",
        ]
        assert uow.outcomes.open_tasks(CASE_B) == []


def test_open_and_overdue_reviews(database: Database) -> None:
    with database.uow() as uow:
        _cases(uow)
        mine, theirs = add_session(uow, ROOM_A), add_session(uow, ROOM_B)
        done = review(mine.id, CASE_A, state="erledigt", due=date(2027, 1, 5))
        late = review(mine.id, CASE_A, state="überfällig", due=date(2027, 1, 20))
        newest = review(mine.id, CASE_A, state="offen", due=date(2027, 2, 3))
        other = review(theirs.id, CASE_B, ROOM_B, state="überfällig", due=date(2027, 1, 10))
        for row in (done, late, newest, other):
            uow.outcomes.add(row)
        uow.commit()
    with database.uow() as uow:
        assert [r.id for r in uow.outcomes.reviews(mine.id)] == [done.id, late.id, newest.id]
        found = uow.outcomes.open_review(CASE_A)
        assert found is not None
        assert found.id == newest.id  # the latest of the open and overdue ones
        assert [r.id for r in uow.outcomes.overdue_reviews()] == [other.id, late.id]
        assert uow.outcomes.review(other.id) is not None
        uow.in_room(ROOM_A)
        assert [r.id for r in uow.outcomes.overdue_reviews()] == [late.id]
        assert uow.outcomes.open_review(CASE_B) is None
        assert uow.outcomes.review(other.id) is None
        assert uow.outcomes.review(late.id) is not None


def test_carryovers_are_listed_by_the_session_they_leave(database: Database) -> None:
    with database.uow() as uow:
        _cases(uow)
        first, second = add_session(uow), add_session(uow, starts_at=T0 + 14 * DAY)
        req_a, req_b = add_request(uow, CASE_A), add_request(uow, CASE_A)
        for req, to_session in ((req_b, second.id), (req_a, None)):
            uow.outcomes.add(
                Carryover(
                    request_id=req.id,
                    case_pseudonym=CASE_A,
                    from_session=first.id,
                    to_session=to_session,
                    reason="Zeit reichte nicht",
                    by=MOD,
                    at=T0,
                )
            )
        uow.commit()
    with database.uow() as uow:
        assert [(c.request_id, c.to_session) for c in uow.outcomes.carryovers(first.id)] == [
            (req_b.id, second.id),
            (req_a.id, None),
        ]
        assert uow.outcomes.carryovers(second.id) == []


@pytest.mark.parametrize("kind", ["beschluss", "lotse", "aufgabe", "wiedervorlage"])
def test_a_case_is_handled_by_any_outcome_recorded_for_it_in_the_session(
    database: Database, kind: str
) -> None:
    with database.uow() as uow:
        _cases(uow)
        session, other_session = add_session(uow), add_session(uow, starts_at=T0 + 7 * DAY)
        assert not uow.outcomes.handled(session.id, CASE_A)
        row: Decision | Navigator | Task | Review = {
            "beschluss": lambda: _decision(session.id, CASE_A, "Beschluss"),
            "lotse": lambda: _navigator(session.id, CASE_A, JA),
            "aufgabe": lambda: task(session.id, CASE_A),
            "wiedervorlage": lambda: review(session.id, CASE_A),
        }[kind]()
        uow.outcomes.add(row)
        uow.commit()
    with database.uow() as uow:
        assert uow.outcomes.handled(session.id, CASE_A)
        assert not uow.outcomes.handled(session.id, CASE_B)
        assert not uow.outcomes.handled(other_session.id, CASE_A)


# -- Wiedervorlage reminders ----------------------------------------------------------------


def test_review_reminders_are_armed_cancelled_and_come_due_in_order(
    database: Database,
) -> None:
    with database.uow() as uow:
        _cases(uow)
        session = add_session(uow)
        mine = review(session.id, CASE_A)
        theirs = review(session.id, CASE_B, ROOM_B)
        cancelled = review(session.id, CASE_A)
        for row in (mine, theirs, cancelled):
            uow.outcomes.add(row)
        offsets = [
            ("wiedervorlage", 7 * 24 * 60, T0 - DAY),  # already past: void
            ("wiedervorlage", 24 * 60, T0 + 2 * DAY),
            ("überfällig", 0, T0 + DAY),
        ]
        for row in (mine, theirs, cancelled):
            uow.outcomes.arm_review(row, offsets, T0)
        uow.outcomes.cancel_review_reminders(cancelled.id)
        uow.commit()
    with database.uow() as uow:
        states = {
            (r.review_id, r.offset_minutes): r.state for r in uow.session.query(CaseReminder).all()
        }
        assert states[(mine.id, 7 * 24 * 60)] == "hinfällig"
        assert states[(mine.id, 24 * 60)] == "offen"
        assert {s for (rid, _), s in states.items() if rid == cancelled.id} == {"hinfällig"}
        assert uow.outcomes.next_case_reminder_at() == T0 + DAY
        due = uow.outcomes.due_case_reminders(T0 + 2 * DAY)
        assert [(r.review_id, r.kind) for r in due] == [
            (mine.id, "überfällig"),
            (theirs.id, "überfällig"),
            (mine.id, "wiedervorlage"),
            (theirs.id, "wiedervorlage"),
        ]
        assert uow.outcomes.due_case_reminders(T0 + DAY - timedelta(seconds=1)) == []
        leave(uow, ROOM_B)
        uow.commit()
    with database.uow() as uow:  # the bot left room B: its reminders wait
        due = uow.outcomes.due_case_reminders(T0 + 2 * DAY)
        assert [(r.review_id, r.kind) for r in due] == [
            (mine.id, "überfällig"),
            (mine.id, "wiedervorlage"),
        ]
        uow.outcomes.cancel_review_reminders(mine.id)
        uow.commit()
    with database.uow() as uow:
        assert uow.outcomes.next_case_reminder_at() is None
