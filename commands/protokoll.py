"""Protokoll (minutes) of a held session: collected, shown, exported and bestätigt (confirmed).

PRODUCT.md step 10. :func:`collect` reads a session's sitting, attendance and every
outcome recorded in it into one :class:`domain.minutes.Minutes` value; the room message
(:func:`render_minutes`) and the exports (:mod:`commands.export`) are rendered from it.
Moderation confirms the minutes with ``protokoll bestätigen`` or ✅ on them.
"""

from __future__ import annotations

from datetime import datetime

from commands.agenda import attachment_content
from commands.casework import audit, institution_name_in
from commands.framework import CommandContext, ReactionContext, Router
from commands.i18n import GERMAN, N_, Texts
from commands.reply import Doc, Part, Reply, b, code
from domain.dates import LOCAL_TZ
from domain.errors import UserError
from domain.minutes import (
    Item,
    Minutes,
    Presence,
    SessionRef,
    TaskLine,
    carried_reason,
    target_text,
)
from domain.org import Organisation, Role
from storage.models import ConferenceRequest, Session, Sitting
from storage.states import CaseState
from storage.uow import UnitOfWork

# Stands for the value shown in bold while a sentence is translated (see emphasised).
_MARK = "\x00"


def emphasised(t: Texts, msgid: str, strong: str, **values: object) -> tuple[Part, ...]:
    """One translated sentence with the value ``%(strong)s`` in bold: the sentence stays
    one msgid, wherever the language puts the value."""
    before, _, after = t.gettext(msgid, strong=_MARK, **values).partition(_MARK)
    return (before, b(strong), after)


def confirmed_text(t: Texts, moment: datetime) -> tuple[str, str]:
    """Date and time of a confirmation: ``13.01.2027`` / ``13 Jan 2027`` and ``10:00``."""
    return t.day(moment.astimezone(LOCAL_TZ).date()), t.time(moment)


def collect(uow: UnitOfWork, org: Organisation, session: Session, sitting: Sitting) -> Minutes:
    """Everything recorded for a session, as one value for every rendering."""
    presence: dict[str, tuple[list[str], bool]] = {}
    for row in uow.outcomes.attendance(session.id):
        present, _ = presence.setdefault(row.institution, ([], False))
        if row.kind == "anwesend":
            present.append(row.user_id)
        else:
            presence[row.institution] = (present, True)
    requests: dict[int, ConferenceRequest] = {r.id: r for _, r in uow.sessions.agenda(session.id)}
    carried = {c.request_id: c for c in uow.outcomes.carryovers(session.id)}
    for request_id in carried:
        found = uow.cases.request(request_id)
        if found is not None:
            requests[request_id] = found
    for request in requests.values():
        for key in request.participants:
            presence.setdefault(key, ([], False))
    decisions = uow.outcomes.decisions(session.id)
    navigators = {n.case_pseudonym: n for n in uow.outcomes.navigators(session.id)}
    tasks = uow.outcomes.tasks(session.id)
    reviews = {r.case_pseudonym: r for r in uow.outcomes.reviews(session.id)}
    items = []
    for request in requests.values():
        case = request.case_pseudonym
        navigator = navigators.get(case)
        carry = carried.get(request.id)
        target = uow.sessions.get(carry.to_session) if carry and carry.to_session else None
        case_row = uow.cases.get(case)
        items.append(
            Item(
                pseudonym=case,
                topic=request.topic,
                requested_by=institution_name_in(org, request.requesting_institution),
                participants=tuple(institution_name_in(org, k) for k in request.participants),
                schutzauftrag=request.basis == "§ 8a SGB VIII",
                decisions=tuple(d.text for d in decisions if d.case_pseudonym == case),
                lotse=(
                    f"{navigator.user_id} ({institution_name_in(org, navigator.institution)})"
                    if navigator
                    else None
                ),
                tasks=tuple(
                    TaskLine(t.owner, institution_name_in(org, t.owner_institution), t.text, t.due)
                    for t in tasks
                    if t.case_pseudonym == case
                ),
                review=reviews[case].due if case in reviews else None,
                carried=carry.reason if carry else None,
                carried_to=SessionRef(target.id, target.starts_at) if target else None,
                closed=bool(
                    case_row
                    and case_row.state == CaseState.CLOSED
                    and case_row.closed_at is not None
                    and sitting.opened_at <= case_row.closed_at
                    and (sitting.closed_at is None or case_row.closed_at <= sitting.closed_at)
                ),
            )
        )
    return Minutes(
        session_id=session.id,
        name=session.name,
        starts_at=session.starts_at,
        opened_at=sitting.opened_at,
        closed_at=sitting.closed_at,
        opened_by=sitting.opened_by,
        presence=tuple(
            Presence(institution_name_in(org, key), tuple(people), excused)
            for key, (people, excused) in sorted(presence.items())
        ),
        quorum=sitting.quorum,
        items=tuple(items),
        confirmed_by=sitting.confirmed_by,
        confirmed_at=sitting.confirmed_at,
    )


