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
from commands.pdguard import scan
from commands.reply import Doc, Reply, b, code
from commands.sessions import report, when_text
from domain.dates import Towards, format_date, local_date
from domain.errors import ArgumentError, PermissionDenied, StateConflict
from domain.gate import PURPOSE_CONFERENCE, Form, GateResult, Grantor, covered_until
from domain.org import Institution, Role
from domain.planning import replan
from domain.pseudonym import Pseudonym, new_pseudonym
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


def _gate_lines(ctx: CommandContext, gate: GateResult) -> list[tuple[str, ...]]:
    return [
        (
            institution_name(ctx, m.institution),
            ": ",
            m.reason.value + (f" (Einwilligung v{m.consent_version})" if m.consent_version else ""),
        )
        for m in gate.missing
    ]


def _changes(ctx: CommandContext, doc: Doc, pseudonym: str, *, still_waiting: bool = False) -> None:
    """After a change of the case's consent facts: its open requests are evaluated again
    and placed; the facts and requests are read once for all three steps."""
    requests = ctx.uow.cases.open_requests(pseudonym)
    facts = GateFacts(ctx.uow, [pseudonym])
    changes = reevaluate(ctx.work, requests, facts)
    _report_changes(ctx, doc, requests, changes, facts, still_waiting=still_waiting)
    plan = replan(ctx.work, {pseudonym}, facts=facts, requests=requests)
    report(doc, plan, prefix=ctx.prefix, case=pseudonym, changed_at=ctx.now)


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
        if request.state == RequestState.READY:
            basis = " (Schutzauftrag § 8a)" if request.basis == LEGAL_BASIS_8A else ""
            doc.para("✅ Anfrage ", b(f"#{request.id}"), f" ist jetzt bereit{basis}.")
        else:
            doc.para("⏸️ Anfrage ", b(f"#{request.id}"), " wartet wieder auf Einwilligung:")
            doc.items(_gate_lines(ctx, change.gate))
    if not still_waiting:
        return
    # After a new consent: say what is still missing for requests it did not complete.
    changed = {c.request.id for c in changes}
    for request in requests:
        if request.id in changed or request.state != RequestState.WAITING:
            continue
        gate = facts.gate(request, local_date(ctx.now))
        doc.para("⏸️ Anfrage ", b(f"#{request.id}"), " wartet weiterhin auf Einwilligung:")
        doc.items(_gate_lines(ctx, gate))


router = Router("cases")


