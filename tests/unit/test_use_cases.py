"""The use cases of case work and planning, called directly with a Work: no engine, no chat.

Data is written through the storage layer (``bot.testing.seed``), then the same
functions a command or the daily pass calls run on a unit of work, on both databases.
The clock is fixed: Monday 23.11.2026, 10:00 in Berlin.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from bot.testing.seed import seed_cases
from domain.calendar import Calendar
from domain.casework import GateFacts, RequestState, evaluate, reevaluate
from domain.planning import materialize, replan
from domain.work import SYSTEM_ACTOR, Work
from storage.models import AuditEntry, Consent, Session, SessionSeries
from storage.uow import Database, UnitOfWork

NOW = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
ROOM = "!praevention:fk.test"
CALENDAR = Calendar(land="HE")


def _work(uow: UnitOfWork, now: datetime = NOW) -> Work:
    uow.in_room(ROOM)
    return Work(uow=uow, actor=SYSTEM_ACTOR, institution=None, now=now, calendar=CALENDAR)


def _session(uow: UnitOfWork, day: int, capacity: int) -> Session:
    starts = datetime(2026, 12, day, 9, 0, tzinfo=UTC)
    session = Session(
        series_id=None,
        room_id=ROOM,
        original_day=None,
        name="Fallkonferenz",
        starts_at=starts,
        ends_at=starts + timedelta(hours=1),
        capacity=capacity,
        slot_minutes=15,
        state="geplant",
        sequence=0,
        created_at=NOW,
        updated_at=NOW,
    )
    uow.sessions.add(session)
    return session


def _actions(uow: UnitOfWork) -> list[tuple[str, str | None, str]]:
    return [(e.action, e.pseudonym, e.actor) for e in uow.session.query(AuditEntry).all()]


def test_reevaluate_moves_requests_by_the_gate_and_audits_only_changes(
    database: Database,
) -> None:
    cases = seed_cases(database, ROOM, NOW, 6)  # cases[0] and [5] wait: no consent
    with database.uow() as uow:
        work = _work(uow)
        requests = uow.cases.open_requests_of(cases)
        assert [r.state for r in requests].count(RequestState.WAITING) == 2
        assert reevaluate(work, requests) == []  # nothing changed: nothing audited
        consent = uow.session.query(Consent).filter_by(case_pseudonym=cases[1]).one()
        consent.expires_on = date(2026, 11, 22)  # ended yesterday
        changes = reevaluate(work, requests)
        assert [(c.request.case_pseudonym, c.before, c.request.state) for c in changes] == [
            (cases[1], "bereit", "wartet_einwilligung")
        ]
        assert [m.institution for m in changes[0].gate.missing] == ["jobcenter", "jugendamt"]
        assert _actions(uow) == [("anfrage_wartet", cases[1], SYSTEM_ACTOR)]


def test_evaluate_uses_the_facts_it_is_given_without_asking_again(database: Database) -> None:
    cases = seed_cases(database, ROOM, NOW, 2)
    with database.uow() as uow:
        request = uow.cases.open_requests_of([cases[1]])[0]
        facts = GateFacts(uow, [cases[1]])
        uow.session.query(Consent).delete()  # the loaded facts stand for this decision
        result = evaluate(uow, request, date(2026, 11, 23), facts)
        assert result.gate.allowed
        assert request.state == RequestState.READY


def test_replan_fills_sessions_in_order_and_takes_off_what_the_gate_refuses(
    database: Database,
) -> None:
    cases = seed_cases(database, ROOM, NOW, 7)  # five ready, [0] and [5] waiting
    with database.uow() as uow:
        work = _work(uow)
        early, late = _session(uow, 1, capacity=2), _session(uow, 8, capacity=2)
        plan = replan(work)
        assert [s.id for _, s in plan.placed] == [early.id, early.id, late.id, late.id]
        assert len(plan.unplaced) == 1  # no room left for the fifth ready request
        placed = {r.case_pseudonym for r, _ in plan.placed}
        assert not {cases[0], cases[5]} & placed  # waiting ones are never placed

        first = next(r for r, s in plan.placed if s.id == early.id)
        consent = uow.session.query(Consent).filter_by(case_pseudonym=first.case_pseudonym).one()
        consent.expires_on = date(2026, 11, 30)  # ends before the first session
        again = replan(work, {first.case_pseudonym})
        assert [(r.id, s.id) for r, s in again.removed] == [(first.id, early.id)]
        # the room was planned again: the freed place goes to the one that had none
        assert [s.id for _, s in again.placed] == [early.id]
        assert ("agenda_entfernt", first.case_pseudonym, SYSTEM_ACTOR) in _actions(uow)


def test_materialize_creates_a_series_sessions_once_up_to_the_horizon(
    database: Database,
) -> None:
    with database.uow() as uow:
        work = _work(uow)
        uow.sessions.add_series(
            SessionSeries(
                room_id=ROOM,
                name="Runde",
                rule="FREQ=WEEKLY;BYDAY=MO",
                first_day=date(2026, 11, 23),
                start_time="10:00",
                duration_minutes=60,
                capacity=4,
                slot_minutes=15,
                holiday_rule="auslassen",
                active=True,
                created_by="@mona.moderation:fk.test",
                created_at=NOW,
            )
        )
        created = materialize(work)
        assert created == uow.session.query(Session).count()
        assert 24 <= created <= 26  # Mondays in 180 days, Easter Monday left out
        assert materialize(work) == 0  # once
        later = _work(uow, NOW + timedelta(days=7))
        assert materialize(later) == 1  # the horizon moved by a week
