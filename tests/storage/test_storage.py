"""The storage suite: runs on SQLite and on PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy import inspect

from bot.clock import FakeClock
from storage.db import current_revision, head_revision, upgrade
from storage.errors import NotFoundError
from storage.models import InboxEvent
from storage.uow import Database


def _inbox(event_id: str, now: datetime) -> InboxEvent:
    return InboxEvent(
        event_id=event_id,
        room_id="!r:fk.test",
        sender="@a:fk.test",
        kind="command",
        command="ping",
        outcome="ok",
        origin_ts=now,
        received_at=now,
    )


def test_schema_is_at_head_and_upgrade_is_idempotent(database: Database) -> None:
    assert current_revision(database.engine) == head_revision(database.engine)
    upgrade(database.engine)
    tables = set(inspect(database.engine).get_table_names())
    assert {"sync_checkpoint", "inbox_event", "outbox_message", "pending_decryption"} <= tables


def test_uncommitted_work_is_rolled_back(database: Database, clock: FakeClock) -> None:
    with database.uow() as uow:
        uow.sync.save_checkpoint("s1", clock.now())
        uow.inbox.add(_inbox("$a", clock.now()))
    with database.uow() as uow:
        assert uow.sync.checkpoint() is None
        assert not uow.inbox.seen("$a")


def test_checkpoint_and_inbox_commit_together(database: Database, clock: FakeClock) -> None:
    with database.uow() as uow:
        uow.sync.save_checkpoint("s1", clock.now())
        uow.inbox.add(_inbox("$a", clock.now()))
        uow.commit()
    with database.uow() as uow:
        uow.sync.save_checkpoint("s2", clock.now())
        uow.commit()
    with database.uow() as uow:
        assert uow.sync.checkpoint() == "s2"
        assert uow.inbox.seen("$a")
        assert uow.inbox.get("$a").command == "ping"
        with pytest.raises(NotFoundError):
            uow.inbox.get("$missing")


def test_savepoint_rolls_back_only_its_own_writes(database: Database, clock: FakeClock) -> None:
    with database.uow() as uow:
        uow.inbox.add(_inbox("$kept", clock.now()))

        def failing_command() -> None:
            with uow.savepoint():
                uow.inbox.add(_inbox("$dropped", clock.now()))
                raise RuntimeError("boom")

        with pytest.raises(RuntimeError):
            failing_command()
        uow.commit()
    with database.uow() as uow:
        assert uow.inbox.seen("$kept")
        assert not uow.inbox.seen("$dropped")


def test_times_come_back_aware_utc(database: Database) -> None:
    berlin = timezone(timedelta(hours=1))
    local = datetime(2026, 3, 29, 3, 30, tzinfo=berlin)
    with database.uow() as uow:
        uow.inbox.add(_inbox("$t", local))
        uow.commit()
    with database.uow() as uow:
        got = uow.inbox.get("$t").origin_ts
    assert got.tzinfo is not None
    assert got == local
    assert got.utcoffset() == timedelta(0)


def test_naive_datetimes_are_refused(database: Database) -> None:
    with database.uow() as uow, pytest.raises(Exception, match="naive"):
        uow.inbox.add(_inbox("$n", datetime(2026, 1, 1)))


def test_outbox_due_sent_and_retry(database: Database, clock: FakeClock) -> None:
    now = clock.now()
    with database.uow() as uow:
        a = uow.outbox.add(
            txn_id="t1",
            room_id="!r",
            event_type="m.room.message",
            content={"body": "ä"},
            requires_encryption=True,
            now=now,
        )
        b = uow.outbox.add(
            txn_id="t2",
            room_id="!r",
            event_type="m.room.message",
            content={"body": "b"},
            requires_encryption=False,
            now=now,
        )
        uow.commit()
    with database.uow() as uow:
        assert [r.txn_id for r in uow.outbox.due(now)] == ["t1", "t2"]
        uow.outbox.mark_sent(a.id, "$e1", now)
        uow.outbox.mark_failed(b.id, "kaputt", now + timedelta(seconds=30))
        uow.commit()
    with database.uow() as uow:
        assert uow.outbox.due(now) == []
        assert uow.outbox.next_retry_at() == now + timedelta(seconds=30)
        assert [r.txn_id for r in uow.outbox.due(now + timedelta(seconds=31))] == ["t2"]
        rows = {r.txn_id: r for r in uow.outbox.all()}
    assert rows["t1"].state == "sent"
    assert rows["t1"].remote_event_id == "$e1"
    assert rows["t1"].content == {"body": "ä"}
    assert rows["t2"].attempts == 1


def test_outbox_txn_id_is_unique(database: Database, clock: FakeClock) -> None:
    with database.uow() as uow:
        uow.outbox.add(
            txn_id="same",
            room_id="!r",
            event_type="m.room.message",
            content={},
            requires_encryption=False,
            now=clock.now(),
        )
        with pytest.raises(Exception, match=r"(?i)unique|duplicate"):
            uow.outbox.add(
                txn_id="same",
                room_id="!r",
                event_type="m.room.message",
                content={},
                requires_encryption=False,
                now=clock.now(),
            )


def test_known_rooms(database: Database) -> None:
    now = datetime(2026, 11, 21, tzinfo=UTC)
    with database.uow() as uow:
        uow.sync.add_room("!a", now)
        uow.sync.add_room("!a", now)
        uow.sync.add_room("!b", now)
        uow.commit()
    with database.uow() as uow:
        assert uow.sync.known_rooms() == {"!a", "!b"}


def test_the_head_constant_names_alembics_head(database: Database) -> None:
    """storage.db.HEAD lets a start skip loading Alembic; it must name the real head."""
    from storage.db import HEAD, current_revision, head_revision

    assert head_revision(database.engine) == HEAD
    assert current_revision(database.engine) == HEAD
    assert upgrade(database.engine) == []  # at the head: nothing run, nothing reported
