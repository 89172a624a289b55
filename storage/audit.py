"""The append-only, hash-chained audit log, whose payload can be redacted when a case is purged.

Format. Each entry has a *payload* — ``institution`` and ``detail`` — and a *frame*:
seq, time, actor, action, pseudonym. ``payload_hash`` is the SHA-256 of the payload's
canonical JSON; ``hash`` is the SHA-256 of the frame's canonical JSON together with
``payload_hash`` and the previous entry's hash. The chain therefore covers the payload
only through ``payload_hash``, which is what lets a purge blank the payload without
breaking the chain. The head row (last seq and hash) is written in the same
transaction. Entries hold ids, pseudonyms and codes only, never free text.

Redaction (:meth:`AuditLog.redact`, used by the purge in ``storage/retention.py``) sets
``institution`` to NULL, ``detail`` to ``{}`` and ``redacted_at`` to the purge time on
every not yet redacted entry of one pseudonym, keeps ``payload_hash`` and is followed
in the same transaction by a :data:`DELETION_ACTION` entry for that pseudonym whose
``at`` equals ``redacted_at`` (the deletion record).

What :func:`verify` guarantees, walking in seq order and stopping at the first entry
that does not fit:

* seq, time, actor, action, pseudonym, ``payload_hash`` and the link to the previous
  entry of every entry, redacted or not: any change, deletion, insertion or move is
  named, a cut-off tail shows as a head mismatch (as before redaction existed);
* the payload of every entry that is *not* redacted: it must hash to ``payload_hash``;
* an entry marked redacted must be empty (no institution, ``detail == {}``), must name
  a pseudonym, and a *later* deletion record for that pseudonym with ``at ==
  redacted_at`` must exist. So marking an entry redacted by hand is detected (unless it
  belongs to a purged case and precedes that case's deletion record — then the purge
  already blanked it), and so is writing anything into a redacted entry;
* every entry of a pseudonym that precedes a deletion record for it must be redacted:
  writing a purged payload back (from an old export) and clearing ``redacted_at`` is
  detected.

What it cannot guarantee:

* the payload of a redacted entry is gone for good; only its ``payload_hash`` remains,
  so an export made before the purge can still be checked against the chain
  (``sha256(canonical {institution, detail}) == payload_hash``), but nothing in the
  database tells what the payload was;
* ``redacted_at`` itself is not hashed; it is tied only to the (hashed) time of the
  deletion record as described above;
* someone with write access who rewrites the whole chain consistently (recomputing every
  hash and the head) is not detected — keep the head hash or an export outside the
  database, as before.

Migration ``0007_audit_redaction`` re-sealed existing chains into this format: a head
hash exported before that upgrade no longer matches; compare it with an export made
before the upgrade, not with the new head.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session

from domain.text import N_, SOURCE, Msg
from storage.models import AuditEntry, AuditHead, CaseFile
from storage.scope import Scope

GENESIS = "0" * 64
DELETION_ACTION = "daten_geloescht"  # the deletion record that follows a redaction

# What verify finds wrong: catalog msgids, shown in the operator's language.
CHANGED = N_("Inhalt verändert")
NOT_EMPTY = N_("als geschwärzt markiert, aber nicht leer")
NO_DELETION_RECORD = N_("geschwärzt ohne passenden Löschvermerk")
NOT_REDACTED = N_("vor einem Löschvermerk für diesen Fall, aber nicht geschwärzt")
NOT_LINKED = N_("verweist nicht auf den vorigen Eintrag")
NO_HEAD = N_("Kopfzeile der Kette fehlt")


def _digest(data: dict[str, Any]) -> str:
    text = json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _iso(at: datetime) -> str:
    return at.astimezone(UTC).isoformat(timespec="microseconds")


class EntryLike(Protocol):
    """What verification and export read of an entry: a model or a plain row."""

    @property
    def seq(self) -> int: ...
    @property
    def at(self) -> datetime: ...
    @property
    def room_id(self) -> str | None: ...
    @property
    def actor(self) -> str: ...
    @property
    def institution(self) -> str | None: ...
    @property
    def action(self) -> str: ...
    @property
    def pseudonym(self) -> str | None: ...
    @property
    def detail(self) -> dict[str, Any]: ...
    @property
    def payload_hash(self) -> str: ...
    @property
    def redacted_at(self) -> datetime | None: ...
    @property
    def prev_hash(self) -> str: ...
    @property
    def hash(self) -> str: ...


def payload(entry: EntryLike) -> dict[str, Any]:
    """The redactable part of an entry."""
    return {"institution": entry.institution, "detail": entry.detail}


def payload_hash(entry: EntryLike) -> str:
    return _digest(payload(entry))


def canonical(entry: EntryLike) -> dict[str, Any]:
    """What the entry's hash covers: the frame, the payload's hash and the link.

    ``room`` is part of the frame only when set, so entries written before rooms were
    recorded keep their hashes (migration ``0008_room_boundary`` re-seals nothing).
    """
    frame = {
        "seq": entry.seq,
        "at": _iso(entry.at),
        "actor": entry.actor,
        "action": entry.action,
        "pseudonym": entry.pseudonym,
        "payload_hash": entry.payload_hash,
        "prev_hash": entry.prev_hash,
    }
    if entry.room_id is not None:
        frame["room"] = entry.room_id
    return frame


def entry_hash(entry: EntryLike) -> str:
    return _digest(canonical(entry))


def exported(entry: EntryLike) -> dict[str, Any]:
    """One line of ``fkbot audit export``: the entry as stored, redacted or not.

    ``hash`` is the SHA-256 of the canonical JSON of the keys of :func:`canonical`;
    unless ``redacted_at`` is set, ``payload_hash`` is that of ``institution`` and
    ``detail``.
    """
    return canonical(entry) | {
        "institution": entry.institution,
        "detail": entry.detail,
        "redacted_at": None if entry.redacted_at is None else _iso(entry.redacted_at),
        "hash": entry.hash,
    }


class AuditLog:
    def __init__(self, session: Session, scope: Scope | None = None) -> None:
        self._s = session
        self._scope = scope or Scope()
        self._head: AuditHead | None = None
        self._head_tx: object = None

    def _locked_head(self) -> AuditHead | None:
        """The chain's head, locked for this transaction. A command that appends several
        entries reads it once: the lock is kept while the (nested) transaction that took
        it is open and the row is not expired; after a rollback it is read and locked
        again."""
        tx = self._s.get_nested_transaction() or self._s.get_transaction()
        head = self._head
        if (
            head is not None
            and tx is self._head_tx
            and tx is not None
            and tx.is_active
            and head in self._s
            and "seq" in head.__dict__
        ):
            return head
        head = self._s.scalars(
            select(AuditHead).where(AuditHead.id == 1).with_for_update()
        ).one_or_none()
        self._head, self._head_tx = head, tx
        return head

    def append(
        self,
        *,
        at: datetime,
        actor: str,
        institution: str | None,
        action: str,
        pseudonym: str | None = None,
        detail: dict[str, Any] | None = None,
        room_id: str | None = None,
    ) -> AuditEntry:
        head = self._locked_head()
        entry = AuditEntry(
            seq=(head.seq + 1) if head else 1,
            # Microsecond precision is what both databases keep; the hash must survive them.
            at=at.astimezone(UTC),
            room_id=room_id if room_id is not None else self._scope.room,
            actor=actor,
            institution=institution,
            action=action,
            pseudonym=pseudonym,
            detail=detail or {},
            redacted_at=None,
            prev_hash=head.hash if head else GENESIS,
        )
        entry.payload_hash = payload_hash(entry)
        entry.hash = entry_hash(entry)
        self._s.add(entry)
        if head is None:
            self._head = AuditHead(id=1, seq=entry.seq, hash=entry.hash)
            self._s.add(self._head)
        else:
            head.seq, head.hash = entry.seq, entry.hash
        self._s.flush()
        return entry

    def redact(self, pseudonym: str, now: datetime) -> int:
        """Blank institution and detail of every not yet redacted entry of ``pseudonym``.

        The caller must append a :data:`DELETION_ACTION` entry for ``pseudonym`` at
        ``now`` in the same transaction (``storage.retention.purge`` does); without it
        :func:`verify` reports the redacted entries. Returns how many were redacted.
        """
        self._s.flush()
        result = self._s.execute(
            update(AuditEntry)
            .where(AuditEntry.pseudonym == pseudonym, AuditEntry.redacted_at.is_(None))
            .values(institution=None, detail={}, redacted_at=now.astimezone(UTC))
            .execution_options(synchronize_session="fetch")
        )
        return int(getattr(result, "rowcount", 0) or 0)

    def entries(
        self, pseudonym: str | None = None, *, room_id: str | None = None
    ) -> Iterator[AuditEntry]:
        """In seq order; ``room_id`` keeps the room's entries, and older entries without a
        room whose pseudonym is one of the room's cases."""
        query = select(AuditEntry).order_by(AuditEntry.seq)
        if pseudonym is not None:
            query = query.where(AuditEntry.pseudonym == pseudonym)
        if room_id is not None:
            cases = select(CaseFile.pseudonym).where(CaseFile.room_id == room_id)
            query = query.where(
                or_(
                    AuditEntry.room_id == room_id,
                    AuditEntry.room_id.is_(None) & AuditEntry.pseudonym.in_(cases),
                )
            )
        yield from self._s.scalars(query.execution_options(yield_per=1000))

    def stream(self) -> Iterator[EntryLike]:
        """Every entry in seq order as plain rows, fetched in batches: memory stays flat
        however long the chain (the ORM would keep each loaded entry in its session)."""
        result = self._s.execute(
            select(AuditEntry.__table__).order_by(AuditEntry.seq).execution_options(yield_per=1000)
        )
        yield from result

    def head(self) -> tuple[int, str] | None:
        row = self._s.get(AuditHead, 1)
        return (row.seq, row.hash) if row else None


