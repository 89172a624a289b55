"""The audit hash chain on SQLite and PostgreSQL: built, verified, and every tampering named.

Tampering is always done with raw SQL on a connection of its own, never through
ORM objects, and verified in a fresh unit of work: that is what an attacker with
database access does, and the ORM's identity map cannot hide it.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import threading
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from alembic import command
from sqlalchemy import JSON, bindparam, event, text
from sqlalchemy.exc import IntegrityError

from commands.i18n import texts
from storage.audit import (
    CHANGED,
    DELETION_ACTION,
    GENESIS,
    NO_DELETION_RECORD,
    NOT_EMPTY,
    NOT_REDACTED,
    Verdict,
    canonical,
    entry_hash,
    exported,
    payload_hash,
    verify,
)
from storage.db import alembic_config
from storage.models import AuditEntry
from storage.types import UTCDateTime
from storage.uow import Database

T0 = datetime(2026, 11, 23, 9, 0, 0, 123456, tzinfo=UTC)
CASE = "FK-7QX2-M6"
OTHER_CASE = "FK-ABCD-E7"
N = 5


def _append(db: Database, count: int = N, *, start: int = 0) -> list[tuple[int, str]]:
    """Append ``count`` entries in one committed unit of work; return (seq, hash) of each."""
    out = []
    with db.uow() as uow:
        for i in range(start, start + count):
            entry = uow.audit.append(
                at=T0 + timedelta(minutes=i, microseconds=i),
                actor=f"@fachkraft{i}:fk.test",
                institution="jugendamt",
                action="anfrage_gestellt",
                pseudonym=CASE,
                detail={"anfrage": i, "teilnehmer": ["jobcenter", "agentur", "jugendamt"]},
            )
            out.append((entry.seq, entry.hash))
        uow.commit()
    return out


def _verdict(db: Database) -> Verdict:
    """The verdict over the ORM entries, which must equal the one over streamed rows
    (what `fkbot audit verify` reads, in constant memory)."""
    with db.uow() as uow:
        verdict = verify(uow.audit.entries(), uow.audit.head())
        assert verify(uow.audit.stream(), uow.audit.head()) == verdict
        return verdict


def _sql(db: Database, statement: str, *binds: Any, **params: Any) -> int:
    """Run raw SQL on a connection of its own and commit; return the affected row count."""
    with db.engine.begin() as conn:
        result = conn.execute(text(statement).bindparams(*binds), params)
        return result.rowcount


def _rows(db: Database) -> list[dict[str, Any]]:
    with db.engine.connect() as conn:
        return [
            dict(r._mapping)
            for r in conn.execute(text("SELECT seq, prev_hash, hash FROM audit_entry ORDER BY seq"))
        ]


def _head_row(db: Database) -> tuple[int, int, str] | None:
    with db.engine.connect() as conn:
        row = conn.execute(text("SELECT id, seq, hash FROM audit_head")).one_or_none()
    return None if row is None else (row.id, row.seq, row.hash)


# -- building and verifying the chain -------------------------------------------------------


def test_empty_log_verifies_with_no_head(database: Database) -> None:
    with database.uow() as uow:
        assert uow.audit.head() is None
        assert list(uow.audit.entries()) == []
    verdict = _verdict(database)
    assert verdict.ok
    assert verdict == Verdict(0, GENESIS)


def test_appending_builds_a_linked_chain_and_moves_the_head(database: Database) -> None:
    written = _append(database, 3)
    written += _append(database, 2, start=3)  # a second unit of work continues the chain
    rows = _rows(database)
    assert [r["seq"] for r in rows] == [1, 2, 3, 4, 5]
    assert [(r["seq"], r["hash"]) for r in rows] == written
    assert rows[0]["prev_hash"] == GENESIS
    for before, after in itertools.pairwise(rows):
        assert after["prev_hash"] == before["hash"]
    assert len({r["hash"] for r in rows}) == 5
    # exactly one head row, naming the last link
    assert _head_row(database) == (1, 5, rows[-1]["hash"])
    with database.uow() as uow:
        assert uow.audit.head() == (5, rows[-1]["hash"])


def test_intact_chain_verifies_with_count_and_head_hash(database: Database) -> None:
    written = _append(database)
    verdict = _verdict(database)
    assert verdict.ok, verdict
    assert verdict.count == N
    assert verdict.head_hash == written[-1][1]
    assert verdict.broken_seq is None
    assert verdict.message == ""


def test_stored_hash_is_the_hash_of_the_canonical_entry(database: Database) -> None:
    _append(database, 2)
    with database.uow() as uow:
        first, second = list(uow.audit.entries())
    assert entry_hash(first) == first.hash
    assert entry_hash(second) == second.hash
    assert canonical(second)["prev_hash"] == first.hash
    assert canonical(first)["at"] == "2026-11-23T09:00:00.123456+00:00"


def test_entries_can_be_listed_for_one_pseudonym(database: Database) -> None:
    with database.uow() as uow:
        uow.audit.append(at=T0, actor="@a:fk.test", institution="jugendamt", action="x")
        uow.audit.append(
            at=T0, actor="@a:fk.test", institution="jugendamt", action="y", pseudonym=CASE
        )
        uow.audit.append(
            at=T0, actor="@a:fk.test", institution="jugendamt", action="z", pseudonym=OTHER_CASE
        )
        uow.commit()
    with database.uow() as uow:
        assert [e.action for e in uow.audit.entries(CASE)] == ["y"]
        assert [e.action for e in uow.audit.entries()] == ["x", "y", "z"]
        assert next(iter(uow.audit.entries())).detail == {}


# -- round trip through each database -------------------------------------------------------


def test_hashes_survive_the_round_trip(database: Database) -> None:
    berlin_summer = timezone(timedelta(hours=2))
    at = datetime(2026, 3, 29, 3, 30, 15, 999999, tzinfo=berlin_summer)
    detail = {
        "träger": "Träger Süd-Ost",
        "zeichen": ["ß", "Ä", "é", "€", "😀"],
        "zahl": 7,
        "leer": None,
        "verschachtelt": {"z": 1, "a": [3, 1, 2]},
    }
    with database.uow() as uow:
        written = uow.audit.append(
            at=at,
            actor="@jürgen:fk.test",
            institution="träger-süd",
            action="fall_angelegt",
            pseudonym=CASE,
            detail=detail,
        )
        written_hash = written.hash
        uow.commit()
    with database.uow() as uow:
        (entry,) = list(uow.audit.entries())
        assert entry.at == at
        assert entry.at.microsecond == 999999
        assert entry.at.utcoffset() == timedelta(0)
        assert entry.actor == "@jürgen:fk.test"
        assert entry.institution == "träger-süd"
        assert entry.detail == detail
        assert entry.hash == written_hash
        assert entry_hash(entry) == written_hash
        assert uow.audit.head() == (1, written_hash)
    assert _verdict(database).ok


def test_detail_lists_keep_their_order(database: Database) -> None:
    unsorted = ["jugendamt", "agentur", "jobcenter", "schule"]
    with database.uow() as uow:
        uow.audit.append(
            at=T0,
            actor="@a:fk.test",
            institution="jugendamt",
            action="anfrage_gestellt",
            detail={"teilnehmer": unsorted, "gruende": ["b", "a"]},
        )
        uow.commit()
    with database.uow() as uow:
        (entry,) = list(uow.audit.entries())
    assert entry.detail["teilnehmer"] == unsorted
    assert entry.detail["gruende"] == ["b", "a"]
    assert entry_hash(entry) == entry.hash


# -- transactions ---------------------------------------------------------------------------


def test_rolled_back_unit_of_work_leaves_no_entry_and_no_head_change(
    database: Database,
) -> None:
    written = _append(database, 2)
    with database.uow() as uow:
        uncommitted = uow.audit.append(
            at=T0, actor="@a:fk.test", institution="jugendamt", action="verworfen"
        )
        assert uncommitted.seq == 3
        assert uow.audit.head() == (3, uncommitted.hash)
        # no commit: leaving the unit of work rolls back
    assert [r["seq"] for r in _rows(database)] == [1, 2]
    assert _head_row(database) == (1, 2, written[-1][1])
    verdict = _verdict(database)
    assert verdict.ok
    assert (verdict.count, verdict.head_hash) == (2, written[-1][1])
    # the next append continues from the committed head, not from the discarded one
    with database.uow() as uow:
        entry = uow.audit.append(at=T0, actor="@a:fk.test", institution=None, action="danach")
        assert (entry.seq, entry.prev_hash) == (3, written[-1][1])
        uow.commit()
    assert _verdict(database).ok


def test_rolled_back_first_append_leaves_no_head(database: Database) -> None:
    with database.uow() as uow:
        uow.audit.append(at=T0, actor="@a:fk.test", institution=None, action="verworfen")
    assert _head_row(database) is None
    assert _rows(database) == []
    assert _verdict(database) == Verdict(0, GENESIS)


@pytest.mark.parametrize("existing", [0, 2])
def test_discarded_savepoint_keeps_the_chain_consistent(database: Database, existing: int) -> None:
    """A refused command's audit entry vanishes with its savepoint; the next one links on."""
    if existing:
        _append(database, existing)
    with database.uow() as uow:
        kept = uow.audit.append(at=T0, actor="@a:fk.test", institution=None, action="behalten")
        with uow.savepoint() as savepoint:
            uow.audit.append(at=T0, actor="@a:fk.test", institution=None, action="verworfen")
            savepoint.discard()

        def failing_command() -> None:
            with uow.savepoint():
                uow.audit.append(at=T0, actor="@a:fk.test", institution=None, action="fehler")
                raise RuntimeError("Befehl scheitert")

        with pytest.raises(RuntimeError):
            failing_command()
        after = uow.audit.append(at=T0, actor="@a:fk.test", institution=None, action="danach")
        assert (after.seq, after.prev_hash) == (kept.seq + 1, kept.hash)
        uow.commit()
    with database.uow() as uow:
        actions = [e.action for e in uow.audit.entries()]
    assert actions[existing:] == ["behalten", "danach"]
    verdict = _verdict(database)
    assert verdict.ok, verdict
    assert verdict.count == existing + 2


