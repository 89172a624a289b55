"""The consent gate: one pure function, one answer.

For a case, a set of institutions and a date: either *allowed*, or for every
institution that is not covered the exact reason. Consent records and
revocations are facts; nothing here reads the database or the clock.

Rules (docs/SECURITY.md, "Einwilligung"):

* a consent covers an institution it names, for its purpose, from the day it was
  given up to and including its expiry day;
* a revocation (for some or all institutions) takes effect on its day, for the
  future: it ends every consent for those institutions given before it (or on the
  same day but recorded before it); a consent given afterwards covers again;
* for data entrusted under § 65 SGB VIII only the person who entrusted it can
  consent (grantor ``anvertrauende_person``).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime
from enum import StrEnum

from domain.text import N_

PURPOSE_CONFERENCE = "fallkonferenz"


class Grantor(StrEnum):
    BETROFFENE_PERSON = "betroffene_person"
    SORGEBERECHTIGTE = "sorgeberechtigte"
    ANVERTRAUENDE_PERSON = "anvertrauende_person"


class Form(StrEnum):
    SCHRIFTLICH = "schriftlich"
    ELEKTRONISCH = "elektronisch"


@dataclass(frozen=True)
class ConsentFacts:
    version: int
    grantor: Grantor
    purpose: str
    recipients: frozenset[str]
    given_on: date
    expires_on: date | None
    recorded_at: datetime


@dataclass(frozen=True)
class RevocationFacts:
    institutions: frozenset[str] | None  # None: every institution
    effective_on: date
    recorded_at: datetime

    def covers(self, institution: str) -> bool:
        return self.institutions is None or institution in self.institutions

    def ends(self, consent: ConsentFacts) -> bool:
        return consent.given_on < self.effective_on or (
            consent.given_on == self.effective_on and consent.recorded_at < self.recorded_at
        )


class Reason(StrEnum):
    """Why an institution is not covered; the value is a catalog msgid, shown with
    ``t.gettext(reason.value)`` after the institution's name."""

    NOT_COVERED = N_("keine Einwilligung nennt diese Institution")
    WRONG_PURPOSE = N_("Einwilligung gilt für einen anderen Zweck")
    WRONG_GRANTOR = N_(
        "anvertraute Daten (§ 65 SGB VIII): Einwilligung nicht von der anvertrauenden Person"
    )
    GIVEN_AFTER = N_("Einwilligung erst nach dem Datum erteilt")
    REVOKED = N_("widerrufen")
    EXPIRED = N_("Einwilligung abgelaufen")


@dataclass(frozen=True)
class Missing:
    institution: str
    reason: Reason
    consent_version: int | None = None  # the consent the reason refers to


@dataclass(frozen=True)
class GateResult:
    missing: tuple[Missing, ...]

    @property
    def allowed(self) -> bool:
        return not self.missing


def _failure(
    consent: ConsentFacts,
    institution: str,
    on: date,
    revocations: Iterable[RevocationFacts],
    purpose: str,
    entrusted: bool,
) -> Reason | None:
    if consent.purpose != purpose:
        return Reason.WRONG_PURPOSE
    if entrusted and consent.grantor is not Grantor.ANVERTRAUENDE_PERSON:
        return Reason.WRONG_GRANTOR
    if consent.given_on > on:
        return Reason.GIVEN_AFTER
    if any(r.covers(institution) and r.effective_on <= on and r.ends(consent) for r in revocations):
        return Reason.REVOKED
    if consent.expires_on is not None and consent.expires_on < on:
        return Reason.EXPIRED
    return None


def consent_gate(
    consents: Iterable[ConsentFacts],
    revocations: Iterable[RevocationFacts],
    institutions: Iterable[str],
    on: date,
    *,
    purpose: str = PURPOSE_CONFERENCE,
    entrusted: bool = False,
) -> GateResult:
    """Allowed, or per uncovered institution the reason of its most recent consent."""
    consents = sorted(consents, key=lambda c: (c.recorded_at, c.version), reverse=True)
    revocations = tuple(revocations)
    missing: list[Missing] = []
    for institution in sorted(set(institutions)):
        naming = [c for c in consents if institution in c.recipients]
        if not naming:
            missing.append(Missing(institution, Reason.NOT_COVERED))
            continue
        failures = [
            (c, _failure(c, institution, on, revocations, purpose, entrusted)) for c in naming
        ]
        if any(reason is None for _, reason in failures):
            continue
        latest, reason = failures[0]
        assert reason is not None
        missing.append(Missing(institution, reason, latest.version))
    return GateResult(tuple(missing))


def covered_until(
    consents: Iterable[ConsentFacts],
    revocations: Iterable[RevocationFacts],
    institution: str,
    on: date,
    *,
    purpose: str = PURPOSE_CONFERENCE,
    entrusted: bool = False,
) -> tuple[bool, date | None]:
    """Whether ``institution`` is covered on ``on`` and the last covered day (None: open)."""
    revocations = tuple(revocations)
    valid = [
        c
        for c in consents
        if institution in c.recipients
        and _failure(c, institution, on, revocations, purpose, entrusted) is None
    ]
    if not valid:
        return False, None
    if any(c.expires_on is None for c in valid):
        return True, None
    return True, max(c.expires_on for c in valid if c.expires_on is not None)
