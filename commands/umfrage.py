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
from commands.i18n import N_, Texts
from commands.reply import Doc, Reply, b, code, fill, holes
from commands.sessions import command_text, single_session, when_text
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


def _slot_text(moment: datetime, minutes: int, t: Texts) -> str:
    end = moment + timedelta(minutes=minutes)
    return f"{when_text(moment, t)}–{t.time(end)}"


def _open_poll(ctx: CommandContext, number: int) -> Poll:
    poll = ctx.uow.polls.get(number)
    if poll is None or poll.state != PollState.OPEN or poll.room_id != ctx.room_id:
        raise PollNotFound()
    return poll


def _request(ctx: CommandContext, number: int) -> ConferenceRequest:
    request = ctx.uow.cases.request(number)
    if request is None or request.state not in (RequestState.READY, RequestState.WAITING):
        raise UserError(
            N_("Diese Anfrage gibt es nicht oder sie ist abgeschlossen: %(prefix)s anfragen"),
            prefix=ctx.prefix,
        )
    return request


router = Router("umfrage")


@router.command(
    "umfrage",
    summary=N_("Startet eine Terminumfrage für eine (dringende) Anfrage."),
    role=Role.MODERATION,
    params={"anfrage": N_("Nummer der Anfrage (siehe {prefix} anfragen)")},
    details=N_(
        "Der Bot schlägt freie Werktage vor dem spätesten Datum der Anfrage vor; "
        "abgestimmt wird in der Umfrage oder mit {prefix} abstimmen."
    ),
    examples=("umfrage 7",),
)
def umfrage(ctx: CommandContext, anfrage: int) -> Reply:
    t = ctx.t
    request = _request(ctx, anfrage)
    if request.state != RequestState.READY:
        raise UserError(
            N_(
                "Anfrage #%(id)s wartet noch auf Einwilligung; erst dann kann ein Termin "
                "gesucht werden (%(prefix)s status %(case)s)."
            ),
            id=request.id,
            prefix=ctx.prefix,
            case=request.case_pseudonym,
        )
    placement = ctx.uow.sessions.placement_of(request.id)
    if placement is not None:
        raise UserError(
            N_("Anfrage #%(id)s ist schon eingeplant (Termin #%(session)s)."),
            id=request.id,
            session=placement.session_id,
        )
    if ctx.uow.polls.open_for(request.id) is not None:
        raise UserError(N_("Für Anfrage #%(id)s läuft schon eine Umfrage."), id=request.id)
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
            N_(
                "Vor dem spätesten Datum der Anfrage gibt es keinen freien Werktag mehr. "
                "Bitte direkt einen Termin anlegen: %(prefix)s termin neu …"
            ),
            prefix=ctx.prefix,
        )
    ids = answer_ids(len(slots))
    labels = [_slot_text(s, POLL_DURATION, t) for s in slots]
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
    question = t.gettext(
        "Umfrage #%(id)s: Fallkonferenz zu %(case)s (Anfrage #%(request)s) – wann könnt ihr? "
        "Beteiligt: %(institutions)s",
        id=poll.id,
        case=request.case_pseudonym,
        request=request.id,
        institutions=institutions,
    )
    options = [f"{n}. {label}" for n, label in zip(ids, labels, strict=True)]
    how = t.gettext(
        "Abstimmen: in der Umfrage (mehrere Antworten möglich) oder mit %(command)s",
        command=command_text(t, ctx.prefix, "abstimmen", poll.id, "1,3"),
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
    started = t.ngettext(
        "🗳️ Umfrage %(id)s für Anfrage #%(request)s gestartet (%(count)d Termin zur Wahl). "
        "Schließen und den besten Termin festlegen: %(command)s",
        "🗳️ Umfrage %(id)s für Anfrage #%(request)s gestartet (%(count)d Termine zur Wahl). "
        "Schließen und den besten Termin festlegen: %(command)s",
        len(slots),
        request=request.id,
        **holes("id", "command"),
    )
    close = code(command_text(t, ctx.prefix, "umfrage schließen", poll.id))
    return Reply.text(*fill(started, id=b(f"#{poll.id}"), command=close))


@router.command(
    "abstimmen",
    summary=N_("Stimmt in einer Terminumfrage ab (für Apps ohne Umfragen)."),
    params={
        "umfrage": N_("Nummer der Umfrage"),
        "auswahl": N_("Nummern der passenden Termine, z. B. 1,3 – oder „keine“"),
    },
    examples=("abstimmen 4 1,3", N_("abstimmen 4 keine")),
)
def abstimmen(ctx: CommandContext, umfrage: int, auswahl: Annotated[str, REST]) -> Reply:
    poll = _open_poll(ctx, umfrage)
    numbers = parse_choice(auswahl, len(poll.slots))
    request = ctx.uow.cases.require_request(poll.request_id)
    institution = ctx.member.institution
    if institution is None or institution.key not in request.participants:
        raise UserError(
            N_(
                "Deine Stimme zählt hier nicht: deine Institution ist an dieser "
                "Fallkonferenz nicht beteiligt."
            )
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
    if not numbers:
        return Reply.text(
            ctx.t.gettext(
                "🗳️ Stimme für Umfrage #%(id)s gezählt (%(institution)s): keine. Eine neue "
                "Stimme ersetzt diese.",
                id=poll.id,
                institution=institution.name,
            )
        )
    return Reply.text(
        ctx.t.gettext(
            "🗳️ Stimme für Umfrage #%(id)s gezählt (%(institution)s): %(chosen)s. Eine neue "
            "Stimme ersetzt diese.",
            id=poll.id,
            institution=institution.name,
            chosen=", ".join(str(n) for n in numbers),
        )
    )


@router.command(
    "umfrage schließen",
    summary=N_("Schließt eine Terminumfrage und legt den besten Termin fest."),
    role=Role.MODERATION,
    params={"nr": N_("Nummer der Umfrage")},
    details=N_("Bester Termin: die meisten beteiligten Institutionen können, dann der früheste."),
    examples=("umfrage schließen 4",),
)
def umfrage_schliessen(ctx: CommandContext, nr: int) -> Reply:
    poll = _open_poll(ctx, nr)
    request = ctx.uow.cases.require_request(poll.request_id)
    start_event = ctx.uow.polls.start_event(poll)
    if start_event is None:
        raise UserError(N_("Die Umfrage ist noch nicht im Raum angekommen; bitte gleich erneut."))
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
    t = ctx.t
    wanted = len(request.participants)
    closed = t.gettext("🗳️ %(title)s (Anfrage #%(request)s).", request=request.id, **holes("title"))
    title = b(t.gettext("Umfrage #%(id)s geschlossen", id=poll.id))
    doc = Doc().para(*fill(closed, title=title))
    doc.items(
        [
            (
                t.ngettext(
                    "%(option)s. %(slot)s: %(votes)s/%(count)d Institution",
                    "%(option)s. %(slot)s: %(votes)s/%(count)d Institutionen",
                    wanted,
                    option=aid,
                    slot=_slot_text(slots[int(aid) - 1], poll.duration_minutes, t),
                    votes=len(result.institutions[aid]),
                ),
            )
            for aid in future
        ]
    )
    if result.best is None:
        ctx.uow.polls.close(poll, ctx.sender, ctx.now, None)
        audit(ctx, "umfrage_geschlossen", request.case_pseudonym, umfrage=poll.id)
        ended = t.gettext("Die Umfrage ist beendet.")
        ctx.post("poll-end", POLL_END, end_content(start_event, ended))
        text = t.gettext(
            "Keine Stimme einer beteiligten Institution für einen künftigen Termin – kein "
            "Termin festgelegt. Neue Umfrage: %(command)s",
            **holes("command"),
        )
        again = code(command_text(t, ctx.prefix, "umfrage", request.id))
        return doc.para(*fill(text, command=again)).build()
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
    chosen = _slot_text(starts, poll.duration_minutes, t)
    ctx.post(
        "poll-end",
        POLL_END,
        end_content(
            start_event, t.gettext("Die Umfrage ist beendet. Termin: %(slot)s.", slot=chosen)
        ),
    )
    missing = sorted(set(request.participants) - result.institutions[result.best])
    fixed = t.gettext(
        "📅 Termin %(id)s am %(slot)s festgelegt; Anfrage #%(request)s (%(case)s) ist eingeplant.",
        slot=chosen,
        request=request.id,
        case=request.case_pseudonym,
        **holes("id"),
    )
    doc.para(*fill(fixed, id=b(f"#{session.id}")))
    if missing:
        doc.para(
            t.gettext(
                "Zu diesem Termin kann nicht: %(institutions)s.",
                institutions=", ".join(institution_name(ctx, k) for k in missing),
            )
        )
    return doc.build()


def _conference(ctx: CommandContext, poll: Poll, starts: datetime) -> Session:
    minutes = poll.duration_minutes
    return single_session(ctx, starts, minutes, capacity=1, slot=minutes, umfrage=poll.id)