def test_appends_in_one_savepoint_read_and_lock_the_head_once(database: Database) -> None:
    """A command that writes several entries pays for one locked read of the head."""
    _append(database, 2)
    reads: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        if "FROM audit_head" in statement:
            reads.append(statement)

    event.listen(database.engine, "before_cursor_execute", record)
    try:
        with database.uow() as uow, uow.savepoint():
            for action in ("eins", "zwei", "drei"):
                uow.audit.append(at=T0, actor="@a:fk.test", institution=None, action=action)
        with database.uow() as uow:
            with uow.savepoint():
                uow.audit.append(at=T0, actor="@a:fk.test", institution=None, action="vier")
                uow.audit.append(at=T0, actor="@a:fk.test", institution=None, action="fünf")
            with uow.savepoint():  # a new savepoint locks again
                uow.audit.append(at=T0, actor="@a:fk.test", institution=None, action="sechs")
            uow.commit()
    finally:
        event.remove(database.engine, "before_cursor_execute", record)
    assert len(reads) == 3, reads
    verdict = _verdict(database)
    assert verdict.ok, verdict
    assert verdict.count == 5
    with database.uow() as uow:
        assert [e.action for e in uow.audit.entries()][2:] == ["vier", "fünf", "sechs"]


def test_concurrent_appends_wait_for_the_head_lock(database: Database) -> None:
    """PostgreSQL: a second writer blocks on the head row and then links to the first."""
    if database.engine.dialect.name != "postgresql":
        pytest.skip("SQLite has one writer at a time; FOR UPDATE is a PostgreSQL matter")
    _append(database, 1)
    results: dict[str, Any] = {}
    with database.uow() as first:
        a = first.audit.append(at=T0, actor="@a:fk.test", institution=None, action="erster")

        def second() -> None:
            try:
                with database.uow() as uow:
                    b = uow.audit.append(
                        at=T0, actor="@b:fk.test", institution=None, action="zweiter"
                    )
                    results["seq"], results["prev"] = b.seq, b.prev_hash
                    uow.commit()
            except Exception as exc:  # pragma: no cover - reported below
                results["error"] = exc

        thread = threading.Thread(target=second)
        thread.start()
        thread.join(timeout=1)
        assert thread.is_alive(), "the second append must wait for the first transaction"
        first.commit()
    thread.join(timeout=30)
    assert not thread.is_alive()
    assert "error" not in results, results
    assert (results["seq"], results["prev"]) == (3, a.hash)
    verdict = _verdict(database)
    assert verdict.ok
    assert verdict.count == 3


