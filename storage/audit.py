"""The append-only, hash-chained audit log.

Each entry stores the SHA-256 of its own canonical JSON, which includes the hash
of the entry before it; the head row (last seq and hash) is written in the same
transaction. :func:`verify` recomputes the chain and names the first entry that
was modified, deleted, inserted or moved — and notices a cut-off tail through the
head. Entries hold ids, pseudonyms and codes only, never free text.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from storage.models import AuditEntry, AuditHead

GENESIS = "0" * 64


def canonical(entry: AuditEntry) -> dict[str, Any]:
    return {
        "seq": entry.seq,
        "at": entry.at.astimezone(UTC).isoformat(timespec="microseconds"),
        "actor": entry.actor,
        "institution": entry.institution,
        "action": entry.action,
        "pseudonym": entry.pseudonym,
        "detail": entry.detail,
        "prev_hash": entry.prev_hash,
    }


def entry_hash(entry: AuditEntry) -> str:
    data = json.dumps(canonical(entry), sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(data.encode("utf-8")).hexdigest()


class AuditLog:
    def __init__(self, session: Session) -> None:
        self._s = session

    def append(
        self,
        *,
        at: datetime,
        actor: str,
        institution: str | None,
        action: str,
        pseudonym: str | None = None,
        detail: dict[str, Any] | None = None,
    ) -> AuditEntry:
        head = self._s.scalars(
            select(AuditHead).where(AuditHead.id == 1).with_for_update()
        ).one_or_none()
        entry = AuditEntry(
            seq=(head.seq + 1) if head else 1,
            # Microsecond precision is what both databases keep; the hash must survive them.
            at=at.astimezone(UTC),
            actor=actor,
            institution=institution,
            action=action,
            pseudonym=pseudonym,
            detail=detail or {},
            prev_hash=head.hash if head else GENESIS,
        )
        entry.hash = entry_hash(entry)
        self._s.add(entry)
        if head is None:
            self._s.add(AuditHead(id=1, seq=entry.seq, hash=entry.hash))
        else:
            head.seq, head.hash = entry.seq, entry.hash
        self._s.flush()
        return entry

    def entries(self, pseudonym: str | None = None) -> Iterator[AuditEntry]:
        query = select(AuditEntry).order_by(AuditEntry.seq)
        if pseudonym is not None:
            query = query.where(AuditEntry.pseudonym == pseudonym)
        yield from self._s.scalars(query.execution_options(yield_per=1000))

    def head(self) -> tuple[int, str] | None:
        row = self._s.get(AuditHead, 1)
        return (row.seq, row.hash) if row else None


@dataclass(frozen=True)
class Verdict:
    count: int
    head_hash: str
    broken_seq: int | None = None  # the first entry that does not fit
    problem: str = ""

    @property
    def ok(self) -> bool:
        return self.broken_seq is None and not self.problem


def verify(entries: Iterable[AuditEntry], head: tuple[int, str] | None) -> Verdict:
    """Walk the chain in seq order; stop at the first entry that does not fit."""
    expected_seq, prev, count = 1, GENESIS, 0
    for entry in entries:
        if entry.seq != expected_seq:
            missing = "fehlt" if entry.seq > expected_seq else "steht doppelt oder verschoben"
            return Verdict(count, prev, entry.seq, f"Eintrag {expected_seq} {missing}")
        if entry.prev_hash != prev:
            return Verdict(count, prev, entry.seq, "verweist nicht auf den vorigen Eintrag")
        if entry_hash(entry) != entry.hash:
            return Verdict(count, prev, entry.seq, "Inhalt verändert")
        prev, expected_seq, count = entry.hash, expected_seq + 1, count + 1
    if head is None:
        if count:
            return Verdict(count, prev, None, "Kopfzeile der Kette fehlt")
        return Verdict(0, prev)
    head_seq, head_hash = head
    if head_seq != count or head_hash != prev:
        return Verdict(
            count, prev, min(head_seq, count + 1), f"Kette endet bei {count}, Kopf nennt {head_seq}"
        )
    return Verdict(count, prev)
