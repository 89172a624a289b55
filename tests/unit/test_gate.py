"""The consent gate: a table of every refusal reason, then properties checked against an oracle.

The oracle below is written from the rules in ``commands/gate.py``'s docstring (and
docs/SECURITY.md, "Einwilligung"), not from the gate's code: a consent covers an
institution it names, for its purpose, from the day it was given up to and including
its expiry day; a revocation in force on the date ends every consent for its
institutions given before it (same day: recorded before it); for entrusted data
(§ 65 SGB VIII) only the person who entrusted it can consent.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from domain.gate import (
    PURPOSE_CONFERENCE,
    ConsentFacts,
    GateResult,
    Grantor,
    Missing,
    Reason,
    RevocationFacts,
    consent_gate,
    covered_until,
)

SESSION = date(2026, 11, 25)
JA, JC, AA, SCHULE = "jugendamt", "jobcenter", "agentur", "schule"


def at(day: date, hour: int = 9, minute: int = 0) -> datetime:
    return datetime.combine(day, time(hour, minute))


def consent(
    version: int,
    *recipients: str,
    given_on: date = date(2026, 11, 2),
    expires_on: date | None = None,
    grantor: Grantor = Grantor.SORGEBERECHTIGTE,
    purpose: str = PURPOSE_CONFERENCE,
    recorded_at: datetime | None = None,
) -> ConsentFacts:
    return ConsentFacts(
        version=version,
        grantor=grantor,
        purpose=purpose,
        recipients=frozenset(recipients),
        given_on=given_on,
        expires_on=expires_on,
        # by default recorded on the day it was given, later versions later that day
        recorded_at=recorded_at or at(given_on, 9, version),
    )


def revocation(
    *institutions: str,
    effective_on: date = date(2026, 11, 10),
    recorded_at: datetime | None = None,
    everything: bool = False,
) -> RevocationFacts:
    return RevocationFacts(
        institutions=None if everything else frozenset(institutions),
        effective_on=effective_on,
        recorded_at=recorded_at or at(effective_on, 12),
    )


@dataclass(frozen=True)
class Case:
    consents: Sequence[ConsentFacts]
    institutions: Sequence[str]
    missing: Sequence[Missing]
    revocations: Sequence[RevocationFacts] = ()
    on: date = SESSION
    entrusted: bool = False
    purpose: str = PURPOSE_CONFERENCE
    notes: str = field(default="", compare=False)


CASES: dict[str, Case] = {
    # --- covered ---------------------------------------------------------------
    "one consent covers every institution": Case(
        consents=[consent(1, JA, JC, AA)],
        institutions=[JC, AA, JA],
        missing=[],
    ),
    "two parents: union of their consents covers": Case(
        consents=[
            consent(1, JA, JC, grantor=Grantor.SORGEBERECHTIGTE),
            consent(2, AA, grantor=Grantor.SORGEBERECHTIGTE),
        ],
        institutions=[JA, JC, AA],
        missing=[],
    ),
    "union of two consents still misses an unnamed institution": Case(
        consents=[consent(1, JC), consent(2, AA)],
        institutions=[SCHULE, JC, AA],
        missing=[Missing(SCHULE, Reason.NOT_COVERED)],
    ),
    "consent given on the session day covers": Case(
        consents=[consent(1, JC, given_on=SESSION)],
        institutions=[JC],
        missing=[],
    ),
    "expiry on the session day still covers (expiry day inclusive)": Case(
        consents=[consent(1, JC, expires_on=SESSION)],
        institutions=[JC],
        missing=[],
    ),
    "expired consent does not matter when another one covers": Case(
        consents=[
            consent(1, JC, expires_on=date(2026, 11, 20)),
            consent(2, JC, given_on=date(2026, 11, 21)),
        ],
        institutions=[JC],
        missing=[],
    ),
    "another purpose covers when the gate asks for that purpose": Case(
        consents=[consent(1, JC, purpose="hilfeplanung")],
        institutions=[JC],
        purpose="hilfeplanung",
        missing=[],
    ),
    "without entrusted data any grantor counts": Case(
        consents=[
            consent(1, JC, grantor=Grantor.BETROFFENE_PERSON),
            consent(2, AA, grantor=Grantor.ANVERTRAUENDE_PERSON),
        ],
        institutions=[JC, AA],
        missing=[],
    ),
    "entrusted data: consent of the entrusting person covers": Case(
        consents=[consent(1, JC, grantor=Grantor.ANVERTRAUENDE_PERSON)],
        institutions=[JC],
        entrusted=True,
        missing=[],
    ),
    "revocation effective after the session does not touch it": Case(
        consents=[consent(1, JC)],
        revocations=[revocation(everything=True, effective_on=SESSION + timedelta(days=1))],
        institutions=[JC],
        missing=[],
    ),
    "partial revocation leaves the other institutions covered": Case(
        consents=[consent(1, JA, JC, AA)],
        revocations=[revocation(AA)],
        institutions=[JA, JC],
        missing=[],
    ),
    "consent given after a full revocation covers again": Case(
        consents=[consent(1, JC, AA), consent(2, JC, AA, given_on=date(2026, 11, 12))],
        revocations=[revocation(everything=True, effective_on=date(2026, 11, 10))],
        institutions=[JC, AA],
        missing=[],
    ),
    "same day: consent recorded after the revocation covers": Case(
        consents=[
            consent(1, JC),
            consent(2, JC, given_on=date(2026, 11, 10), recorded_at=at(date(2026, 11, 10), 15)),
        ],
        revocations=[revocation(JC, effective_on=date(2026, 11, 10))],  # recorded at 12:00
        institutions=[JC],
        missing=[],
    ),
    "empty revocation set revokes nothing": Case(
        consents=[consent(1, JC)],
        revocations=[revocation()],
        institutions=[JC],
        missing=[],
    ),
    # --- refused -------------------------------------------------------------
    "no consent at all: every institution, sorted, no version": Case(
        consents=[],
        institutions=[JC, AA, JA],
        missing=[
            Missing(AA, Reason.NOT_COVERED),
            Missing(JC, Reason.NOT_COVERED),
            Missing(JA, Reason.NOT_COVERED),
        ],
    ),
    "consent names another institution": Case(
        consents=[consent(1, JA)],
        institutions=[JA, JC],
        missing=[Missing(JC, Reason.NOT_COVERED)],
    ),
    "requested twice, reported once": Case(
        consents=[],
        institutions=[JC, JC, JC],
        missing=[Missing(JC, Reason.NOT_COVERED)],
    ),
    "wrong purpose": Case(
        consents=[consent(3, JC, purpose="hilfeplanung")],
        institutions=[JC],
        missing=[Missing(JC, Reason.WRONG_PURPOSE, 3)],
    ),
    "conference consent does not cover another purpose": Case(
        consents=[consent(1, JC)],
        institutions=[JC],
        purpose="hilfeplanung",
        missing=[Missing(JC, Reason.WRONG_PURPOSE, 1)],
    ),
    "entrusted data: a parent cannot consent": Case(
        consents=[consent(1, JC, grantor=Grantor.SORGEBERECHTIGTE)],
        institutions=[JC],
        entrusted=True,
        missing=[Missing(JC, Reason.WRONG_GRANTOR, 1)],
    ),
    "entrusted data: the person concerned cannot consent either": Case(
        consents=[consent(1, JC, grantor=Grantor.BETROFFENE_PERSON)],
        institutions=[JC],
        entrusted=True,
        missing=[Missing(JC, Reason.WRONG_GRANTOR, 1)],
    ),
    "entrusted data: only the institutions the entrusting person named": Case(
        consents=[
            consent(1, JC, grantor=Grantor.ANVERTRAUENDE_PERSON),
            consent(2, AA, JC, grantor=Grantor.SORGEBERECHTIGTE),
        ],
        institutions=[JC, AA],
        entrusted=True,
        missing=[Missing(AA, Reason.WRONG_GRANTOR, 2)],
    ),
    "given the day after the session": Case(
        consents=[consent(1, JC, given_on=SESSION + timedelta(days=1))],
        institutions=[JC],
        missing=[Missing(JC, Reason.GIVEN_AFTER, 1)],
    ),
    "expired the day before the session": Case(
        consents=[consent(1, JC, expires_on=SESSION - timedelta(days=1))],
        institutions=[JC],
        missing=[Missing(JC, Reason.EXPIRED, 1)],
    ),
    "full revocation ends every institution": Case(
        consents=[consent(1, JA, JC, AA)],
        revocations=[revocation(everything=True)],
        institutions=[JC, JA, AA],
        missing=[
            Missing(AA, Reason.REVOKED, 1),
            Missing(JC, Reason.REVOKED, 1),
            Missing(JA, Reason.REVOKED, 1),
        ],
    ),
    "partial revocation ends only the named institutions": Case(
        consents=[consent(1, JA, JC, AA)],
        revocations=[revocation(JC, AA)],
        institutions=[JA, JC, AA],
        missing=[Missing(AA, Reason.REVOKED, 1), Missing(JC, Reason.REVOKED, 1)],
    ),
    "revocation effective on the session day": Case(
        consents=[consent(1, JC)],
        revocations=[revocation(JC, effective_on=SESSION)],
        institutions=[JC],
        missing=[Missing(JC, Reason.REVOKED, 1)],
    ),
    "revocation ends both parents' consents": Case(
        consents=[consent(1, JC), consent(2, JC, grantor=Grantor.BETROFFENE_PERSON)],
        revocations=[revocation(JC)],
        institutions=[JC],
        missing=[Missing(JC, Reason.REVOKED, 2)],
    ),
    "same day: consent recorded before the revocation is ended": Case(
        consents=[
            consent(1, JC),
            consent(2, JC, given_on=date(2026, 11, 10), recorded_at=at(date(2026, 11, 10), 8)),
        ],
        revocations=[revocation(JC, effective_on=date(2026, 11, 10))],  # recorded at 12:00
        institutions=[JC],
        missing=[Missing(JC, Reason.REVOKED, 2)],
    ),
    "consent given after the revocation but expired again": Case(
        consents=[
            consent(1, JC),
            consent(2, JC, given_on=date(2026, 11, 12), expires_on=date(2026, 11, 20)),
        ],
        revocations=[revocation(everything=True, effective_on=date(2026, 11, 10))],
        institutions=[JC],
        missing=[Missing(JC, Reason.EXPIRED, 2)],
    ),
    "reason and version come from the most recently recorded consent": Case(
        consents=[
            consent(1, JC, expires_on=date(2026, 11, 20)),
            consent(2, JC, purpose="hilfeplanung", given_on=date(2026, 11, 15)),
        ],
        institutions=[JC],
        missing=[Missing(JC, Reason.WRONG_PURPOSE, 2)],
    ),
    "most recent means recorded last, not highest given_on": Case(
        consents=[
            consent(2, JC, given_on=date(2026, 11, 20), expires_on=date(2026, 11, 21)),
            consent(
                5,
                JC,
                given_on=date(2026, 11, 1),
                purpose="hilfeplanung",
                recorded_at=at(date(2026, 11, 22)),
            ),
        ],
        institutions=[JC],
        missing=[Missing(JC, Reason.WRONG_PURPOSE, 5)],
    ),
    "every reason at once, sorted by institution": Case(
        consents=[
            consent(1, JA, given_on=SESSION + timedelta(days=2)),
            consent(2, JC, expires_on=date(2026, 11, 24)),
            consent(3, "gesundheitsamt", purpose="hilfeplanung"),
            consent(4, SCHULE),
        ],
        revocations=[revocation(SCHULE)],
        institutions=[SCHULE, JA, JC, AA, "gesundheitsamt"],
        missing=[
            Missing(AA, Reason.NOT_COVERED),
            Missing("gesundheitsamt", Reason.WRONG_PURPOSE, 3),
            Missing(JC, Reason.EXPIRED, 2),
            Missing(JA, Reason.GIVEN_AFTER, 1),
            Missing(SCHULE, Reason.REVOKED, 4),
        ],
    ),
}


@pytest.mark.parametrize("case", list(CASES.values()), ids=list(CASES))
def test_gate_table(case: Case) -> None:
    result = consent_gate(
        case.consents,
        case.revocations,
        case.institutions,
        case.on,
        purpose=case.purpose,
        entrusted=case.entrusted,
    )
    assert result.missing == tuple(case.missing)
    assert result.allowed is (not case.missing)


def test_table_covers_every_reason() -> None:
    """The table above is meant to exercise every refusal reason the gate knows."""
    seen = {m.reason for case in CASES.values() for m in case.missing}
    assert seen == set(Reason)


def test_gate_accepts_iterators_once() -> None:
    """Consents, revocations and institutions may be one-shot iterables (e.g. generators)."""
    consents = iter([consent(1, JC), consent(2, AA)])
    revocations = iter([revocation(AA)])
    result = consent_gate(consents, revocations, iter([JC, AA]), SESSION)
    assert result.missing == (Missing(AA, Reason.REVOKED, 2),)


def test_revocation_in_force_on_the_date_only() -> None:
    """The same facts: covered before the revocation's day, refused from that day on."""
    consents = [consent(1, JC)]
    revocations = [revocation(JC, effective_on=SESSION)]
    assert consent_gate(consents, revocations, [JC], SESSION - timedelta(days=1)).allowed
    assert not consent_gate(consents, revocations, [JC], SESSION).allowed
    assert not consent_gate(consents, revocations, [JC], SESSION + timedelta(days=30)).allowed


