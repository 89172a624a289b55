"""Holding a session: open, attendance, outcomes per case, carry-over, close, minutes.

PRODUCT.md steps 9–10. ``sitzung start`` opens the session (its reply is the opening
message: ✋ on it marks attendance); per agenda item the conference records decisions
(``beschluss``), the Lotse, tasks, the Wiedervorlage, carries the item over
(``vertagen``) or closes the case (``erledigt``). ``sitzung ende`` carries over what
was not handled, marks the rest ``besprochen`` and posts the minutes (its reply);
moderation confirms them (``protokoll bestätigen`` or ✅). Every outcome is audited
with ids only; decision and task texts pass the personal-data guard like every
argument.
"""

from __future__ import annotations

import re
from datetime import date, datetime, time, timedelta
from typing import Annotated

from bot.txn import txn_id_for
from commands.agenda import SYSTEM_ACTOR, attachment_content
from commands.casework import (
    RequestState,
    audit,
    date_arg,
    get_case,
    institution_name,
    institution_name_in,
)
from commands.dates import LOCAL_TZ, Towards, format_date, local_date
from commands.errors import ArgumentError, PermissionDenied, UserError
from commands.framework import REST, CommandContext, Label, ReactionContext, Router
from commands.minutes import Item, Minutes, Presence, TaskLine
from commands.org import Organisation, Role, canonical_user_id
from commands.pseudonym import Pseudonym
from commands.reply import Doc, Reply, b, code
from commands.sessions import SessionNotFound, allowed, touch, when_text
from storage.models import (
    Carryover,
    ConferenceRequest,
    Decision,
    Navigator,
    Review,
    Session,
    Sitting,
    Task,
)
from storage.uow import UnitOfWork

HAND_KEY = "✋"
NOT_HANDLED = "nicht behandelt"
CLOSED_REQUEST = "erledigt"
DISCUSSED_REQUEST = "besprochen"
MAX_TEXT = 1000
OVERVIEW_ITEMS = 20  # per list in `übersicht`: the reply stays short whatever the backlog
_USER = re.compile(r"@[^\s:]+:[^\s]+")
_DUE = re.compile(r"^(?P<text>.*?)\s+bis\s+(?P<due>\S+)\s*$", re.DOTALL)
REVIEW_HOUR = time(8, 0)

# -- lookups --------------------------------------------------------------------------


def open_sitting(ctx: CommandContext) -> tuple[Sitting, Session]:
    sitting = ctx.uow.outcomes.open_sitting(ctx.room_id)
    if sitting is None:
        raise UserError(f"Es ist keine Sitzung eröffnet. Eröffnen: {ctx.prefix} sitzung start")
    session = ctx.uow.sessions.get(sitting.session_id)
    assert session is not None
    return sitting, session


def item_request(ctx: CommandContext, session: Session, pseudonym: str) -> ConferenceRequest:
    for _, request in ctx.uow.sessions.agenda(session.id):
        if request.case_pseudonym == pseudonym:
            return request
    raise UserError(
        f"{pseudonym} steht nicht auf der Tagesordnung der laufenden Sitzung "
        f"(Termin #{session.id}). Tagesordnung: {ctx.prefix} agenda {session.id}"
    )


def _user_arg(text: str) -> str:
    if not _USER.fullmatch(text):
        raise ArgumentError("Bitte die Person als Matrix-ID angeben, z. B. @anna:kreis.example.")
    return canonical_user_id(text)


def _participant(ctx: CommandContext, request: ConferenceRequest, user: str) -> str:
    """The institution key of ``user`` if it takes part in this item; refuses otherwise."""
    member = ctx.org.member(user)
    if member.institution is None or member.institution.key not in request.participants:
        raise UserError(
            f"{user} gehört zu keiner beteiligten Institution dieses Falls "
            "(Teilnehmende: "
            + ", ".join(institution_name(ctx, k) for k in request.participants)
            + ")."
        )
    return member.institution.key


