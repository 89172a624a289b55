"""Per case: Beschluss (decision), Lotse (navigator), Aufgabe (task), Wiedervorlage (review).

Also ``vertagen`` (carry an item over) and ``erledigt`` (close a case). Outcomes are
recorded for items on the agenda of the running sitting (:mod:`commands.sitting`).
PRODUCT.md steps 9–10. Every outcome is audited with ids only; decision and task texts
pass the personal-data guard like every argument.
"""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta
from typing import Annotated

from commands.casework import audit, date_arg, get_case, institution_name
from commands.framework import REST, CommandContext, Label, Router
from commands.reply import Doc, Reply, b
from commands.sessions import when_text
from commands.sitting import (
    REMINDER_HOUR,
    carry_over,
    open_sitting,
    present_institutions,
)
from domain.casework import RequestState
from domain.dates import LOCAL_TZ, Towards, format_date, local_date
from domain.errors import ArgumentError, PermissionDenied, UserError
from domain.org import Role, canonical_user_id
from domain.planning import touch
from domain.pseudonym import Pseudonym
from storage.models import ConferenceRequest, Decision, Navigator, Review, Session, Task
from storage.states import CaseState, ReviewState, TaskState

MAX_TEXT = 1000
_USER = re.compile(r"@[^\s:]+:[^\s]+")
_DUE = re.compile(r"^(?P<text>.*?)\s+bis\s+(?P<due>\S+)\s*$", re.DOTALL)


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


def _review_reminders(due: date, days: tuple[int, ...]) -> list[tuple[str, int, datetime]]:
    at = [
        (
            "wiedervorlage",
            d * 24 * 60,
            datetime.combine(due - timedelta(days=d), REMINDER_HOUR, tzinfo=LOCAL_TZ),
        )
        for d in days
    ]
    overdue = datetime.combine(due + timedelta(days=1), REMINDER_HOUR, tzinfo=LOCAL_TZ)
    return [*at, ("überfällig", 0, overdue)]


router = Router("outcomes")


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
    present = present_institutions(ctx, sitting)
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
        due = date_arg(
            "bis", match.group("due"), ctx.today, Towards.FUTURE, language=ctx.t.language
        )
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
        state=TaskState.OPEN,
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
    due = date_arg("datum", datum, ctx.today, Towards.FUTURE, language=ctx.t.language)
    if due <= local_date(ctx.now):
        raise ArgumentError("Die Wiedervorlage muss in der Zukunft liegen.")
    previous = ctx.uow.outcomes.open_review(request.case_pseudonym)
    if previous is not None:
        previous.state, previous.closed_at = ReviewState.REPLACED, ctx.now
        ctx.uow.outcomes.cancel_review_reminders(previous.id)
    review = Review(
        session_id=session.id,
        room_id=ctx.room_id,
        case_pseudonym=request.case_pseudonym,
        due=due,
        state=ReviewState.OPEN,
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
    review.state, review.closed_at = ReviewState.DONE, ctx.now
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
    if case.state == CaseState.CLOSED:
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
            touch(ctx.work, placement.session_id)
        request.state, request.updated_at = RequestState.CLOSED, ctx.now
    review = ctx.uow.outcomes.open_review(case.pseudonym)
    if review is not None:
        review.state, review.closed_at = ReviewState.ENDED, ctx.now
        ctx.uow.outcomes.cancel_review_reminders(review.id)
    for task in ctx.uow.outcomes.open_tasks(case.pseudonym):
        task.state = TaskState.ENDED
    case.state, case.closed_at = CaseState.CLOSED, ctx.now
    audit(ctx, "fall_erledigt", case.pseudonym)
    return Reply.text(
        f"🏁 {case.pseudonym} ist erledigt. Die Daten werden nach der Löschfrist gelöscht; "
        "das Audit behält nur Pseudonym, Person, Aktion und Zeit."
    )
