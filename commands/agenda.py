"""The agenda (Tagesordnung): rendering, confirmation by moderation, unlocking on change.

PRODUCT.md step 7. An agenda has a *revision* that grows with every change of its
session or items (``AgendaRepository.touch``); it is confirmed while the confirmed
revision is the current one, so any change unlocks it by itself. The message in the room is posted
and edited by the timed runner (:mod:`bot.reminders`), never by a command directly:
a command only marks the agenda ``dirty`` in its own transaction, and the runner
turns that into one ``m.replace`` edit once the original's event id is known.

Confirming re-runs the consent gate for the session's date first (:func:`replan`);
if that changes the agenda, the moderator is shown the new revision instead of
confirming something they have not seen.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import quote

from bot.upload import UPLOAD_KEY
from commands.casework import LEGAL_BASIS_8A, institution_name_in
from commands.framework import CommandContext, ReactionContext, Router
from commands.i18n import GERMAN, N_, Texts
from commands.reply import Doc, Part, Reply, Span, b, code, fill, holes
from commands.sessions import command_text, get_session, report, when_text
from domain.dates import LOCAL_TZ
from domain.errors import SessionNotFound, UserError
from domain.org import Organisation, Role
from domain.planning import replan
from storage.models import Agenda, ConferenceRequest, Placement, Session
from storage.states import SessionState
from storage.uow import UnitOfWork

CONFIRM_KEY = "✅"


def agenda_rows(
    org: Organisation,
    session: Session,
    items: Sequence[tuple[Placement, ConferenceRequest]],
    t: Texts = GERMAN,
) -> list[tuple[Part, ...]]:
    rows: list[tuple[Part, ...]] = []
    for index, (_, request) in enumerate(items):
        slot = session.starts_at + timedelta(minutes=index * session.slot_minutes)
        mark = " · § 8a SGB VIII" if request.basis == LEGAL_BASIS_8A else ""
        text = t.gettext(
            "%(time)s %(case)s – %(topic)s, angefragt von %(institution)s; Teilnehmende: "
            "%(participants)s",
            time=t.time(slot),
            topic=request.topic,
            institution=institution_name_in(org, request.requesting_institution),
            participants=", ".join(institution_name_in(org, k) for k in request.participants),
            **holes("case"),
        )
        rows.append((*fill(text, case=b(request.case_pseudonym)), mark))
    return rows


def render(
    uow: UnitOfWork,
    org: Organisation,
    session: Session,
    agenda: Agenda | None,
    prefix: str,
    now: datetime,
    t: Texts = GERMAN,
) -> Reply:
    """The agenda as posted (and as shown by ``!fk agenda``): pseudonyms and institutions."""
    heading = t.gettext(
        "📋 %(title)s – Termin #%(id)s, %(when)s–%(end)s",
        id=session.id,
        when=when_text(session.starts_at, t),
        end=t.time(session.ends_at),
        **holes("title"),
    )
    title = b(t.gettext("Tagesordnung %(name)s", name=session.name))
    doc = Doc().para(*fill(heading, title=title))
    if session.state != SessionState.PLANNED:
        return doc.para(t.gettext("❌ Dieser Termin ist abgesagt.")).build()
    items = uow.sessions.agenda(session.id)
    if not items:
        doc.para(t.gettext("Noch keine Fälle eingeplant."))
    else:
        doc.items(agenda_rows(org, session, items, t))
    revision = agenda.revision if agenda else 0
    if agenda is not None and agenda.confirmed and agenda.confirmed_at is not None:
        doc.para(
            t.gettext(
                "✅ Bestätigt von %(user)s am %(day)s %(time)s Uhr (Fassung %(revision)s).",
                user=agenda.confirmed_by,
                day=t.day(agenda.confirmed_at.astimezone(LOCAL_TZ).date()),
                time=t.time(agenda.confirmed_at),
                revision=revision,
            )
        )
    elif items and session.starts_at <= now:
        doc.para(
            t.gettext(
                "Die Sitzung hat begonnen; nicht bestätigt (Fassung %(revision)s).",
                revision=revision,
            )
        )
    elif items:
        text = t.gettext(
            "⏳ Noch nicht bestätigt (Fassung %(revision)s). Moderation: ✅ auf diese "
            "Nachricht oder %(command)s.",
            revision=revision,
            **holes("command"),
        )
        confirm = code(command_text(t, prefix, "agenda bestätigen", session.id))
        doc.para(*fill(text, command=confirm))
    return doc.build()


def session_ics(ctx: CommandContext, session: Session) -> bytes:
    """The session as an iTIP message: the room organises, institutions attend."""
    from commands.ical import CalendarEntry, render_ics  # on use: icalendar is heavy

    t = ctx.t
    server = ctx.room_id.partition(":")[2] or "localhost"
    items = ctx.uow.sessions.agenda(session.id) if session.state == SessionState.PLANNED else []
    lines = [
        "".join(part.plain() if isinstance(part, Span) else part for part in row)
        for row in agenda_rows(ctx.org, session, items, t)
    ]
    description = "\n".join(
        [t.gettext("Tagesordnung (nur Pseudonyme):"), *lines]
        if lines
        else [t.gettext("Noch keine Fälle eingeplant.")]
    )
    current = command_text(t, ctx.prefix, "agenda", session.id)
    description += "\n\n" + t.gettext("Aktuell im Raum: %(command)s", command=current)
    keys = sorted({k for _, request in items for k in request.participants})
    room_uri = "matrix:roomid/" + quote(ctx.room_id.removeprefix("!"), safe=":")
    attendees = [
        (f"urn:x-fallkonferenz:institution:{k}", institution_name_in(ctx.org, k)) for k in keys
    ]
    entry = CalendarEntry(
        uid=f"termin-{session.id}@{server}",
        sequence=session.sequence,
        summary=session.name,
        starts_at=session.starts_at,
        ends_at=session.ends_at,
        description=description,
        cancelled=session.state == SessionState.CANCELLED,
        location=t.gettext("Matrix-Raum der Fallkonferenz"),
    )
    return render_ics(
        entry,
        organizer=room_uri,
        attendees=attendees or [(room_uri, t.gettext("Fallkonferenz-Raum"))],
        stamp=ctx.now,
    )


def attachment_content(filename: str, mimetype: str, data: bytes) -> dict[str, Any]:
    """An ``m.file`` message whose file the outbox uploads (encrypted) just before sending."""
    return {
        "msgtype": "m.file",
        "body": filename,
        "filename": filename,
        "info": {"mimetype": mimetype, "size": len(data)},
        UPLOAD_KEY: {"data": base64.b64encode(data).decode(), "mimetype": mimetype},
    }


def content_hash(reply: Reply) -> str:
    return hashlib.sha256(f"{reply.plain}\x00{reply.html}".encode()).hexdigest()


def confirm(ctx: CommandContext, session: Session) -> Reply:
    """Confirm (lock) a session's agenda after re-checking the consent gate."""
    t = ctx.t
    if session.state != SessionState.PLANNED or session.starts_at <= ctx.now:
        raise UserError(
            N_(
                "Termin #%(id)s ist abgesagt oder hat schon begonnen; seine Tagesordnung "
                "wird nicht mehr bestätigt."
            ),
            id=session.id,
        )
    agenda = ctx.uow.agendas.ensure(session.id, session.room_id)
    before = agenda.revision
    plan = replan(ctx.work)  # touches the agenda if the gate took a case off or put one on
    if agenda.revision != before:
        text = t.gettext(
            "⚠️ Die Tagesordnung von Termin %(id)s hat sich bei der Prüfung der Einwilligungen "
            "geändert. Bitte die neue Fassung prüfen und dann erneut bestätigen:",
            **holes("id"),
        )
        doc = Doc().para(*fill(text, id=b(f"#{session.id}")))
        report(doc, plan, prefix=ctx.prefix, t=t)
        doc.append(render(ctx.uow, ctx.org, session, agenda, ctx.prefix, ctx.now, t))
        return doc.build()
    if agenda.confirmed and agenda.confirmed_at is not None:
        return Reply.text(
            t.gettext(
                "Die Tagesordnung von Termin #%(id)s ist bereits bestätigt (von %(user)s am "
                "%(day)s %(time)s Uhr, Fassung %(revision)s).",
                id=session.id,
                user=agenda.confirmed_by,
                day=t.day(agenda.confirmed_at.astimezone(LOCAL_TZ).date()),
                time=t.time(agenda.confirmed_at),
                revision=agenda.revision,
            )
        )
    agenda.confirmed_revision = agenda.revision
    agenda.confirmed_by, agenda.confirmed_at = ctx.sender, ctx.now
    agenda.reconfirm_notice = False
    agenda.dirty = agenda.post_txn_id is not None
    ctx.uow.audit.append(
        at=ctx.now,
        actor=ctx.sender,
        institution=ctx.member.institution.key if ctx.member.institution else None,
        action="agenda_bestaetigt",
        detail={"termin": session.id, "fassung": agenda.revision},
    )
    count = len(ctx.uow.sessions.placements(session.id))
    text = t.ngettext(
        "✅ Tagesordnung von Termin %(id)s (%(when)s, %(count)d Fall) bestätigt, Fassung "
        "%(revision)s. Jede Änderung hebt die Bestätigung auf.",
        "✅ Tagesordnung von Termin %(id)s (%(when)s, %(count)d Fälle) bestätigt, Fassung "
        "%(revision)s. Jede Änderung hebt die Bestätigung auf.",
        count,
        when=when_text(session.starts_at, t),
        revision=agenda.revision,
        **holes("id"),
    )
    return Reply.text(*fill(text, id=b(f"#{session.id}")))