def _may_record(ctx: CommandContext, request: ConferenceRequest) -> None:
    """Moderation, or a professional of an institution taking part in this item."""
    if ctx.member.has(Role.MODERATION):
        return
    institution = ctx.member.institution
    if (
        institution is None
        or institution.key not in request.participants
        or not ctx.member.has(Role.FACHKRAFT)
    ):
        raise PermissionDenied(
            "Das erfassen die Moderation oder Fachkräfte der beteiligten Institutionen."
        )


def _text(value: str) -> str:
    text = value.strip()
    if not text:
        raise ArgumentError("Bitte einen Text angeben.")
    if len(text) > MAX_TEXT:
        raise ArgumentError(f"Der Text ist zu lang (höchstens {MAX_TEXT} Zeichen).")
    return text


def _pick_session(ctx: CommandContext, number: int | None) -> Session:
    """The session to open: the given one, or the room's planned session of today."""
    if number is not None:
        session = ctx.uow.sessions.get(number)
        if session is None or session.room_id != ctx.room_id or session.state != "geplant":
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
                "Heute ist hier kein Termin geplant. Bitte die Nummer angeben: "
                f"{ctx.prefix} sitzung start <termin>"
            )
        session = candidates[0]
    if local_date(session.starts_at) != local_date(ctx.now):
        raise UserError(
            f"Termin #{session.id} ist am {when_text(session.starts_at)}; eröffnet wird "
            "eine Sitzung an ihrem Tag."
        )
    return session


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
        touch(ctx, target.id)
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
                    and case_row.state == "erledigt"
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
    session = ctx.uow.sessions.get(sitting.session_id)
    assert session is not None
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


def _present(ctx: CommandContext, sitting: Sitting) -> set[str]:
    """The institutions marked present in the sitting."""
    return {
        a.institution
        for a in ctx.uow.outcomes.attendance(sitting.session_id)
        if a.kind == "anwesend"
    }


def _attend(ctx: CommandContext, sitting: Sitting) -> Reply:
    institution = ctx.member.institution
    if institution is None:
        raise PermissionDenied("Anwesenheit erfasse ich nur für Personen mit Institution.")
    new = ctx.uow.outcomes.mark(
        sitting.session_id, institution.key, ctx.sender, "anwesend", ctx.now
    )
    present = _present(ctx, sitting)
    if new:
        audit(ctx, "anwesend", None, termin=sitting.session_id)
    quorum = (
        "beschlussfähig"
        if len(present) >= sitting.quorum
        else (f"beschlussfähig ab {sitting.quorum}")
    )
    return Reply.text(
        f"✋ {ctx.sender} ({institution.name}) ist anwesend. Vertreten: {len(present)} "
        f"Institution(en) – {quorum}."
    )


def _review_reminders(due: date, days: tuple[int, ...]) -> list[tuple[str, int, datetime]]:
    at = [
        (
            "wiedervorlage",
            d * 24 * 60,
            datetime.combine(due - timedelta(days=d), REVIEW_HOUR, tzinfo=LOCAL_TZ),
        )
        for d in days
    ]
    overdue = datetime.combine(due + timedelta(days=1), REVIEW_HOUR, tzinfo=LOCAL_TZ)
    return [*at, ("überfällig", 0, overdue)]


router = Router("conference")