# -- tampering ------------------------------------------------------------------------------


MODIFICATIONS: list[tuple[str, str, Any, Any]] = [
    ("actor", "UPDATE audit_entry SET actor = :v WHERE seq = 3", "@mallory:fk.test", None),
    ("action", "UPDATE audit_entry SET action = :v WHERE seq = 3", "fall_geschlossen", None),
    ("institution", "UPDATE audit_entry SET institution = :v WHERE seq = 3", None, None),
    ("pseudonym", "UPDATE audit_entry SET pseudonym = :v WHERE seq = 3", OTHER_CASE, None),
    (
        "detail",
        "UPDATE audit_entry SET detail = :v WHERE seq = 3",
        {"anfrage": 2, "teilnehmer": ["jobcenter", "agentur"]},
        JSON(),
    ),
    (
        "detail_list_order",
        "UPDATE audit_entry SET detail = :v WHERE seq = 3",
        {"anfrage": 2, "teilnehmer": ["agentur", "jobcenter", "jugendamt"]},
        JSON(),
    ),
    (
        "at",
        "UPDATE audit_entry SET at = :v WHERE seq = 3",
        T0 + timedelta(minutes=2, microseconds=3),
        UTCDateTime(),
    ),
    ("hash", "UPDATE audit_entry SET hash = :v WHERE seq = 3", "f" * 64, None),
]


@pytest.mark.parametrize(
    ("field", "statement", "value", "type_"),
    MODIFICATIONS,
    ids=[m[0] for m in MODIFICATIONS],
)
def test_modified_entry_is_named(
    database: Database, field: str, statement: str, value: Any, type_: Any
) -> None:
    written = _append(database)
    binds = [bindparam("v", type_=type_)] if type_ is not None else []
    changed = _sql(database, statement, *binds, v=value)
    assert changed == 1
    verdict = _verdict(database)
    assert not verdict.ok
    assert verdict.broken_seq == 3
    assert verdict.message == "Inhalt verändert"
    assert verdict.count == 2
    assert verdict.head_hash == written[1][1]


def test_microsecond_change_of_time_is_detected(database: Database) -> None:
    _append(database)
    _sql(
        database,
        "UPDATE audit_entry SET at = :v WHERE seq = 4",
        bindparam("v", type_=UTCDateTime()),
        v=T0 + timedelta(minutes=3, microseconds=4) + timedelta(microseconds=1),
    )
    assert _verdict(database).broken_seq == 4