router = Router("agenda")


@router.command(
    "agenda",
    summary=N_("Zeigt die Tagesordnung eines Termins: nur Pseudonyme und Institutionen."),
    params={"nr": N_("Nummer des Termins (Standard: der nächste)")},
    examples=("agenda", "agenda 12"),
)
def agenda(ctx: CommandContext, nr: int | None = None) -> Reply:
    session = get_session(ctx, nr)
    agenda = ctx.uow.agendas.get(session.id)
    return render(ctx.uow, ctx.org, session, agenda, ctx.prefix, ctx.now, ctx.t)


@router.command(
    "agenda bestätigen",
    summary=N_("Bestätigt die Tagesordnung (prüft vorher die Einwilligungen erneut)."),
    role=Role.MODERATION,
    params={"nr": N_("Nummer des Termins (Standard: der nächste)")},
    details=N_("Gleichwertig: ein ✅ auf die Tagesordnung im Raum (nur Moderation)."),
    examples=("agenda bestätigen", "agenda bestätigen 12"),
)
def agenda_bestaetigen(ctx: CommandContext, nr: int | None = None) -> Reply:
    return confirm(ctx, get_session(ctx, nr))


@router.command(
    "agenda senden",
    summary=N_("Stellt die Tagesordnung jetzt in den Raum (sonst automatisch vorher)."),
    role=Role.MODERATION,
    params={"nr": N_("Nummer des Termins (Standard: der nächste)")},
    examples=("agenda senden", "agenda senden 12"),
)
def agenda_senden(ctx: CommandContext, nr: int | None = None) -> Reply:
    session = get_session(ctx, nr)
    agenda = ctx.uow.agendas.get(session.id)
    if agenda is not None and agenda.post_txn_id is not None:
        raise UserError(
            N_(
                "Die Tagesordnung von Termin #%(id)s steht schon im Raum; Änderungen "
                "bearbeite ich dort. Anzeigen: %(prefix)s agenda %(id)s"
            ),
            id=session.id,
            prefix=ctx.prefix,
        )
    if not ctx.uow.sessions.placements(session.id):
        raise UserError(
            N_(
                "Auf Termin #%(id)s ist noch kein Fall eingeplant; eine leere Tagesordnung "
                "stelle ich nicht ein."
            ),
            id=session.id,
        )
    ctx.uow.sessions.arm_once(session.id, "tagesordnung", ctx.now, ctx.now, catch_up=True)
    return Reply.text(
        ctx.t.gettext(
            "📋 Die Tagesordnung von Termin #%(id)s kommt gleich als eigene Nachricht.",
            id=session.id,
        )
    )


