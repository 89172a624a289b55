"""The runner's daily pass: consents expire, closed cases are purged, on both databases."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from bot.clock import FakeClock
from bot.reminders import ReminderRunner, Retention
from bot.testing.harness import JA1, MOD, ORG, PREFIX, Room
from storage.audit import verify
from storage.models import CaseFile, ConferenceRequest, Consent
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


def test_without_a_retention_policy_nothing_is_purged(room: Room) -> None:
    gone, _, _ = room.ready_case()
    room.say(MOD, f"erledigt {gone}")
    room.clock.advance(timedelta(days=400))
    runner(room).run_due()
    with room.db.uow() as uow:
        assert uow.session.get(CaseFile, gone) is not None
