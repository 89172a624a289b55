"""Löschfristen: which cases are due for deletion, and deleting them.

A case is due

* ``erledigt``: ``case_file.state == "erledigt"`` and ``closed_at`` at least
  ``closed_days`` ago; or
* ``widerrufen``: every institution any of its consents ever named is revoked for that
  consent (the rules of ``commands/gate.py``: a revocation for some or all
  institutions ends every consent given before it; a consent given later covers
  again), the last of those revocations at least ``revoked_grace_days`` old, and no
  Schutzauftrag (§ 8a SGB VIII) of the case is still open or confirmed — that one
  does not depend on consent. A case without any consent never qualifies this way.

Deleting a case (:func:`purge`) removes every row that belongs to it, found from the
schema rather than from a list: ``case_file`` itself, every table with a
``case_pseudonym`` column, and — transitively — every row that references one of
those rows by foreign key (placements, polls and their ballots, case reminders, …).
Children go before parents. A table added later is covered the same way. Rows of a
session (session, agenda, sitting, attendance, reminder) are not the case's and stay.

The bot's sent messages (``outbox_message``) can name the pseudonym: a row that is no
longer pending and whose content names it — also inside an attachment (the ``.ics``
invitation with its folded lines, the minutes as Markdown, JSON or PDF, whose
compressed page streams are unpacked) — is deleted, or, if another table still names
its transaction id (an agenda's or minutes' posted message, whose event id reactions
are matched against), keeps its ids and loses its content. A pending message that
names the case holds the case back until it is sent (the next run deletes it then).
The audit trail is not deleted but redacted (:meth:`storage.audit.AuditLog.redact`):
seq, time, actor, action, pseudonym and hashes stay; one ``daten_geloescht`` entry per
case records the row counts. Everything happens in the caller's transaction; the caller commits.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, time, timedelta
from typing import Any

from sqlalchemy import ColumnElement, Table, delete, func, or_, select, tuple_
from sqlalchemy.orm import Session

from domain.text import N_, Msg
from storage.audit import DELETION_ACTION
from storage.cases import CaseRepository, in_chunks
from storage.models import (
    AuditEntry,
    Base,
    CaseFile,
    Consent,
    OutboxCase,
    OutboxMessage,
    Revocation,
    Schutzauftrag,
)
from storage.states import CaseState, OutboxState, SchutzauftragState
from storage.types import LOCAL_TZ  # dates in reasons read as the agency's calendar
from storage.uow import UnitOfWork

log = logging.getLogger(__name__)

CLOSED = CaseState.CLOSED  # case_file.state, and the name of that path
REVOKED = "widerrufen"
OUTBOX_DELETED = "outbox_message"
OUTBOX_EMPTIED = "outbox_message_inhalt_geleert"
CASE_COLUMN = "case_pseudonym"


@dataclass(frozen=True)
class PurgeCandidate:
    pseudonym: str
    reason: Msg  # "erledigt seit …" / "Widerruf für alle Institutionen seit …"
    since: datetime
    rows: dict[str, int]  # table -> rows that would be deleted (outbox: see module doc)


# -- which tables hold a case ----------------------------------------------------------------


def _selectors(pseudonym: str) -> list[tuple[Table, ColumnElement[bool]]]:
    """Every table that can hold rows of the case, parents first, with what picks them."""
    case_table = CaseFile.__table__
    picks: dict[Table, ColumnElement[bool]] = {}
    for table in Base.metadata.sorted_tables:
        if table is AuditEntry.__table__:
            continue  # redacted, never deleted
        parts: list[ColumnElement[bool]] = []
        if table is case_table:
            parts.append(case_table.c.pseudonym == pseudonym)
        if CASE_COLUMN in table.c:
            parts.append(table.c[CASE_COLUMN] == pseudonym)
        for fk in table.foreign_key_constraints:
            parent = fk.referred_table
            if parent is table or parent not in picks:
                continue
            local = list(fk.columns)
            remote = select(*(element.column for element in fk.elements)).where(picks[parent])
            parts.append(local[0].in_(remote) if len(local) == 1 else tuple_(*local).in_(remote))
        if parts:
            picks[table] = or_(*parts)
    return list(picks.items())


def case_tables() -> list[str]:
    """The tables a purge deletes from, parents first (the outbox is handled apart)."""
    return [table.name for table, _ in _selectors("")]


# -- which cases are due ---------------------------------------------------------------------


def _revocation_moment(revocation: Revocation) -> datetime:
    """When a revocation took effect: when it was recorded, not before its day began."""
    day_start = datetime.combine(revocation.effective_on, time.min, LOCAL_TZ)
    return max(revocation.recorded_at, day_start.astimezone(UTC))


def _covers(revocation: Revocation, institution: str) -> bool:
    return revocation.institutions is None or institution in revocation.institutions


def _ends(revocation: Revocation, consent: Consent) -> bool:
    # As RevocationFacts.ends in commands/gate.py (storage does not import commands).
    return consent.given_on < revocation.effective_on or (
        consent.given_on == revocation.effective_on and consent.recorded_at < revocation.recorded_at
    )


def revoked_since(
    consents: Sequence[Consent], revocations: Sequence[Revocation]
) -> datetime | None:
    """When the last consented institution was revoked; None if any is still consented."""
    if not consents:
        return None
    since: datetime | None = None
    for consent in consents:
        for institution in consent.recipients:
            moments = [
                _revocation_moment(r)
                for r in revocations
                if _covers(r, institution) and _ends(r, consent)
            ]
            if not moments:
                return None
            first = min(moments)
            since = first if since is None else max(since, first)
    return since


def _bases(session: Session, case: CaseFile) -> list[tuple[str, datetime]]:
    """The paths by which the case could be deleted, and since when (periods aside)."""
    return _bases_of(session, [case])[case.pseudonym]


def _bases_of(session: Session, cases: Sequence[CaseFile]) -> dict[str, list[tuple[str, datetime]]]:
    """:func:`_bases` of many cases in three queries (revocations; for the revoked cases
    their open Schutzauftrag and their consents), however many cases there are."""
    facts = CaseRepository(session)  # unscoped: retention looks at every room
    revocations = facts.revocations_of([c.pseudonym for c in cases])
    revoked = [p for p, rows in revocations.items() if rows]
    protected: set[str] = set()
    for chunk in in_chunks(revoked):
        protected.update(
            session.scalars(
                select(Schutzauftrag.case_pseudonym).where(
                    Schutzauftrag.case_pseudonym.in_(chunk),
                    Schutzauftrag.state != SchutzauftragState.ENDED,
                )
            )
        )
    consents = facts.consents_of(revoked)
    found: dict[str, list[tuple[str, datetime]]] = {}
    for case in cases:
        out = found.setdefault(case.pseudonym, [])
        if case.state == CLOSED and case.closed_at is not None:
            out.append((CLOSED, case.closed_at))
        if revocations[case.pseudonym] and case.pseudonym not in protected:
            since = revoked_since(consents[case.pseudonym], revocations[case.pseudonym])
            if since is not None:
                out.append((REVOKED, since))
    return found


def _reason(path: str, since: datetime) -> Msg:
    """Why a case is due, in the operator's language where it is shown (``fkbot purge``)."""
    day = since.astimezone(LOCAL_TZ).strftime("%d.%m.%Y")
    if path == CLOSED:
        return Msg(N_("erledigt seit %(day)s"), day=day)
    return Msg(N_("Widerruf für alle Institutionen seit %(day)s"), day=day)