@router.command(
    "kalender",
    summary=N_("Schickt die Kalenderdatei (iCalendar) eines Termins als verschlüsselten Anhang."),
    params={"nr": N_("Nummer des Termins (Standard: der nächste; auch abgesagte)")},
    details=N_(
        "Ein verschobener Termin kommt mit höherer SEQUENCE, ein abgesagter als "
        "Absage (METHOD:CANCEL): Kalender-Apps ersetzen dann den alten Eintrag."
    ),
    examples=("kalender", "kalender 12"),
)
def kalender(ctx: CommandContext, nr: int | None = None) -> Reply:
    if nr is None:
        session = get_session(ctx, None)
    else:
        found = ctx.uow.sessions.get(nr)
        if found is None or found.room_id != ctx.room_id:
            raise SessionNotFound(ctx.prefix)
        session = found
    data = session_ics(ctx, session)
    method = "CANCEL" if session.state == SessionState.CANCELLED else "REQUEST"
    filename = ctx.t.gettext("termin-%(id)s.ics", id=session.id)
    ctx.post(
        "ics",
        "m.room.message",
        attachment_content(filename, f"text/calendar; charset=utf-8; method={method}", data),
    )
    ctx.uow.audit.append(
        at=ctx.now,
        actor=ctx.sender,
        institution=ctx.member.institution.key if ctx.member.institution else None,
        action="kalender_exportiert",
        detail={"termin": session.id, "sequence": session.sequence},
    )
    return Reply.text(
        ctx.t.gettext(
            "📎 Kalenderdatei für Termin #%(id)s (%(when)s): %(file)s, METHOD:%(method)s, "
            "SEQUENCE %(sequence)s.",
            id=session.id,
            when=when_text(session.starts_at, ctx.t),
            file=filename,
            method=method,
            sequence=session.sequence,
        )
    )


@router.reaction(CONFIRM_KEY)
def confirm_by_reaction(ctx: ReactionContext) -> Reply | None:
    agenda = ctx.uow.agendas.by_event(ctx.relates_to)
    if agenda is None:
        return None  # a ✅ on some other message
    if not ctx.member.has(Role.MODERATION):
        if ctx.sender in agenda.refused_reactors:
            return None  # said once per person and agenda
        agenda.refused_reactors = [*agenda.refused_reactors, ctx.sender]
        return Reply.text(
            ctx.t.gettext(
                "ℹ️ Dein ✅ bestätigt die Tagesordnung nicht: das kann nur die Moderation. "
                "Ich sage das nur einmal."
            )
        )
    session = ctx.uow.sessions.require(agenda.session_id)
    return confirm(ctx, session)


__all__ = ["confirm", "content_hash", "render", "router"]
