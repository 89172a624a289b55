"""The runner's daily pass: consents expire, closed cases are purged, on both databases."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import select

from bot import reminders
from bot.clock import FakeClock
from bot.reminders import ReminderRunner, Retention
from bot.testing.harness import JA1, MOD, ORG, PREFIX, Room
from storage.audit import verify
from storage.models import CaseFile, ConferenceRequest, Consent, Revocation
from storage.uow import Database


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(datetime(2026, 11, 23, 9, 0, tzinfo=UTC))  # Monday, 10:00 in Berlin


@pytest.fixture
def room(database: Database, clock: FakeClock) -> Room:
    return Room(database, clock)


def runner(room: Room, *, retention: Retention | None = None) -> ReminderRunner:
    return ReminderRunner(
        room.db, room.clock, ORG, prefix=PREFIX, calendar=room.calendar, retention=retention
    )


def request_state(room: Room, request_id: int) -> str:
    with room.db.uow() as uow:
        request = uow.session.get(ConferenceRequest, request_id)
        assert request is not None
        return request.state


def sent_everything(room: Room) -> None:
    with room.db.uow() as uow:
        for row in uow.outbox.due(room.clock.now(), limit=10_000):
            uow.outbox.mark_sent(row.id, f"$gesendet{row.id}", room.clock.now())
        uow.commit()


def test_a_consent_that_expires_makes_its_request_wait_again_the_next_day(room: Room) -> None:
    pseudonym, request_id, _ = room.ready_case(consent_extra="bis=24.11.2026")
    daily = runner(room)
    daily.run_due()  # today: still covered
    assert request_state(room, request_id) == "bereit"

    room.clock.set(datetime(2026, 11, 25, 6, 0, tzinfo=UTC))  # 07:00 Berlin, the day after
    daily.run_due()

    assert request_state(room, request_id) == "wartet_einwilligung"
    entry = room.audit(pseudonym)[-1]
    assert (entry.action, entry.actor) == ("anfrage_wartet", "fkbot")
    daily.run_due()  # once a day: the same day changes nothing more
    assert room.audit(pseudonym)[-1].seq == entry.seq


def test_the_daily_pass_takes_a_case_off_a_future_agenda_when_its_consent_ends(
    room: Room,
) -> None:
    session = room.adhoc("04.12.2026 10:00")
    pseudonym, request_id, _ = room.ready_case()
    assert room.placements() == {request_id: session}
    with room.db.uow() as uow:  # written directly: commands never shorten a consent
        consent = uow.session.scalars(select(Consent)).one()
        consent.expires_on = datetime(2026, 11, 30, tzinfo=UTC).date()
        uow.commit()

    runner(room).run_due()

    assert room.placements() == {}
    assert ("agenda_entfernt", request_id, session) in room.placement_audit(pseudonym)


def test_closed_cases_are_purged_after_the_period_by_the_daily_pass(room: Room) -> None:
    gone, _, _ = room.ready_case()
    kept, _, _ = room.ready_case()
    assert room.say(JA1, f"erledigt {gone}").startswith("🏁")
    retention = Retention(closed_days=182, revoked_grace_days=30)

    room.clock.advance(timedelta(days=181))
    runner(room, retention=retention).run_due()
    with room.db.uow() as uow:
        assert uow.session.get(CaseFile, gone) is not None

    room.clock.advance(timedelta(days=2))
    runner(room, retention=retention).run_due()
    with room.db.uow() as uow:  # a reply still waiting to be sent names the case: it waits
        assert uow.session.get(CaseFile, gone) is not None
    sent_everything(room)
    room.clock.advance(timedelta(days=1))
    runner(room, retention=retention).run_due()

    with room.db.uow() as uow:
        assert uow.session.get(CaseFile, gone) is None
        assert uow.session.get(CaseFile, kept) is not None
        assert verify(uow.audit.entries(), uow.audit.head()).ok
    entries = room.audit(gone)
    assert entries[-1].action == "daten_geloescht"
    assert all(e.detail == {} and e.institution is None for e in entries[:-1])
    assert room.audit(kept)[-1].detail  # the other case keeps its details


def test_a_backlog_of_closed_cases_is_purged_chunk_by_chunk(
    room: Room, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(reminders, "PURGE_CHUNK", 3)
    closed = [room.new_case() for _ in range(7)]
    for pseudonym in closed:
        assert room.say(JA1, f"erledigt {pseudonym}").startswith("🏁")
    sent_everything(room)
    room.clock.advance(timedelta(days=200))
    daily = runner(room, retention=Retention(closed_days=182, revoked_grace_days=30))
    left = []
    for _ in range(20):
        daily.run_chunk()
        with room.db.uow() as uow:
            left.append(sum(uow.session.get(CaseFile, p) is not None for p in closed))
        if not daily.more:
            break
    assert left[-1] == 0
    purged_per_chunk = [a - b for a, b in zip([7, *left], left, strict=False)]
    assert max(purged_per_chunk) == 3, purged_per_chunk  # never more than one chunk at once
    assert [e.action for e in room.audit(closed[0])][-1] == "daten_geloescht"


def test_without_a_retention_policy_nothing_is_purged(room: Room) -> None:
    gone, _, _ = room.ready_case()
    room.say(MOD, f"erledigt {gone}")
    room.clock.advance(timedelta(days=400))
    runner(room).run_due()
    with room.db.uow() as uow:
        assert uow.session.get(CaseFile, gone) is not None


# -- the incremental pass: after a pass on one day, the next day looks only at what the
# -- calendar can change (consents that begin or end, revocations that take effect) ------


def _write_revocation(room: Room, pseudonym: str, effective_on: str) -> None:
    """Written directly: a command's revocation takes effect the day it is recorded."""
    with room.db.uow() as uow:
        uow.cases.add_revocation(
            Revocation(
                case_pseudonym=pseudonym,
                institutions=None,
                effective_on=date.fromisoformat(effective_on),
                recorded_by=JA1,
                recorded_institution="jugendamt",
                recorded_at=room.clock.now(),
            )
        )
        uow.commit()


