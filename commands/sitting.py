"""Sitzung (sitting): opening and closing it, Anwesenheit (attendance, ✋), carry-over at its end.

PRODUCT.md steps 9–10. ``sitzung start`` opens the session (its reply is the opening
message: ✋ on it marks attendance); ``sitzung ende`` carries over what was not handled,
marks the rest ``besprochen`` and posts the minutes (its reply). What is recorded per
case during the sitting: :mod:`commands.outcomes`; the minutes: :mod:`commands.protokoll`.
"""

from __future__ import annotations

from datetime import datetime, time, timedelta

from bot.txn import txn_id_for
from commands.casework import RequestState, audit
from commands.framework import CommandContext, ReactionContext, Router
from commands.i18n import N_
from commands.protokoll import collect, render_minutes
from commands.reply import Doc, Reply, b, code, fill, holes
from commands.sessions import command_text, when_text
from domain.dates import LOCAL_TZ, local_date
from domain.errors import PermissionDenied, SessionNotFound, UserError
from domain.org import Role
from domain.planning import allowed, touch
from storage.models import Carryover, ConferenceRequest, Session, Sitting
from storage.states import SessionState
from storage.uow import UnitOfWork

HAND_KEY = "✋"
NOT_HANDLED = N_("nicht behandelt")  # the reason of a carry-over (a msgid: German)
REMINDER_HOUR = time(8, 0)  # the minutes and Wiedervorlage reminders go out at 08:00

# -- lookups --------------------------------------------------------------------------


def open_sitting(ctx: CommandContext) -> tuple[Sitting, Session]:
    sitting = ctx.uow.outcomes.open_sitting(ctx.room_id)
    if sitting is None:
        raise UserError(
            N_("Es ist keine Sitzung eröffnet. Eröffnen: %(prefix)s sitzung start"),
            prefix=ctx.prefix,
        )
    session = ctx.uow.sessions.require(sitting.session_id)
    return sitting, session


def _pick_session(ctx: CommandContext, number: int | None) -> Session:
    """The session to open: the given one, or the room's planned session of today."""
    if number is not None:
        session = ctx.uow.sessions.get(number)
        if (
            session is None
            or session.room_id != ctx.room_id
            or session.state != SessionState.PLANNED
        ):
            raise SessionNotFound(ctx.prefix)
    else:
        today = local_date(ctx.now)
        candidates = [
            s
            for s in ctx.uow.sessions.upcoming(ctx.now - timedelta(hours=12), limit=50)
            if s.room_id == ctx.room_id and local_date(s.starts_at) == today
        ]
        if not candidates:
            raise UserError(
                N_(
                    "Heute ist hier kein Termin geplant. Bitte die Nummer angeben: "
                    "%(prefix)s sitzung start <termin>"
                ),
                prefix=ctx.prefix,
            )
        session = candidates[0]
    if local_date(session.starts_at) != local_date(ctx.now):
        raise UserError(
            N_("Termin #%(id)s ist am %(when)s; eröffnet wird eine Sitzung an ihrem Tag."),
            id=session.id,
            when=when_text(session.starts_at, ctx.t),
        )
    return session


def present_institutions(ctx: CommandContext, sitting: Sitting) -> set[str]:
    """The institutions marked present in the sitting."""
    return {
        a.institution
        for a in ctx.uow.outcomes.attendance(sitting.session_id)
        if a.kind == "anwesend"
    }


def _attend(ctx: CommandContext, sitting: Sitting) -> Reply:
    institution = ctx.member.institution
    if institution is None:
        raise PermissionDenied(N_("Anwesenheit erfasse ich nur für Personen mit Institution."))
    new = ctx.uow.outcomes.mark(
        sitting.session_id, institution.key, ctx.sender, "anwesend", ctx.now
    )
    present = present_institutions(ctx, sitting)
    if new:
        audit(ctx, "anwesend", None, termin=sitting.session_id)
    quorum = (
        ctx.t.gettext("beschlussfähig")
        if len(present) >= sitting.quorum
        else ctx.t.gettext("beschlussfähig ab %(quorum)s", quorum=sitting.quorum)
    )
    return Reply.text(
        ctx.t.ngettext(
            "✋ %(sender)s (%(institution)s) ist anwesend. Vertreten: %(count)d Institution – "
            "%(quorum)s.",
            "✋ %(sender)s (%(institution)s) ist anwesend. Vertreten: %(count)d Institutionen "
            "– %(quorum)s.",
            len(present),
            sender=ctx.sender,
            institution=institution.name,
            quorum=quorum,
        )
    )


# -- carry-over -----------------------------------------------------------------------