# --- covered_until -------------------------------------------------------------


@pytest.mark.parametrize(
    ("consents", "revocations", "expected"),
    [
        pytest.param([consent(1, JC)], [], (True, None), id="open-ended"),
        pytest.param(
            [consent(1, JC, expires_on=date(2027, 1, 31))],
            [],
            (True, date(2027, 1, 31)),
            id="until its expiry",
        ),
        pytest.param(
            [
                consent(1, JC, expires_on=date(2027, 1, 31)),
                consent(2, JC, expires_on=date(2027, 6, 30)),
            ],
            [],
            (True, date(2027, 6, 30)),
            id="the later of two expiries",
        ),
        pytest.param(
            [consent(1, JC, expires_on=date(2027, 1, 31)), consent(2, JC)],
            [],
            (True, None),
            id="an open-ended one wins",
        ),
        pytest.param(
            [consent(1, JC, expires_on=SESSION)],
            [],
            (True, SESSION),
            id="expiring on the day itself",
        ),
        pytest.param(
            [consent(1, JC, expires_on=SESSION - timedelta(days=1))],
            [],
            (False, None),
            id="expired",
        ),
        pytest.param(
            [consent(1, JC, expires_on=SESSION - timedelta(days=1)), consent(2, JC)],
            [],
            (True, None),
            id="expired one ignored",
        ),
        pytest.param(
            [consent(1, JC, expires_on=date(2027, 12, 31)), consent(2, JC)],
            [revocation(JC, effective_on=date(2026, 11, 3))],
            (False, None),
            id="revoked",
        ),
        pytest.param(
            [
                consent(1, JC),
                consent(2, JC, given_on=date(2026, 11, 11), expires_on=date(2027, 3, 1)),
            ],
            [revocation(JC)],
            (True, date(2027, 3, 1)),
            id="only the consent after the revocation counts",
        ),
        pytest.param([consent(1, AA)], [], (False, None), id="institution not named"),
        pytest.param(
            [consent(1, JC, purpose="hilfeplanung")], [], (False, None), id="other purpose"
        ),
    ],
)
def test_covered_until(
    consents: list[ConsentFacts],
    revocations: list[RevocationFacts],
    expected: tuple[bool, date | None],
) -> None:
    assert covered_until(consents, revocations, JC, SESSION) == expected