def _due(
    session: Session, now: datetime, closed_days: int, revoked_grace_days: int
) -> Iterator[tuple[str, Msg, datetime]]:
    """(pseudonym, reason, since) of every case due at ``now``."""
    limits = {
        CLOSED: now - timedelta(days=closed_days),
        REVOKED: now - timedelta(days=revoked_grace_days),
    }
    cases = session.scalars(
        select(CaseFile)
        .where(
            or_(
                (CaseFile.state == CLOSED) & (CaseFile.closed_at <= limits[CLOSED]),
                CaseFile.pseudonym.in_(select(Revocation.case_pseudonym)),
            )
        )
        .order_by(CaseFile.pseudonym)
    ).all()
    bases = _bases_of(session, cases)
    for case in cases:
        for path, since in bases[case.pseudonym]:
            if since <= limits[path]:
                yield case.pseudonym, _reason(path, since), since
                break


# -- the outbox ------------------------------------------------------------------------------


@dataclass
class _OutboxHits:
    done: dict[str, list[OutboxMessage]]  # pseudonym -> sent / given up rows naming it
    pending: dict[str, int]  # pseudonym -> pending rows naming it
    handled: set[int] = field(default_factory=set)  # deleted or emptied for an earlier case


def _outbox_hits(session: Session, pseudonyms: Iterable[str]) -> _OutboxHits:
    """The outbox rows naming each case, by the ``outbox_case`` rows written with them:
    one query per IN chunk, however long the outbox is."""
    wanted = set(pseudonyms)
    hits = _OutboxHits({p: [] for p in wanted}, {})
    for chunk in in_chunks(wanted):
        rows = session.execute(
            select(OutboxCase.pseudonym, OutboxMessage)
            .join(OutboxMessage, OutboxMessage.id == OutboxCase.outbox_id)
            .where(OutboxCase.pseudonym.in_(chunk))
            .order_by(OutboxMessage.id)
        )
        for pseudonym, row in rows:
            if row.state == OutboxState.PENDING:
                hits.pending[pseudonym] = hits.pending.get(pseudonym, 0) + 1
            else:
                hits.done[pseudonym].append(row)
    return hits


