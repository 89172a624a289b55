"""Case work: pseudonyms, consent and revocation, conference requests, the § 8a path.

PRODUCT.md steps 1–5. Every state change appends an audit entry in the same
transaction; every reply names only pseudonyms, institutions and codes.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from enum import StrEnum
from typing import Annotated

from commands.casework import (
    LEGAL_BASIS_8A,
    Evaluation,
    GateFacts,
    RequestState,
    audit,
    consent_facts,
    date_arg,
    evaluate,
    get_case,
    institution_name,
    institution_of,
    reevaluate,
    require_owner,
    revocation_facts,
    state_label,
)
from commands.framework import REST, CommandContext, Label, Router
from commands.i18n import N_
from commands.pdguard import scan
from commands.reply import Doc, Part, Reply, b, code, spanned
from commands.sessions import report
from domain.dates import Towards, local_date
from domain.errors import ArgumentError, PermissionDenied, StateConflict
from domain.gate import PURPOSE_CONFERENCE, Form, GateResult, Grantor, covered_until
from domain.org import Institution, Role
from domain.planning import replan
from domain.pseudonym import Pseudonym, new_pseudonym
from domain.text import Msg
from storage.models import (
    CaseFile,
    ConferenceRequest,
    Consent,
    Revocation,
    Schutzauftrag,
    Session,
)
from storage.states import CaseState, SchutzauftragState

_DOC_REF = re.compile(r"[A-Za-z0-9ÄÖÜäöüß._\-]{1,64}")
_WORDY = re.compile(r"[A-Za-zÄÖÜäöüß]{9,}")  # a run of letters that long is a word or name
Institutions = Annotated[str, Label("institution,…")]
DateText = Annotated[str, Label("datum")]


PAGE_SIZE = 50  # requests per page of `anfragen`: a page stays far below 32 KiB
# (the help text of ``seite`` names the number: change both together)


class RequestFilter(StrEnum):
    """What `anfragen status=` accepts."""

    WARTET = "wartet"
    BEREIT = "bereit"

    @property
    def state(self) -> str:
        return RequestState.WAITING if self is RequestFilter.WARTET else RequestState.READY


class Urgency(StrEnum):
    REGULAR = "regulär"
    URGENT = "dringend"


# How stored words read in the room: catalog msgids (German, the stored word itself
# where it reads well), translated with ctx.t.gettext where they are shown.
_LABELS: dict[str, str] = {
    Grantor.BETROFFENE_PERSON: N_("betroffene_person"),
    Grantor.SORGEBERECHTIGTE: N_("sorgeberechtigte"),
    Grantor.ANVERTRAUENDE_PERSON: N_("anvertrauende_person"),
    Form.SCHRIFTLICH: N_("schriftlich"),
    Form.ELEKTRONISCH: N_("elektronisch"),
    PURPOSE_CONFERENCE: N_("fallkonferenz"),
    Urgency.REGULAR: N_("regulär"),
    Urgency.URGENT: N_("dringend"),
}
_CASE_STATES: dict[str, str] = {CaseState.OPEN: N_("offen"), CaseState.CLOSED: N_("erledigt")}
_SCHUTZAUFTRAG_STATES: dict[str, str] = {
    SchutzauftragState.OPEN: N_("offen"),
    SchutzauftragState.CONFIRMED: N_("bestätigt"),
    SchutzauftragState.ENDED: N_("beendet"),
}


def _label(ctx: CommandContext, value: str, labels: dict[str, str] = _LABELS) -> str:
    """A stored word as the room reads it; words without a label (a purpose the user
    typed) as they are."""
    label = labels.get(value)
    return ctx.t.gettext(label) if label is not None else value


def _gate_lines(ctx: CommandContext, gate: GateResult) -> list[tuple[str, ...]]:
    """Per institution the consent does not cover: its name and why."""
    rows: list[tuple[str, ...]] = []
    for m in gate.missing:
        reason = ctx.t.gettext(m.reason.value)
        if m.consent_version:
            reason = ctx.t.gettext(
                "%(reason)s (Einwilligung v%(version)s)", reason=reason, version=m.consent_version
            )
        rows.append((institution_name(ctx, m.institution), ": ", reason))
    return rows


def _changes(ctx: CommandContext, doc: Doc, pseudonym: str, *, still_waiting: bool = False) -> None:
    """After a change of the case's consent facts: its open requests are evaluated again
    and placed; the facts and requests are read once for all three steps."""
    requests = ctx.uow.cases.open_requests(pseudonym)
    facts = GateFacts(ctx.uow, [pseudonym])
    changes = reevaluate(ctx.work, requests, facts)
    _report_changes(ctx, doc, requests, changes, facts, still_waiting=still_waiting)
    plan = replan(ctx.work, {pseudonym}, facts=facts, requests=requests)
    report(doc, plan, prefix=ctx.prefix, case=pseudonym, changed_at=ctx.now, t=ctx.t)


def _report_changes(
    ctx: CommandContext,
    doc: Doc,
    requests: Sequence[ConferenceRequest],
    changes: list[Evaluation],
    facts: GateFacts,
    *,
    still_waiting: bool,
) -> None:
    for change in changes:
        request = change.request
        number = b(f"#{request.id}")
        if request.state == RequestState.READY:
            if request.basis == LEGAL_BASIS_8A:
                ready = N_("✅ Anfrage %(request)s ist jetzt bereit (Schutzauftrag § 8a).")
            else:
                ready = N_("✅ Anfrage %(request)s ist jetzt bereit.")
            doc.para(*spanned(ctx.t, ready, request=number))
        else:
            doc.para(
                *spanned(
                    ctx.t,
                    N_("⏸️ Anfrage %(request)s wartet wieder auf Einwilligung:"),
                    request=number,
                )
            )
            doc.items(_gate_lines(ctx, change.gate))
    if not still_waiting:
        return
    # After a new consent: say what is still missing for requests it did not complete.
    changed = {c.request.id for c in changes}
    for request in requests:
        if request.id in changed or request.state != RequestState.WAITING:
            continue
        gate = facts.gate(request, local_date(ctx.now))
        doc.para(
            *spanned(
                ctx.t,
                N_("⏸️ Anfrage %(request)s wartet weiterhin auf Einwilligung:"),
                request=b(f"#{request.id}"),
            )
        )
        doc.items(_gate_lines(ctx, gate))


router = Router("cases")


@router.command(
    "fall neu",
    summary=N_("Legt einen Fall an und vergibt ein Pseudonym."),
    role=Role.FACHKRAFT,
    details=N_(
        "Der Bot speichert keine Namen, Geburtsdaten, Anschriften oder Aktenzeichen – nur "
        "das Pseudonym, die fallführende Institution und wer es angelegt hat. Die "
        "Zuordnung zur echten Akte bleibt in der eigenen Fachanwendung."
    ),
    examples=("fall neu",),
)
def fall_neu(ctx: CommandContext) -> Reply:
    institution = institution_of(ctx)
    # Derived from the command's event id: run again (after a restore from backup),
    # the command hands out the pseudonym the room already saw.
    attempt = 0
    pseudonym = new_pseudonym(f"{ctx.event_id}#{attempt}")
    # 31^5 values: a clash is rare, never reused. A pseudonym the personal-data guard
    # would refuse (``FK-…-AZ``/``-GZ`` read as "Aktenzeichen") could never be used.
    while ctx.uow.cases.pseudonym_taken(pseudonym) or scan(pseudonym, ctx.today):
        attempt += 1
        pseudonym = new_pseudonym(f"{ctx.event_id}#{attempt}")
    ctx.uow.cases.add(
        CaseFile(
            pseudonym=pseudonym,
            owner_institution=institution.key,
            created_by=ctx.sender,
            created_at=ctx.now,
            state=CaseState.OPEN,
        )
    )
    audit(ctx, "fall_angelegt", pseudonym)
    next_step = ctx.t.gettext(
        "%(prefix)s einwilligung %(case)s …", prefix=ctx.prefix, case=pseudonym
    )
    return (
        Doc()
        .para(
            *spanned(
                ctx.t,
                N_("📁 Neuer Fall: %(case)s (fallführend: %(institution)s)"),
                case=b(pseudonym),
                institution=institution.name,
            )
        )
        .para(
            *spanned(
                ctx.t,
                N_(
                    "Bitte das Pseudonym in der eigenen Akte vermerken. "
                    "Nächster Schritt: %(command)s"
                ),
                command=code(next_step),
            )
        )
        .build()
    )


@router.command(
    "einwilligung",
    summary=N_("Erfasst eine Einwilligung (Schweigepflichtentbindung) für einen Fall."),
    role=Role.FACHKRAFT,
    params={
        "fall": N_("Pseudonym, z. B. FK-7QX2-M6"),
        "von": N_("wer eingewilligt hat (anvertrauende_person: Daten nach § 65 SGB VIII)"),
        "an": N_("die genannten Institutionen, durch Komma getrennt"),
        "form": N_("schriftlich oder elektronisch"),
        "datum": N_("wann sie erteilt wurde (nicht in der Zukunft)"),
        "dok": N_("Verweis auf das Dokument in der eigenen Akte, ohne Personenbezug"),
        "zweck": N_("Zweck, Standard: fallkonferenz"),
        "bis": N_("gilt bis einschließlich (optional)"),
    },
    details=N_(
        "Einwilligungen werden nie überschrieben: jede Erfassung ist eine neue Version. "
        "Mehrere Einwilligungen je Fall sind möglich (z. B. beider Sorgeberechtigten)."
    ),
    examples=(
        "einwilligung FK-7QX2-M6 von=sorgeberechtigte an=jugendamt,jobcenter "
        "form=schriftlich datum=20.11.2026 dok=EW-17",
    ),
)
def einwilligung(
    ctx: CommandContext,
    fall: Pseudonym,
    *,
    von: Grantor,
    an: Institutions,
    form: Form,
    datum: DateText,
    dok: Annotated[str, Label("verweis")],
    zweck: Annotated[str, Label("zweck")] = PURPOSE_CONFERENCE,
    bis: DateText | None = None,
) -> Reply:
    case = get_case(ctx, fall)
    institution = require_owner(
        ctx,
        case,
        N_("Einwilligungen erfasst nur eine Fachkraft der fallführenden Institution (%(owner)s)."),
    )
    recipients = ctx.org.institution_list(an)
    given_on = date_arg("datum", datum, ctx.today, Towards.PAST, language=ctx.t.language)
    if given_on > ctx.today:
        raise ArgumentError(N_("Das Datum der Einwilligung darf nicht in der Zukunft liegen."))
    expires_on = (
        date_arg("bis", bis, ctx.today, Towards.FUTURE, language=ctx.t.language) if bis else None
    )
    if expires_on is not None and expires_on < given_on:
        raise ArgumentError(N_("„bis“ liegt vor dem Datum der Einwilligung."))
    if not _DOC_REF.fullmatch(dok) or not re.search(r"\d", dok) or _WORDY.search(dok):
        raise ArgumentError(
            N_(
                "Der Dokumentverweis ist ein kurzes Kürzel mit Nummer, z. B. EW-17 oder "
                "Ordner-3-Blatt-12: Buchstaben, Ziffern, Punkt, Binde- und Unterstrich, "
                "mindestens eine Ziffer, keine Wörter über acht Buchstaben (ein Name gehört "
                "nicht hierher)."
            )
        )
    purpose = zweck.casefold()
    if not re.fullmatch(r"[a-zäöüß_]{1,32}", purpose):
        raise ArgumentError(N_("Der Zweck ist ein Wort, z. B. fallkonferenz."))
    version = ctx.uow.cases.next_consent_version(case.pseudonym)
    ctx.uow.cases.add_consent(
        Consent(
            case_pseudonym=case.pseudonym,
            version=version,
            grantor=von.value,
            purpose=purpose,
            recipients=[i.key for i in recipients],
            form=form.value,
            given_on=given_on,
            expires_on=expires_on,
            document_ref=dok,
            recorded_by=ctx.sender,
            recorded_institution=institution.key,
            recorded_at=ctx.now,
        )
    )
    audit(
        ctx,
        "einwilligung_erfasst",
        case.pseudonym,
        version=version,
        an=[i.key for i in recipients],
        von=von.value,
        zweck=purpose,
        bis=expires_on.isoformat() if expires_on else None,
    )
    recorded = (
        N_(
            "📝 Einwilligung %(version)s für %(case)s erfasst: %(institutions)s – erteilt am "
            "%(given)s, gültig bis %(until)s."
        )
        if expires_on
        else N_(
            "📝 Einwilligung %(version)s für %(case)s erfasst: %(institutions)s – erteilt am "
            "%(given)s, unbefristet."
        )
    )
    doc = Doc().para(
        *spanned(
            ctx.t,
            recorded,
            version=b(f"v{version}"),
            case=b(case.pseudonym),
            institutions=", ".join(i.name for i in recipients),
            given=ctx.t.day(given_on),
            until=ctx.t.day(expires_on) if expires_on else "",
        )
    )
    _changes(ctx, doc, case.pseudonym, still_waiting=True)
    return doc.build()


@router.command(
    "einwilligung zeigen",
    summary=N_("Zeigt, welche Institutionen die Einwilligungen eines Falls abdecken."),
    params={"fall": N_("Pseudonym")},
    details=N_(
        "Die fallführende Institution sieht alle Angaben (wer, Form, Datum, Verweis); "
        "andere Institutionen sehen nur, wer bis wann abgedeckt ist."
    ),
    examples=("einwilligung zeigen FK-7QX2-M6",),
)
def einwilligung_zeigen(ctx: CommandContext, fall: Pseudonym) -> Reply:
    case = get_case(ctx, fall)
    consents = ctx.uow.cases.consents(case.pseudonym)
    revocations = ctx.uow.cases.revocations(case.pseudonym)
    facts, rfacts = consent_facts(consents), revocation_facts(revocations)
    today = local_date(ctx.now)
    named = sorted({k for c in consents for k in c.recipients})
    title = b(ctx.t.gettext("Einwilligungen für %(case)s", case=case.pseudonym))
    doc = Doc().para(
        *spanned(ctx.t, N_("%(title)s (Stand %(day)s)"), title=title, day=ctx.t.day(today))
    )
    if not consents:
        return doc.para(ctx.t.gettext("Noch keine Einwilligung erfasst.")).build()
    rows = []
    for key in named:
        covered, until = covered_until(facts, rfacts, key, today)
        if not covered:
            status = ctx.t.gettext("nicht abgedeckt")
        elif until:
            status = ctx.t.gettext("abgedeckt bis %(until)s", until=ctx.t.day(until))
        else:
            status = ctx.t.gettext("abgedeckt, unbefristet")
        rows.append((institution_name(ctx, key), ": ", status))
    doc.items(rows)
    own = ctx.member.institution
    if own is not None and own.key == case.owner_institution:
        doc.para(
            *spanned(
                ctx.t,
                N_("%(details)s (nur für die fallführende Institution):"),
                details=b(ctx.t.gettext("Einzelheiten")),
            )
        )
        doc.items([_consent_line(ctx, c) for c in consents])
        if revocations:
            doc.items(
                [
                    (
                        ctx.t.gettext(
                            "Widerruf vom %(day)s: %(institutions)s",
                            day=ctx.t.day(r.effective_on),
                            institutions=", ".join(r.institutions),
                        )
                        if r.institutions
                        else ctx.t.gettext(
                            "Widerruf vom %(day)s: alle Institutionen",
                            day=ctx.t.day(r.effective_on),
                        ),
                    )
                    for r in revocations
                ]
            )
    return doc.build()


def _consent_line(ctx: CommandContext, consent: Consent) -> tuple[Part, ...]:
    """A consent's details, for the lead institution only."""
    line = (
        N_(
            "v%(version)s: %(grantor)s, %(form)s, erteilt %(given)s, bis %(until)s, Zweck "
            "%(purpose)s, an %(recipients)s, Verweis %(reference)s"
        )
        if consent.expires_on
        else N_(
            "v%(version)s: %(grantor)s, %(form)s, erteilt %(given)s, unbefristet, Zweck "
            "%(purpose)s, an %(recipients)s, Verweis %(reference)s"
        )
    )
    return spanned(
        ctx.t,
        line,
        version=consent.version,
        grantor=_label(ctx, consent.grantor),
        form=_label(ctx, consent.form),
        given=ctx.t.day(consent.given_on),
        until=ctx.t.day(consent.expires_on) if consent.expires_on else "",
        purpose=_label(ctx, consent.purpose),
        recipients=", ".join(consent.recipients),
        reference=code(consent.document_ref),
    )


