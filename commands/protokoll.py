"""Protokoll (minutes) of a held session: collected, shown, exported and bestätigt (confirmed).

PRODUCT.md step 10. :func:`collect` reads a session's sitting, attendance and every
outcome recorded in it into one :class:`domain.minutes.Minutes` value; the room message
(:func:`render_minutes`) and the exports (:mod:`commands.export`) are rendered from it.
Moderation confirms the minutes with ``protokoll bestätigen`` or ✅ on them.
"""

from __future__ import annotations

from commands.agenda import attachment_content
from commands.casework import audit, institution_name_in
from commands.framework import CommandContext, ReactionContext, Router
from commands.reply import Doc, Reply, b, code
from commands.sessions import when_text
from domain.dates import LOCAL_TZ, format_date
from domain.errors import UserError
from domain.minutes import Item, Minutes, Presence, TaskLine
from domain.org import Organisation, Role
from storage.models import ConferenceRequest, Session, Sitting
from storage.states import CaseState
from storage.uow import UnitOfWork


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
                carried_to=f"Termin #{target.id} am {when_text(target.starts_at)}"
                if target
                else None,
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


def render_minutes(minutes: Minutes, prefix: str) -> Reply:
    doc = Doc().para(
        "📝 ",
        b(f"Protokoll {minutes.name}"),
        f" – Termin #{minutes.session_id}, {when_text(minutes.starts_at)}",
    )
    rows = []
    for presence in minutes.presence:
        if presence.present:
            rows.append((f"{presence.institution}: anwesend ({', '.join(presence.present)})",))
        elif presence.excused:
            rows.append((f"{presence.institution}: entschuldigt",))
        else:
            rows.append((f"{presence.institution}: nicht vertreten",))
    doc.para(b("Anwesenheit"))
    doc.items(rows)
    doc.para(
        f"Beschlussfähig: {'ja' if minutes.quorum_met else 'nein'} "
        f"({minutes.institutions_present} von mindestens {minutes.quorum} Institutionen)."
    )
    for item in minutes.items:
        mark = " · § 8a SGB VIII" if item.schutzauftrag else ""
        doc.para(b(item.pseudonym), f" – {item.topic}, angefragt von {item.requested_by}{mark}")
        lines: list[tuple[str]] = []
        lines += [(f"Beschluss: {text}",) for text in item.decisions]
        if item.lotse:
            lines.append((f"Lotse: {item.lotse}",))
        for task in item.tasks:
            due = f", bis {format_date(task.due)}" if task.due else ""
            lines.append((f"Aufgabe: {task.owner} ({task.institution}): {task.text}{due}",))
        if item.review:
            lines.append((f"Wiedervorlage: {format_date(item.review)}",))
        if item.carried:
            target = item.carried_to or "noch kein Termin"
            lines.append((f"Vertagt ({item.carried}) → {target}",))
        if item.closed:
            lines.append(("Fall erledigt",))
        doc.items(lines or [("nichts erfasst",)])
    if minutes.confirmed_by and minutes.confirmed_at:
        at = minutes.confirmed_at.astimezone(LOCAL_TZ)
        doc.para(f"✅ Bestätigt von {minutes.confirmed_by} am {at:%d.%m.%Y %H:%M} Uhr.")
    else:
        doc.para(
            "⏳ Noch nicht bestätigt. Moderation: ✅ auf diese Nachricht oder ",
            code(f"{prefix} protokoll bestätigen {minutes.session_id}"),
            ".",
        )
    return doc.build()


def _closed_sitting(ctx: CommandContext, number: int | None) -> tuple[Sitting, Session]:
    sitting = (
        ctx.uow.outcomes.sitting(number)
        if number is not None
        else ctx.uow.outcomes.last_closed(ctx.room_id)
    )
    if sitting is None or sitting.room_id != ctx.room_id or sitting.closed_at is None:
        raise UserError(
            "Dazu gibt es kein Protokoll: die Sitzung ist nicht beendet oder unbekannt."
        )
    session = ctx.uow.sessions.require(sitting.session_id)
    return sitting, session


def confirm_minutes(ctx: CommandContext, sitting: Sitting) -> Reply:
    if sitting.confirmed_at is not None:
        at = sitting.confirmed_at.astimezone(LOCAL_TZ)
        return Reply.text(
            f"Das Protokoll von Termin #{sitting.session_id} ist bereits bestätigt "
            f"(von {sitting.confirmed_by} am {at:%d.%m.%Y %H:%M} Uhr)."
        )
    sitting.confirmed_by, sitting.confirmed_at = ctx.sender, ctx.now
    sitting.minutes_dirty = sitting.minutes_txn_id is not None
    audit(ctx, "protokoll_bestaetigt", None, termin=sitting.session_id)
    return Reply.text(f"✅ Protokoll von Termin #{sitting.session_id} bestätigt.")


router = Router("protokoll")


@router.command(
    "protokoll",
    summary="Zeigt das Protokoll einer beendeten Sitzung.",
    params={"termin": "Nummer des Termins (Standard: die letzte Sitzung)"},
    examples=("protokoll", "protokoll 12"),
)
def protokoll(ctx: CommandContext, termin: int | None = None) -> Reply:
    sitting, session = _closed_sitting(ctx, termin)
    return render_minutes(collect(ctx.uow, ctx.org, session, sitting), ctx.prefix)


@router.command(
    "protokoll bestätigen",
    summary="Bestätigt das Protokoll (auch: ✅ auf das Protokoll).",
    role=Role.MODERATION,
    params={"termin": "Nummer des Termins (Standard: die letzte Sitzung)"},
    examples=("protokoll bestätigen", "protokoll bestätigen 12"),
)
def protokoll_bestaetigen(ctx: CommandContext, termin: int | None = None) -> Reply:
    sitting, _ = _closed_sitting(ctx, termin)
    return confirm_minutes(ctx, sitting)


@router.command(
    "protokoll export",
    summary="Schickt das Protokoll als Markdown, PDF und JSON (verschlüsselte Anhänge).",
    params={"termin": "Nummer des Termins (Standard: die letzte Sitzung)"},
    examples=("protokoll export", "protokoll export 12"),
)
def protokoll_export(ctx: CommandContext, termin: int | None = None) -> Reply:
    # Imported on use: the PDF library is heavy and most processes never export.
    from commands.export import file_name, to_json, to_markdown, to_pdf

    sitting, session = _closed_sitting(ctx, termin)
    minutes = collect(ctx.uow, ctx.org, session, sitting)
    files = [
        ("md", "text/markdown; charset=utf-8", to_markdown(minutes).encode()),
        ("pdf", "application/pdf", to_pdf(minutes)),
        ("json", "application/json", to_json(minutes).encode()),
    ]
    for ext, mimetype, data in files:
        ctx.post(
            f"export-{ext}",
            "m.room.message",
            attachment_content(file_name(minutes, ext), mimetype, data),
        )
    audit(ctx, "protokoll_exportiert", None, termin=session.id)
    return Reply.text(
        f"📎 Protokoll von Termin #{session.id} als Markdown, PDF und JSON – "
        "verschlüsselte Anhänge folgen."
    )


@router.reaction("✅")
def confirm_by_reaction(ctx: ReactionContext) -> Reply | None:
    sitting = ctx.uow.outcomes.sitting_by_minutes(ctx.relates_to)
    if sitting is None or not ctx.member.has(Role.MODERATION):
        return None  # not the minutes, or not moderation: the ✅ is just a reaction
    return confirm_minutes(ctx, sitting)