def next_session_for(
    uow: UnitOfWork, session: Session, request: ConferenceRequest, now: datetime
) -> Session | None:
    """The next session of the same series (or, for a single one, of the room) with room
    for the item and a consent gate that passes on its date."""
    taken_cache: dict[int, int] = {}
    for candidate in uow.sessions.upcoming(max(now, session.starts_at), limit=200):
        if candidate.id == session.id or candidate.room_id != session.room_id:
            continue
        if session.series_id is not None and candidate.series_id != session.series_id:
            continue
        if request.latest_date is not None and local_date(candidate.starts_at) > (
            request.latest_date
        ):
            break  # later sessions are later still
        taken = taken_cache.setdefault(candidate.id, len(uow.sessions.placements(candidate.id)))
        if taken >= candidate.capacity:
            continue
        if allowed(uow, request, local_date(candidate.starts_at)):
            return candidate
    return None


def carry_over(
    ctx: CommandContext, session: Session, request: ConferenceRequest, reason: str
) -> Session | None:
    target = next_session_for(ctx.uow, session, request, ctx.now)
    ctx.uow.sessions.unplace(request.id)
    if target is not None:
        ctx.uow.sessions.place(target.id, request.id, ctx.now)
        touch(ctx.work, target.id)
    ctx.uow.outcomes.add(
        Carryover(
            request_id=request.id,
            case_pseudonym=request.case_pseudonym,
            from_session=session.id,
            to_session=target.id if target else None,
            reason=reason,
            by=ctx.sender,
            at=ctx.now,
        )
    )
    audit(
        ctx,
        "vertagt",
        request.case_pseudonym,
        anfrage=request.id,
        termin=session.id,
        neuer_termin=target.id if target else None,
    )
    return target


# -- minutes --------------------------------------------------------------------------

# -- the consent gate at the start ----------------------------------------------------


def recheck_agenda(uow: UnitOfWork, session: Session, now: datetime, *, actor: str) -> list[str]:
    """The consent gate once more for every item; removes and audits what fails."""
    day = local_date(session.starts_at)
    removed = []
    for _, request in uow.sessions.agenda(session.id):
        if request.state == RequestState.READY and allowed(uow, request, day):
            continue
        uow.sessions.unplace(request.id)
        uow.audit.append(
            at=now,
            actor=actor,
            institution=None,
            action="agenda_entfernt",
            pseudonym=request.case_pseudonym,
            detail={"anfrage": request.id, "termin": session.id, "grund": "sitzungsbeginn"},
        )
        removed.append(request.case_pseudonym)
    if removed and uow.agendas.touch(session.id):
        uow.audit.append(
            at=now,
            actor=actor,
            institution=None,
            action="agenda_entsperrt",
            detail={"termin": session.id},
        )
    return removed


router = Router("sitting")


@router.command(
    "sitzung start",
    summary=N_("Eröffnet die Sitzung eines Termins; Anwesenheit mit ✋ oder {prefix} anwesend."),
    role=Role.MODERATION,
    params={"termin": N_("Nummer des Termins (Standard: der heutige)")},
    examples=("sitzung start", "sitzung start 12"),
)
def sitzung_start(ctx: CommandContext, termin: int | None = None) -> Reply:
    running = ctx.uow.outcomes.open_sitting(ctx.room_id)
    if running is not None:
        raise UserError(
            N_("Die Sitzung von Termin #%(id)s läuft noch. Beenden: %(prefix)s sitzung ende"),
            id=running.session_id,
            prefix=ctx.prefix,
        )
    session = _pick_session(ctx, termin)
    if ctx.uow.outcomes.sitting(session.id) is not None:
        raise UserError(N_("Die Sitzung von Termin #%(id)s wurde schon gehalten."), id=session.id)
    removed = recheck_agenda(ctx.uow, session, ctx.now, actor=ctx.sender)
    quorum = ctx.calendar.quorum
    ctx.uow.outcomes.add(
        Sitting(
            session_id=session.id,
            room_id=ctx.room_id,
            opened_at=ctx.now,
            opened_by=ctx.sender,
            opening_txn_id=txn_id_for(ctx.event_id, "reply"),
            quorum=quorum,
            minutes_dirty=False,
            minutes_edits=0,
        )
    )
    audit(ctx, "sitzung_eroeffnet", None, termin=session.id)
    if ctx.member.institution is not None:  # whoever opens it is there
        ctx.uow.outcomes.mark(
            session.id, ctx.member.institution.key, ctx.sender, "anwesend", ctx.now
        )
        audit(ctx, "anwesend", None, termin=session.id)
    items = ctx.uow.sessions.agenda(session.id)
    t = ctx.t
    opened = t.gettext(
        "🟢 %(title)s – Termin #%(id)s, %(when)s.",
        id=session.id,
        when=when_text(session.starts_at, t),
        **holes("title"),
    )
    title = b(t.gettext("Sitzung eröffnet: %(name)s", name=session.name))
    doc = Doc().para(*fill(opened, title=title))
    if removed:
        doc.para(
            t.gettext(
                "Bei der Prüfung der Einwilligungen von der Tagesordnung genommen (nicht "
                "besprechen): %(cases)s.",
                cases=", ".join(removed),
            )
        )
    doc.para(
        t.ngettext(
            "Tagesordnung (%(count)d Fall): ", "Tagesordnung (%(count)d Fälle): ", len(items)
        )
    )
    doc.items([(b(r.case_pseudonym), f" – {r.topic}") for _, r in items])
    attendance = t.ngettext(
        "Anwesenheit: ✋ auf diese Nachricht oder %(present)s; Entschuldigungen: "
        "%(excused)s. Beschlussfähig ab %(count)d Institution.",
        "Anwesenheit: ✋ auf diese Nachricht oder %(present)s; Entschuldigungen: "
        "%(excused)s. Beschlussfähig ab %(count)d Institutionen.",
        quorum,
        **holes("present", "excused"),
    )
    doc.para(
        *fill(
            attendance,
            present=code(command_text(t, ctx.prefix, "anwesend")),
            excused=code(command_text(t, ctx.prefix, "entschuldigt", "<institution>")),
        )
    )
    return doc.build()


