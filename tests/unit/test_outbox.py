"""The outbox sender delivers committed replies, retries failures with the same txn id."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from bot.clock import FakeClock
from bot.errors import HomeserverUnavailable, SendError
from bot.ids import EventId, RoomId
from bot.outbox import (
    MAX_ATTEMPTS,
    MAX_RETRY_DELAY,
    TRANSIENT_BACKOFF_STEPS,
    OutboxItem,
    OutboxSender,
    retry_delay,
)
from bot.txn import txn_id_for
from commands.agenda import attachment_content
from storage.models import OutboxMessage
from storage.uow import Database

ENCRYPTED = RoomId("!verschluesselt:fk.test")
PLAIN = RoomId("!offen:fk.test")


class FakeSender:
    """Records every send; can be told to fail the next sends."""

    def __init__(self) -> None:
        self.calls: list[tuple[RoomId, str, dict[str, Any], str]] = []
        self.failures: list[Exception] = []
        self.encrypted_rooms = {ENCRYPTED}
        self.uploads: list[tuple[bytes, str, str, bool]] = []
        self.upload_failures: list[Exception] = []

    async def send(
        self, room_id: RoomId, event_type: str, content: dict[str, Any], txn_id: str
    ) -> EventId:
        self.calls.append((room_id, event_type, content, txn_id))
        if self.failures:
            raise self.failures.pop(0)
        return EventId(f"$gesendet-{txn_id}")

    def room_is_encrypted(self, room_id: RoomId) -> bool:
        return room_id in self.encrypted_rooms

    async def upload(
        self, data: bytes, mimetype: str, filename: str, *, encrypt: bool
    ) -> dict[str, Any]:
        self.uploads.append((data, mimetype, filename, encrypt))
        if self.upload_failures:
            raise self.upload_failures.pop(0)
        mxc = f"mxc://fk.test/{len(self.uploads)}"
        return {"file": {"url": mxc, "key": {"k": "x"}, "iv": "y"}} if encrypt else {"url": mxc}

    @property
    def txn_ids(self) -> list[str]:
        return [call[3] for call in self.calls]


@pytest.fixture
def homeserver() -> FakeSender:
    return FakeSender()


@pytest.fixture
def sender(sqlite_database: Database, homeserver: FakeSender, clock: FakeClock) -> OutboxSender:
    return OutboxSender(sqlite_database, homeserver, clock, require_encryption=True)


def enqueue(
    db: Database,
    clock: FakeClock,
    event_id: str,
    *,
    room: RoomId = ENCRYPTED,
    requires_encryption: bool = False,
) -> str:
    txn_id = txn_id_for(event_id)
    with db.uow() as uow:
        uow.outbox.add(
            txn_id=txn_id,
            room_id=room,
            event_type="m.room.message",
            content={"msgtype": "m.notice", "body": f"Antwort auf {event_id}"},
            requires_encryption=requires_encryption,
            now=clock.now(),
        )
        uow.commit()
    return txn_id


def rows(db: Database) -> dict[str, OutboxMessage]:
    with db.uow() as uow:
        return {r.txn_id: r for r in uow.outbox.all()}


async def test_pending_rows_are_sent_in_order_and_marked_sent(
    sender: OutboxSender, homeserver: FakeSender, sqlite_database: Database, clock: FakeClock
) -> None:
    txns = [enqueue(sqlite_database, clock, f"$e{n}") for n in range(3)]

    assert await sender.flush() == 3

    assert homeserver.txn_ids == txns
    room, event_type, content, _ = homeserver.calls[0]
    assert room == ENCRYPTED
    assert event_type == "m.room.message"
    assert content == {"msgtype": "m.notice", "body": "Antwort auf $e0"}
    for txn in txns:
        row = rows(sqlite_database)[txn]
        assert row.state == "sent"
        assert row.remote_event_id == f"$gesendet-{txn}"
        assert row.sent_at == clock.now()
        assert row.attempts == 0
    assert sender.sent == 3


async def test_nothing_is_sent_twice(
    sender: OutboxSender, homeserver: FakeSender, sqlite_database: Database, clock: FakeClock
) -> None:
    enqueue(sqlite_database, clock, "$e1")
    await sender.flush()
    assert await sender.flush() == 0
    assert len(homeserver.calls) == 1


async def test_empty_outbox_sends_nothing(sender: OutboxSender, homeserver: FakeSender) -> None:
    assert await sender.flush() == 0
    assert homeserver.calls == []


async def test_send_error_is_retried_later_with_the_same_txn_id(
    sender: OutboxSender, homeserver: FakeSender, sqlite_database: Database, clock: FakeClock
) -> None:
    failing = enqueue(sqlite_database, clock, "$e1")
    fine = enqueue(sqlite_database, clock, "$e2")
    homeserver.failures = [SendError("M_LIMIT_EXCEEDED")]

    assert await sender.flush() == 1  # the second row is not held up by the first

    row = rows(sqlite_database)[failing]
    assert row.state == "pending"
    assert row.attempts == 1
    assert row.last_error is not None
    assert "M_LIMIT_EXCEEDED" in row.last_error
    assert row.not_before == clock.now() + retry_delay(0)
    assert row.not_before > clock.now()
    assert rows(sqlite_database)[fine].state == "sent"

    # not due yet: nothing happens
    assert await sender.flush() == 0
    assert homeserver.txn_ids == [failing, fine]

    clock.advance(retry_delay(0))
    assert await sender.flush() == 1
    assert homeserver.txn_ids == [failing, fine, failing]
    row = rows(sqlite_database)[failing]
    assert row.state == "sent"
    assert row.remote_event_id == f"$gesendet-{failing}"
    assert row.last_error is None


async def test_repeated_failures_back_off_further(
    sender: OutboxSender, homeserver: FakeSender, sqlite_database: Database, clock: FakeClock
) -> None:
    txn = enqueue(sqlite_database, clock, "$e1")
    homeserver.failures = [SendError("eins"), SendError("zwei"), SendError("drei")]
    waits = []
    for _ in range(3):
        await sender.flush()
        row = rows(sqlite_database)[txn]
        waits.append(row.not_before - clock.now())  # type: ignore[operator]
        clock.advance(row.not_before - clock.now())  # type: ignore[operator]
    assert waits == [timedelta(seconds=1), timedelta(seconds=2), timedelta(seconds=4)]
    assert rows(sqlite_database)[txn].attempts == 3
    assert await sender.flush() == 1
    assert homeserver.txn_ids == [txn] * 4


def test_retry_delay_doubles_and_is_capped() -> None:
    assert [retry_delay(n).total_seconds() for n in range(5)] == [1, 2, 4, 8, 16]
    assert retry_delay(10) == MAX_RETRY_DELAY == timedelta(minutes=10)
    assert retry_delay(10_000) == MAX_RETRY_DELAY


async def test_unavailable_homeserver_stops_the_flush(
    sender: OutboxSender, homeserver: FakeSender, sqlite_database: Database, clock: FakeClock
) -> None:
    first, second, third = (enqueue(sqlite_database, clock, f"$e{n}") for n in range(3))
    homeserver.failures = [HomeserverUnavailable("connection refused")]

    assert await sender.flush() == 0

    assert homeserver.txn_ids == [first]
    state = rows(sqlite_database)
    assert state[first].attempts == 1
    assert state[first].not_before is not None
    for untouched in (second, third):
        assert state[untouched].state == "pending"
        assert state[untouched].attempts == 0
        assert state[untouched].not_before is None

    # once the server is back, the rest goes out, and the first after its delay
    assert await sender.flush() == 2
    clock.advance(retry_delay(0))
    assert await sender.flush() == 1
    assert homeserver.txn_ids == [first, second, third, first]


async def test_case_data_is_never_sent_into_an_unencrypted_room(
    sender: OutboxSender, homeserver: FakeSender, sqlite_database: Database, clock: FakeClock
) -> None:
    refused = enqueue(sqlite_database, clock, "$e1", room=PLAIN, requires_encryption=True)
    harmless = enqueue(sqlite_database, clock, "$e2", room=PLAIN, requires_encryption=False)
    protected = enqueue(sqlite_database, clock, "$e3", room=ENCRYPTED, requires_encryption=True)

    assert await sender.flush() == 2

    assert homeserver.txn_ids == [harmless, protected]
    row = rows(sqlite_database)[refused]
    assert row.state == "refused"
    assert row.last_error == "room not encrypted"
    assert row.sent_at is None

    clock.advance(timedelta(days=1))
    assert await sender.flush() == 0
    assert refused not in homeserver.txn_ids


async def test_without_required_encryption_case_data_may_go_to_an_unencrypted_room(
    sqlite_database: Database, homeserver: FakeSender, clock: FakeClock
) -> None:
    relaxed = OutboxSender(sqlite_database, homeserver, clock, require_encryption=False)
    txn = enqueue(sqlite_database, clock, "$e1", room=PLAIN, requires_encryption=True)
    assert await relaxed.flush() == 1
    assert homeserver.txn_ids == [txn]


async def test_more_rows_than_one_page_are_all_sent(
    sender: OutboxSender, homeserver: FakeSender, sqlite_database: Database, clock: FakeClock
) -> None:
    txns = [enqueue(sqlite_database, clock, f"$e{n}") for n in range(120)]
    assert await sender.flush() == 120
    assert homeserver.txn_ids == txns


async def test_a_message_refused_again_and_again_is_given_up_loudly(
    sender: OutboxSender,
    homeserver: FakeSender,
    sqlite_database: Database,
    clock: FakeClock,
    caplog: pytest.LogCaptureFixture,
) -> None:
    txn = enqueue(sqlite_database, clock, "$rausgeworfen")
    homeserver.failures = [SendError("M_FORBIDDEN: not in room", permanent=True)] * MAX_ATTEMPTS
    for _ in range(MAX_ATTEMPTS):
        await sender.flush()
        clock.advance(MAX_RETRY_DELAY)
    row = rows(sqlite_database)[txn]
    assert row.state == "failed"
    assert row.attempts == MAX_ATTEMPTS
    assert len(homeserver.calls) == MAX_ATTEMPTS
    assert any("aufgegeben" in r.getMessage() for r in caplog.records)
    clock.advance(MAX_RETRY_DELAY)
    assert await sender.flush() == 0
    assert len(homeserver.calls) == MAX_ATTEMPTS, "a given-up message is not tried again"


async def test_a_failing_page_does_not_hold_back_the_rows_behind_it(
    sqlite_database: Database, homeserver: FakeSender, clock: FakeClock
) -> None:
    sender = OutboxSender(sqlite_database, homeserver, clock, require_encryption=True)
    for i in range(60):
        enqueue(sqlite_database, clock, f"$e{i}")
    homeserver.failures = [SendError("kaputt")] * 50  # the whole first page fails
    assert await sender.flush() == 10
    assert len(homeserver.calls) == 60


def item(db: Database, txn: str) -> OutboxItem:
    with db.uow() as uow:
        return next(OutboxItem.of(r) for r in uow.outbox.all() if r.txn_id == txn)


async def test_submitted_rows_are_sent_without_reading_the_database_again(
    sender: OutboxSender,
    homeserver: FakeSender,
    sqlite_database: Database,
    clock: FakeClock,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    txn = enqueue(sqlite_database, clock, "$schnell")
    handed_over = item(sqlite_database, txn)
    from storage.repositories import OutboxRepository

    def no_reads(*args: object, **kwargs: object) -> None:
        raise AssertionError("the hot path must not query due rows")

    monkeypatch.setattr(OutboxRepository, "due", no_reads)
    sender.submit([handed_over, handed_over])  # a double submit is sent once
    assert await sender.drain() == 1
    assert homeserver.txn_ids == [txn]
    assert rows(sqlite_database)[txn].state == "sent"


async def test_flush_does_not_send_a_queued_row_twice(
    sender: OutboxSender, homeserver: FakeSender, sqlite_database: Database, clock: FakeClock
) -> None:
    first = enqueue(sqlite_database, clock, "$eins")
    second = enqueue(sqlite_database, clock, "$zwei")
    sender.submit([item(sqlite_database, second)])
    assert await sender.flush() == 2
    assert sorted(homeserver.txn_ids) == sorted([first, second])


async def test_server_gone_during_drain_leaves_the_rest_for_the_retry(
    sender: OutboxSender, homeserver: FakeSender, sqlite_database: Database, clock: FakeClock
) -> None:
    txns = [enqueue(sqlite_database, clock, f"$e{i}") for i in range(3)]
    sender.submit([item(sqlite_database, t) for t in txns])
    homeserver.failures = [HomeserverUnavailable("weg")]
    assert await sender.drain() == 0
    assert len(homeserver.calls) == 1, "no hammering a server that is away"
    with sqlite_database.uow() as uow:
        retry_at = uow.outbox.next_retry_at()
    assert retry_at == clock.now(), "rows never tried are due at once for the retry path"
    clock.advance(retry_delay(0))
    assert await sender.flush() == 3
    assert sorted(homeserver.txn_ids[1:]) == sorted(txns)


async def test_transient_failures_never_give_a_reply_up(
    sender: OutboxSender, homeserver: FakeSender, sqlite_database: Database, clock: FakeClock
) -> None:
    txn = enqueue(sqlite_database, clock, "$wartung")
    homeserver.failures = [SendError("500: M_UNKNOWN")] * (MAX_ATTEMPTS + 5)
    delays = []
    for _ in range(MAX_ATTEMPTS + 5):
        await sender.flush()
        row = rows(sqlite_database)[txn]
        assert row.state == "pending", "a 5xx or an outage must not lose the reply"
        assert row.not_before is not None
        delays.append(row.not_before - clock.now())
        clock.advance(MAX_RETRY_DELAY)
    assert max(delays) == retry_delay(TRANSIENT_BACKOFF_STEPS), "transient backoff is capped"
    assert await sender.flush() == 1
    assert rows(sqlite_database)[txn].state == "sent"


async def test_retry_now_sends_waiting_rows_when_the_server_is_back(
    sqlite_database: Database, homeserver: FakeSender, clock: FakeClock
) -> None:
    import asyncio

    sender = OutboxSender(sqlite_database, homeserver, clock, require_encryption=True)
    txn = enqueue(sqlite_database, clock, "$nach-ausfall")
    homeserver.failures = [HomeserverUnavailable("weg")]
    await sender.flush()
    assert rows(sqlite_database)[txn].not_before is not None
    task = asyncio.create_task(sender.run())
    try:
        await asyncio.sleep(0.05)
        assert rows(sqlite_database)[txn].state == "pending", "still waiting for its retry"
        sender.retry_now()
        for _ in range(100):
            await asyncio.sleep(0.01)
            if rows(sqlite_database)[txn].state == "sent":
                break
        assert rows(sqlite_database)[txn].state == "sent"
    finally:
        task.cancel()


# -- attachments ---------------------------------------------------------------------


def enqueue_file(db: Database, clock: FakeClock, room: RoomId = ENCRYPTED) -> str:
    txn_id = txn_id_for("$kalender", "ics")
    with db.uow() as uow:
        uow.outbox.add(
            txn_id=txn_id,
            room_id=room,
            event_type="m.room.message",
            content=attachment_content("termin-1.ics", "text/calendar", b"BEGIN:VCALENDAR"),
            requires_encryption=True,
            now=clock.now(),
        )
        uow.commit()
    return txn_id


async def test_an_attachment_is_uploaded_encrypted_and_sent_without_its_bytes(
    sqlite_database: Database, homeserver: FakeSender, sender: OutboxSender, clock: FakeClock
) -> None:
    txn_id = enqueue_file(sqlite_database, clock)
    assert await sender.flush() == 1
    assert homeserver.uploads == [(b"BEGIN:VCALENDAR", "text/calendar", "termin-1.ics", True)]
    [(_, _, content, sent_txn)] = homeserver.calls
    assert sent_txn == txn_id
    assert content["file"]["url"] == "mxc://fk.test/1"
    assert "url" not in content
    assert not any(key.startswith("xyz.") for key in content)
    assert content["msgtype"] == "m.file"
    assert content["info"] == {"mimetype": "text/calendar", "size": 15}


async def test_a_failed_upload_is_retried_and_the_message_sent_once(
    sqlite_database: Database, homeserver: FakeSender, sender: OutboxSender, clock: FakeClock
) -> None:
    homeserver.upload_failures.append(HomeserverUnavailable("weg"))
    enqueue_file(sqlite_database, clock)
    assert await sender.flush() == 0
    assert homeserver.calls == []  # no message without its file
    clock.advance(timedelta(minutes=1))
    assert await sender.flush() == 1
    assert len(homeserver.uploads) == 2
    assert len(homeserver.calls) == 1
    assert await sender.flush() == 0


async def test_a_fenced_instance_sends_nothing_more_and_leaves_the_rows_pending(
    homeserver: FakeSender, sqlite_database: Database, clock: FakeClock
) -> None:
    fenced = False
    sender = OutboxSender(
        sqlite_database, homeserver, clock, require_encryption=True, may_send=lambda: not fenced
    )
    first = enqueue(sqlite_database, clock, "$e1")
    assert await sender.flush() == 1
    second, third = enqueue(sqlite_database, clock, "$e2"), enqueue(sqlite_database, clock, "$e3")
    fenced = True  # the failover lock is lost (bot/activelock.py)
    with sqlite_database.uow() as uow:
        sender.submit([OutboxItem.of(r) for r in uow.outbox.all() if r.txn_id != first])
    assert await sender.flush() == 0
    assert homeserver.txn_ids == [first]
    # untouched: no failure recorded, no retry scheduled — the new active sends them
    for txn in (second, third):
        row = rows(sqlite_database)[txn]
        assert row.state == "pending"
        assert row.attempts == 0
