"""Availability polls for urgent requests: post candidate slots, collect votes, fix the best.

PRODUCT.md step 6. ``umfrage <anfrage>`` posts an MSC3381 poll (``m.poll.start`` with
the unstable MSC3381 blocks and a text fallback) with free working-day slots before
the request's latest date. Votes arrive as poll responses (:class:`bot.events.PollVote`,
stored by the engine) or as ``abstimmen`` commands for clients without polls; only
people of the request's participating institutions count. ``umfrage schließen``
tallies (:func:`domain.polls.tally`: most institutions, then earliest), creates the
session, puts the request on it and ends the poll in the room.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated

from commands.casework import RequestState, audit, institution_name
from commands.framework import REST, CommandContext, Router
from commands.reply import Doc, Reply, b, code
from commands.sessions import single_session, when_text
from domain.dates import LOCAL_TZ
from domain.errors import PollNotFound, UserError
from domain.org import Role
from domain.planning import touch
from domain.polls import (
    POLL_END,
    POLL_START,
    Ballot,
    answer_ids,
    candidate_slots,
    end_content,
    parse_choice,
    start_content,
    tally,
)
from storage.models import ConferenceRequest, Poll, PollBallot, Session
from storage.states import PollState

POLL_DURATION = 60  # minutes of an ad-hoc conference found by a poll


def _slot_text(moment: datetime, minutes: int) -> str:
    end = moment + timedelta(minutes=minutes)
    return f"{when_text(moment)}–{end.astimezone(LOCAL_TZ):%H:%M}"


def _open_poll(ctx: CommandContext, number: int) -> Poll:
    poll = ctx.uow.polls.get(number)
    if poll is None or poll.state != PollState.OPEN or poll.room_id != ctx.room_id:
        raise PollNotFound()
    return poll


def _request(ctx: CommandContext, number: int) -> ConferenceRequest:
    request = ctx.uow.cases.request(number)
    if request is None or request.state not in (RequestState.READY, RequestState.WAITING):
        raise UserError(
            f"Diese Anfrage gibt es nicht oder sie ist abgeschlossen: {ctx.prefix} anfragen"
        )
    return request


router = Router("umfrage")


@router.command(
    "umfrage",
    summary="Startet eine Terminumfrage für eine (dringende) Anfrage.",
    role=Role.MODERATION,
    params={"anfrage": "Nummer der Anfrage (siehe {prefix} anfragen)"},
    details="Der Bot schlägt freie Werktage vor dem spätesten Datum der Anfrage vor; "
    "abgestimmt wird in der Umfrage oder mit {prefix} abstimmen.",
    examples=("umfrage 7",),
)
def umfrage(ctx: CommandContext, anfrage: int) -> Reply:
    request = _request(ctx, anfrage)
    if request.state != RequestState.READY:
        raise UserError(
            f"Anfrage #{request.id} wartet noch auf Einwilligung; erst dann kann ein "
            f"Termin gesucht werden ({ctx.prefix} status {request.case_pseudonym})."
        )
    placement = ctx.uow.sessions.placement_of(request.id)
    if placement is not None:
        raise UserError(
            f"Anfrage #{request.id} ist schon eingeplant (Termin #{placement.session_id})."
        )
    if ctx.uow.polls.open_for(request.id) is not None:
        raise UserError(f"Für Anfrage #{request.id} läuft schon eine Umfrage.")
    busy = [(s.starts_at, s.ends_at) for s in ctx.uow.sessions.upcoming(ctx.now, limit=500)]
    slots = candidate_slots(
        ctx.now,
        request.latest_date,
        calendar=ctx.calendar,
        times=ctx.calendar.poll_times,
        duration=timedelta(minutes=POLL_DURATION),
        busy=busy,
        limit=ctx.calendar.poll_slots,
    )
    if not slots:
        raise UserError(
            "Vor dem spätesten Datum der Anfrage gibt es keinen freien Werktag mehr. "
            f"Bitte direkt einen Termin anlegen: {ctx.prefix} termin neu …"
        )
    ids = answer_ids(len(slots))
    labels = [_slot_text(s, POLL_DURATION) for s in slots]
    poll = Poll(
        room_id=ctx.room_id,
        request_id=request.id,
        txn_id="",
        slots=[s.isoformat() for s in slots],
        duration_minutes=POLL_DURATION,
        max_selections=len(slots),
        state=PollState.OPEN,
        created_by=ctx.sender,
        created_at=ctx.now,
    )
    ctx.uow.polls.add(poll)
    institutions = ", ".join(institution_name(ctx, k) for k in request.participants)
    question = (
        f"Umfrage #{poll.id}: Fallkonferenz zu {request.case_pseudonym} "
        f"(Anfrage #{request.id}) – wann könnt ihr? Beteiligt: {institutions}"
    )
    options = [f"{n}. {label}" for n, label in zip(ids, labels, strict=True)]
    how = (
        "Abstimmen: in der Umfrage (mehrere Antworten möglich) oder mit "
        f"{ctx.prefix} abstimmen {poll.id} 1,3"
    )
    fallback = "\n".join([question, *options, how])
    row = ctx.post(
        "poll",
        POLL_START,
        start_content(
            question, list(zip(ids, labels, strict=True)), fallback, max_selections=len(ids)
        ),
    )
    poll.txn_id = row.txn_id
    audit(ctx, "umfrage_gestartet", request.case_pseudonym, umfrage=poll.id, anfrage=request.id)
    return Reply.text(
        "🗳️ Umfrage ",
        b(f"#{poll.id}"),
        f" für Anfrage #{request.id} gestartet ({len(slots)} Termine zur Wahl). "
        "Schließen und den besten Termin festlegen: ",
        code(f"{ctx.prefix} umfrage schließen {poll.id}"),
    )


@router.command(
    "abstimmen",
    summary="Stimmt in einer Terminumfrage ab (für Apps ohne Umfragen).",
    params={
        "umfrage": "Nummer der Umfrage",
        "auswahl": "Nummern der passenden Termine, z. B. 1,3 – oder „keine“",
    },
    examples=("abstimmen 4 1,3", "abstimmen 4 keine"),
)
def abstimmen(ctx: CommandContext, umfrage: int, auswahl: Annotated[str, REST]) -> Reply:
    poll = _open_poll(ctx, umfrage)
    numbers = parse_choice(auswahl, len(poll.slots))
    request = ctx.uow.cases.require_request(poll.request_id)
    institution = ctx.member.institution
    if institution is None or institution.key not in request.participants:
        raise UserError(
            "Deine Stimme zählt hier nicht: deine Institution ist an dieser "
            "Fallkonferenz nicht beteiligt."
        )
    ctx.uow.polls.add_ballot(
        PollBallot(
            poll_id=poll.id,
            voter=ctx.sender,
            event_id=ctx.event_id,
            selections=[str(n) for n in numbers],
            voted_at=ctx.sent_at,
        )
    )
    chosen = ", ".join(str(n) for n in numbers) or "keine"
    return Reply.text(
        f"🗳️ Stimme für Umfrage #{poll.id} gezählt ({institution.name}): {chosen}. "
        "Eine neue Stimme ersetzt diese."
    )


@router.command(
    "umfrage schließen",
    summary="Schließt eine Terminumfrage und legt den besten Termin fest.",
    role=Role.MODERATION,
    params={"nr": "Nummer der Umfrage"},
    details="Bester Termin: die meisten beteiligten Institutionen können, dann der früheste.",
    examples=("umfrage schließen 4",),
)
def umfrage_schliessen(ctx: CommandContext, nr: int) -> Reply:
    poll = _open_poll(ctx, nr)
    request = ctx.uow.cases.require_request(poll.request_id)
    start_event = ctx.uow.polls.start_event(poll)
    if start_event is None:
        raise UserError("Die Umfrage ist noch nicht im Raum angekommen; bitte gleich erneut.")
    slots = [datetime.fromisoformat(s) for s in poll.slots]
    ids = answer_ids(len(slots))
    future = [aid for aid, slot in zip(ids, slots, strict=True) if slot > ctx.now]

    def institution_of(user: str) -> str | None:
        member = ctx.org.member(user)
        return member.institution.key if member.institution else None

    result = tally(
        future,
        [Ballot(b.voter, tuple(b.selections), b.voted_at) for b in ctx.uow.polls.ballots(poll.id)],
        institution_of=institution_of,
        wanted=frozenset(request.participants),
        max_selections=poll.max_selections,
        closed_at=ctx.sent_at,  # the homeserver's clock, like the votes'
    )
    wanted = len(request.participants)
    doc = Doc().para("🗳️ ", b(f"Umfrage #{poll.id} geschlossen"), f" (Anfrage #{request.id}).")
    doc.items(
        [
            (
                f"{aid}. {_slot_text(slots[int(aid) - 1], poll.duration_minutes)}: "
                f"{len(result.institutions[aid])}/{wanted} Institutionen",
            )
            for aid in future
        ]
    )
    if result.best is None:
        ctx.uow.polls.close(poll, ctx.sender, ctx.now, None)
        audit(ctx, "umfrage_geschlossen", request.case_pseudonym, umfrage=poll.id)
        ctx.post("poll-end", POLL_END, end_content(start_event, "Die Umfrage ist beendet."))
        return doc.para(
            "Keine Stimme einer beteiligten Institution für einen künftigen Termin – "
            "kein Termin festgelegt. Neue Umfrage: ",
            code(f"{ctx.prefix} umfrage {request.id}"),
        ).build()
    starts = slots[int(result.best) - 1]
    session = _conference(ctx, poll, starts)
    ctx.uow.polls.close(poll, ctx.sender, ctx.now, result.best)
    poll.session_id = session.id
    ctx.uow.sessions.place(session.id, request.id, ctx.now)
    touch(ctx.work, session.id)
    audit(
        ctx,
        "agenda_eingeplant",
        request.case_pseudonym,
        anfrage=request.id,
        termin=session.id,
    )
    audit(
        ctx,
        "umfrage_geschlossen",
        request.case_pseudonym,
        umfrage=poll.id,
        termin=session.id,
    )
    chosen = _slot_text(starts, poll.duration_minutes)
    ctx.post(
        "poll-end",
        POLL_END,
        end_content(start_event, f"Die Umfrage ist beendet. Termin: {chosen}."),
    )
    missing = sorted(set(request.participants) - result.institutions[result.best])
    doc.para(
        "📅 Termin ",
        b(f"#{session.id}"),
        f" am {chosen} festgelegt; Anfrage #{request.id} ({request.case_pseudonym}) "
        "ist eingeplant.",
    )
    if missing:
        doc.para(
            "Zu diesem Termin kann nicht: ",
            ", ".join(institution_name(ctx, k) for k in missing),
            ".",
        )
    return doc.build()


def _conference(ctx: CommandContext, poll: Poll, starts: datetime) -> Session:
    minutes = poll.duration_minutes
    return single_session(ctx, starts, minutes, capacity=1, slot=minutes, umfrage=poll.id)