def render_minutes(minutes: Minutes, prefix: str, t: Texts = GERMAN) -> Reply:
    """The minutes as a room message in ``t``'s language (German by default)."""
    doc = Doc().para(
        "📝 ",
        b(t.gettext("Protokoll %(name)s", name=minutes.name)),
        t.gettext(
            " – Termin #%(id)s, %(when)s", id=minutes.session_id, when=t.when(minutes.starts_at)
        ),
    )
    rows = []
    for presence in minutes.presence:
        if presence.present:
            rows.append(
                (
                    t.gettext(
                        "%(institution)s: anwesend (%(people)s)",
                        institution=presence.institution,
                        people=", ".join(presence.present),
                    ),
                )
            )
        elif presence.excused:
            rows.append(
                (t.gettext("%(institution)s: entschuldigt", institution=presence.institution),)
            )
        else:
            rows.append(
                (t.gettext("%(institution)s: nicht vertreten", institution=presence.institution),)
            )
    doc.para(b(t.gettext("Anwesenheit")))
    doc.items(rows)
    values = {"present": minutes.institutions_present}
    doc.para(
        t.ngettext(
            "Beschlussfähig: ja (%(present)s von mindestens %(count)d Institution).",
            "Beschlussfähig: ja (%(present)s von mindestens %(count)d Institutionen).",
            minutes.quorum,
            **values,
        )
        if minutes.quorum_met
        else t.ngettext(
            "Beschlussfähig: nein (%(present)s von mindestens %(count)d Institution).",
            "Beschlussfähig: nein (%(present)s von mindestens %(count)d Institutionen).",
            minutes.quorum,
            **values,
        )
    )
    for item in minutes.items:
        doc.para(b(item.pseudonym), _item_heading(item, t))
        doc.items(_item_lines(item, t) or [(t.gettext("nichts erfasst"),)])
    if minutes.confirmed_by and minutes.confirmed_at:
        day, time = confirmed_text(t, minutes.confirmed_at)
        doc.para(
            t.gettext(
                "✅ Bestätigt von %(user)s am %(day)s %(time)s Uhr.",
                user=minutes.confirmed_by,
                day=day,
                time=time,
            )
        )
    else:
        doc.para(
            t.gettext("⏳ Noch nicht bestätigt. Moderation: ✅ auf diese Nachricht oder "),
            code(
                t.gettext(
                    "%(prefix)s protokoll bestätigen %(id)s", prefix=prefix, id=minutes.session_id
                )
            ),
            ".",
        )
    return doc.build()


def _item_heading(item: Item, t: Texts) -> str:
    if item.schutzauftrag:
        return t.gettext(
            " – %(topic)s, angefragt von %(institution)s · § 8a SGB VIII",
            topic=item.topic,
            institution=item.requested_by,
        )
    return t.gettext(
        " – %(topic)s, angefragt von %(institution)s",
        topic=item.topic,
        institution=item.requested_by,
    )


def _item_lines(item: Item, t: Texts) -> list[tuple[Part, ...]]:
    lines: list[tuple[Part, ...]] = []
    lines += [(t.gettext("Beschluss: %(text)s", text=text),) for text in item.decisions]
    if item.lotse:
        lines.append((t.gettext("Lotse: %(navigator)s", navigator=item.lotse),))
    for task in item.tasks:
        values = {"owner": task.owner, "institution": task.institution, "text": task.text}
        if task.due:
            line = t.gettext(
                "Aufgabe: %(owner)s (%(institution)s): %(text)s, bis %(due)s",
                due=t.day(task.due),
                **values,
            )
        else:
            line = t.gettext("Aufgabe: %(owner)s (%(institution)s): %(text)s", **values)
        lines.append((line,))
    if item.review:
        lines.append((t.gettext("Wiedervorlage: %(date)s", date=t.day(item.review)),))
    if item.carried:
        target = (
            target_text(item.carried_to, t) if item.carried_to else t.gettext("noch kein Termin")
        )
        reason = carried_reason(item.carried, t)
        lines.append(
            (t.gettext("Vertagt (%(reason)s) → %(target)s", reason=reason, target=target),)
        )
    if item.closed:
        lines.append((t.gettext("Fall erledigt"),))
    return lines


