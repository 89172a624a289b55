"""Queries for cases, consents, revocations, requests and the Schutzauftrag path."""

from __future__ import annotations

from collections.abc import Collection, Iterator, Sequence
from datetime import date
from typing import Any

from sqlalchemy import String, and_, cast, func, or_, select, union
from sqlalchemy.orm import Session

from storage.errors import NotFoundError
from storage.models import (
    AuditEntry,
    CaseFile,
    ConferenceRequest,
    Consent,
    Placement,
    Revocation,
    RoleSnapshot,
    Schutzauftrag,
)
from storage.scope import Scope
from storage.states import SchutzauftragState

OPEN_REQUEST_STATES = ("wartet_einwilligung", "bereit")
IN_CHUNK = 30_000  # values per IN list: below SQLite's 32 766 and PostgreSQL's 65 535 parameters


def in_chunks(values: Collection[str]) -> Iterator[list[str]]:
    ordered = sorted(values)
    for start in range(0, len(ordered), IN_CHUNK):
        yield ordered[start : start + IN_CHUNK]


class CaseRepository:
    """Cases and what hangs on them; in a room-scoped unit of work, only that room's."""

    def __init__(self, session: Session, scope: Scope | None = None) -> None:
        self._s = session
        self._scope = scope or Scope()

    # cases
    def exists(self, pseudonym: str) -> bool:
        return self.get(pseudonym) is not None

    def pseudonym_taken(self, pseudonym: str) -> bool:
        """Used anywhere, ever, in any room: a pseudonym is never given out twice, not even
        after its case was purged (the audit keeps it)."""
        if self._s.get(CaseFile, pseudonym) is not None:
            return True
        return (
            self._s.scalar(select(AuditEntry.seq).where(AuditEntry.pseudonym == pseudonym).limit(1))
            is not None
        )

    def get(self, pseudonym: str) -> CaseFile | None:
        case = self._s.get(CaseFile, pseudonym)
        if case is None or not self._scope.visible(case.room_id):
            return None
        return case

    def add(self, case: CaseFile) -> None:
        if case.room_id is None:
            case.room_id = self._scope.room
        self._s.add(case)
        self._s.flush()

    # consent and revocation
    def consents(self, pseudonym: str) -> Sequence[Consent]:
        return self._s.scalars(
            select(Consent)
            .where(
                Consent.case_pseudonym == pseudonym, self._scope.case_filter(Consent.case_pseudonym)
            )
            .order_by(Consent.version)
        ).all()

    def next_consent_version(self, pseudonym: str) -> int:
        current = self._s.scalar(
            select(func.max(Consent.version)).where(Consent.case_pseudonym == pseudonym)
        )
        return int(current or 0) + 1

    def add_consent(self, consent: Consent) -> None:
        self._s.add(consent)
        self._s.flush()

    def revocations(self, pseudonym: str) -> Sequence[Revocation]:
        return self._s.scalars(
            select(Revocation)
            .where(
                Revocation.case_pseudonym == pseudonym,
                self._scope.case_filter(Revocation.case_pseudonym),
            )
            .order_by(Revocation.id)
        ).all()

    def add_revocation(self, revocation: Revocation) -> None:
        self._s.add(revocation)
        self._s.flush()

    # gate facts of many cases at once: one query each, however many cases
    def consents_of(self, pseudonyms: Collection[str]) -> dict[str, list[Any]]:
        """Consent rows (read-only, attribute access like the model) of many cases."""
        return self._by_case(Consent, pseudonyms, Consent.version)

    def revocations_of(self, pseudonyms: Collection[str]) -> dict[str, list[Any]]:
        """Revocation rows (read-only) of many cases."""
        return self._by_case(Revocation, pseudonyms, Revocation.id)

    def _by_case(
        self, model: type[Consent] | type[Revocation], pseudonyms: Collection[str], order: Any
    ) -> dict[str, list[Any]]:
        """Rows of ``model`` for many cases, one query per IN_CHUNK cases, grouped. Plain
        rows, not ORM objects: thousands of facts are read, none is changed."""
        found: dict[str, list[Any]] = {p: [] for p in pseudonyms}
        column = model.case_pseudonym
        for chunk in in_chunks(pseudonyms):
            for row in self._s.execute(
                select(model.__table__)
                .where(column.in_(chunk), self._scope.case_filter(column))
                .order_by(column, order)
            ):
                found[row.case_pseudonym].append(row)
        return found

    def with_dated_facts(self, after: date, through: date) -> set[str]:
        """Cases whose gate can answer differently on ``through`` than on ``after``: a
        consent begins or ends, or a revocation takes effect, on a day in between — the
        only consent facts that change with the calendar. One query."""
        consents = select(Consent.case_pseudonym).where(
            or_(
                and_(Consent.given_on > after, Consent.given_on <= through),
                and_(Consent.expires_on >= after, Consent.expires_on <= through),
            ),
            self._scope.case_filter(Consent.case_pseudonym),
        )
        revocations = select(Revocation.case_pseudonym).where(
            Revocation.effective_on > after,
            Revocation.effective_on <= through,
            self._scope.case_filter(Revocation.case_pseudonym),
        )
        return set(self._s.scalars(select(union(consents, revocations).subquery().c[0])))

    def confirmed_schutzauftrag(self, pseudonyms: Collection[str]) -> set[str]:
        """The cases among ``pseudonyms`` with a confirmed Schutzauftrag."""
        found: set[str] = set()
        for chunk in in_chunks(pseudonyms):
            found.update(
                self._s.scalars(
                    select(Schutzauftrag.case_pseudonym).where(
                        Schutzauftrag.case_pseudonym.in_(chunk),
                        Schutzauftrag.state == SchutzauftragState.CONFIRMED,
                        self._scope.case_filter(Schutzauftrag.case_pseudonym),
                    )
                )
            )
        return found

    def open_requests_of(self, pseudonyms: Collection[str]) -> list[ConferenceRequest]:
        """The open requests of these cases, in request order."""
        found: list[ConferenceRequest] = []
        for chunk in in_chunks(pseudonyms):
            found.extend(
                self._s.scalars(
                    select(ConferenceRequest).where(
                        ConferenceRequest.case_pseudonym.in_(chunk),
                        ConferenceRequest.state.in_(OPEN_REQUEST_STATES),
                        self._scope.where(ConferenceRequest.room_id),
                    )
                )
            )
        return sorted(found, key=lambda r: r.id)

    def open_requests_page(
        self,
        *,
        state: str | None = None,
        session_id: int | None = None,
        institution: str | None = None,
        offset: int = 0,
        limit: int = 50,
    ) -> tuple[int, Sequence[ConferenceRequest]]:
        """(how many match, the page): open requests filtered by state, the session they
        are placed in and a participating institution, in request order."""
        query = select(ConferenceRequest).where(
            ConferenceRequest.state.in_(OPEN_REQUEST_STATES),
            self._scope.where(ConferenceRequest.room_id),
        )
        if state is not None:
            query = query.where(ConferenceRequest.state == state)
        if session_id is not None:
            query = query.where(
                ConferenceRequest.id.in_(
                    select(Placement.request_id).where(Placement.session_id == session_id)
                )
            )
        if institution is not None:
            # participants is a JSON list of institution keys (a–z, 0–9, - and _ only)
            query = query.where(
                cast(ConferenceRequest.participants, String).like(f'%"{institution}"%')
            )
        total = int(self._s.scalar(select(func.count()).select_from(query.subquery())) or 0)
        rows = self._s.scalars(
            query.order_by(ConferenceRequest.id).offset(offset).limit(limit)
        ).all()
        return total, rows

    def count_open_requests(self, state: str | None = None) -> int:
        query = (
            select(func.count())
            .select_from(ConferenceRequest)
            .where(
                ConferenceRequest.state.in_(OPEN_REQUEST_STATES),
                self._scope.where(ConferenceRequest.room_id),
            )
        )
        if state is not None:
            query = query.where(ConferenceRequest.state == state)
        return int(self._s.scalar(query) or 0)

    # requests
    def add_request(self, request: ConferenceRequest) -> None:
        if request.room_id is None:
            case = self._s.get(CaseFile, request.case_pseudonym)
            request.room_id = case.room_id if case is not None else self._scope.room
        self._s.add(request)
        self._s.flush()

    def requests(self, pseudonym: str) -> Sequence[ConferenceRequest]:
        return self._s.scalars(
            select(ConferenceRequest)
            .where(
                ConferenceRequest.case_pseudonym == pseudonym,
                self._scope.where(ConferenceRequest.room_id),
            )
            .order_by(ConferenceRequest.id)
        ).all()

    def request(self, request_id: int) -> ConferenceRequest | None:
        request = self._s.get(ConferenceRequest, request_id)
        if request is None or not self._scope.visible(request.room_id):
            return None
        return request

    def require_request(self, request_id: int) -> ConferenceRequest:
        """A request that must exist (a poll's): NotFoundError if not."""
        request = self.request(request_id)
        if request is None:
            raise NotFoundError(f"Anfrage {request_id}")
        return request

    def open_requests(
        self,
        pseudonym: str | None = None,
        *,
        state: str | None = None,
        offset: int = 0,
        limit: int | None = None,
    ) -> Sequence[ConferenceRequest]:
        query = select(ConferenceRequest).where(
            ConferenceRequest.state.in_(OPEN_REQUEST_STATES),
            self._scope.where(ConferenceRequest.room_id),
        )
        if pseudonym is not None:
            query = query.where(ConferenceRequest.case_pseudonym == pseudonym)
        if state is not None:
            query = query.where(ConferenceRequest.state == state)
        query = query.order_by(ConferenceRequest.id).offset(offset)
        if limit is not None:
            query = query.limit(limit)
        return self._s.scalars(query).all()

    # Schutzauftrag
    def schutzauftraege(self, pseudonym: str) -> Sequence[Schutzauftrag]:
        return self._s.scalars(
            select(Schutzauftrag)
            .where(
                Schutzauftrag.case_pseudonym == pseudonym,
                self._scope.case_filter(Schutzauftrag.case_pseudonym),
            )
            .order_by(Schutzauftrag.id)
        ).all()

    def add_schutzauftrag(self, row: Schutzauftrag) -> None:
        self._s.add(row)
        self._s.flush()


class RoleSnapshotRepository:
    def __init__(self, session: Session) -> None:
        self._s = session

    def all(self) -> dict[str, RoleSnapshot]:
        return {r.subject: r for r in self._s.scalars(select(RoleSnapshot))}

    def put(self, subject: str, institution: str, roles: str) -> None:
        row = self._s.get(RoleSnapshot, subject)
        if row is None:
            self._s.add(RoleSnapshot(subject=subject, institution=institution, roles=roles))
        else:
            row.institution, row.roles = institution, roles

    def remove(self, subject: str) -> None:
        row = self._s.get(RoleSnapshot, subject)
        if row is not None:
            self._s.delete(row)
