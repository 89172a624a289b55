"""Shared case logic for the commands: lookups, the gate on stored facts, re-evaluation, audit.

Handlers stay short; everything that more than one command needs lives here.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from enum import StrEnum
from typing import Any

from commands.dates import DateError, Towards, local_date, parse_date
from commands.errors import BadArgument, PermissionDenied, UserError
from commands.framework import CommandContext
from commands.gate import ConsentFacts, GateResult, Grantor, RevocationFacts, consent_gate
from commands.org import Institution, Member, Organisation, Role
from commands.pseudonym import Pseudonym
from storage.models import CaseFile, ConferenceRequest, Consent, Revocation
from storage.uow import UnitOfWork

LEGAL_BASIS_8A = "§ 8a SGB VIII"
BASIS_CONSENT = "einwilligung"


class RequestState(StrEnum):
    WAITING = "wartet_einwilligung"
    READY = "bereit"

    @property
    def label(self) -> str:
        return state_label(self.value)


_STATE_LABELS = {"wartet_einwilligung": "wartet auf Einwilligung"}


def state_label(state: str) -> str:
    """How a request's state reads in the room; states added later read as themselves."""
    return _STATE_LABELS.get(state, state)


class UnknownCase(UserError):
    show_usage = True

    def __init__(self) -> None:
        super().__init__(
            "Unbekannter Fall: unter diesem Pseudonym ist kein Fall erfasst. Bitte das "
            "Pseudonym prüfen."
        )


def get_case(ctx: CommandContext, pseudonym: Pseudonym) -> CaseFile:
    case = ctx.uow.cases.get(str(pseudonym))
    if case is None:
        raise UnknownCase()
    return case


def institution_of(ctx: CommandContext) -> Institution:
    """The sender's institution; the dispatcher already refused senders without one."""
    institution = ctx.member.institution
    if institution is None:  # pragma: no cover - guarded by the dispatcher
        raise PermissionDenied("Du bist keiner Institution zugeordnet.")
    return institution


def require_owner(ctx: CommandContext, case: CaseFile, what: str) -> Institution:
    institution = institution_of(ctx)
    if institution.key != case.owner_institution or not ctx.member.has(Role.FACHKRAFT):
        owner = ctx.org.institutions.get(case.owner_institution)
        raise PermissionDenied(
            f"{what} erfasst nur eine Fachkraft der fallführenden Institution "
            f"({owner.name if owner else case.owner_institution})."
        )
    return institution


def date_arg(name: str, text: str, today: date, towards: Towards) -> date:
    try:
        return parse_date(text, today, towards)
    except DateError as err:
        raise BadArgument(name, err.message) from None


def consent_facts(rows: Iterable[Consent]) -> list[ConsentFacts]:
    return [
        ConsentFacts(
            version=c.version,
            grantor=Grantor(c.grantor),
            purpose=c.purpose,
            recipients=frozenset(c.recipients),
            given_on=c.given_on,
            expires_on=c.expires_on,
            recorded_at=c.recorded_at,
        )
        for c in rows
    ]


def revocation_facts(rows: Iterable[Revocation]) -> list[RevocationFacts]:
    return [
        RevocationFacts(
            institutions=frozenset(r.institutions) if r.institutions is not None else None,
            effective_on=r.effective_on,
            recorded_at=r.recorded_at,
        )
        for r in rows
    ]


def schutzauftrag_active(uow: UnitOfWork, pseudonym: str) -> bool:
    return any(s.state == "bestätigt" for s in uow.cases.schutzauftraege(pseudonym))


class GateFacts:
    """The consent facts of many cases, loaded in three queries, for the gate and placement.

    Replanning a room asks "may request R be discussed on day D?" for every open request
    and candidate session; asked of the database each time, that was a query per pair.
    """

    def __init__(self, uow: UnitOfWork, pseudonyms: Iterable[str]) -> None:
        wanted = set(pseudonyms)
        self._consents = {
            p: consent_facts(rows) for p, rows in uow.cases.consents_of(wanted).items()
        }
        self._revocations = {
            p: revocation_facts(rows) for p, rows in uow.cases.revocations_of(wanted).items()
        }
        self._schutzauftrag = uow.cases.confirmed_schutzauftrag(wanted)

    def gate(self, request: ConferenceRequest, day: date) -> GateResult:
        return self.gate_for(
            request.case_pseudonym, request.participants, day, entrusted=request.entrusted
        )

    def gate_for(
        self, pseudonym: str, institutions: Iterable[str], day: date, *, entrusted: bool
    ) -> GateResult:
        return consent_gate(
            self._consents.get(pseudonym, []),
            self._revocations.get(pseudonym, []),
            institutions,
            day,
            entrusted=entrusted,
        )

    def schutzauftrag(self, pseudonym: str) -> bool:
        return pseudonym in self._schutzauftrag

    def allows(self, request: ConferenceRequest, day: date) -> bool:
        """A confirmed Schutzauftrag or the gate on ``day``."""
        return self.schutzauftrag(request.case_pseudonym) or self.gate(request, day).allowed


@dataclass(frozen=True)
class Evaluation:
    request: ConferenceRequest
    gate: GateResult
    before: str


def evaluate(
    uow: UnitOfWork, request: ConferenceRequest, today: date, facts: GateFacts | None = None
) -> Evaluation:
    """Set ``state`` and ``basis`` of an open request from today's facts."""
    before = request.state
    facts = facts or GateFacts(uow, [request.case_pseudonym])
    gate = facts.gate(request, today)
    if gate.allowed:
        request.state, request.basis = RequestState.READY, BASIS_CONSENT
    elif facts.schutzauftrag(request.case_pseudonym):
        request.state, request.basis = RequestState.READY, LEGAL_BASIS_8A
    else:
        request.state, request.basis = RequestState.WAITING, None
    return Evaluation(request, gate, before)


def reevaluate(
    ctx: CommandContext, requests: Sequence[ConferenceRequest], facts: GateFacts | None = None
) -> list[Evaluation]:
    """Re-run the gate for ``requests`` (their facts loaded at once); audit the changes."""
    facts = facts or GateFacts(ctx.uow, {r.case_pseudonym for r in requests})
    changed = []
    for request in requests:
        pseudonym = request.case_pseudonym
        result = evaluate(ctx.uow, request, local_date(ctx.now), facts)
        if result.before != request.state:
            request.updated_at = ctx.now
            audit(
                ctx,
                "anfrage_bereit" if request.state == RequestState.READY else "anfrage_wartet",
                pseudonym,
                anfrage=request.id,
                grundlage=request.basis,
            )
            changed.append(result)
    return changed


def audit(ctx: CommandContext, action: str, pseudonym: str | None, **detail: Any) -> None:
    ctx.uow.audit.append(
        at=ctx.now,
        actor=ctx.sender,
        institution=ctx.member.institution.key if ctx.member.institution else None,
        action=action,
        pseudonym=pseudonym,
        detail={k: v for k, v in detail.items() if v is not None},
    )


def institution_name(ctx: CommandContext, key: str) -> str:
    return institution_name_in(ctx.org, key)


def institution_name_in(org: Organisation, key: str) -> str:
    found = org.institutions.get(key)
    return found.name if found else key


def member_label(member: Member) -> str:
    inst = member.institution.name if member.institution else "keine Institution"
    roles = ", ".join(sorted(r.value for r in member.roles)) or "keine Rolle"
    return f"{inst} – {roles}"


def names(ctx: CommandContext, keys: Sequence[str]) -> str:
    return ", ".join(keys) if keys else "–"