@router.command(
    "anwesend",
    summary=N_("Meldet dich in der laufenden Sitzung als anwesend (auch: ✋ auf die Eröffnung)."),
    examples=("anwesend",),
)
def anwesend(ctx: CommandContext) -> Reply:
    sitting, _ = open_sitting(ctx)
    return _attend(ctx, sitting)


@router.command(
    "entschuldigt",
    summary=N_("Erfasst, dass eine Institution sich für die laufende Sitzung entschuldigt hat."),
    params={"institution": N_("Schlüssel der Institution, z. B. jobcenter")},
    examples=("entschuldigt agentur",),
)
def entschuldigt(ctx: CommandContext, institution: str) -> Reply:
    sitting, _ = open_sitting(ctx)
    found = ctx.org.institution(institution)
    own = ctx.member.institution
    if not ctx.member.has(Role.MODERATION) and (own is None or own.key != found.key):
        raise PermissionDenied(
            N_("Entschuldigen kann man die eigene Institution; andere die Moderation.")
        )
    ctx.uow.outcomes.mark(sitting.session_id, found.key, ctx.sender, "entschuldigt", ctx.now)
    audit(ctx, "entschuldigt", None, termin=sitting.session_id, institution=found.key)
    return Reply.text(
        ctx.t.gettext(
            "📝 %(institution)s ist für Termin #%(id)s entschuldigt.",
            institution=found.name,
            id=sitting.session_id,
        )
    )


@router.command(
    "sitzung ende",
    summary=N_("Beendet die Sitzung, vertagt Unbehandeltes und stellt das Protokoll ein."),
    role=Role.MODERATION,
    examples=("sitzung ende",),
)
def sitzung_ende(ctx: CommandContext) -> Reply:
    sitting, session = open_sitting(ctx)
    carried = []
    for _, request in list(ctx.uow.sessions.agenda(session.id)):
        if request.state == RequestState.CLOSED:
            continue
        if ctx.uow.outcomes.handled(session.id, request.case_pseudonym):
            request.state, request.updated_at = RequestState.DISCUSSED, ctx.now
            audit(ctx, "anfrage_besprochen", request.case_pseudonym, anfrage=request.id)
            continue
        target = carry_over(ctx, session, request, NOT_HANDLED)
        carried.append((request.case_pseudonym, target))
    sitting.closed_at, sitting.closed_by = ctx.now, ctx.sender
    sitting.minutes_txn_id = txn_id_for(ctx.event_id, "reply")
    session.state, session.updated_at = SessionState.ENDED, ctx.now
    ctx.uow.sessions.cancel_reminders(session.id)
    due = ctx.calendar.working_days_after(local_date(ctx.now), ctx.calendar.minutes_working_days)
    ctx.uow.sessions.arm_once(
        session.id,
        "protokoll",
        datetime.combine(due, REMINDER_HOUR, tzinfo=LOCAL_TZ),
        ctx.now,
        catch_up=False,
    )
    audit(ctx, "sitzung_beendet", None, termin=session.id)
    minutes = render_minutes(collect(ctx.uow, ctx.org, session, sitting), ctx.prefix, ctx.t)
    doc = Doc()
    if carried:
        t, moved = ctx.t, []
        for case, target in carried:
            if target is None:
                moved.append(t.gettext("%(case)s → noch kein Termin", case=case))
            else:
                moved.append(t.gettext("%(case)s → Termin #%(id)s", case=case, id=target.id))
        doc.para(t.gettext("⏭️ Nicht behandelt und vertagt: %(cases)s.", cases=", ".join(moved)))
    return doc.append(minutes).build()


@router.reaction(HAND_KEY)
def hand(ctx: ReactionContext) -> Reply | None:
    sitting = ctx.uow.outcomes.sitting_by_opening(ctx.relates_to)
    if sitting is None or sitting.closed_at is not None:
        return None
    if ctx.member.institution is None:
        return None
    return _attend(ctx, sitting)