def test_covered_until_entrusted() -> None:
    consents = [
        consent(1, JC, grantor=Grantor.SORGEBERECHTIGTE),
        consent(2, JC, grantor=Grantor.ANVERTRAUENDE_PERSON, expires_on=date(2027, 2, 1)),
    ]
    assert covered_until(consents, [], JC, SESSION) == (True, None)
    assert covered_until(consents, [], JC, SESSION, entrusted=True) == (True, date(2027, 2, 1))
    assert covered_until(consents[:1], [], JC, SESSION, entrusted=True) == (False, None)


# --- properties against an independent oracle ------------------------------------

POOL = (AA, "gesundheitsamt", JC, JA, SCHULE)
PURPOSES = (PURPOSE_CONFERENCE, "hilfeplanung")
FIRST_DAY = date(2026, 11, 1)


def days(n: int = 30) -> st.SearchStrategy[date]:
    return st.integers(0, n).map(lambda k: FIRST_DAY + timedelta(days=k))


def moments() -> st.SearchStrategy[datetime]:
    # few distinct days and hours, so that same-day orderings and ties happen often
    return st.builds(at, days(), st.integers(8, 11))


institution_sets = st.frozensets(st.sampled_from(POOL), max_size=len(POOL))


@st.composite
def consent_lists(draw: st.DrawFn) -> list[ConsentFacts]:
    count = draw(st.integers(0, 5))
    result = []
    for version in range(1, count + 1):  # versions are unique per case, as in the database
        given_on = draw(days())
        result.append(
            ConsentFacts(
                version=version,
                grantor=draw(st.sampled_from(Grantor)),
                purpose=draw(st.sampled_from(PURPOSES)),
                recipients=draw(institution_sets),
                given_on=given_on,
                expires_on=draw(st.none() | days(45)),
                recorded_at=draw(moments()),
            )
        )
    return result