def _write_consent_start(room: Room, pseudonym: str, given_on: str) -> None:
    with room.db.uow() as uow:  # written directly: commands refuse consents of the future
        consent = uow.session.scalars(
            select(Consent).where(Consent.case_pseudonym == pseudonym)
        ).one()
        consent.given_on = date.fromisoformat(given_on)
        uow.commit()


def test_the_next_days_pass_finds_the_cases_whose_consent_dates_fall_in_between(
    room: Room,
) -> None:
    ending, beginning, revoked, later, steady = (room.new_case() for _ in range(5))
    room.consent(ending, "jugendamt,jobcenter", extra="bis=25.11.2026")
    room.consent(beginning, "jugendamt,jobcenter")
    _write_consent_start(room, beginning, "2026-11-25")
    room.consent(revoked, "jugendamt,jobcenter")
    _write_revocation(room, revoked, "2026-11-25")
    room.consent(later, "jugendamt,jobcenter", extra="bis=31.12.2027")
    _write_revocation(room, later, "2026-12-01")
    room.consent(steady, "jugendamt,jobcenter")
    other = room.other_room("!nachbarraum:fk.test")
    foreign = other.new_case()
    other.consent(foreign, "jugendamt,jobcenter", extra="bis=25.11.2026")
    day = date(2026, 11, 24)
    with room.db.uow() as uow:
        uow.in_room(room.room_id)
        assert uow.cases.with_dated_facts(day, day + timedelta(days=1)) == {
            ending,
            beginning,
            revoked,
        }
        assert uow.cases.with_dated_facts(day, day + timedelta(days=7)) == {
            ending,
            beginning,
            revoked,
            later,
        }
        assert uow.cases.with_dated_facts(day + timedelta(days=1), day + timedelta(days=6)) == {
            ending  # valid through the 25th, not on the 26th
        }
        uow.in_room(other.room_id)
        assert uow.cases.with_dated_facts(day, day + timedelta(days=1)) == {foreign}


def test_a_runner_that_ran_before_catches_what_the_calendar_changes(room: Room) -> None:
    _, ending_request, _ = room.ready_case(consent_extra="bis=24.11.2026")
    revoked, revoked_request, _ = room.ready_case()
    steady, steady_request, _ = room.ready_case()
    _write_revocation(room, revoked, "2026-11-25")
    daily = runner(room)
    daily.run_due()  # Monday's pass, in this process
    assert request_state(room, ending_request) == "bereit"
    assert request_state(room, revoked_request) == "bereit"

    room.clock.set(datetime(2026, 11, 25, 6, 0, tzinfo=UTC))  # Wednesday: a day skipped
    daily.run_due()

    assert request_state(room, ending_request) == "wartet_einwilligung"
    assert request_state(room, revoked_request) == "wartet_einwilligung"
    assert request_state(room, steady_request) == "bereit"
    assert [e.action for e in room.audit(steady)][-1] != "anfrage_wartet"


def test_sessions_new_in_the_horizon_make_the_next_days_pass_place_the_whole_room(
    room: Room,
) -> None:
    room.mod('reihe neu Runde regel="jeden Montag" zeit=10:00-11:00 plätze=1')
    room.ready_case()  # takes the first Monday
    waiting = [room.ready_case()[1] for _ in range(30)]
    daily = runner(room)
    daily.run_due()
    placed_before = set(room.placements())
    unplaced = [r for r in waiting if r not in placed_before]
    assert unplaced, "the test needs a request that has no place yet"

    room.clock.advance(timedelta(days=7))  # a new Monday enters the 180-day horizon
    daily.run_due()

    assert unplaced[0] in room.placements()