def test_modified_prev_hash_is_named(database: Database) -> None:
    _append(database)
    _sql(database, "UPDATE audit_entry SET prev_hash = :v WHERE seq = 2", v="0" * 64)
    verdict = _verdict(database)
    assert verdict.broken_seq == 2
    assert verdict.message == "verweist nicht auf den vorigen Eintrag"
    assert verdict.count == 1


def test_rehashed_modification_is_named_at_the_next_link(database: Database) -> None:
    """Recomputing the changed entry's hash only moves the break to the entry after it."""
    written = _append(database)
    with database.uow() as uow:
        entry = next(e for e in uow.audit.entries() if e.seq == 3)
        entry.actor = "@mallory:fk.test"
        forged = entry_hash(entry)
        # no commit: the ORM object is only a calculator here
    _sql(
        database,
        "UPDATE audit_entry SET actor = :a, hash = :h WHERE seq = 3",
        a="@mallory:fk.test",
        h=forged,
    )
    verdict = _verdict(database)
    assert verdict.broken_seq == 4
    assert verdict.message == "verweist nicht auf den vorigen Eintrag"
    assert verdict.count == 3
    assert verdict.head_hash == forged != written[2][1]


def test_rehashed_last_entry_is_caught_by_the_head(database: Database) -> None:
    _append(database)
    with database.uow() as uow:
        entry = next(e for e in uow.audit.entries() if e.seq == N)
        entry.action = "nichts_geschehen"
        forged = entry_hash(entry)
    _sql(
        database,
        "UPDATE audit_entry SET action = :a, hash = :h WHERE seq = :s",
        a="nichts_geschehen",
        h=forged,
        s=N,
    )
    verdict = _verdict(database)
    assert not verdict.ok
    assert verdict.broken_seq == N
    assert "Kopf" in verdict.message


@pytest.mark.parametrize("victim", [1, 3])
def test_deleted_entry_is_named(database: Database, victim: int) -> None:
    written = _append(database)
    assert _sql(database, "DELETE FROM audit_entry WHERE seq = :s", s=victim) == 1
    verdict = _verdict(database)
    assert not verdict.ok
    # the first entry that does not fit is the one after the gap; the text names the gap
    assert verdict.broken_seq == victim + 1
    assert verdict.message == f"Eintrag {victim} fehlt"
    assert verdict.count == victim - 1
    assert verdict.head_hash == (written[victim - 2][1] if victim > 1 else GENESIS)


@pytest.mark.parametrize(("a", "b"), [(2, 4), (3, 4), (1, 2)])
def test_reordered_entries_are_named(database: Database, a: int, b: int) -> None:
    _append(database)
    _sql(database, "UPDATE audit_entry SET seq = :t WHERE seq = :a", t=-1, a=a)
    _sql(database, "UPDATE audit_entry SET seq = :a WHERE seq = :b", a=a, b=b)
    _sql(database, "UPDATE audit_entry SET seq = :b WHERE seq = :t", b=b, t=-1)
    assert [r["seq"] for r in _rows(database)] == [1, 2, 3, 4, 5]
    verdict = _verdict(database)
    assert not verdict.ok
    assert verdict.broken_seq == a
    assert verdict.count == a - 1


def _shift_up_from(db: Database, seq: int) -> None:
    for s in range(N, seq - 1, -1):  # one at a time, from the top: no key collisions
        _sql(db, "UPDATE audit_entry SET seq = :n WHERE seq = :s", n=s + 1, s=s)


def _insert_raw(db: Database, entry: AuditEntry) -> None:
    _sql(
        db,
        "INSERT INTO audit_entry (seq, at, actor, institution, action, pseudonym, detail, "
        "payload_hash, redacted_at, prev_hash, hash) VALUES (:seq, :at, :actor, :institution, "
        ":action, :pseudonym, :detail, :payload_hash, :redacted_at, :prev_hash, :hash)",
        bindparam("at", type_=UTCDateTime()),
        bindparam("redacted_at", type_=UTCDateTime()),
        bindparam("detail", type_=JSON()),
        seq=entry.seq,
        at=entry.at,
        actor=entry.actor,
        institution=entry.institution,
        action=entry.action,
        pseudonym=entry.pseudonym,
        detail=entry.detail,
        payload_hash=entry.payload_hash,
        redacted_at=entry.redacted_at,
        prev_hash=entry.prev_hash,
        hash=entry.hash,
    )


def _forged(seq: int, prev_hash: str) -> AuditEntry:
    entry = AuditEntry(
        seq=seq,
        at=T0 + timedelta(minutes=2, seconds=30),
        actor="@mallory:fk.test",
        institution="jugendamt",
        action="einwilligung_erfasst",
        pseudonym=CASE,
        detail={"version": 1, "an": ["jobcenter"]},
        redacted_at=None,
        prev_hash=prev_hash,
    )
    entry.payload_hash = payload_hash(entry)
    entry.hash = entry_hash(entry)
    return entry


