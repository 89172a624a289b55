"""Bulk data of the product's own shapes, through the storage layer: for scale tests and
``bench/scale.py`` (thousands of cases in a second, where commands would take minutes).
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from domain.pseudonym import ALPHABET, check_char
from storage.models import CaseFile, ConferenceRequest, Consent
from storage.uow import Database

CASEWORKER = "@anna.jugendamt:fk.test"
REQUESTER = "@carla.jobcenter:fk.test"


def pseudonym_for(n: int) -> str:
    """A valid pseudonym numbered ``n`` (deterministic, for seeding)."""
    digits = ""
    for _ in range(5):
        n, r = divmod(n, len(ALPHABET))
        digits += ALPHABET[r]
    full = digits + check_char(digits)
    return f"FK-{full[:4]}-{full[4:]}"


def seed_cases(
    db: Database, room_id: str, now: datetime, count: int, start: int = 1000
) -> list[str]:
    """``count`` cases with consent and an open request in ``room_id``, through the
    storage layer (every fifth request waits for consent); returns their pseudonyms."""
    cases = [pseudonym_for(start + i) for i in range(count)]
    with db.uow() as uow:
        uow.session.add_all(
            [
                CaseFile(
                    pseudonym=p,
                    room_id=room_id,
                    owner_institution="jugendamt",
                    created_by=CASEWORKER,
                    created_at=now,
                    state="offen",
                )
                for p in cases
            ]
        )
        uow.session.flush()
        rows: list[Any] = []
        for i, p in enumerate(cases):
            waiting = i % 5 == 0
            if not waiting:
                rows.append(
                    Consent(
                        case_pseudonym=p,
                        version=1,
                        grantor="sorgeberechtigte",
                        purpose="fallkonferenz",
                        recipients=["jugendamt", "jobcenter"],
                        form="schriftlich",
                        given_on=date(2026, 11, 20),
                        expires_on=None,
                        document_ref="EW-1",
                        recorded_by=CASEWORKER,
                        recorded_institution="jugendamt",
                        recorded_at=now,
                    )
                )
            rows.append(
                ConferenceRequest(
                    case_pseudonym=p,
                    room_id=room_id,
                    requested_by=REQUESTER,
                    requesting_institution="jobcenter",
                    topic="Ausbildung",
                    urgency="regulär",
                    participants=["jugendamt", "jobcenter"],
                    latest_date=None,
                    entrusted=False,
                    state="wartet_einwilligung" if waiting else "bereit",
                    basis=None if waiting else "einwilligung",
                    created_at=now,
                    updated_at=now,
                )
            )
        uow.session.add_all(rows)
        uow.commit()
    return cases
