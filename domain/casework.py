"""Case work: the consent gate applied to stored facts, and re-evaluating open requests.

PRODUCT.md steps 3–5. A request is ready (``bereit``) when the consents cover every
participating institution on the day, or a Schutzauftrag (§ 8a SGB VIII) is confirmed;
otherwise it waits (``wartet_einwilligung``). Every change of state is audited.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from enum import StrEnum

from domain.dates import local_date
from domain.gate import ConsentFacts, GateResult, Grantor, RevocationFacts, consent_gate
from domain.text import N_
from domain.work import Work, audit
from storage.models import ConferenceRequest, Consent, Revocation
from storage.states import SchutzauftragState
from storage.uow import UnitOfWork

LEGAL_BASIS_8A = "§ 8a SGB VIII"
BASIS_CONSENT = "einwilligung"


class RequestState(StrEnum):
    WAITING = "wartet_einwilligung"
    READY = "bereit"
    DISCUSSED = "besprochen"  # in a sitting, no outcome that closes it
    CLOSED = "erledigt"

    @property
    def label(self) -> str:
        return state_label(self.value)


# Catalog msgids (German); shown with ``t.gettext(state_label(state))``.
_STATE_LABELS = {
    "wartet_einwilligung": N_("wartet auf Einwilligung"),
    "bereit": N_("bereit"),
    "besprochen": N_("besprochen"),
    "erledigt": N_("erledigt"),
}


def state_label(state: str) -> str:
    """How a request's state reads in the room, as a msgid to translate where it is
    shown; states added later read as themselves."""
    return _STATE_LABELS.get(state, state)


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
    return any(
        s.state == SchutzauftragState.CONFIRMED for s in uow.cases.schutzauftraege(pseudonym)
    )


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
    work: Work, requests: Sequence[ConferenceRequest], facts: GateFacts | None = None
) -> list[Evaluation]:
    """Re-run the gate for ``requests`` (their facts loaded at once); audit the changes."""
    facts = facts or GateFacts(work.uow, {r.case_pseudonym for r in requests})
    changed = []
    for request in requests:
        pseudonym = request.case_pseudonym
        result = evaluate(work.uow, request, local_date(work.now), facts)
        if result.before != request.state:
            request.updated_at = work.now
            audit(
                work,
                "anfrage_bereit" if request.state == RequestState.READY else "anfrage_wartet",
                pseudonym,
                anfrage=request.id,
                grundlage=request.basis,
            )
            changed.append(result)
    return changed