@router.command(
    "sitzung start",
    summary="Eröffnet die Sitzung eines Termins; Anwesenheit mit ✋ oder {prefix} anwesend.",
    role=Role.MODERATION,
    params={"termin": "Nummer des Termins (Standard: der heutige)"},
    examples=("sitzung start", "sitzung start 12"),
)
def sitzung_start(ctx: CommandContext, termin: int | None = None) -> Reply:
    running = ctx.uow.outcomes.open_sitting(ctx.room_id)
    if running is not None:
        raise UserError(
            f"Die Sitzung von Termin #{running.session_id} läuft noch. Beenden: "
            f"{ctx.prefix} sitzung ende"
        )
    session = _pick_session(ctx, termin)
    if ctx.uow.outcomes.sitting(session.id) is not None:
        raise UserError(f"Die Sitzung von Termin #{session.id} wurde schon gehalten.")
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
    doc = Doc().para(
        "🟢 ",
        b(f"Sitzung eröffnet: {session.name}"),
        f" – Termin #{session.id}, {when_text(session.starts_at)}.",
    )
    if removed:
        doc.para(
            "Bei der Prüfung der Einwilligungen von der Tagesordnung genommen (nicht besprechen): ",
            ", ".join(removed),
            ".",
        )
    doc.para(f"Tagesordnung ({len(items)} Fälle): ")
    doc.items([(b(r.case_pseudonym), f" – {r.topic}") for _, r in items])
    doc.para(
        "Anwesenheit: ✋ auf diese Nachricht oder ",
        code(f"{ctx.prefix} anwesend"),
        "; Entschuldigungen: ",
        code(f"{ctx.prefix} entschuldigt <institution>"),
        f". Beschlussfähig ab {quorum} Institutionen.",
    )
    return doc.build()


@router.command(
    "anwesend",
    summary="Meldet dich in der laufenden Sitzung als anwesend (auch: ✋ auf die Eröffnung).",
    examples=("anwesend",),
)
def anwesend(ctx: CommandContext) -> Reply:
    sitting, _ = open_sitting(ctx)
    return _attend(ctx, sitting)


@router.command(
    "entschuldigt",
    summary="Erfasst, dass eine Institution sich für die laufende Sitzung entschuldigt hat.",
    params={"institution": "Schlüssel der Institution, z. B. jobcenter"},
    examples=("entschuldigt agentur",),
)
def entschuldigt(ctx: CommandContext, institution: str) -> Reply:
    sitting, _ = open_sitting(ctx)
    found = ctx.org.institution(institution)
    own = ctx.member.institution
    if not ctx.member.has(Role.MODERATION) and (own is None or own.key != found.key):
        raise PermissionDenied(
            "Entschuldigen kann man die eigene Institution; andere die Moderation."
        )
    ctx.uow.outcomes.mark(sitting.session_id, found.key, ctx.sender, "entschuldigt", ctx.now)
    audit(ctx, "entschuldigt", None, termin=sitting.session_id, institution=found.key)
    return Reply.text(f"📝 {found.name} ist für Termin #{sitting.session_id} entschuldigt.")


@router.command(
    "beschluss",
    summary="Erfasst einen Beschluss zu einem Fall der laufenden Sitzung.",
    params={"fall": "Pseudonym", "text": "der Beschluss – ohne Namen oder Daten der Familie"},
    examples=("beschluss FK-7QX2-M6 Teilnahme am Jugendberufshilfe-Projekt ab Januar",),
)
def beschluss(ctx: CommandContext, fall: Pseudonym, text: Annotated[str, REST]) -> Reply:
    sitting, session = open_sitting(ctx)
    request = item_request(ctx, session, str(fall))
    _may_record(ctx, request)
    decision = Decision(
        session_id=session.id,
        case_pseudonym=request.case_pseudonym,
        text=_text(text),
        recorded_by=ctx.sender,
        at=ctx.now,
    )
    ctx.uow.outcomes.add(decision)
    audit(ctx, "beschluss", request.case_pseudonym, beschluss=decision.id, termin=session.id)
    count = len(ctx.uow.outcomes.decisions(session.id, request.case_pseudonym))
    doc = Doc().para(
        "📌 Beschluss ", b(f"{count}"), f" zu {request.case_pseudonym}: {decision.text}"
    )
    present = _present(ctx, sitting)
    if len(present) < sitting.quorum:
        doc.para(
            f"⚠️ Die Sitzung ist nicht beschlussfähig: {len(present)} von mindestens "
            f"{sitting.quorum} Institutionen anwesend. Der Beschluss steht so im Protokoll "
            "(„Beschlussfähig: nein“)."
        )
    doc.para("ℹ️ Namen, Anschriften und Daten der Familie gehören nicht in Beschlüsse.")
    return doc.build()