def _txn_references() -> list[ColumnElement[Any]]:
    """Columns elsewhere that name an outbox row by its transaction id."""
    return [
        column
        for table in Base.metadata.sorted_tables
        if table is not OutboxMessage.__table__
        for column in table.c
        if column.name.endswith("txn_id")
    ]


def _referenced(session: Session, pseudonym: str, txn_ids: set[str]) -> set[str]:
    """Those of ``txn_ids`` that a row outside the case names (the case's own rows go)."""
    found: set[str] = set()
    if not txn_ids:
        return found
    picks = dict(_selectors(pseudonym))
    for column in _txn_references():
        query = select(column).where(column.in_(txn_ids))
        if column.table in picks:
            query = query.where(~picks[column.table])
        found.update(session.scalars(query))
    return found


def _outbox_counts(session: Session, pseudonym: str, rows: list[OutboxMessage]) -> dict[str, int]:
    kept = _referenced(session, pseudonym, {r.txn_id for r in rows})
    emptied = sum(1 for r in rows if r.txn_id in kept)
    counts = {OUTBOX_DELETED: len(rows) - emptied, OUTBOX_EMPTIED: emptied}
    return {k: v for k, v in counts.items() if v}


# -- plan and purge --------------------------------------------------------------------------


def _count_rows(session: Session, pseudonym: str) -> dict[str, int]:
    counts: dict[str, int] = {}
    for table, pick in _selectors(pseudonym):
        n = int(session.scalar(select(func.count()).select_from(table).where(pick)) or 0)
        if n:
            counts[table.name] = n
    return counts


