"""Planning: sessions materialised from their series, and requests placed on agendas.

PRODUCT.md steps 6–7. A series is stored as an RRULE in Berlin wall-clock time; its
occurrences are materialised as sessions up to ``calendar.horizon_days`` ahead. After
every change that can affect the calendar, :func:`replan` takes requests out of future
sessions whose gate no longer passes on that date and places ready ones
(:mod:`domain.placement`). Commands and the daily pass call the same functions.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from domain.calendar import Calendar
from domain.casework import GateFacts, RequestState
from domain.dates import local_date
from domain.placement import Candidate, OpenSession, place
from domain.series import HolidayRule, occurrences
from domain.when import WhenError, local_moment
from domain.work import Work, audit
from storage.models import ConferenceRequest, Session
from storage.states import SessionState
from storage.uow import UnitOfWork


def materialize(work: Work) -> int:
    """Create the sessions of every active series up to the horizon; returns how many."""
    today = local_date(work.now)
    until = today + timedelta(days=work.calendar.horizon_days)
    created = 0
    for series in work.uow.sessions.active_series():
        hour, minute = (int(x) for x in series.start_time.split(":"))
        for occ in occurrences(
            series.rule,
            series.first_day,
            time(hour, minute),
            after=today,
            until=until,
            is_holiday=work.calendar.is_holiday,
            holiday_rule=HolidayRule(series.holiday_rule),
        ):
            if work.uow.sessions.occurrence(series.id, occ.original) is not None:
                continue
            try:
                starts = local_moment(occ.day, occ.at)
            except WhenError:
                continue  # a time the clock change skips: no session that day
            session = Session(
                series_id=series.id,
                room_id=series.room_id,
                original_day=occ.original,
                name=series.name,
                starts_at=starts,
                ends_at=starts + timedelta(minutes=series.duration_minutes),
                capacity=series.capacity,
                slot_minutes=series.slot_minutes,
                state=SessionState.PLANNED,
                sequence=0,
                created_at=work.now,
                updated_at=work.now,
            )
            work.uow.sessions.add(session)
            arm(work.uow, work.calendar, session, work.now)
            created += 1

    return created


def allowed(uow: UnitOfWork, request: ConferenceRequest, day: date) -> bool:
    """May this request be discussed on ``day``: a confirmed Schutzauftrag or the gate."""
    return GateFacts(uow, [request.case_pseudonym]).allows(request, day)


@dataclass(frozen=True)
class Replan:
    placed: list[tuple[ConferenceRequest, Session]]
    removed: list[tuple[ConferenceRequest, Session]]
    unplaced: list[tuple[ConferenceRequest, str]]


def replan(
    work: Work,
    cases: Collection[str] | None = None,
    *,
    facts: GateFacts | None = None,
    requests: Sequence[ConferenceRequest] | None = None,
) -> Replan:
    """Drop placements the gate no longer allows; place ready requests that have none.

    ``cases``: only these cases changed (a consent, a revocation, a new request), so
    only their requests are looked at — the work grows with the change, not with the
    room. Other requests could only move up if a place became free; when this took a
    request off an agenda, the whole room is planned again. ``facts``: the gate facts
    of the requests concerned, ``requests`` the open requests of ``cases``, if the
    caller has loaded them already.
    """
    plan = _replan(work, cases, facts, requests)
    if cases is None or not plan.removed:
        return plan
    room = _replan(work, None, None, None)
    return Replan(plan.placed + room.placed, plan.removed + room.removed, room.unplaced)


def _replan(
    work: Work,
    cases: Collection[str] | None,
    facts: GateFacts | None,
    requests: Sequence[ConferenceRequest] | None,
) -> Replan:
    materialize(work)
    upcoming = list(work.uow.sessions.upcoming(work.now))
    by_id = {s.id: s for s in upcoming}
    removed: list[tuple[ConferenceRequest, Session]] = []
    candidates: dict[int, ConferenceRequest] = {}
    # Everything the loop needs, in a fixed number of queries however many requests.
    if requests is None or cases is None:
        requests = (
            work.uow.cases.open_requests()
            if cases is None
            else work.uow.cases.open_requests_of(cases)
        )
    else:  # still open: a re-evaluation moves requests between waiting and ready only
        requests = [r for r in requests if r.state in (RequestState.WAITING, RequestState.READY)]
    placements = work.uow.sessions.placements_of([r.id for r in requests])
    facts = facts or GateFacts(work.uow, {r.case_pseudonym for r in requests})
    for request in requests:
        placement = placements.get(request.id)
        if placement is not None:
            session = by_id.get(placement.session_id)
            if session is None:
                continue  # a past session: its agenda is history
            in_time = request.latest_date is None or _day(session) <= request.latest_date
            if (
                request.state == RequestState.READY
                and in_time
                and facts.allows(request, _day(session))
            ):
                continue
            work.uow.sessions.unplace(request.id)
            audit(
                work,
                "agenda_entfernt",
                request.case_pseudonym,
                anfrage=request.id,
                termin=session.id,
            )
            removed.append((request, session))
        if request.state == RequestState.READY:
            candidates[request.id] = request
    taken = work.uow.sessions.taken([s.id for s in upcoming])
    result = place(
        [
            Candidate(r.id, r.urgency == "dringend", r.created_at, r.latest_date)
            for r in candidates.values()
        ],
        [OpenSession(s.id, s.starts_at, s.capacity, taken.get(s.id, 0)) for s in upcoming],
        lambda request_id, day: facts.allows(candidates[request_id], day),
        work.now,
    )
    placed = []
    for request_id, session_id in result.assigned.items():
        request, session = candidates[request_id], by_id[session_id]
        work.uow.sessions.place(session_id, request_id, work.now)
        audit(
            work, "agenda_eingeplant", request.case_pseudonym, anfrage=request_id, termin=session_id
        )
        placed.append((request, session))
    for session_id in sorted({s.id for _, s in removed} | {s.id for _, s in placed}):
        touch(work, session_id)
    unplaced = [(candidates[r], reason) for r, reason in result.unplaced.items()]
    return Replan(placed, removed, unplaced)


def touch(work: Work, session_id: int) -> None:
    """A session or its items changed: its agenda gets a new revision (and is unlocked)."""
    if work.uow.agendas.touch(session_id):
        audit(work, "agenda_entsperrt", None, termin=session_id)


def arm(uow: UnitOfWork, calendar: Calendar, session: Session, now: datetime) -> None:
    """(Re)compute everything timed about a session: reminders, agenda post, checks."""
    uow.sessions.arm_reminders(session, calendar.reminder_offsets, now)
    post_at = calendar.agenda_post_at(session.starts_at)
    if post_at is not None:
        # Posting late is better than not at all: a session created inside the window
        # gets its agenda at once.
        uow.sessions.arm_once(session.id, "tagesordnung", post_at, now, catch_up=True)
    if calendar.confirm_reminder_minutes:
        due = session.starts_at - timedelta(minutes=calendar.confirm_reminder_minutes)
        uow.sessions.arm_once(session.id, "bestätigung", due, now, catch_up=False)
    uow.sessions.arm_once(session.id, "beginn", session.starts_at, now, catch_up=True)


def _day(session: Session) -> date:
    return local_date(session.starts_at)