@router.command(
    "widerruf",
    summary=N_("Erfasst den Widerruf einer Einwilligung – für alle oder einzelne Institutionen."),
    role=Role.FACHKRAFT,
    params={"fall": N_("Pseudonym"), "institutionen": N_("optional: nur diese Institutionen")},
    details=N_(
        "Der Widerruf gilt sofort für die Zukunft. Frühere Einträge bleiben erhalten. "
        "Betroffene Anfragen warten danach wieder auf Einwilligung."
    ),
    examples=("widerruf FK-7QX2-M6", "widerruf FK-7QX2-M6 jobcenter agentur"),
)
def widerruf(
    ctx: CommandContext,
    fall: Pseudonym,
    institutionen: Annotated[str | None, REST, Label("institution …")] = None,
) -> Reply:
    case = get_case(ctx, fall)
    institution = require_owner(
        ctx,
        case,
        N_("Widerrufe erfasst nur eine Fachkraft der fallführenden Institution (%(owner)s)."),
    )
    keys = [i.key for i in ctx.org.institution_list(institutionen)] if institutionen else None
    ctx.uow.cases.add_revocation(
        Revocation(
            case_pseudonym=case.pseudonym,
            institutions=keys,
            effective_on=local_date(ctx.now),
            recorded_by=ctx.sender,
            recorded_institution=institution.key,
            recorded_at=ctx.now,
        )
    )
    audit(ctx, "widerruf_erfasst", case.pseudonym, institutionen=keys or "alle")
    if keys:
        recorded = spanned(
            ctx.t,
            N_("🛑 Widerruf für %(case)s erfasst (%(institutions)s), gilt ab sofort."),
            case=b(case.pseudonym),
            institutions=", ".join(institution_name(ctx, k) for k in keys),
        )
    else:
        recorded = spanned(
            ctx.t,
            N_("🛑 Widerruf für %(case)s erfasst (alle Institutionen), gilt ab sofort."),
            case=b(case.pseudonym),
        )
    doc = Doc().para(*recorded)
    _changes(ctx, doc, case.pseudonym)
    return doc.build()