def plan_purge(
    uow: UnitOfWork,
    now: datetime,
    *,
    closed_days: int,
    revoked_grace_days: int,
    limit: int | None = None,
) -> list[PurgeCandidate]:
    """The cases due for deletion at ``now``, oldest reason first; changes nothing.

    ``limit``: only the first ``limit`` due cases are looked at (the daily pass purges a
    backlog in bounded chunks); a case still waiting for a pending message is skipped."""
    session = uow.session
    due = sorted(_due(session, now, closed_days, revoked_grace_days), key=lambda d: (d[2], d[0]))
    if limit is not None:
        due = due[:limit]
    outbox = _outbox_hits(session, (pseudonym for pseudonym, _, _ in due))
    plan: list[PurgeCandidate] = []
    for pseudonym, reason, since in due:
        if outbox.pending.get(pseudonym):
            log.info(
                "Löschfrist: ein Fall wartet noch auf %d ausstehende Nachricht(en)",
                outbox.pending[pseudonym],
            )
            continue
        outbox_rows = outbox.done[pseudonym]
        rows = _count_rows(session, pseudonym) | _outbox_counts(session, pseudonym, outbox_rows)
        plan.append(PurgeCandidate(pseudonym, reason, since, rows))
    plan.sort(key=lambda c: (c.since, c.pseudonym))
    return plan


def _purge_one(
    uow: UnitOfWork, candidate: PurgeCandidate, outbox: _OutboxHits, now: datetime, actor: str
) -> dict[str, int] | None:
    session = uow.session
    case = session.scalars(
        select(CaseFile)
        .where(CaseFile.pseudonym == candidate.pseudonym)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).one_or_none()
    if case is None:
        return None
    still_due = {(_reason(path, since), since) for path, since in _bases(session, case)}
    if (candidate.reason, candidate.since) not in still_due or outbox.pending.get(case.pseudonym):
        return None
    pseudonym = case.pseudonym
    selectors = _selectors(pseudonym)
    deleted: dict[str, int] = {}
    for table, pick in reversed(selectors):  # children before parents
        result = session.execute(delete(table).where(pick))
        deleted[table.name] = int(getattr(result, "rowcount", 0) or 0)
    counts = {table.name: deleted[table.name] for table, _ in selectors if deleted[table.name]}
    rows = [r for r in outbox.done[pseudonym] if r.id not in outbox.handled]
    outbox.handled.update(r.id for r in rows)
    counts |= _outbox_counts(session, pseudonym, rows)
    kept = _referenced(session, pseudonym, {r.txn_id for r in rows})
    for row in rows:
        if row.txn_id in kept:
            row.content = {}
        else:
            session.delete(row)
    if rows:  # an emptied row names no case any more; a deleted one takes its rows along
        session.execute(delete(OutboxCase).where(OutboxCase.outbox_id.in_([r.id for r in rows])))
    session.flush()
    uow.audit.redact(pseudonym, now)
    uow.audit.append(
        at=now,
        actor=actor,
        institution=None,
        action=DELETION_ACTION,
        pseudonym=pseudonym,
        detail={"tabellen": dict(sorted(counts.items()))},
    )
    return counts


def purge_cases(
    uow: UnitOfWork, candidates: Iterable[PurgeCandidate], now: datetime, *, actor: str
) -> dict[str, dict[str, int]]:
    """Like :func:`purge`, but returns the rows deleted per table for each purged case."""
    candidates = list(candidates)
    session = uow.session
    session.flush()
    outbox = _outbox_hits(session, (c.pseudonym for c in candidates))
    done: dict[str, dict[str, int]] = {}
    for candidate in candidates:
        counts = _purge_one(uow, candidate, outbox, now, actor)
        if counts is not None:
            done[candidate.pseudonym] = counts
    if done:
        # Rows went behind the ORM's back: nothing of those cases may be read from memory.
        session.expire_all()
        log.info("Löschfrist: %d Fälle gelöscht, ihr Audit geschwärzt", len(done))
    return done


def purge(
    uow: UnitOfWork, candidates: Iterable[PurgeCandidate], now: datetime, *, actor: str
) -> int:
    """Delete the planned cases in the caller's transaction (the caller commits).

    A candidate that is gone or no longer due for its planned reason (reopened, a new
    consent, a pending message naming it) is skipped. Per purged case the audit trail
    is redacted and one ``daten_geloescht`` entry records the deleted row counts.
    Returns how many cases were purged. For the daily pass::

        purge(uow, plan_purge(uow, now, closed_days=..., revoked_grace_days=...), now,
              actor=...)
    """
    return len(purge_cases(uow, candidates, now, actor=actor))