@router.command(
    "lotse",
    summary="Bestimmt den Lotsen eines Falls (eine Person einer beteiligten Institution).",
    role=Role.MODERATION,
    params={"fall": "Pseudonym", "nutzer": "Matrix-ID, z. B. @anna:kreis.example"},
    examples=("lotse FK-7QX2-M6 @anna:kreis.example",),
)
def lotse(ctx: CommandContext, fall: Pseudonym, nutzer: Annotated[str, Label("@nutzer")]) -> Reply:
    _, session = open_sitting(ctx)
    request = item_request(ctx, session, str(fall))
    user = _user_arg(nutzer)
    institution = _participant(ctx, request, user)
    previous = ctx.uow.outcomes.active_navigator(request.case_pseudonym)
    if previous is not None:
        previous.active = False
    ctx.uow.outcomes.add(
        Navigator(
            session_id=session.id,
            case_pseudonym=request.case_pseudonym,
            user_id=user,
            institution=institution,
            assigned_by=ctx.sender,
            at=ctx.now,
            active=True,
        )
    )
    audit(ctx, "lotse_bestimmt", request.case_pseudonym, lotse=user, termin=session.id)
    return Reply.text(
        f"🧭 Lotse für {request.case_pseudonym}: {user} "
        f"({institution_name(ctx, institution)}). Du bündelst die vereinbarte Hilfe "
        "und meldest dich zur Wiedervorlage."
    ).mentioning(user)


@router.command(
    "aufgabe",
    summary="Erfasst einen nächsten Schritt mit verantwortlicher Person und Frist.",
    params={
        "fall": "Pseudonym",
        "nutzer": "verantwortliche Person (Matrix-ID)",
        "text": "was zu tun ist, optional am Ende: bis <datum>",
    },
    examples=("aufgabe FK-7QX2-M6 @ben:kreis.example Termin Berufsberatung bis 15.01.2027",),
)
def aufgabe(
    ctx: CommandContext,
    fall: Pseudonym,
    nutzer: Annotated[str, Label("@nutzer")],
    text: Annotated[str, REST, Label("text [bis <datum>]")],
) -> Reply:
    _, session = open_sitting(ctx)
    request = item_request(ctx, session, str(fall))
    _may_record(ctx, request)
    owner = _user_arg(nutzer)
    institution = _participant(ctx, request, owner)
    due: date | None = None
    match = _DUE.match(text.strip())
    if match is not None:
        due = date_arg("bis", match.group("due"), ctx.today, Towards.FUTURE)
        if due < local_date(ctx.now):
            raise ArgumentError("Die Frist liegt in der Vergangenheit.")
        text = match.group("text")
    task = Task(
        session_id=session.id,
        case_pseudonym=request.case_pseudonym,
        owner=owner,
        owner_institution=institution,
        text=_text(text),
        due=due,
        state="offen",
        created_by=ctx.sender,
        at=ctx.now,
    )
    ctx.uow.outcomes.add(task)
    audit(ctx, "aufgabe", request.case_pseudonym, aufgabe=task.id, verantwortlich=owner)
    until = f" – bis {format_date(due)}" if due else ""
    return Reply.text(
        f"☑️ Aufgabe für {owner} ({institution_name(ctx, institution)}) zu "
        f"{request.case_pseudonym}: {task.text}{until}"
    ).mentioning(owner)


