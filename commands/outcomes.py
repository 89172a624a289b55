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
from commands.i18n import N_
from commands.protokoll import emphasised
from commands.reply import Doc, Reply
from commands.sitting import (
    REMINDER_HOUR,
    carry_over,
    open_sitting,
    present_institutions,
)
from domain.casework import RequestState
from domain.dates import LOCAL_TZ, Towards, local_date
from domain.errors import ArgumentError, PermissionDenied, UserError
from domain.org import Role, canonical_user_id
from domain.planning import touch
from domain.pseudonym import Pseudonym
from storage.models import ConferenceRequest, Decision, Navigator, Review, Session, Task
from storage.states import CaseState, ReviewState, TaskState

MAX_TEXT = 1000
MAX_REASON = 200
_USER = re.compile(r"@[^\s:]+:[^\s]+")
# "… bis 15.01.2027" (English rooms: "… until 15.01.2027") at the end of a task.
_DUE = re.compile(r"^(?P<text>.*?)\s+(?:bis|until)\s+(?P<due>\S+)\s*$", re.DOTALL | re.I)
# "grund=<text>" (English: "reason=<text>") before a carry-over's reason.
_REASON = re.compile(r"^(?:grund|reason)=", re.I)


def item_request(ctx: CommandContext, session: Session, pseudonym: str) -> ConferenceRequest:
    for _, request in ctx.uow.sessions.agenda(session.id):
        if request.case_pseudonym == pseudonym:
            return request
    raise UserError(
        N_(
            "%(case)s steht nicht auf der Tagesordnung der laufenden Sitzung "
            "(Termin #%(id)s). Tagesordnung: %(prefix)s agenda %(id)s"
        ),
        case=pseudonym,
        id=session.id,
        prefix=ctx.prefix,
    )


def _user_arg(text: str) -> str:
    if not _USER.fullmatch(text):
        raise ArgumentError(
            N_("Bitte die Person als Matrix-ID angeben, z. B. @anna:kreis.example.")
        )
    return canonical_user_id(text)


def _participant(ctx: CommandContext, request: ConferenceRequest, user: str) -> str:
    """The institution key of ``user`` if it takes part in this item; refuses otherwise."""
    member = ctx.org.member(user)
    if member.institution is None or member.institution.key not in request.participants:
        raise UserError(
            N_(
                "%(user)s gehört zu keiner beteiligten Institution dieses Falls "
                "(Teilnehmende: %(institutions)s)."
            ),
            user=user,
            institutions=", ".join(institution_name(ctx, k) for k in request.participants),
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
            N_("Das erfassen die Moderation oder Fachkräfte der beteiligten Institutionen.")
        )


def _text(value: str) -> str:
    text = value.strip()
    if not text:
        raise ArgumentError(N_("Bitte einen Text angeben."))
    if len(text) > MAX_TEXT:
        raise ArgumentError(N_("Der Text ist zu lang (höchstens %(max)s Zeichen)."), max=MAX_TEXT)
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
    summary=N_("Erfasst einen Beschluss zu einem Fall der laufenden Sitzung."),
    params={
        "fall": N_("Pseudonym"),
        "text": N_("der Beschluss – ohne Namen oder Daten der Familie"),
    },
    examples=(N_("beschluss FK-7QX2-M6 Teilnahme am Jugendberufshilfe-Projekt ab Januar"),),
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
    t = ctx.t
    doc = Doc().para(
        *emphasised(
            t,
            N_("📌 Beschluss %(strong)s zu %(case)s: %(text)s"),
            str(count),
            case=request.case_pseudonym,
            text=decision.text,
        )
    )
    present = present_institutions(ctx, sitting)
    if len(present) < sitting.quorum:
        doc.para(
            t.ngettext(
                "⚠️ Die Sitzung ist nicht beschlussfähig: %(present)s von mindestens "
                "%(count)d Institution anwesend. Der Beschluss steht so im Protokoll "
                "(„Beschlussfähig: nein“).",
                "⚠️ Die Sitzung ist nicht beschlussfähig: %(present)s von mindestens "
                "%(count)d Institutionen anwesend. Der Beschluss steht so im Protokoll "
                "(„Beschlussfähig: nein“).",
                sitting.quorum,
                present=len(present),
            )
        )
    doc.para(t.gettext("ℹ️ Namen, Anschriften und Daten der Familie gehören nicht in Beschlüsse."))
    return doc.build()


