"""Audit entries that can be redacted: payload_hash and redacted_at; the chain re-sealed.

From this revision on an entry's hash covers ``payload_hash`` (SHA-256 of
``{institution, detail}``) instead of those two fields, so a purge can blank them
without breaking the chain (see ``storage/audit.py``).

The upgrade computes ``payload_hash`` for every entry and re-seals the chain in seq
order: new hashes, the head moved to the new last hash. It appends no entry (a
migration must not depend on application code). Consequences:

* ``fkbot audit verify`` afterwards checks the re-sealed chain; a head hash printed or
  exported before the upgrade no longer matches the new head.
* A chain that was already broken is not laundered: the upgrade first checks the old
  chain and re-seals only the intact part. From the first entry that did not fit on,
  hashes and links stay as they were, and the head is left alone unless it matched,
  so ``fkbot audit verify`` names the break at the same entry as before.

The downgrade does the same in reverse (old format; redacted entries are sealed as
they are now: empty).

Revision ID: 0007_audit_redaction
Revises: 0006_outcomes
Create Date: 2026-11-24
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0007_audit_redaction"
down_revision = "0006_outcomes"
branch_labels = None
depends_on = None

GENESIS = "0" * 64
PAGE = 1000
DELETION_ACTION = "daten_geloescht"  # storage.audit.DELETION_ACTION as of this revision

# Lightweight table definitions: the migration reads and writes with these, never
# with the application's models or storage.audit (which may change after today).
entry_table = sa.table(
    "audit_entry",
    sa.column("seq", sa.Integer),
    sa.column("at", sa.DateTime(timezone=True)),
    sa.column("actor", sa.String),
    sa.column("institution", sa.String),
    sa.column("action", sa.String),
    sa.column("pseudonym", sa.String),
    sa.column("detail", sa.JSON),
    sa.column("payload_hash", sa.String),
    sa.column("redacted_at", sa.DateTime(timezone=True)),
    sa.column("prev_hash", sa.String),
    sa.column("hash", sa.String),
)
head_table = sa.table(
    "audit_head",
    sa.column("id", sa.Integer),
    sa.column("seq", sa.Integer),
    sa.column("hash", sa.String),
)

Row = dict[str, Any]


def _digest(data: dict[str, Any]) -> str:
    text = json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _iso(at: datetime) -> str:
    # SQLite hands back naive UTC, PostgreSQL aware datetimes.
    at = at.replace(tzinfo=UTC) if at.tzinfo is None else at.astimezone(UTC)
    return at.isoformat(timespec="microseconds")


def _payload_hash(row: Row) -> str:
    return _digest({"institution": row["institution"], "detail": row["detail"]})


def _old_hash(row: Row, prev_hash: str) -> str:
    """The hash as revisions up to 0006 computed it: institution and detail inside."""
    return _digest(
        {
            "seq": row["seq"],
            "at": _iso(row["at"]),
            "actor": row["actor"],
            "institution": row["institution"],
            "action": row["action"],
            "pseudonym": row["pseudonym"],
            "detail": row["detail"],
            "prev_hash": prev_hash,
        }
    )


def _new_hash(row: Row, prev_hash: str) -> str:
    """The hash from this revision on: ``payload_hash`` instead of the payload."""
    return _digest(
        {
            "seq": row["seq"],
            "at": _iso(row["at"]),
            "actor": row["actor"],
            "action": row["action"],
            "pseudonym": row["pseudonym"],
            "payload_hash": row["payload_hash"],
            "prev_hash": prev_hash,
        }
    )


def _rows(conn: sa.Connection) -> Iterator[Row]:
    """Every entry in seq order, a page at a time (updates in between are safe)."""
    last: int | None = None
    while True:
        query = sa.select(entry_table).order_by(entry_table.c.seq).limit(PAGE)
        if last is not None:
            query = query.where(entry_table.c.seq > last)
        page = [dict(r._mapping) for r in conn.execute(query)]
        if not page:
            return
        yield from page
        last = page[-1]["seq"]


def _reseal(
    conn: sa.Connection,
    old: Callable[[Row, str], str],
    new: Callable[[Row, str], str],
    *,
    fill_payload_hash: bool,
) -> None:
    """Rewrite the intact prefix of the chain from the ``old`` to the ``new`` hash."""
    head = conn.execute(sa.select(head_table.c.seq, head_table.c.hash)).one_or_none()
    expected_seq, old_prev, new_prev = 1, GENESIS, GENESIS
    intact = True
    updates: list[Row] = []

    def flush() -> None:
        if updates:
            conn.execute(
                entry_table.update()
                .where(entry_table.c.seq == sa.bindparam("b_seq"))
                .values(
                    payload_hash=sa.bindparam("b_payload_hash"),
                    prev_hash=sa.bindparam("b_prev_hash"),
                    hash=sa.bindparam("b_hash"),
                ),
                updates,
            )
            updates.clear()

    for row in _rows(conn):
        if fill_payload_hash:
            row["payload_hash"] = _payload_hash(row)
        change = {
            "b_seq": row["seq"],
            "b_payload_hash": row["payload_hash"],
            "b_prev_hash": row["prev_hash"],
            "b_hash": row["hash"],
        }
        if intact and (
            row["seq"] != expected_seq
            or row["prev_hash"] != old_prev
            or old(row, old_prev) != row["hash"]
            or (row["redacted_at"] is None and _payload_hash(row) != row["payload_hash"])
        ):
            intact = False  # from here on everything stays as it was
        if intact:
            old_prev = row["hash"]
            new_hash = new(row, new_prev)
            change.update(b_prev_hash=new_prev, b_hash=new_hash)
            new_prev, expected_seq = new_hash, expected_seq + 1
        updates.append(change)
        if len(updates) >= PAGE:
            flush()
    flush()
    if intact and head is not None and (head.seq, head.hash) == (expected_seq - 1, old_prev):
        conn.execute(head_table.update().values(hash=new_prev))


def _mark_redacted(conn: sa.Connection) -> None:
    """After a downgrade and upgrade: the entries a deletion record redacted, marked again.

    Before this revision no deletion record exists, so on a first upgrade this does
    nothing. Only empty entries are marked; anything else stays for verify to name.
    """
    records = conn.execute(
        sa.select(entry_table.c.seq, entry_table.c.pseudonym, entry_table.c.at)
        .where(entry_table.c.action == DELETION_ACTION, entry_table.c.pseudonym.is_not(None))
        .order_by(entry_table.c.seq)
    ).all()
    for seq, pseudonym, at in records:
        candidates = conn.execute(
            sa.select(entry_table.c.seq, entry_table.c.institution, entry_table.c.detail).where(
                entry_table.c.pseudonym == pseudonym,
                entry_table.c.seq < seq,
                entry_table.c.redacted_at.is_(None),
            )
        ).all()
        empty = [c.seq for c in candidates if c.institution is None and c.detail == {}]
        if empty:
            conn.execute(
                entry_table.update()
                .where(entry_table.c.seq.in_(empty))
                .values(redacted_at=at if at.tzinfo else at.replace(tzinfo=UTC))
            )


def upgrade() -> None:
    with op.batch_alter_table("audit_entry") as batch:
        batch.add_column(sa.Column("payload_hash", sa.String(64), nullable=True))
        batch.add_column(sa.Column("redacted_at", sa.DateTime(timezone=True), nullable=True))
    _reseal(op.get_bind(), _old_hash, _new_hash, fill_payload_hash=True)
    _mark_redacted(op.get_bind())
    with op.batch_alter_table("audit_entry") as batch:
        batch.alter_column("payload_hash", existing_type=sa.String(64), nullable=False)


def downgrade() -> None:
    _reseal(op.get_bind(), _new_hash, _old_hash, fill_payload_hash=False)
    with op.batch_alter_table("audit_entry") as batch:
        batch.drop_column("redacted_at")
        batch.drop_column("payload_hash")