@router.command(
    "anfrage",
    summary=N_("Beantragt eine Fallkonferenz; der Bot prüft die Einwilligung."),
    role=Role.FACHKRAFT,
    params={
        "fall": N_("Pseudonym"),
        "thema": N_("Themenkategorie"),
        "dringlichkeit": N_("regulär oder dringend"),
        "teilnehmer": N_("teilnehmende Institutionen (die eigene kommt automatisch dazu)"),
        "bis": N_("spätestes Datum (optional)"),
        "anvertraut": N_("ja, wenn nach § 65 SGB VIII anvertraute Daten besprochen werden"),
    },
    examples=(
        "anfrage FK-7QX2-M6 thema=Ausbildung dringlichkeit=regulär "
        "teilnehmer=jobcenter,agentur bis=15.01.2027",
    ),
)
def anfrage(
    ctx: CommandContext,
    fall: Pseudonym,
    *,
    thema: Annotated[str, Label("kategorie")],
    dringlichkeit: Urgency,
    teilnehmer: Institutions,
    bis: DateText | None = None,
    anvertraut: bool = False,
) -> Reply:
    case = get_case(ctx, fall)
    institution = institution_of(ctx)
    if case.state != CaseState.OPEN:
        raise StateConflict(N_("Dieser Fall ist abgeschlossen; Anfragen sind nicht mehr möglich."))
    topic = ctx.org.topic(thema)
    participants = {i.key for i in ctx.org.institution_list(teilnehmer)} | {institution.key}
    latest = (
        date_arg("bis", bis, ctx.today, Towards.FUTURE, language=ctx.t.language) if bis else None
    )
    if latest is not None and latest < ctx.today:
        raise ArgumentError(N_("Das späteste Datum liegt in der Vergangenheit."))
    request = ConferenceRequest(
        case_pseudonym=case.pseudonym,
        requested_by=ctx.sender,
        requesting_institution=institution.key,
        topic=topic,
        urgency=dringlichkeit.value,
        participants=sorted(participants),
        latest_date=latest,
        entrusted=anvertraut,
        state=RequestState.WAITING,
        created_at=ctx.now,
        updated_at=ctx.now,
    )
    ctx.uow.cases.add_request(request)
    facts = GateFacts(ctx.uow, [case.pseudonym])  # for the gate now and the placement
    result = evaluate(ctx.uow, request, local_date(ctx.now), facts)
    audit(
        ctx,
        "anfrage_gestellt",
        case.pseudonym,
        anfrage=request.id,
        thema=topic,
        dringlichkeit=dringlichkeit.value,
        teilnehmer=request.participants,
    )
    made = (
        N_(
            "📨 Anfrage %(request)s für %(case)s: %(topic)s, %(urgency)s, Teilnehmende: "
            "%(institutions)s, spätestens %(latest)s."
        )
        if latest
        else N_(
            "📨 Anfrage %(request)s für %(case)s: %(topic)s, %(urgency)s, Teilnehmende: "
            "%(institutions)s."
        )
    )
    doc = Doc().para(
        *spanned(
            ctx.t,
            made,
            request=b(f"#{request.id}"),
            case=b(case.pseudonym),
            topic=topic,
            urgency=_label(ctx, dringlichkeit),
            institutions=", ".join(institution_name(ctx, k) for k in request.participants),
            latest=ctx.t.day(latest) if latest else "",
        )
    )
    if request.state == RequestState.READY:
        if request.basis == LEGAL_BASIS_8A:
            doc.para(
                ctx.t.gettext(
                    "✅ Bereit für die Planung – ohne Einwilligung (Schutzauftrag § 8a SGB VIII "
                    "bestätigt)."
                )
            )
        else:
            doc.para(
                ctx.t.gettext("✅ Einwilligung geprüft: die Anfrage ist bereit für die Planung.")
            )
    else:
        audit(
            ctx,
            "gate_abgelehnt",
            case.pseudonym,
            anfrage=request.id,
            fehlend=[m.institution for m in result.gate.missing],
            gruende=[m.reason.name for m in result.gate.missing],
        )
        doc.para(
            *spanned(
                ctx.t,
                N_("⏸️ Status: %(state)s. Es fehlt:"),
                state=b(ctx.t.gettext(RequestState.WAITING.label)),
            )
        )
        doc.items(_gate_lines(ctx, result.gate))
        doc.para(
            ctx.t.gettext(
                "Sobald eine passende Einwilligung erfasst ist, wird die Anfrage automatisch "
                "bereit."
            )
        )
    report(
        doc,
        replan(ctx.work, {case.pseudonym}, facts=facts),
        prefix=ctx.prefix,
        case=case.pseudonym,
        changed_at=ctx.now,
        t=ctx.t,
    )
    return doc.build()