revocation_facts = st.builds(
    RevocationFacts,
    institutions=st.none() | institution_sets,
    effective_on=days(),
    recorded_at=moments(),
)
revocation_lists = st.lists(revocation_facts, max_size=3)
requested = st.lists(st.sampled_from(POOL), min_size=1, max_size=6)
purposes = st.sampled_from(PURPOSES)


def revocation_ends(r: RevocationFacts, c: ConsentFacts, institution: str, on: date) -> bool:
    """Written from the rules: in force on ``on``, for this institution, and later than ``c``."""
    in_force = r.effective_on <= on
    for_institution = r.institutions is None or institution in r.institutions
    later = (c.given_on, c.recorded_at) < (r.effective_on, r.recorded_at)
    return in_force and for_institution and later


def failing_reasons(
    c: ConsentFacts,
    institution: str,
    on: date,
    revocations: Sequence[RevocationFacts],
    purpose: str,
    entrusted: bool,
) -> set[Reason]:
    """Every rule ``c`` breaks for ``institution`` on ``on`` (empty: it covers)."""
    reasons = set()
    if institution not in c.recipients:
        reasons.add(Reason.NOT_COVERED)
    if c.purpose != purpose:
        reasons.add(Reason.WRONG_PURPOSE)
    if entrusted and c.grantor != Grantor.ANVERTRAUENDE_PERSON:
        reasons.add(Reason.WRONG_GRANTOR)
    if not c.given_on <= on:
        reasons.add(Reason.GIVEN_AFTER)
    if c.expires_on is not None and not on <= c.expires_on:
        reasons.add(Reason.EXPIRED)
    if any(revocation_ends(r, c, institution, on) for r in revocations):
        reasons.add(Reason.REVOKED)
    return reasons