@router.command(
    "lotse",
    summary=N_("Bestimmt den Lotsen eines Falls (eine Person einer beteiligten Institution)."),
    role=Role.MODERATION,
    params={"fall": N_("Pseudonym"), "nutzer": N_("Matrix-ID, z. B. @anna:kreis.example")},
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
        ctx.t.gettext(
            "🧭 Lotse für %(case)s: %(user)s (%(institution)s). Du bündelst die vereinbarte "
            "Hilfe und meldest dich zur Wiedervorlage.",
            case=request.case_pseudonym,
            user=user,
            institution=institution_name(ctx, institution),
        )
    ).mentioning(user)


@router.command(
    "aufgabe",
    summary=N_("Erfasst einen nächsten Schritt mit verantwortlicher Person und Frist."),
    params={
        "fall": N_("Pseudonym"),
        "nutzer": N_("verantwortliche Person (Matrix-ID)"),
        "text": N_("was zu tun ist, optional am Ende: bis <datum>"),
    },
    examples=(N_("aufgabe FK-7QX2-M6 @ben:kreis.example Termin Berufsberatung bis 15.01.2027"),),
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
            raise ArgumentError(N_("Die Frist liegt in der Vergangenheit."))
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
    values = {
        "owner": owner,
        "institution": institution_name(ctx, institution),
        "case": request.case_pseudonym,
        "text": task.text,
    }
    if due is not None:
        text = ctx.t.gettext(
            "☑️ Aufgabe für %(owner)s (%(institution)s) zu %(case)s: %(text)s – bis %(due)s",
            due=ctx.t.day(due),
            **values,
        )
    else:
        text = ctx.t.gettext(
            "☑️ Aufgabe für %(owner)s (%(institution)s) zu %(case)s: %(text)s", **values
        )
    return Reply.text(text).mentioning(owner)


@router.command(
    "wiedervorlage",
    summary=N_("Setzt die Wiedervorlage eines Falls; der Lotse wird vorher erinnert."),
    params={"fall": N_("Pseudonym"), "datum": N_("z. B. 15.03.2027 oder in 8 Wochen")},
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
        raise ArgumentError(N_("Die Wiedervorlage muss in der Zukunft liegen."))
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
    if navigator is None:
        return Reply.text(
            ctx.t.gettext(
                "📅 Wiedervorlage für %(case)s am %(date)s.",
                case=request.case_pseudonym,
                date=ctx.t.day(due),
            )
        )
    return Reply.text(
        ctx.t.gettext(
            "📅 Wiedervorlage für %(case)s am %(date)s; ich erinnere den Lotsen %(user)s vorher.",
            case=request.case_pseudonym,
            date=ctx.t.day(due),
            user=navigator.user_id,
        )
    ).mentioning(navigator.user_id)


@router.command(
    "wiedervorlage erledigt",
    summary=N_("Der Lotse meldet zurück: die Wiedervorlage ist erledigt."),
    params={"fall": N_("Pseudonym")},
    examples=("wiedervorlage erledigt FK-7QX2-M6",),
)
def wiedervorlage_erledigt(ctx: CommandContext, fall: Pseudonym) -> Reply:
    case = get_case(ctx, fall)
    review = ctx.uow.outcomes.open_review(case.pseudonym)
    if review is None:
        raise UserError(N_("Für %(case)s ist keine Wiedervorlage offen."), case=case.pseudonym)
    navigator = ctx.uow.outcomes.active_navigator(case.pseudonym)
    is_lotse = navigator is not None and navigator.user_id == canonical_user_id(ctx.sender)
    if not (is_lotse or ctx.member.has(Role.MODERATION)):
        raise PermissionDenied(N_("Das meldet der Lotse des Falls oder die Moderation."))
    review.state, review.closed_at = ReviewState.DONE, ctx.now
    ctx.uow.outcomes.cancel_review_reminders(review.id)
    audit(ctx, "wiedervorlage_erledigt", case.pseudonym, datum=review.due.isoformat())
    return Reply.text(
        ctx.t.gettext(
            "✅ Wiedervorlage %(case)s (%(date)s) erledigt.",
            case=case.pseudonym,
            date=ctx.t.day(review.due),
        )
    )


@router.command(
    "vertagen",
    summary=N_("Vertagt einen Fall auf den nächsten Termin der Reihe (mit Grund)."),
    role=Role.MODERATION,
    params={"fall": N_("Pseudonym"), "grund": N_("kurzer Grund, ohne Daten der Familie")},
    examples=(N_("vertagen FK-7QX2-M6 grund=Schule fehlte"),),
)
def vertagen(
    ctx: CommandContext, fall: Pseudonym, grund: Annotated[str, REST, Label("grund=<text>")]
) -> Reply:
    _, session = open_sitting(ctx)
    request = item_request(ctx, session, str(fall))
    text = grund.strip()
    given = _REASON.match(text)
    if given is None:
        raise ArgumentError(N_("Bitte den Grund so angeben: grund=<text>."))
    reason = _text(text[given.end() :].strip().strip('"„“'))
    if len(reason) > MAX_REASON:
        raise ArgumentError(
            N_("Der Grund ist zu lang (höchstens %(max)s Zeichen)."), max=MAX_REASON
        )
    target = carry_over(ctx, session, request, reason)
    if target is None:
        return Reply.text(
            ctx.t.gettext(
                "⏭️ %(case)s vertagt (%(reason)s) – es gibt noch keinen passenden Termin; "
                "die Anfrage bleibt bereit.",
                case=request.case_pseudonym,
                reason=reason,
            )
        )
    return Reply.text(
        ctx.t.gettext(
            "⏭️ %(case)s vertagt (%(reason)s) auf Termin #%(id)s am %(when)s.",
            case=request.case_pseudonym,
            reason=reason,
            id=target.id,
            when=ctx.t.when(target.starts_at),
        )
    )


@router.command(
    "erledigt",
    summary=N_("Schließt einen Fall im Bot (Löschfrist beginnt)."),
    params={"fall": N_("Pseudonym")},
    details=N_(
        "Die fallführende Fachkraft oder die Moderation. Offene Anfragen, Planungen "
        "und Wiedervorlagen enden; nach der Löschfrist werden alle Daten gelöscht."
    ),
    examples=("erledigt FK-7QX2-M6",),
)
def erledigt(ctx: CommandContext, fall: Pseudonym) -> Reply:
    case = get_case(ctx, fall)
    own = ctx.member.institution
    owner = own is not None and own.key == case.owner_institution
    if not (ctx.member.has(Role.MODERATION) or (owner and ctx.member.has(Role.FACHKRAFT))):
        raise PermissionDenied(
            N_("Einen Fall schließen die fallführende Fachkraft oder die Moderation.")
        )
    if case.state == CaseState.CLOSED:
        raise UserError(N_("%(case)s ist bereits erledigt."), case=case.pseudonym)
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
        ctx.t.gettext(
            "🏁 %(case)s ist erledigt. Die Daten werden nach der Löschfrist gelöscht; "
            "das Audit behält nur Pseudonym, Person, Aktion und Zeit.",
            case=case.pseudonym,
        )
    )