@router.command(
    "fall neu",
    summary="Legt einen Fall an und vergibt ein Pseudonym.",
    role=Role.FACHKRAFT,
    details=(
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
    return (
        Doc()
        .para("📁 Neuer Fall: ", b(pseudonym), f" (fallführend: {institution.name})")
        .para(
            "Bitte das Pseudonym in der eigenen Akte vermerken. Nächster Schritt: ",
            code(f"{ctx.prefix} einwilligung {pseudonym} …"),
        )
        .build()
    )


@router.command(
    "einwilligung",
    summary="Erfasst eine Einwilligung (Schweigepflichtentbindung) für einen Fall.",
    role=Role.FACHKRAFT,
    params={
        "fall": "Pseudonym, z. B. FK-7QX2-M6",
        "von": "wer eingewilligt hat (anvertrauende_person: Daten nach § 65 SGB VIII)",
        "an": "die genannten Institutionen, durch Komma getrennt",
        "form": "schriftlich oder elektronisch",
        "datum": "wann sie erteilt wurde (nicht in der Zukunft)",
        "dok": "Verweis auf das Dokument in der eigenen Akte, ohne Personenbezug",
        "zweck": "Zweck, Standard: fallkonferenz",
        "bis": "gilt bis einschließlich (optional)",
    },
    details=(
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
    institution = require_owner(ctx, case, "Einwilligungen")
    recipients = ctx.org.institution_list(an)
    given_on = date_arg("datum", datum, ctx.today, Towards.PAST, language=ctx.t.language)
    if given_on > ctx.today:
        raise ArgumentError("Das Datum der Einwilligung darf nicht in der Zukunft liegen.")
    expires_on = (
        date_arg("bis", bis, ctx.today, Towards.FUTURE, language=ctx.t.language) if bis else None
    )
    if expires_on is not None and expires_on < given_on:
        raise ArgumentError("„bis“ liegt vor dem Datum der Einwilligung.")
    if not _DOC_REF.fullmatch(dok) or not re.search(r"\d", dok) or _WORDY.search(dok):
        raise ArgumentError(
            "Der Dokumentverweis ist ein kurzes Kürzel mit Nummer, z. B. EW-17 oder "
            "Ordner-3-Blatt-12: Buchstaben, Ziffern, Punkt, Binde- und Unterstrich, "
            "mindestens eine Ziffer, keine Wörter über acht Buchstaben (ein Name gehört "
            "nicht hierher)."
        )
    purpose = zweck.casefold()
    if not re.fullmatch(r"[a-zäöüß_]{1,32}", purpose):
        raise ArgumentError("Der Zweck ist ein Wort, z. B. fallkonferenz.")
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
    doc = Doc().para(
        "📝 Einwilligung ",
        b(f"v{version}"),
        " für ",
        b(case.pseudonym),
        " erfasst: ",
        ", ".join(i.name for i in recipients),
        f" – erteilt am {format_date(given_on)}",
        f", gültig bis {format_date(expires_on)}" if expires_on else ", unbefristet",
        ".",
    )
    _changes(ctx, doc, case.pseudonym, still_waiting=True)
    return doc.build()


@router.command(
    "einwilligung zeigen",
    summary="Zeigt, welche Institutionen die Einwilligungen eines Falls abdecken.",
    params={"fall": "Pseudonym"},
    details=(
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
    doc = Doc().para(b(f"Einwilligungen für {case.pseudonym}"), f" (Stand {format_date(today)})")
    if not consents:
        return doc.para("Noch keine Einwilligung erfasst.").build()
    rows = []
    for key in named:
        covered, until = covered_until(facts, rfacts, key, today)
        status = (
            ("abgedeckt" + (f" bis {format_date(until)}" if until else ", unbefristet"))
            if covered
            else "nicht abgedeckt"
        )
        rows.append((institution_name(ctx, key), ": ", status))
    doc.items(rows)
    own = ctx.member.institution
    if own is not None and own.key == case.owner_institution:
        doc.para(b("Einzelheiten"), " (nur für die fallführende Institution):")
        doc.items(
            [
                (
                    f"v{c.version}: {c.grantor}, {c.form}, erteilt {format_date(c.given_on)}, ",
                    "bis " + format_date(c.expires_on) if c.expires_on else "unbefristet",
                    f", Zweck {c.purpose}, an {', '.join(c.recipients)}, Verweis ",
                    code(c.document_ref),
                )
                for c in consents
            ]
        )
        if revocations:
            doc.items(
                [
                    (
                        f"Widerruf vom {format_date(r.effective_on)}: ",
                        ", ".join(r.institutions) if r.institutions else "alle Institutionen",
                    )
                    for r in revocations
                ]
            )
    return doc.build()


@router.command(
    "widerruf",
    summary="Erfasst den Widerruf einer Einwilligung – für alle oder einzelne Institutionen.",
    role=Role.FACHKRAFT,
    params={"fall": "Pseudonym", "institutionen": "optional: nur diese Institutionen"},
    details=(
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
    institution = require_owner(ctx, case, "Widerrufe")
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
    scope = ", ".join(institution_name(ctx, k) for k in keys) if keys else "alle Institutionen"
    doc = Doc().para("🛑 Widerruf für ", b(case.pseudonym), f" erfasst ({scope}), gilt ab sofort.")
    _changes(ctx, doc, case.pseudonym)
    return doc.build()


@router.command(
    "anfrage",
    summary="Beantragt eine Fallkonferenz; der Bot prüft die Einwilligung.",
    role=Role.FACHKRAFT,
    params={
        "fall": "Pseudonym",
        "thema": "Themenkategorie",
        "dringlichkeit": "regulär oder dringend",
        "teilnehmer": "teilnehmende Institutionen (die eigene kommt automatisch dazu)",
        "bis": "spätestes Datum (optional)",
        "anvertraut": "ja, wenn nach § 65 SGB VIII anvertraute Daten besprochen werden",
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
        raise StateConflict("Dieser Fall ist abgeschlossen; Anfragen sind nicht mehr möglich.")
    topic = ctx.org.topic(thema)
    participants = {i.key for i in ctx.org.institution_list(teilnehmer)} | {institution.key}
    latest = (
        date_arg("bis", bis, ctx.today, Towards.FUTURE, language=ctx.t.language) if bis else None
    )
    if latest is not None and latest < ctx.today:
        raise ArgumentError("Das späteste Datum liegt in der Vergangenheit.")
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
    doc = Doc().para(
        "📨 Anfrage ",
        b(f"#{request.id}"),
        " für ",
        b(case.pseudonym),
        f": {topic}, {dringlichkeit.value}, Teilnehmende: ",
        ", ".join(institution_name(ctx, k) for k in request.participants),
        f", spätestens {format_date(latest)}" if latest else "",
        ".",
    )
    if request.state == RequestState.READY:
        if request.basis == LEGAL_BASIS_8A:
            doc.para(
                "✅ Bereit für die Planung – ohne Einwilligung (Schutzauftrag § 8a SGB VIII "
                "bestätigt)."
            )
        else:
            doc.para("✅ Einwilligung geprüft: die Anfrage ist bereit für die Planung.")
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
            "⏸️ Status: ",
            b(RequestState.WAITING.label),
            ". Es fehlt:",
        )
        doc.items(_gate_lines(ctx, result.gate))
        doc.para(
            "Sobald eine passende Einwilligung erfasst ist, wird die Anfrage automatisch bereit."
        )
    report(
        doc,
        replan(ctx.work, {case.pseudonym}, facts=facts),
        prefix=ctx.prefix,
        case=case.pseudonym,
        changed_at=ctx.now,
    )
    return doc.build()


@router.command(
    "anfragen",
    summary="Listet die offenen Anfragen (nur Pseudonyme), seitenweise und gefiltert.",
    params={
        "seite": f"Seite der Liste ({PAGE_SIZE} Anfragen je Seite)",
        "status": "nur wartende (wartet) oder bereite (bereit) Anfragen",
        "termin": "nur Anfragen auf der Tagesordnung dieses Termins",
        "institution": "nur Anfragen, an denen diese Institution beteiligt ist",
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
        raise ArgumentError("Die Seite ist eine Zahl ab 1.")
    key = ctx.org.institution(institution).key if institution is not None else None
    total, requests = ctx.uow.cases.open_requests_page(
        state=status.state if status is not None else None,
        session_id=termin,
        institution=key,
        offset=(page - 1) * PAGE_SIZE,
        limit=PAGE_SIZE,
    )
    filtered = any(v is not None for v in (status, termin, institution))
    doc = Doc().para(b("Offene Anfragen"), f" ({total}{', gefiltert' if filtered else ''})")
    if not requests:
        if total:
            pages = -(-total // PAGE_SIZE)
            return doc.para(f"Seite {page} gibt es nicht; es gibt {pages}.").build()
        return doc.para("Keine offenen Anfragen.").build()
    doc.items(_request_lines(ctx, requests))
    pages = -(-total // PAGE_SIZE)
    if pages > 1:
        more = f" Weiter: {ctx.prefix} anfragen seite={page + 1}" if page < pages else ""
        doc.para(f"Seite {page} von {pages}.{more}")
    return doc.build()


@router.command(
    "status",
    summary="Zeigt den Stand eines Falls: Einwilligung, Anfragen, Schutzauftrag.",
    params={"fall": "Pseudonym"},
    examples=("status FK-7QX2-M6",),
)
def status(ctx: CommandContext, fall: Pseudonym) -> Reply:
    case = get_case(ctx, fall)
    today = local_date(ctx.now)
    doc = Doc().para(
        b(f"Fall {case.pseudonym}"),
        f" – fallführend: {institution_name(ctx, case.owner_institution)}, {case.state}",
    )
    named = sorted({k for c in ctx.uow.cases.consents(case.pseudonym) for k in c.recipients})
    facts = GateFacts(ctx.uow, [case.pseudonym])
    gate = facts.gate_for(case.pseudonym, named, today, entrusted=False)
    uncovered = {m.institution for m in gate.missing}
    covered = [institution_name(ctx, k) for k in named if k not in uncovered]
    doc.para("Einwilligung heute: ", ", ".join(covered) if covered else "keine Institution")
    for row in ctx.uow.cases.schutzauftraege(case.pseudonym):
        doc.para(f"Schutzauftrag (§ 8a SGB VIII, Grund {row.reason_code}): {row.state}")
    requests = ctx.uow.cases.requests(case.pseudonym)
    if requests:
        doc.para("Anfragen:")
        doc.items(_request_lines(ctx, requests))
        for request in requests:
            if request.state == RequestState.WAITING:
                waiting = facts.gate(request, today)
                doc.para(f"Für #{request.id} fehlt:")
                doc.items(_gate_lines(ctx, waiting))
    else:
        doc.para("Keine Anfragen.")
    return doc.build()


@router.command(
    "schutzauftrag",
    summary="Eröffnet den Schutzauftrag nach § 8a SGB VIII (nur Jugendamt).",
    role=Role.FACHKRAFT,
    params={"fall": "Pseudonym", "grund": "Grund-Code (siehe Konfiguration)"},
    details=(
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
            f"Für {case.pseudonym} besteht bereits ein Schutzauftrag ({current[-1].state})."
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
    return (
        Doc()
        .para(
            "🛡️ Schutzauftrag (§ 8a SGB VIII) für ",
            b(case.pseudonym),
            f" eröffnet, Grund {reason}.",
        )
        .para(
            "Er gilt erst nach Bestätigung durch eine andere Fachkraft des Jugendamts: ",
            code(f"{ctx.prefix} schutzauftrag bestätigen {case.pseudonym}"),
        )
        .build()
    )


@router.command(
    "schutzauftrag bestätigen",
    aliases=("schutzauftrag bestaetigen",),
    summary="Bestätigt einen eröffneten Schutzauftrag (zweite Fachkraft des Jugendamts).",
    role=Role.FACHKRAFT,
    params={"fall": "Pseudonym"},
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
        raise StateConflict(f"Für {case.pseudonym} wartet kein Schutzauftrag auf Bestätigung.")
    row = pending[-1]
    if row.opened_by == ctx.sender:
        raise PermissionDenied(
            "Vier-Augen-Prinzip: den Schutzauftrag muss eine andere Fachkraft des "
            "Jugendamts bestätigen als die, die ihn eröffnet hat."
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
    doc = Doc().para("🛡️ Schutzauftrag für ", b(case.pseudonym), f" bestätigt ({row.legal_basis}).")
    _changes(ctx, doc, case.pseudonym)
    return doc.build()


@router.command(
    "schutzauftrag beenden",
    summary="Beendet den Schutzauftrag eines Falls (Jugendamt).",
    role=Role.FACHKRAFT,
    params={"fall": "Pseudonym"},
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
        raise StateConflict(f"Für {case.pseudonym} besteht kein Schutzauftrag.")
    for row in current:
        row.state = SchutzauftragState.ENDED
        audit(ctx, "schutzauftrag_beendet", case.pseudonym, id=row.id)
    doc = Doc().para("Schutzauftrag für ", b(case.pseudonym), " beendet.")
    _changes(ctx, doc, case.pseudonym)
    return doc.build()


def _require_jugendamt(ctx: CommandContext) -> Institution:
    institution = institution_of(ctx)
    if not institution.is_jugendamt:
        raise PermissionDenied(
            "Den Schutzauftrag nach § 8a SGB VIII führen nur Fachkräfte des Jugendamts."
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
    marks = " · § 8a" if request.basis == LEGAL_BASIS_8A else ""
    latest = f", bis {format_date(request.latest_date)}" if request.latest_date else ""
    planned = f" → Termin #{session.id} am {when_text(session.starts_at)}" if session else ""
    return (
        f"#{request.id} {request.case_pseudonym} – {request.topic}, {request.urgency}, "
        f"von {institution_name(ctx, request.requesting_institution)}{latest}: "
        f"{state_label(request.state)}{marks}{planned}",
    )