def covering(
    consents: Sequence[ConsentFacts],
    revocations: Sequence[RevocationFacts],
    institution: str,
    on: date,
    purpose: str,
    entrusted: bool,
) -> list[ConsentFacts]:
    return [
        c
        for c in consents
        if not failing_reasons(c, institution, on, revocations, purpose, entrusted)
    ]


def run(
    consents: Sequence[ConsentFacts],
    revocations: Sequence[RevocationFacts],
    institutions: Sequence[str],
    on: date,
    purpose: str,
    entrusted: bool,
) -> GateResult:
    return consent_gate(
        list(consents),
        list(revocations),
        list(institutions),
        on,
        purpose=purpose,
        entrusted=entrusted,
    )


@settings(max_examples=150)
@given(consent_lists(), revocation_lists, requested, days(40), purposes, st.booleans())
def test_property_allowed_only_with_an_independently_valid_consent(
    consents: list[ConsentFacts],
    revocations: list[RevocationFacts],
    institutions: list[str],
    on: date,
    purpose: str,
    entrusted: bool,
) -> None:
    result = run(consents, revocations, institutions, on, purpose, entrusted)
    uncovered = {
        i for i in institutions if not covering(consents, revocations, i, on, purpose, entrusted)
    }
    assert {m.institution for m in result.missing} == uncovered
    if result.allowed:
        for institution in institutions:
            naming = [c for c in consents if institution in c.recipients]
            assert naming, f"{institution} allowed without any consent naming it"
            assert not all(
                any(revocation_ends(r, c, institution, on) for r in revocations) for c in naming
            ), f"{institution} allowed although every consent naming it is revoked"