def test_inserted_entry_with_a_valid_hash_breaks_the_next_link(database: Database) -> None:
    """Even a well-forged insertion cannot make the following entry point at it."""
    written = _append(database)
    _shift_up_from(database, 3)
    forged = _forged(3, written[1][1])
    _insert_raw(database, forged)
    assert [r["seq"] for r in _rows(database)] == [1, 2, 3, 4, 5, 6]
    verdict = _verdict(database)
    assert not verdict.ok
    assert verdict.broken_seq == 4
    assert verdict.message == "verweist nicht auf den vorigen Eintrag"
    assert verdict.count == 3
    assert verdict.head_hash == forged.hash


def test_inserted_entry_with_a_stale_hash_is_named_itself(database: Database) -> None:
    written = _append(database)
    _shift_up_from(database, 3)
    forged = _forged(3, written[1][1])
    forged.hash = written[2][1]  # copied from the entry it displaced
    _insert_raw(database, forged)
    verdict = _verdict(database)
    assert verdict.broken_seq == 3
    assert verdict.message == "Inhalt verändert"


def test_entry_appended_behind_the_head_is_not_accepted(database: Database) -> None:
    written = _append(database)
    _insert_raw(database, _forged(N + 1, written[-1][1]))
    verdict = _verdict(database)
    assert not verdict.ok
    assert f"Kopf nennt {N}" in verdict.message


def test_deleted_tail_shows_as_head_mismatch(database: Database) -> None:
    written = _append(database)
    assert _sql(database, "DELETE FROM audit_entry WHERE seq = :s", s=N) == 1
    verdict = _verdict(database)
    assert not verdict.ok
    assert verdict.broken_seq == N
    assert verdict.message == f"Kette endet bei {N - 1}, Kopf nennt {N}"
    assert verdict.count == N - 1
    assert verdict.head_hash == written[-2][1]


def test_deleted_tail_stays_visible_after_further_appends(database: Database) -> None:
    _append(database)
    _sql(database, "DELETE FROM audit_entry WHERE seq = :s", s=N)
    _append(database, 1, start=N)  # the head still says N, so this becomes N + 1
    verdict = _verdict(database)
    assert verdict.broken_seq == N + 1
    assert verdict.message == f"Eintrag {N} fehlt"


def test_deleted_head_row_is_detected(database: Database) -> None:
    written = _append(database)
    assert _sql(database, "DELETE FROM audit_head") == 1
    verdict = _verdict(database)
    assert not verdict.ok
    # every entry is there; what is missing is the proof that nothing was cut off
    assert verdict.broken_seq is None
    assert verdict.message == "Kopfzeile der Kette fehlt"
    assert (verdict.count, verdict.head_hash) == (N, written[-1][1])


def test_deleted_head_row_makes_appending_fail_instead_of_restarting(
    database: Database,
) -> None:
    _append(database)
    _sql(database, "DELETE FROM audit_head")
    with database.uow() as uow, pytest.raises(IntegrityError):
        uow.audit.append(at=T0, actor="@a:fk.test", institution=None, action="neu")
    assert [r["seq"] for r in _rows(database)] == [1, 2, 3, 4, 5]


def test_head_pointing_elsewhere_is_detected(database: Database) -> None:
    written = _append(database)
    _sql(database, "UPDATE audit_head SET hash = :h", h=written[2][1])
    verdict = _verdict(database)
    assert not verdict.ok
    assert verdict.broken_seq == N


# -- payload hash ---------------------------------------------------------------------------


def test_hash_covers_the_payload_only_through_its_hash(database: Database) -> None:
    _append(database, 1)
    with database.uow() as uow:
        (entry,) = list(uow.audit.entries())
    body = canonical(entry)
    assert "institution" not in body
    assert "detail" not in body
    expected = json.dumps(
        {"institution": "jugendamt", "detail": entry.detail},
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
    )
    assert entry.payload_hash == hashlib.sha256(expected.encode()).hexdigest()
    assert body["payload_hash"] == entry.payload_hash == payload_hash(entry)
    assert entry.redacted_at is None


def test_payload_changed_together_with_its_hash_is_named(database: Database) -> None:
    """A forged payload_hash changes the entry's own hash."""
    _append(database)
    with database.uow() as uow:
        entry = next(e for e in uow.audit.entries() if e.seq == 3)
        entry.institution = "jobcenter"
        forged = payload_hash(entry)
    _sql(
        database,
        "UPDATE audit_entry SET institution = 'jobcenter', payload_hash = :p WHERE seq = 3",
        p=forged,
    )
    verdict = _verdict(database)
    assert (verdict.broken_seq, verdict.message) == (3, CHANGED)
    assert verdict.problem is not None
    assert verdict.problem.render(texts("en")) == "content changed"  # an English operator


def test_payload_and_both_hashes_rewritten_break_the_next_link(database: Database) -> None:
    _append(database)
    with database.uow() as uow:
        entry = next(e for e in uow.audit.entries() if e.seq == 3)
        entry.detail = {"anfrage": 99}
        entry.payload_hash = payload_hash(entry)
        forged_payload, forged = entry.payload_hash, entry_hash(entry)
    _sql(
        database,
        "UPDATE audit_entry SET detail = :d, payload_hash = :p, hash = :h WHERE seq = 3",
        bindparam("d", type_=JSON()),
        d={"anfrage": 99},
        p=forged_payload,
        h=forged,
    )
    verdict = _verdict(database)
    assert verdict.broken_seq == 4
    assert verdict.message == "verweist nicht auf den vorigen Eintrag"