@router.command(
    "anfragen",
    summary=N_("Listet die offenen Anfragen (nur Pseudonyme), seitenweise und gefiltert."),
    params={
        "seite": N_("Seite der Liste (50 Anfragen je Seite)"),  # PAGE_SIZE
        "status": N_("nur wartende (wartet) oder bereite (bereit) Anfragen"),
        "termin": N_("nur Anfragen auf der Tagesordnung dieses Termins"),
        "institution": N_("nur Anfragen, an denen diese Institution beteiligt ist"),
    },
    examples=("anfragen", "anfragen status=wartet", "anfragen termin=12 seite=2"),
)
def anfragen(
    ctx: CommandContext,
    *,
    seite: int | None = None,
    status: RequestFilter | None = None,
    termin: int | None = None,
    institution: str | None = None,
) -> Reply:
    page = seite or 1
    if page < 1:
        raise ArgumentError(N_("Die Seite ist eine Zahl ab 1."))
    key = ctx.org.institution(institution).key if institution is not None else None
    total, requests = ctx.uow.cases.open_requests_page(
        state=status.state if status is not None else None,
        session_id=termin,
        institution=key,
        offset=(page - 1) * PAGE_SIZE,
        limit=PAGE_SIZE,
    )
    filtered = any(v is not None for v in (status, termin, institution))
    title = b(ctx.t.gettext("Offene Anfragen"))
    heading = N_("%(title)s (%(total)s, gefiltert)") if filtered else N_("%(title)s (%(total)s)")
    doc = Doc().para(*spanned(ctx.t, heading, title=title, total=total))
    pages = -(-total // PAGE_SIZE)
    if not requests:
        if total:
            return doc.para(
                ctx.t.ngettext(
                    "Seite %(page)s gibt es nicht; es gibt %(count)d.",
                    "Seite %(page)s gibt es nicht; es gibt %(count)d.",
                    pages,
                    page=page,
                )
            ).build()
        return doc.para(ctx.t.gettext("Keine offenen Anfragen.")).build()
    doc.items(_request_lines(ctx, requests))
    if pages > 1:
        if page < pages:
            doc.para(
                ctx.t.gettext(
                    "Seite %(page)s von %(pages)s. Weiter: %(prefix)s anfragen seite=%(next)s",
                    page=page,
                    pages=pages,
                    prefix=ctx.prefix,
                    next=page + 1,
                )
            )
        else:
            doc.para(ctx.t.gettext("Seite %(page)s von %(pages)s.", page=page, pages=pages))
    return doc.build()


@router.command(
    "status",
    summary=N_("Zeigt den Stand eines Falls: Einwilligung, Anfragen, Schutzauftrag."),
    params={"fall": N_("Pseudonym")},
    examples=("status FK-7QX2-M6",),
)
def status(ctx: CommandContext, fall: Pseudonym) -> Reply:
    case = get_case(ctx, fall)
    today = local_date(ctx.now)
    doc = Doc().para(
        *spanned(
            ctx.t,
            N_("%(case)s – fallführend: %(institution)s, %(state)s"),
            case=b(ctx.t.gettext("Fall %(case)s", case=case.pseudonym)),
            institution=institution_name(ctx, case.owner_institution),
            state=_label(ctx, case.state, _CASE_STATES),
        )
    )
    named = sorted({k for c in ctx.uow.cases.consents(case.pseudonym) for k in c.recipients})
    facts = GateFacts(ctx.uow, [case.pseudonym])
    gate = facts.gate_for(case.pseudonym, named, today, entrusted=False)
    uncovered = {m.institution for m in gate.missing}
    covered = [institution_name(ctx, k) for k in named if k not in uncovered]
    doc.para(
        ctx.t.gettext("Einwilligung heute: %(institutions)s", institutions=", ".join(covered))
        if covered
        else ctx.t.gettext("Einwilligung heute: keine Institution")
    )
    for row in ctx.uow.cases.schutzauftraege(case.pseudonym):
        doc.para(
            ctx.t.gettext(
                "Schutzauftrag (§ 8a SGB VIII, Grund %(reason)s): %(state)s",
                reason=row.reason_code,
                state=_label(ctx, row.state, _SCHUTZAUFTRAG_STATES),
            )
        )
    requests = ctx.uow.cases.requests(case.pseudonym)
    if requests:
        doc.para(ctx.t.gettext("Anfragen:"))
        doc.items(_request_lines(ctx, requests))
        for request in requests:
            if request.state == RequestState.WAITING:
                waiting = facts.gate(request, today)
                doc.para(ctx.t.gettext("Für #%(request)s fehlt:", request=request.id))
                doc.items(_gate_lines(ctx, waiting))
    else:
        doc.para(ctx.t.gettext("Keine Anfragen."))
    return doc.build()


@router.command(
    "schutzauftrag",
    summary=N_("Eröffnet den Schutzauftrag nach § 8a SGB VIII (nur Jugendamt)."),
    role=Role.FACHKRAFT,
    params={"fall": N_("Pseudonym"), "grund": N_("Grund-Code (siehe Konfiguration)")},
    details=N_(
        "Nur Fachkräfte des Jugendamts. Der Schutzauftrag gilt erst, wenn eine andere "
        "Fachkraft des Jugendamts ihn bestätigt (Vier-Augen-Prinzip). Dann sind die "
        "Anfragen des Falls ohne Einwilligung planbar und als § 8a markiert."
    ),
    examples=("schutzauftrag FK-7QX2-M6 grund=kw-gefaehrdung",),
)
def schutzauftrag(
    ctx: CommandContext, fall: Pseudonym, *, grund: Annotated[str, Label("code")]
) -> Reply:
    institution = _require_jugendamt(ctx)
    case = get_case(ctx, fall)
    reason = ctx.org.reason(grund)
    current = [
        s
        for s in ctx.uow.cases.schutzauftraege(case.pseudonym)
        if s.state != SchutzauftragState.ENDED
    ]
    if current:
        raise StateConflict(
            N_("Für %(case)s besteht bereits ein Schutzauftrag (%(state)s)."),
            case=case.pseudonym,
            state=Msg(_SCHUTZAUFTRAG_STATES[SchutzauftragState(current[-1].state)]),
        )
    row = Schutzauftrag(
        case_pseudonym=case.pseudonym,
        reason_code=reason,
        legal_basis=LEGAL_BASIS_8A,
        state=SchutzauftragState.OPEN,
        opened_by=ctx.sender,
        opened_institution=institution.key,
        opened_at=ctx.now,
    )
    ctx.uow.cases.add_schutzauftrag(row)
    audit(ctx, "schutzauftrag_eroeffnet", case.pseudonym, grund=reason, id=row.id)
    confirm = ctx.t.gettext(
        "%(prefix)s schutzauftrag bestätigen %(case)s", prefix=ctx.prefix, case=case.pseudonym
    )
    return (
        Doc()
        .para(
            *spanned(
                ctx.t,
                N_("🛡️ Schutzauftrag (§ 8a SGB VIII) für %(case)s eröffnet, Grund %(reason)s."),
                case=b(case.pseudonym),
                reason=reason,
            )
        )
        .para(
            *spanned(
                ctx.t,
                N_(
                    "Er gilt erst nach Bestätigung durch eine andere Fachkraft des Jugendamts: "
                    "%(command)s"
                ),
                command=code(confirm),
            )
        )
        .build()
    )


@router.command(
    "schutzauftrag bestätigen",
    aliases=("schutzauftrag bestaetigen",),
    summary=N_("Bestätigt einen eröffneten Schutzauftrag (zweite Fachkraft des Jugendamts)."),
    role=Role.FACHKRAFT,
    params={"fall": N_("Pseudonym")},
    examples=("schutzauftrag bestätigen FK-7QX2-M6",),
)
def schutzauftrag_bestaetigen(ctx: CommandContext, fall: Pseudonym) -> Reply:
    _require_jugendamt(ctx)
    case = get_case(ctx, fall)
    pending = [
        s
        for s in ctx.uow.cases.schutzauftraege(case.pseudonym)
        if s.state == SchutzauftragState.OPEN
    ]
    if not pending:
        raise StateConflict(
            N_("Für %(case)s wartet kein Schutzauftrag auf Bestätigung."), case=case.pseudonym
        )
    row = pending[-1]
    if row.opened_by == ctx.sender:
        raise PermissionDenied(
            N_(
                "Vier-Augen-Prinzip: den Schutzauftrag muss eine andere Fachkraft des "
                "Jugendamts bestätigen als die, die ihn eröffnet hat."
            )
        )
    row.state, row.confirmed_by, row.confirmed_at = (
        SchutzauftragState.CONFIRMED,
        ctx.sender,
        ctx.now,
    )
    audit(
        ctx,
        "schutzauftrag_bestaetigt",
        case.pseudonym,
        id=row.id,
        grund=row.reason_code,
        rechtsgrundlage=row.legal_basis,
    )
    doc = Doc().para(
        *spanned(
            ctx.t,
            N_("🛡️ Schutzauftrag für %(case)s bestätigt (%(basis)s)."),
            case=b(case.pseudonym),
            basis=row.legal_basis,
        )
    )
    _changes(ctx, doc, case.pseudonym)
    return doc.build()


@router.command(
    "schutzauftrag beenden",
    summary=N_("Beendet den Schutzauftrag eines Falls (Jugendamt)."),
    role=Role.FACHKRAFT,
    params={"fall": N_("Pseudonym")},
    examples=("schutzauftrag beenden FK-7QX2-M6",),
)
def schutzauftrag_beenden(ctx: CommandContext, fall: Pseudonym) -> Reply:
    _require_jugendamt(ctx)
    case = get_case(ctx, fall)
    current = [
        s
        for s in ctx.uow.cases.schutzauftraege(case.pseudonym)
        if s.state != SchutzauftragState.ENDED
    ]
    if not current:
        raise StateConflict(N_("Für %(case)s besteht kein Schutzauftrag."), case=case.pseudonym)
    for row in current:
        row.state = SchutzauftragState.ENDED
        audit(ctx, "schutzauftrag_beendet", case.pseudonym, id=row.id)
    doc = Doc().para(
        *spanned(ctx.t, N_("Schutzauftrag für %(case)s beendet."), case=b(case.pseudonym))
    )
    _changes(ctx, doc, case.pseudonym)
    return doc.build()


def _require_jugendamt(ctx: CommandContext) -> Institution:
    institution = institution_of(ctx)
    if not institution.is_jugendamt:
        raise PermissionDenied(
            N_("Den Schutzauftrag nach § 8a SGB VIII führen nur Fachkräfte des Jugendamts.")
        )
    return institution


def _request_lines(
    ctx: CommandContext, requests: Sequence[ConferenceRequest]
) -> list[tuple[str, ...]]:
    planned = ctx.uow.sessions.planned([r.id for r in requests])  # one query for all
    return [_request_line(ctx, r, planned.get(r.id)) for r in requests]


def _request_line(
    ctx: CommandContext, request: ConferenceRequest, session: Session | None
) -> tuple[str, ...]:
    if request.latest_date and session:
        line = N_(
            "#%(id)s %(case)s – %(topic)s, %(urgency)s, von %(institution)s, bis %(latest)s: "
            "%(state)s%(marks)s → Termin #%(session)s am %(when)s"
        )
    elif request.latest_date:
        line = N_(
            "#%(id)s %(case)s – %(topic)s, %(urgency)s, von %(institution)s, bis %(latest)s: "
            "%(state)s%(marks)s"
        )
    elif session:
        line = N_(
            "#%(id)s %(case)s – %(topic)s, %(urgency)s, von %(institution)s: "
            "%(state)s%(marks)s → Termin #%(session)s am %(when)s"
        )
    else:
        line = N_(
            "#%(id)s %(case)s – %(topic)s, %(urgency)s, von %(institution)s: %(state)s%(marks)s"
        )
    return (
        ctx.t.gettext(
            line,
            id=request.id,
            case=request.case_pseudonym,
            topic=request.topic,
            urgency=_label(ctx, request.urgency),
            institution=institution_name(ctx, request.requesting_institution),
            latest=ctx.t.day(request.latest_date) if request.latest_date else "",
            state=ctx.t.gettext(state_label(request.state)),
            marks=" · § 8a" if request.basis == LEGAL_BASIS_8A else "",
            session=session.id if session else "",
            when=ctx.t.when(session.starts_at) if session else "",
        ),
    )