@settings(max_examples=150)
@given(consent_lists(), revocation_lists, requested, days(40), purposes, st.booleans())
def test_property_missing_is_well_formed(
    consents: list[ConsentFacts],
    revocations: list[RevocationFacts],
    institutions: list[str],
    on: date,
    purpose: str,
    entrusted: bool,
) -> None:
    result = run(consents, revocations, institutions, on, purpose, entrusted)
    names = [m.institution for m in result.missing]
    assert set(names) <= set(institutions)
    assert names == sorted(set(names)), "one entry per institution, sorted"
    assert result.allowed == (not result.missing)
    for m in result.missing:
        naming = [c for c in consents if m.institution in c.recipients]
        if not naming:
            assert m == Missing(m.institution, Reason.NOT_COVERED, None)
            continue
        assert m.reason is not Reason.NOT_COVERED
        latest = max(naming, key=lambda c: (c.recorded_at, c.version))
        assert m.consent_version == latest.version
        assert m.reason in failing_reasons(
            latest, m.institution, on, revocations, purpose, entrusted
        )


@settings(max_examples=150)
@given(
    consent_lists(),
    revocation_lists,
    requested,
    days(40),
    purposes,
    st.booleans(),
    st.data(),
)
def test_property_a_revocation_never_turns_a_refusal_into_an_allow(
    consents: list[ConsentFacts],
    revocations: list[RevocationFacts],
    institutions: list[str],
    on: date,
    purpose: str,
    entrusted: bool,
    data: st.DataObject,
) -> None:
    before = run(consents, revocations, institutions, on, purpose, entrusted)
    extra = RevocationFacts(
        institutions=data.draw(st.none() | st.frozensets(st.sampled_from(institutions))),
        effective_on=data.draw(
            st.integers(0, (on - FIRST_DAY).days).map(lambda k: FIRST_DAY + timedelta(days=k))
        ),
        recorded_at=data.draw(moments()),
    )
    after = run(consents, [*revocations, extra], institutions, on, purpose, entrusted)
    if not before.allowed:
        assert not after.allowed
    assert {m.institution for m in before.missing} <= {m.institution for m in after.missing}


@settings(max_examples=150)
@given(
    consent_lists().flatmap(lambda cs: st.tuples(st.just(cs), st.permutations(cs))),
    revocation_lists.flatmap(lambda rs: st.tuples(st.just(rs), st.permutations(rs))),
    requested.flatmap(lambda xs: st.tuples(st.just(xs), st.permutations(xs))),
    days(40),
    purposes,
    st.booleans(),
)
def test_property_input_order_does_not_matter(
    consents: tuple[list[ConsentFacts], list[ConsentFacts]],
    revocations: tuple[list[RevocationFacts], list[RevocationFacts]],
    institutions: tuple[list[str], list[str]],
    on: date,
    purpose: str,
    entrusted: bool,
) -> None:
    first = run(consents[0], revocations[0], institutions[0], on, purpose, entrusted)
    shuffled = run(consents[1], revocations[1], institutions[1], on, purpose, entrusted)
    assert shuffled == first


@settings(max_examples=150)
@given(consent_lists(), revocation_lists, st.sampled_from(POOL), days(40), purposes, st.booleans())
def test_property_covered_until_agrees_with_the_gate(
    consents: list[ConsentFacts],
    revocations: list[RevocationFacts],
    institution: str,
    on: date,
    purpose: str,
    entrusted: bool,
) -> None:
    covered, until = covered_until(
        consents, revocations, institution, on, purpose=purpose, entrusted=entrusted
    )
    assert covered == run(consents, revocations, [institution], on, purpose, entrusted).allowed
    valid = covering(consents, revocations, institution, on, purpose, entrusted)
    assert covered == bool(valid)
    if not valid or any(c.expires_on is None for c in valid):
        assert until is None
    else:
        assert until == max(c.expires_on for c in valid if c.expires_on is not None)
        assert until >= on