# -- redaction ------------------------------------------------------------------------------

PURGED_AT = T0 + timedelta(days=200, microseconds=7)


def _mixed(db: Database) -> None:
    """seq 1, 3, 5: CASE; 2: OTHER_CASE; 4: no pseudonym."""
    with db.uow() as uow:
        for i, pseudonym in enumerate([CASE, OTHER_CASE, CASE, None, CASE]):
            uow.audit.append(
                at=T0 + timedelta(minutes=i),
                actor="@fachkraft:fk.test",
                institution="jugendamt",
                action="einwilligung_erfasst",
                pseudonym=pseudonym,
                detail={"version": i, "an": ["jobcenter"]},
            )
        uow.commit()


def _purge_audit(db: Database, pseudonym: str = CASE, at: datetime = PURGED_AT) -> int:
    with db.uow() as uow:
        redacted = uow.audit.redact(pseudonym, at)
        uow.audit.append(
            at=at,
            actor="kommandozeile",
            institution=None,
            action=DELETION_ACTION,
            pseudonym=pseudonym,
            detail={"tabellen": {"case_file": 1}},
        )
        uow.commit()
    return redacted


def _entries(db: Database) -> list[AuditEntry]:
    with db.uow() as uow:
        return list(uow.audit.entries())


def test_redaction_blanks_the_payload_and_the_chain_still_verifies(database: Database) -> None:
    _mixed(database)
    before = {e.seq: (e.hash, e.payload_hash, e.actor, e.at) for e in _entries(database)}
    with database.uow() as uow:
        head_before = uow.audit.head()
    assert _purge_audit(database) == 3
    entries = _entries(database)
    assert [e.seq for e in entries] == [1, 2, 3, 4, 5, 6]
    for entry in entries[:5]:
        # the frame and every hash are untouched: nothing was re-sealed
        assert (entry.hash, entry.payload_hash, entry.actor, entry.at) == before[entry.seq]
        if entry.pseudonym == CASE:
            assert (entry.institution, entry.detail, entry.redacted_at) == (None, {}, PURGED_AT)
        else:
            assert entry.institution == "jugendamt"
            assert entry.detail == {"version": entry.seq - 1, "an": ["jobcenter"]}
            assert entry.redacted_at is None
    record = entries[5]
    assert (record.action, record.pseudonym, record.at) == (DELETION_ACTION, CASE, PURGED_AT)
    assert head_before is not None
    assert record.prev_hash == head_before[1]
    verdict = _verdict(database)
    assert verdict.ok, verdict
    assert verdict.count == 6


def test_entries_after_the_deletion_record_stay_as_written(database: Database) -> None:
    _mixed(database)
    _purge_audit(database)
    with database.uow() as uow:
        # e.g. `fkbot audit export --fall` for the purged case
        uow.audit.append(
            at=PURGED_AT, actor="kommandozeile", institution=None, action="x", pseudonym=CASE
        )
        uow.commit()
    _append(database, 2, start=10)
    verdict = _verdict(database)
    assert verdict.ok, verdict
    assert verdict.count == 9
    assert [e.seq for e in _entries(database) if e.redacted_at is not None] == [1, 3, 5]


def test_a_second_purge_keeps_earlier_redactions_and_redacts_the_rest(
    database: Database,
) -> None:
    """Should a pseudonym be purged twice, the first redaction times stay."""
    _mixed(database)
    _purge_audit(database)
    later = PURGED_AT + timedelta(days=1)
    assert _purge_audit(database, at=later) == 1  # only the first deletion record was left
    assert [(e.seq, e.redacted_at) for e in _entries(database) if e.redacted_at] == [
        (1, PURGED_AT),
        (3, PURGED_AT),
        (5, PURGED_AT),
        (6, later),
    ]
    assert _verdict(database).ok