@router.command(
    "wiedervorlage",
    summary="Setzt die Wiedervorlage eines Falls; der Lotse wird vorher erinnert.",
    params={"fall": "Pseudonym", "datum": "z. B. 15.03.2027 oder in 8 Wochen"},
    examples=("wiedervorlage FK-7QX2-M6 15.03.2027",),
)
def wiedervorlage(
    ctx: CommandContext, fall: Pseudonym, datum: Annotated[str, REST, Label("datum")]
) -> Reply:
    _, session = open_sitting(ctx)
    request = item_request(ctx, session, str(fall))
    _may_record(ctx, request)
    due = date_arg("datum", datum, ctx.today, Towards.FUTURE)
    if due <= local_date(ctx.now):
        raise ArgumentError("Die Wiedervorlage muss in der Zukunft liegen.")
    previous = ctx.uow.outcomes.open_review(request.case_pseudonym)
    if previous is not None:
        previous.state, previous.closed_at = "ersetzt", ctx.now
        ctx.uow.outcomes.cancel_review_reminders(previous.id)
    review = Review(
        session_id=session.id,
        room_id=ctx.room_id,
        case_pseudonym=request.case_pseudonym,
        due=due,
        state="offen",
        created_by=ctx.sender,
        at=ctx.now,
    )
    ctx.uow.outcomes.add(review)
    ctx.uow.outcomes.arm_review(
        review, _review_reminders(due, ctx.calendar.review_reminder_days), ctx.now
    )
    audit(ctx, "wiedervorlage", request.case_pseudonym, datum=due.isoformat())
    navigator = ctx.uow.outcomes.active_navigator(request.case_pseudonym)
    reply = Reply.text(
        f"📅 Wiedervorlage für {request.case_pseudonym} am {format_date(due)}"
        + (f"; ich erinnere den Lotsen {navigator.user_id} vorher." if navigator else ".")
    )
    return reply.mentioning(navigator.user_id) if navigator else reply


@router.command(
    "wiedervorlage erledigt",
    summary="Der Lotse meldet zurück: die Wiedervorlage ist erledigt.",
    params={"fall": "Pseudonym"},
    examples=("wiedervorlage erledigt FK-7QX2-M6",),
)
def wiedervorlage_erledigt(ctx: CommandContext, fall: Pseudonym) -> Reply:
    case = get_case(ctx, fall)
    review = ctx.uow.outcomes.open_review(case.pseudonym)
    if review is None:
        raise UserError(f"Für {case.pseudonym} ist keine Wiedervorlage offen.")
    navigator = ctx.uow.outcomes.active_navigator(case.pseudonym)
    is_lotse = navigator is not None and navigator.user_id == canonical_user_id(ctx.sender)
    if not (is_lotse or ctx.member.has(Role.MODERATION)):
        raise PermissionDenied("Das meldet der Lotse des Falls oder die Moderation.")
    review.state, review.closed_at = "erledigt", ctx.now
    ctx.uow.outcomes.cancel_review_reminders(review.id)
    audit(ctx, "wiedervorlage_erledigt", case.pseudonym, datum=review.due.isoformat())
    return Reply.text(f"✅ Wiedervorlage {case.pseudonym} ({format_date(review.due)}) erledigt.")


@router.command(
    "vertagen",
    summary="Vertagt einen Fall auf den nächsten Termin der Reihe (mit Grund).",
    role=Role.MODERATION,
    params={"fall": "Pseudonym", "grund": "kurzer Grund, ohne Daten der Familie"},
    examples=("vertagen FK-7QX2-M6 grund=Schule fehlte",),
)
def vertagen(
    ctx: CommandContext, fall: Pseudonym, grund: Annotated[str, REST, Label("grund=<text>")]
) -> Reply:
    _, session = open_sitting(ctx)
    request = item_request(ctx, session, str(fall))
    text = grund.strip()
    if not text.casefold().startswith("grund="):
        raise ArgumentError("Bitte den Grund so angeben: grund=<text>.")
    reason = _text(text[len("grund=") :].strip().strip('"„“'))
    if len(reason) > 200:
        raise ArgumentError("Der Grund ist zu lang (höchstens 200 Zeichen).")
    target = carry_over(ctx, session, request, reason)
    where = (
        f"auf Termin #{target.id} am {when_text(target.starts_at)}"
        if target
        else "– es gibt noch keinen passenden Termin; die Anfrage bleibt bereit"
    )
    return Reply.text(f"⏭️ {request.case_pseudonym} vertagt ({reason}) {where}.")


