"""Queries for cases, consents, revocations, requests and the Schutzauftrag path."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from storage.models import (
    AuditEntry,
    CaseFile,
    ConferenceRequest,
    Consent,
    Revocation,
    RoleSnapshot,
    Schutzauftrag,
)
from storage.scope import Scope

OPEN_REQUEST_STATES = ("wartet_einwilligung", "bereit")


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

    def open_requests(self, pseudonym: str | None = None) -> Sequence[ConferenceRequest]:
        query = select(ConferenceRequest).where(
            ConferenceRequest.state.in_(OPEN_REQUEST_STATES),
            self._scope.where(ConferenceRequest.room_id),
        )
        if pseudonym is not None:
            query = query.where(ConferenceRequest.case_pseudonym == pseudonym)
        return self._s.scalars(query.order_by(ConferenceRequest.id)).all()

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