def test_export_lines_show_redacted_entries_as_they_are(database: Database) -> None:
    _mixed(database)
    _purge_audit(database)
    lines = [exported(e) for e in _entries(database)]
    assert lines[0]["institution"] is None
    assert lines[0]["detail"] == {}
    assert lines[0]["redacted_at"] == PURGED_AT.isoformat(timespec="microseconds")
    assert lines[1]["redacted_at"] is None
    prev = GENESIS
    for line in lines:
        frame = {k: line[k] for k in canonical(_entries(database)[0])}
        data = json.dumps(frame, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        assert hashlib.sha256(data.encode()).hexdigest() == line["hash"]
        assert line["prev_hash"] == prev
        prev = line["hash"]


def test_an_export_from_before_the_purge_still_matches_the_redacted_chain(
    database: Database,
) -> None:
    """The payload is gone, its hash is not: an earlier export can still be checked."""
    _mixed(database)
    earlier = [exported(e) for e in _entries(database)]
    _purge_audit(database)
    for old, now in zip(earlier, _entries(database), strict=False):
        assert now.payload_hash == old["payload_hash"]
        payload = {"institution": old["institution"], "detail": old["detail"]}
        data = json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        assert hashlib.sha256(data.encode()).hexdigest() == now.payload_hash


def test_redaction_without_a_deletion_record_is_named(database: Database) -> None:
    _mixed(database)
    with database.uow() as uow:
        uow.audit.redact(CASE, PURGED_AT)
        uow.commit()
    verdict = _verdict(database)
    assert (verdict.broken_seq, verdict.message, verdict.count) == (1, NO_DELETION_RECORD, 0)


def test_deletion_record_at_another_time_does_not_settle_a_redaction(database: Database) -> None:
    _mixed(database)
    _purge_audit(database)
    _sql(
        database,
        "UPDATE audit_entry SET redacted_at = :t WHERE seq = 3",
        bindparam("t", type_=UTCDateTime()),
        t=PURGED_AT + timedelta(seconds=1),
    )
    verdict = _verdict(database)
    assert (verdict.broken_seq, verdict.message) == (3, NO_DELETION_RECORD)
    assert verdict.count == 2


# Tampering with redaction: what an attacker with database access could try.
REDACTION_TAMPERING: list[tuple[str, str, int, str]] = [
    # marking an intact entry redacted without blanking it
    ("marked_not_blanked", "UPDATE audit_entry SET redacted_at = :t WHERE seq = 2", 2, NOT_EMPTY),
    # blanking another case's entry and marking it redacted: no deletion record for it
    (
        "other_case_blanked",
        "UPDATE audit_entry SET redacted_at = :t, institution = NULL, detail = '{}' WHERE seq = 2",
        2,
        NO_DELETION_RECORD,
    ),
    # an entry without a pseudonym can never be redacted
    (
        "no_pseudonym_blanked",
        "UPDATE audit_entry SET redacted_at = :t, institution = NULL, detail = '{}' WHERE seq = 4",
        4,
        NO_DELETION_RECORD,
    ),
    # writing something into a redacted entry
    (
        "redacted_refilled",
        "UPDATE audit_entry SET institution = 'jobcenter' WHERE seq = 3",
        3,
        NOT_EMPTY,
    ),
    # the frame of a redacted entry is still covered by the chain
    (
        "redacted_frame",
        "UPDATE audit_entry SET actor = '@mallory:fk.test' WHERE seq = 3",
        3,
        CHANGED,
    ),
    # un-redacting an entry without its payload
    ("unmarked", "UPDATE audit_entry SET redacted_at = NULL WHERE seq = 5", 5, CHANGED),
]


@pytest.mark.parametrize(
    ("name", "statement", "broken", "problem"),
    REDACTION_TAMPERING,
    ids=[t[0] for t in REDACTION_TAMPERING],
)
def test_tampering_with_redaction_is_named(
    database: Database, name: str, statement: str, broken: int, problem: str
) -> None:
    _mixed(database)
    _purge_audit(database)
    binds = [bindparam("t", type_=UTCDateTime())] if ":t" in statement else []
    params = {"t": PURGED_AT} if binds else {}
    assert _sql(database, statement, *binds, **params) == 1
    verdict = _verdict(database)
    assert (verdict.broken_seq, verdict.message) == (broken, problem)
    assert verdict.count == broken - 1


def test_restoring_a_purged_payload_is_named(database: Database) -> None:
    """Writing the original payload back (from an old export) and un-marking it is seen."""
    _mixed(database)
    original = _entries(database)[2]
    _purge_audit(database)
    _sql(
        database,
        "UPDATE audit_entry SET redacted_at = NULL, institution = :i, detail = :d WHERE seq = 3",
        bindparam("d", type_=JSON()),
        i=original.institution,
        d=original.detail,
    )
    verdict = _verdict(database)
    assert (verdict.broken_seq, verdict.message) == (3, NOT_REDACTED)
    assert verdict.count == 2


def test_cut_off_deletion_record_shows_as_a_cut_off_tail(database: Database) -> None:
    _mixed(database)
    _purge_audit(database)
    _sql(database, "DELETE FROM audit_entry WHERE seq = 6")
    verdict = _verdict(database)
    assert verdict.broken_seq == 6
    assert verdict.message == "Kette endet bei 5, Kopf nennt 6"


def test_redaction_with_the_head_rewritten_still_lacks_its_record(database: Database) -> None:
    """Deleting the record and moving the head back leaves the redaction unexplained."""
    _mixed(database)
    head_hash = _entries(database)[-1].hash
    _purge_audit(database)
    _sql(database, "DELETE FROM audit_entry WHERE seq = 6")
    _sql(database, "UPDATE audit_head SET seq = 5, hash = :h", h=head_hash)
    verdict = _verdict(database)
    assert (verdict.broken_seq, verdict.message) == (1, NO_DELETION_RECORD)


# -- migration 0007: the chain re-sealed ------------------------------------------------------

OLD = "0006_outcomes"


def _old_hash(row: dict[str, Any], prev_hash: str) -> str:
    """The hash as it was before 0007: institution and detail inside."""
    body = {
        "seq": row["seq"],
        "at": row["at"].astimezone(UTC).isoformat(timespec="microseconds"),
        "actor": row["actor"],
        "institution": row["institution"],
        "action": row["action"],
        "pseudonym": row["pseudonym"],
        "detail": row["detail"],
        "prev_hash": prev_hash,
    }
    data = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(data.encode("utf-8")).hexdigest()


OLD_ROWS = [
    {
        "seq": i + 1,
        "at": T0 + timedelta(minutes=i, microseconds=i),
        "actor": "@jürgen:fk.test",
        "institution": "träger-süd" if i % 2 else None,
        "action": "anfrage_gestellt",
        "pseudonym": CASE if i != 2 else None,
        "detail": {"anfrage": i, "teilnehmer": ["jobcenter", "agentur"], "zeichen": "ß€😀"},
    }
    for i in range(N)
]


def _migrate(db: Database, revision: str) -> None:
    cfg = alembic_config(db.engine)
    if revision == "head":
        command.upgrade(cfg, revision)
    else:
        command.downgrade(cfg, revision)


def _old_chain(db: Database) -> str:
    """Go back to 0006 and write N entries the way 0006's code did; return the head hash."""
    _migrate(db, OLD)
    prev = GENESIS
    with db.engine.begin() as conn:
        for row in OLD_ROWS:
            digest = _old_hash(row, prev)
            conn.execute(
                text(
                    "INSERT INTO audit_entry (seq, at, actor, institution, action, pseudonym, "
                    "detail, prev_hash, hash) VALUES (:seq, :at, :actor, :institution, :action, "
                    ":pseudonym, :detail, :prev_hash, :hash)"
                ).bindparams(
                    bindparam("at", type_=UTCDateTime()), bindparam("detail", type_=JSON())
                ),
                row | {"prev_hash": prev, "hash": digest},
            )
            prev = digest
        conn.execute(
            text("INSERT INTO audit_head (id, seq, hash) VALUES (1, :s, :h)"), {"s": N, "h": prev}
        )
    return prev


def test_upgrade_reseals_an_intact_chain(database: Database) -> None:
    old_head = _old_chain(database)
    _migrate(database, "head")
    verdict = _verdict(database)
    assert verdict.ok, verdict
    assert verdict.count == N  # no entry appended by the migration
    assert verdict.head_hash != old_head  # an old exported head no longer matches
    entries = _entries(database)
    for entry, row in zip(entries, OLD_ROWS, strict=True):
        assert (entry.seq, entry.at, entry.actor, entry.institution) == (
            row["seq"],
            row["at"],
            row["actor"],
            row["institution"],
        )
        assert entry.detail == row["detail"]
        assert entry.payload_hash == payload_hash(entry)
        assert entry.redacted_at is None
    # the re-sealed chain works like any other: redaction, appends, verify
    _purge_audit(database)
    _append(database, 1, start=N + 1)
    assert _verdict(database).ok


BREAKS: list[tuple[str, str, int, str]] = [
    ("modified", "UPDATE audit_entry SET actor = '@mallory:fk.test' WHERE seq = 3", 3, ""),
    ("deleted", "DELETE FROM audit_entry WHERE seq = 3", 4, "Eintrag 3 fehlt"),
    ("cut_off_tail", "DELETE FROM audit_entry WHERE seq = 5", N, "Kopf nennt"),
    ("head_elsewhere", "UPDATE audit_head SET hash = 'f' || substr(hash, 2)", N, "Kopf nennt"),
]


@pytest.mark.parametrize(
    ("name", "statement", "broken", "problem"), BREAKS, ids=[b[0] for b in BREAKS]
)
def test_upgrade_does_not_seal_over_an_earlier_break(
    database: Database, name: str, statement: str, broken: int, problem: str
) -> None:
    _old_chain(database)
    _sql(database, statement)
    _migrate(database, "head")
    verdict = _verdict(database)
    assert not verdict.ok
    assert verdict.broken_seq == broken
    assert problem in verdict.message
    with database.uow() as uow:
        assert all(e.payload_hash == payload_hash(e) for e in uow.audit.entries())


def _old_verify(db: Database) -> bool:
    with db.engine.connect() as conn:
        rows = [
            dict(r._mapping)
            for r in conn.execute(
                text(
                    "SELECT seq, at, actor, institution, action, pseudonym, detail, prev_hash, "
                    "hash FROM audit_entry ORDER BY seq"
                ).columns(at=UTCDateTime(), detail=JSON())
            )
        ]
        head = conn.execute(text("SELECT seq, hash FROM audit_head")).one_or_none()
    prev = GENESIS
    for i, row in enumerate(rows, 1):
        if row["seq"] != i or row["prev_hash"] != prev or _old_hash(row, prev) != row["hash"]:
            return False
        prev = row["hash"]
    return head is not None and (head.seq, head.hash) == (len(rows), prev)


def test_downgrade_and_upgrade_again_keep_a_verifiable_chain(database: Database) -> None:
    _mixed(database)
    _purge_audit(database)
    _migrate(database, OLD)
    assert _old_verify(database)
    _migrate(database, "head")
    verdict = _verdict(database)
    assert verdict.ok, verdict
    assert verdict.count == 6
    # the purge's redactions are recognised again from the deletion record
    assert [e.seq for e in _entries(database) if e.redacted_at == PURGED_AT] == [1, 3, 5]