@router.command(
    "erledigt",
    summary="Schließt einen Fall im Bot (Löschfrist beginnt).",
    params={"fall": "Pseudonym"},
    details="Die fallführende Fachkraft oder die Moderation. Offene Anfragen, Planungen "
    "und Wiedervorlagen enden; nach der Löschfrist werden alle Daten gelöscht.",
    examples=("erledigt FK-7QX2-M6",),
)
def erledigt(ctx: CommandContext, fall: Pseudonym) -> Reply:
    case = get_case(ctx, fall)
    own = ctx.member.institution
    owner = own is not None and own.key == case.owner_institution
    if not (ctx.member.has(Role.MODERATION) or (owner and ctx.member.has(Role.FACHKRAFT))):
        raise PermissionDenied(
            "Einen Fall schließen die fallführende Fachkraft oder die Moderation."
        )
    if case.state == "erledigt":
        raise UserError(f"{case.pseudonym} ist bereits erledigt.")
    sitting = ctx.uow.outcomes.open_sitting(ctx.room_id)
    for request in ctx.uow.cases.open_requests(case.pseudonym):
        placement = ctx.uow.sessions.placement_of(request.id)
        in_sitting = (
            placement is not None
            and sitting is not None
            and (placement.session_id == sitting.session_id)
        )
        if placement is not None and not in_sitting:
            ctx.uow.sessions.unplace(request.id)
            audit(
                ctx,
                "agenda_entfernt",
                case.pseudonym,
                anfrage=request.id,
                termin=placement.session_id,
            )
            touch(ctx, placement.session_id)
        request.state, request.updated_at = CLOSED_REQUEST, ctx.now
    review = ctx.uow.outcomes.open_review(case.pseudonym)
    if review is not None:
        review.state, review.closed_at = "beendet", ctx.now
        ctx.uow.outcomes.cancel_review_reminders(review.id)
    for task in ctx.uow.outcomes.open_tasks(case.pseudonym):
        task.state = "beendet"
    case.state, case.closed_at = "erledigt", ctx.now
    audit(ctx, "fall_erledigt", case.pseudonym)
    return Reply.text(
        f"🏁 {case.pseudonym} ist erledigt. Die Daten werden nach der Löschfrist gelöscht; "
        "das Audit behält nur Pseudonym, Person, Aktion und Zeit."
    )


@router.command(
    "sitzung ende",
    summary="Beendet die Sitzung, vertagt Unbehandeltes und stellt das Protokoll ein.",
    role=Role.MODERATION,
    examples=("sitzung ende",),
)
def sitzung_ende(ctx: CommandContext) -> Reply:
    sitting, session = open_sitting(ctx)
    carried = []
    for _, request in list(ctx.uow.sessions.agenda(session.id)):
        if request.state == CLOSED_REQUEST:
            continue
        if ctx.uow.outcomes.handled(session.id, request.case_pseudonym):
            request.state, request.updated_at = DISCUSSED_REQUEST, ctx.now
            audit(ctx, "anfrage_besprochen", request.case_pseudonym, anfrage=request.id)
            continue
        target = carry_over(ctx, session, request, NOT_HANDLED)
        carried.append((request.case_pseudonym, target))
    sitting.closed_at, sitting.closed_by = ctx.now, ctx.sender
    sitting.minutes_txn_id = txn_id_for(ctx.event_id, "reply")
    session.state, session.updated_at = "beendet", ctx.now
    ctx.uow.sessions.cancel_reminders(session.id)
    due = ctx.calendar.working_days_after(local_date(ctx.now), ctx.calendar.minutes_working_days)
    ctx.uow.sessions.arm_once(
        session.id,
        "protokoll",
        datetime.combine(due, REVIEW_HOUR, tzinfo=LOCAL_TZ),
        ctx.now,
        catch_up=False,
    )
    audit(ctx, "sitzung_beendet", None, termin=session.id)
    minutes = render_minutes(collect(ctx.uow, ctx.org, session, sitting), ctx.prefix)
    doc = Doc()
    if carried:
        doc.para(
            "⏭️ Nicht behandelt und vertagt: ",
            ", ".join(
                f"{p} → " + (f"Termin #{t.id}" if t else "noch kein Termin") for p, t in carried
            ),
            ".",
        )
    return doc.append(minutes).build()


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