def _closed_sitting(ctx: CommandContext, number: int | None) -> tuple[Sitting, Session]:
    sitting = (
        ctx.uow.outcomes.sitting(number)
        if number is not None
        else ctx.uow.outcomes.last_closed(ctx.room_id)
    )
    if sitting is None or sitting.room_id != ctx.room_id or sitting.closed_at is None:
        raise UserError(
            N_("Dazu gibt es kein Protokoll: die Sitzung ist nicht beendet oder unbekannt.")
        )
    session = ctx.uow.sessions.require(sitting.session_id)
    return sitting, session


def confirm_minutes(ctx: CommandContext, sitting: Sitting) -> Reply:
    t = ctx.t
    if sitting.confirmed_at is not None:
        day, time = confirmed_text(t, sitting.confirmed_at)
        return Reply.text(
            t.gettext(
                "Das Protokoll von Termin #%(id)s ist bereits bestätigt "
                "(von %(user)s am %(day)s %(time)s Uhr).",
                id=sitting.session_id,
                user=sitting.confirmed_by,
                day=day,
                time=time,
            )
        )
    sitting.confirmed_by, sitting.confirmed_at = ctx.sender, ctx.now
    sitting.minutes_dirty = sitting.minutes_txn_id is not None
    audit(ctx, "protokoll_bestaetigt", None, termin=sitting.session_id)
    return Reply.text(
        t.gettext("✅ Protokoll von Termin #%(id)s bestätigt.", id=sitting.session_id)
    )


router = Router("protokoll")


@router.command(
    "protokoll",
    summary=N_("Zeigt das Protokoll einer beendeten Sitzung."),
    params={"termin": N_("Nummer des Termins (Standard: die letzte Sitzung)")},
    examples=("protokoll", "protokoll 12"),
)
def protokoll(ctx: CommandContext, termin: int | None = None) -> Reply:
    sitting, session = _closed_sitting(ctx, termin)
    return render_minutes(collect(ctx.uow, ctx.org, session, sitting), ctx.prefix, ctx.t)


@router.command(
    "protokoll bestätigen",
    summary=N_("Bestätigt das Protokoll (auch: ✅ auf das Protokoll)."),
    role=Role.MODERATION,
    params={"termin": N_("Nummer des Termins (Standard: die letzte Sitzung)")},
    examples=("protokoll bestätigen", "protokoll bestätigen 12"),
)
def protokoll_bestaetigen(ctx: CommandContext, termin: int | None = None) -> Reply:
    sitting, _ = _closed_sitting(ctx, termin)
    return confirm_minutes(ctx, sitting)


@router.command(
    "protokoll export",
    summary=N_("Schickt das Protokoll als Markdown, PDF und JSON (verschlüsselte Anhänge)."),
    params={"termin": N_("Nummer des Termins (Standard: die letzte Sitzung)")},
    examples=("protokoll export", "protokoll export 12"),
)
def protokoll_export(ctx: CommandContext, termin: int | None = None) -> Reply:
    # Imported on use: the PDF library is heavy and most processes never export.
    from commands.export import file_name, to_json, to_markdown, to_pdf

    sitting, session = _closed_sitting(ctx, termin)
    minutes = collect(ctx.uow, ctx.org, session, sitting)
    t = ctx.t  # the files speak the room's language; the JSON records which
    files = [
        ("md", "text/markdown; charset=utf-8", to_markdown(minutes, t).encode()),
        ("pdf", "application/pdf", to_pdf(minutes, t)),
        ("json", "application/json", to_json(minutes, t).encode()),
    ]
    for ext, mimetype, data in files:
        ctx.post(
            f"export-{ext}",
            "m.room.message",
            attachment_content(file_name(minutes, ext, t), mimetype, data),
        )
    audit(ctx, "protokoll_exportiert", None, termin=session.id)
    return Reply.text(
        t.gettext(
            "📎 Protokoll von Termin #%(id)s als Markdown, PDF und JSON – "
            "verschlüsselte Anhänge folgen.",
            id=session.id,
        )
    )


@router.reaction("✅")
def confirm_by_reaction(ctx: ReactionContext) -> Reply | None:
    sitting = ctx.uow.outcomes.sitting_by_minutes(ctx.relates_to)
    if sitting is None or not ctx.member.has(Role.MODERATION):
        return None  # not the minutes, or not moderation: the ✅ is just a reaction
    return confirm_minutes(ctx, sitting)