@dataclass(frozen=True)
class Verdict:
    count: int
    head_hash: str
    broken_seq: int | None = None  # the first entry that does not fit
    problem: Msg | None = None

    @property
    def ok(self) -> bool:
        return self.broken_seq is None and self.problem is None

    @property
    def message(self) -> str:
        """The problem in German (the source language); ``problem.render(t)`` for others."""
        return "" if self.problem is None else self.problem.render(SOURCE)


def _at(seq: int, prev_hash: str, problem: Msg) -> Verdict:
    """Entry ``seq`` (whose links up to it were intact) does not fit."""
    return Verdict(seq - 1, prev_hash, seq, problem)


def verify(entries: Iterable[EntryLike], head: tuple[int, str] | None) -> Verdict:
    """Walk the chain in seq order; stop at the first entry that does not fit.

    A redaction is only settled by a later deletion record, so a redacted entry
    without one is named after the walk (unless the head shows a cut-off tail, which
    would explain the missing record).
    """
    expected_seq, prev, count = 1, GENESIS, 0
    # (pseudonym, redacted_at) -> first redacted entry awaiting its deletion record
    awaiting: dict[tuple[str, datetime], tuple[int, str]] = {}
    # pseudonym -> first entry since its last deletion record that is not redacted
    unredacted: dict[str, tuple[int, str]] = {}
    for entry in entries:
        if entry.seq != expected_seq:
            missing = (
                Msg(N_("Eintrag %(seq)s fehlt"), seq=expected_seq)
                if entry.seq > expected_seq
                else Msg(N_("Eintrag %(seq)s steht doppelt oder verschoben"), seq=expected_seq)
            )
            return Verdict(count, prev, entry.seq, missing)
        if entry.prev_hash != prev:
            return Verdict(count, prev, entry.seq, Msg(NOT_LINKED))
        if entry_hash(entry) != entry.hash:
            return Verdict(count, prev, entry.seq, Msg(CHANGED))
        here = (entry.seq, entry.prev_hash)
        if entry.redacted_at is None:
            if payload_hash(entry) != entry.payload_hash:
                return Verdict(count, prev, entry.seq, Msg(CHANGED))
        elif entry.institution is not None or entry.detail != {}:
            return Verdict(count, prev, entry.seq, Msg(NOT_EMPTY))
        elif entry.pseudonym is None:
            return Verdict(count, prev, entry.seq, Msg(NO_DELETION_RECORD))
        else:
            awaiting.setdefault((entry.pseudonym, entry.redacted_at), here)
        if entry.pseudonym is not None:
            if entry.action == DELETION_ACTION:
                first = unredacted.pop(entry.pseudonym, None)
                if first is not None:
                    return _at(*first, Msg(NOT_REDACTED))
                awaiting.pop((entry.pseudonym, entry.at), None)
            elif entry.redacted_at is None:
                unredacted.setdefault(entry.pseudonym, here)
        prev, expected_seq, count = entry.hash, expected_seq + 1, count + 1
    if head is None:
        if count:
            return Verdict(count, prev, None, Msg(NO_HEAD))
        return Verdict(0, prev)
    head_seq, head_hash = head
    if head_seq != count or head_hash != prev:
        return Verdict(
            count,
            prev,
            min(head_seq, count + 1),
            Msg(N_("Kette endet bei %(count)s, Kopf nennt %(head)s"), count=count, head=head_seq),
        )
    if awaiting:
        return _at(*min(awaiting.values()), Msg(NO_DELETION_RECORD))
    return Verdict(count, prev)