@router.command(
    "übersicht",
    aliases=("uebersicht",),
    summary="Überblick für die Moderation: Termine, wartende Anfragen, Überfälliges.",
    role=Role.MODERATION,
    examples=("übersicht",),
)
def uebersicht(ctx: CommandContext) -> Reply:
    uow, today = ctx.uow, local_date(ctx.now)
    doc = Doc().para("📊 ", b("Übersicht"), f" – Stand {when_text(ctx.now)}")
    upcoming = [s for s in uow.sessions.upcoming(ctx.now, limit=5)]
    taken = uow.sessions.taken([s.id for s in upcoming])
    doc.para(b("Nächste Termine"))
    doc.items(
        [
            (
                f"#{s.id} {when_text(s.starts_at)} {s.name}: {taken.get(s.id, 0)}/"
                f"{s.capacity} Fälle, Tagesordnung " + _agenda_state(uow, s.id),
            )
            for s in upcoming
        ]
        or [("keine",)]
    )
    waiting_count = uow.cases.count_open_requests(RequestState.WAITING)
    waiting = uow.cases.open_requests(state=RequestState.WAITING, limit=10)
    doc.para(b(f"Anfragen ohne ausreichende Einwilligung: {waiting_count}"))
    doc.items([(f"#{r.id} {r.case_pseudonym} – {r.topic}",) for r in waiting])
    if waiting_count > len(waiting):
        doc.para(f"… alle: {ctx.prefix} anfragen status=wartet")
    reviews = uow.outcomes.overdue_reviews()
    tasks = uow.outcomes.overdue_tasks(today)
    doc.para(b(f"Überfällig: {len(reviews)} Wiedervorlage(n), {len(tasks)} Aufgabe(n)"))
    overdue = [
        (f"Wiedervorlage {r.case_pseudonym} seit {format_date(r.due)}",) for r in reviews
    ] + [
        (f"Aufgabe {t.case_pseudonym}: {t.owner}, fällig {format_date(t.due)}",)
        for t in tasks
        if t.due is not None
    ]
    doc.items(overdue[:OVERVIEW_ITEMS])
    if len(overdue) > OVERVIEW_ITEMS:
        doc.para(f"… und {len(overdue) - OVERVIEW_ITEMS} weitere.")
    minutes = uow.outcomes.unconfirmed_minutes()
    doc.para(b(f"Unbestätigte Protokolle: {len(minutes)}"))
    doc.items([(f"Termin #{m.session_id}",) for m in minutes[:OVERVIEW_ITEMS]])
    return doc.build()


@router.reaction("✅")
def confirm_by_reaction(ctx: ReactionContext) -> Reply | None:
    sitting = ctx.uow.outcomes.sitting_by_minutes(ctx.relates_to)
    if sitting is None or not ctx.member.has(Role.MODERATION):
        return None  # not the minutes, or not moderation: the ✅ is just a reaction
    return confirm_minutes(ctx, sitting)


@router.reaction(HAND_KEY)
def hand(ctx: ReactionContext) -> Reply | None:
    sitting = ctx.uow.outcomes.sitting_by_opening(ctx.relates_to)
    if sitting is None or sitting.closed_at is not None:
        return None
    if ctx.member.institution is None:
        return None
    return _attend(ctx, sitting)


def _agenda_state(uow: UnitOfWork, session_id: int) -> str:
    agenda = uow.agendas.get(session_id)
    if agenda is not None and agenda.confirmed:
        return "bestätigt"
    if agenda is not None and agenda.post_txn_id is not None:
        return "gesendet, unbestätigt"
    return "Entwurf"


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


__all__ = ["HAND_KEY", "SYSTEM_ACTOR", "collect", "recheck_agenda", "render_minutes", "router"]
