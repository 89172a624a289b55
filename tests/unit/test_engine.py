"""The engine turns sync batches into durable work: inbox, replies in the outbox, checkpoint."""

from __future__ import annotations

import itertools
import logging
import re
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select

from bot.clock import FakeClock
from bot.engine import (
    CUT_NOTE,
    IDLE_CHECKPOINT_INTERVAL,
    MAX_TEXT_BYTES,
    PENDING_MAX_AGE,
    Engine,
    notice_content,
)
from bot.events import (
    OwnJoin,
    Quarantined,
    Reaction,
    RoomEvent,
    SyncBatch,
    TextMessage,
    Undecryptable,
)
from bot.ids import EventId, RoomId, UserId
from bot.testing.harness import bot_engine
from bot.txn import txn_id_for
from commands.core import build_registry
from commands.framework import CommandContext, CommandRegistry
from commands.reply import Reply
from storage.models import InboxEvent, OutboxMessage, PendingDecryption
from storage.uow import Database

ROOM = RoomId("!fallkonferenz:fk.test")
NEW_ROOM = RoomId("!neu:fk.test")
ALICE = UserId("@alice:fk.test")
BOB = UserId("@bob:fk.test")
STRANGER = UserId("@eve:fremd.example")
TIMEOUT = timedelta(seconds=60)

_ids = itertools.count(1)


def new_event_id() -> EventId:
    return EventId(f"$ereignis{next(_ids)}")


class Timeline:
    """Builds events the way the Matrix edge hands them over."""

    def __init__(self, clock: FakeClock) -> None:
        self.clock = clock

    def say(
        self,
        body: str,
        *,
        sender: UserId = ALICE,
        room: RoomId = ROOM,
        encrypted: bool = True,
    ) -> TextMessage:
        return TextMessage(
            event_id=new_event_id(),
            room_id=room,
            sender=sender,
            body=body,
            origin_ts=self.clock.now(),
            room_encrypted=encrypted,
            was_encrypted=encrypted,
        )

    def locked(
        self, session_id: str, *, sender: UserId = ALICE, room: RoomId = ROOM
    ) -> Undecryptable:
        event_id = new_event_id()
        return Undecryptable(
            event_id=event_id,
            room_id=room,
            sender=sender,
            session_id=session_id,
            origin_ts=self.clock.now(),
            source={
                "type": "m.room.encrypted",
                "event_id": event_id,
                "room_id": room,
                "sender": sender,
                "content": {
                    "algorithm": "m.megolm.v1.aes-sha2",
                    "session_id": session_id,
                    "ciphertext": "AwgAEnA…",
                },
            },
        )

    def unlocked(self, event: Undecryptable, body: str) -> TextMessage:
        return TextMessage(
            event_id=event.event_id,
            room_id=event.room_id,
            sender=event.sender,
            body=body,
            origin_ts=event.origin_ts,
            room_encrypted=True,
            was_encrypted=True,
        )


def batch(
    next_batch: str,
    *events: RoomEvent,
    rooms: tuple[RoomId, ...] = (ROOM,),
    since: str | None = None,
) -> SyncBatch:
    return SyncBatch(
        next_batch=next_batch,
        since=since,
        events=events,
        invites=(),
        joined_rooms=rooms,
        keys_arrived=False,
    )


def make_engine(db: Database, clock: FakeClock, registry: CommandRegistry | None = None) -> Engine:
    """The bot's engine without an organisation: the engine's own rules alone."""
    return bot_engine(db, clock, registry=registry, org=None, undecryptable_timeout=TIMEOUT)


@pytest.fixture
def timeline(clock: FakeClock) -> Timeline:
    return Timeline(clock)


@pytest.fixture
def engine(sqlite_database: Database, clock: FakeClock) -> Engine:
    return make_engine(sqlite_database, clock)


@pytest.fixture
def running(engine: Engine) -> Engine:
    """An engine past its very first sync: the room is known, a checkpoint exists."""
    engine.ingest(batch("s0"))
    return engine


def outbox(db: Database) -> list[OutboxMessage]:
    with db.uow() as uow:
        return list(uow.outbox.all())


def inbox(db: Database) -> list[InboxEvent]:
    with db.uow() as uow:
        return list(uow.session.scalars(select(InboxEvent).order_by(InboxEvent.received_at)))


def pending(db: Database) -> dict[str, PendingDecryption]:
    with db.uow() as uow:
        return {r.event_id: r for r in uow.session.scalars(select(PendingDecryption))}


def checkpoint(db: Database) -> str | None:
    with db.uow() as uow:
        return uow.sync.checkpoint()


class Keys:
    """A decryptor: knows the plaintext of some events once their keys 'arrive'."""

    def __init__(self) -> None:
        self.plaintext: dict[str, TextMessage] = {}
        self.asked: list[str] = []

    def arrive(self, message: TextMessage) -> None:
        self.plaintext[message.event_id] = message

    def __call__(self, source: dict[str, Any], room_id: RoomId) -> RoomEvent | None:
        self.asked.append(source["event_id"])
        return self.plaintext.get(source["event_id"])


def no_keys(source: dict[str, Any], room_id: RoomId) -> RoomEvent | None:
    return None


# -- first start, checkpoints, rooms -------------------------------------------------------


def test_first_start_skips_history_but_records_rooms_and_checkpoint(
    engine: Engine, sqlite_database: Database, timeline: Timeline
) -> None:
    result = engine.ingest(
        batch(
            "s1",
            timeline.say("!fk ping"),
            OwnJoin(new_event_id(), NEW_ROOM),
            timeline.say("!fk ping", room=NEW_ROOM),
            timeline.locked("sitzung"),
            rooms=(ROOM, NEW_ROOM),
        )
    )
    assert result.commands == 0
    assert result.outbox_added == 0
    assert result.key_requests == []
    assert outbox(sqlite_database) == []
    assert inbox(sqlite_database) == []
    assert pending(sqlite_database) == {}
    assert checkpoint(sqlite_database) == "s1"
    with sqlite_database.uow() as uow:
        assert uow.sync.known_rooms() == {ROOM, NEW_ROOM}


def test_checkpoint_follows_every_batch(
    running: Engine, sqlite_database: Database, timeline: Timeline, clock: FakeClock
) -> None:
    assert checkpoint(sqlite_database) == "s0"
    running.ingest(batch("s1", timeline.say("!fk ping"), since="s0"))
    assert checkpoint(sqlite_database) == "s1"
    # An empty batch moves the checkpoint in memory; replaying it after a crash is
    # harmless, so it becomes durable with the next events or after the interval.
    running.ingest(batch("s2", since="s1"))
    assert running.checkpoint() == "s2"
    assert checkpoint(sqlite_database) == "s1"
    running.ingest(batch("s3", timeline.say("!fk ping"), since="s2"))
    assert checkpoint(sqlite_database) == "s3"
    running.ingest(batch("s4", since="s3"))
    clock.advance(IDLE_CHECKPOINT_INTERVAL)
    running.ingest(batch("s5", since="s4"))
    assert checkpoint(sqlite_database) == "s5"


# -- commands -----------------------------------------------------------------------------------


def test_command_is_answered_with_a_rich_reply_in_the_outbox(
    running: Engine, sqlite_database: Database, timeline: Timeline, clock: FakeClock
) -> None:
    ping = timeline.say("!fk ping")
    result = running.ingest(batch("s1", ping))

    assert result.commands == 1
    assert result.outbox_added == 1
    [row] = outbox(sqlite_database)
    assert row.txn_id == txn_id_for(ping.event_id)
    assert row.room_id == ROOM
    assert row.event_type == "m.room.message"
    assert row.state == "pending"
    assert row.requires_encryption is False  # ping carries no case data
    assert row.content == {
        "msgtype": "m.notice",
        "body": "pong 🏓",
        "format": "org.matrix.custom.html",
        "formatted_body": "<p>pong 🏓</p>",
        "m.relates_to": {"m.in_reply_to": {"event_id": ping.event_id}},
        "m.mentions": {"user_ids": [ALICE]},
    }
    [seen] = inbox(sqlite_database)
    assert seen.event_id == ping.event_id
    assert seen.room_id == ROOM
    assert seen.sender == ALICE
    assert seen.kind == "command"
    assert seen.command == "ping"
    assert seen.outcome == "ok"
    assert seen.error_ref is None
    assert seen.received_at == clock.now()


def test_user_error_is_answered_and_recorded(
    running: Engine, sqlite_database: Database, timeline: Timeline
) -> None:
    typo = timeline.say("!fk pnig")
    running.ingest(batch("s1", typo))
    [row] = outbox(sqlite_database)
    assert "Meintest du: !fk ping?" in row.content["body"]
    [seen] = inbox(sqlite_database)
    assert seen.outcome == "user_error"
    assert seen.command is None


def test_several_commands_in_one_batch_are_answered_in_order(
    running: Engine, sqlite_database: Database, timeline: Timeline
) -> None:
    first, second = timeline.say("!fk ping"), timeline.say("!fk hilfe", sender=BOB)
    result = running.ingest(batch("s1", first, second))
    assert result.commands == 2
    rows = outbox(sqlite_database)
    assert [r.txn_id for r in rows] == [txn_id_for(first.event_id), txn_id_for(second.event_id)]
    assert rows[1].content["m.mentions"] == {"user_ids": [BOB]}


def test_same_batch_twice_adds_nothing(
    running: Engine, sqlite_database: Database, timeline: Timeline
) -> None:
    again = batch("s1", timeline.say("!fk ping"), timeline.say("!fk hilfe"), since="s0")
    running.ingest(again)
    before_outbox = [(r.id, r.txn_id) for r in outbox(sqlite_database)]
    before_inbox = [e.event_id for e in inbox(sqlite_database)]

    result = running.ingest(again)

    assert result.commands == 0
    assert result.outbox_added == 0
    assert [(r.id, r.txn_id) for r in outbox(sqlite_database)] == before_outbox
    assert [e.event_id for e in inbox(sqlite_database)] == before_inbox
    assert len(before_outbox) == 2


def test_event_repeated_in_a_later_batch_or_within_a_batch_is_answered_once(
    running: Engine, sqlite_database: Database, timeline: Timeline
) -> None:
    ping = timeline.say("!fk ping")
    running.ingest(batch("s1", ping, ping))
    running.ingest(batch("s2", ping, since="s1"))
    assert len(outbox(sqlite_database)) == 1
    assert len(inbox(sqlite_database)) == 1


@pytest.mark.parametrize(
    "sender", [STRANGER, UserId("@eve:fk.test.fremd.example"), UserId("@eve:evil-fk.test")]
)
def test_strangers_get_silence(
    running: Engine, sqlite_database: Database, timeline: Timeline, sender: UserId
) -> None:
    result = running.ingest(
        batch("s1", timeline.say("!fk ping", sender=sender), timeline.locked("s", sender=sender))
    )
    assert result.commands == 0
    assert result.key_requests == []
    assert outbox(sqlite_database) == []
    assert inbox(sqlite_database) == []
    assert pending(sqlite_database) == {}


def test_allowed_server_is_matched_case_insensitively(
    running: Engine, sqlite_database: Database, timeline: Timeline
) -> None:
    running.ingest(batch("s1", timeline.say("!fk ping", sender=UserId("@carla:FK.Test"))))
    assert len(outbox(sqlite_database)) == 1


@pytest.mark.parametrize(
    "body",
    [
        "Guten Morgen, wir fangen um 10 an.",
        "Frau Muster (01701234567) kommt später",
        "!fkx ping",
        "ping",
        "Siehe !fk ping weiter oben",
    ],
)
def test_ordinary_chat_is_not_stored_at_all(
    running: Engine, sqlite_database: Database, timeline: Timeline, body: str
) -> None:
    result = running.ingest(batch("s1", timeline.say(body)))
    assert result.commands == 0
    assert inbox(sqlite_database) == []
    assert outbox(sqlite_database) == []


def test_reactions_are_accepted_without_a_reply(
    running: Engine, sqlite_database: Database, timeline: Timeline, clock: FakeClock
) -> None:
    reaction = Reaction(new_event_id(), ROOM, ALICE, new_event_id(), "👍", clock.now())
    result = running.ingest(batch("s1", reaction))
    assert result.commands == 0
    assert outbox(sqlite_database) == []
    assert checkpoint(sqlite_database) == "s1"


def test_in_a_newly_joined_room_only_events_after_our_join_count(
    running: Engine, sqlite_database: Database, timeline: Timeline
) -> None:
    history = timeline.say("!fk ping", room=NEW_ROOM)
    after = timeline.say("!fk hilfe", room=NEW_ROOM)
    result = running.ingest(
        batch(
            "s1",
            history,
            OwnJoin(new_event_id(), NEW_ROOM),
            after,
            rooms=(ROOM, NEW_ROOM),
        )
    )
    assert result.commands == 1
    assert [r.txn_id for r in outbox(sqlite_database)] == [txn_id_for(after.event_id)]
    assert [e.event_id for e in inbox(sqlite_database)] == [after.event_id]
    with sqlite_database.uow() as uow:
        assert NEW_ROOM in uow.sync.known_rooms()

    # from now on the room is known: no join marker needed
    later = timeline.say("!fk ping", room=NEW_ROOM)
    running.ingest(batch("s2", later, rooms=(ROOM, NEW_ROOM)))
    assert txn_id_for(later.event_id) in {r.txn_id for r in outbox(sqlite_database)}


def test_unknown_room_without_join_marker_is_ignored(
    running: Engine, sqlite_database: Database, timeline: Timeline
) -> None:
    running.ingest(batch("s1", timeline.say("!fk ping", room=NEW_ROOM)))
    assert outbox(sqlite_database) == []
    assert inbox(sqlite_database) == []


def test_own_join_in_another_room_does_not_open_this_one(
    running: Engine, sqlite_database: Database, timeline: Timeline
) -> None:
    other = RoomId("!anders:fk.test")
    running.ingest(
        batch(
            "s1",
            OwnJoin(new_event_id(), other),
            timeline.say("!fk ping", room=NEW_ROOM),
            rooms=(ROOM, NEW_ROOM, other),
        )
    )
    assert outbox(sqlite_database) == []


def test_message_bodies_are_never_logged(
    running: Engine, timeline: Timeline, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    running.ingest(
        batch(
            "s1",
            timeline.say("!fk hilfe 01701234567"),
            timeline.say("!fk Kevin Mustermann"),
            timeline.say("Kevin wohnt in der Lindenstraße"),
        )
    )
    assert "01701234567" not in caplog.text
    assert "Mustermann" not in caplog.text
    assert "Lindenstraße" not in caplog.text


# -- internal errors ------------------------------------------------------------------------------


class HandlerBug(RuntimeError):
    pass


def registry_with_broken_command() -> CommandRegistry:
    registry = build_registry()

    @registry.command("kaputt", summary="Schreibt und stürzt dann ab.", case_data=False)
    def kaputt(ctx: CommandContext) -> Reply:
        ctx.uow.outbox.add(
            txn_id="darf-nicht-bleiben",
            room_id=ctx.room_id,
            event_type="m.room.message",
            content={"body": "halb fertig"},
            requires_encryption=False,
            now=ctx.now,
        )
        raise HandlerBug("Geheimnis: Kevin Mustermann, geb. 01.02.2015")

    @registry.command("schreiben", summary="Schreibt und gelingt.", case_data=False)
    def schreiben(ctx: CommandContext) -> Reply:
        ctx.uow.outbox.add(
            txn_id="soll-bleiben",
            room_id=ctx.room_id,
            event_type="m.room.message",
            content={"body": "fertig"},
            requires_encryption=False,
            now=ctx.now,
        )
        return Reply.text("geschrieben")

    return registry


@pytest.fixture
def fragile(sqlite_database: Database, clock: FakeClock) -> Engine:
    engine = make_engine(sqlite_database, clock, registry_with_broken_command())
    engine.ingest(batch("s0"))
    return engine


def test_internal_error_rolls_back_the_commands_writes_and_answers_with_a_reference(
    fragile: Engine,
    sqlite_database: Database,
    timeline: Timeline,
    caplog: pytest.LogCaptureFixture,
) -> None:
    broken = timeline.say("!fk kaputt")
    result = fragile.ingest(batch("s1", broken))

    assert result.commands == 1
    [row] = outbox(sqlite_database)
    assert row.txn_id == txn_id_for(broken.event_id)
    [seen] = inbox(sqlite_database)
    assert seen.outcome == "internal_error"
    assert seen.error_ref is not None
    assert re.fullmatch(r"[0-9A-F]{8}", seen.error_ref)

    body, html = row.content["body"], row.content["formatted_body"]
    assert f"Interner Fehler (Ref `{seen.error_ref}`)" in body
    assert f"<code>{seen.error_ref}</code>" in html
    for leaked in ("Geheimnis", "Mustermann", "HandlerBug", "Traceback", "halb fertig"):
        assert leaked not in body
        assert leaked not in html
    assert row.content["m.relates_to"] == {"m.in_reply_to": {"event_id": broken.event_id}}

    logged = [r for r in caplog.records if seen.error_ref in r.getMessage()]
    assert logged, "the reference must lead to a log line"
    message = logged[0].getMessage()
    assert "HandlerBug" in message, "the exception type is logged"
    assert "engine.py" in message or "test_engine.py" in message, "and the stack"
    for leaked in ("Geheimnis", "Mustermann", "halb fertig"):
        assert leaked not in message, "but never the exception's message"
    assert checkpoint(sqlite_database) == "s1"


def test_internal_error_does_not_affect_the_other_commands_of_the_batch(
    fragile: Engine, sqlite_database: Database, timeline: Timeline
) -> None:
    before = timeline.say("!fk schreiben")
    broken = timeline.say("!fk kaputt")
    after = timeline.say("!fk ping")
    result = fragile.ingest(batch("s1", before, broken, after))

    assert result.commands == 3
    assert [r.txn_id for r in outbox(sqlite_database)] == [
        "soll-bleiben",
        txn_id_for(before.event_id),
        txn_id_for(broken.event_id),
        txn_id_for(after.event_id),
    ]
    assert [e.outcome for e in inbox(sqlite_database)] == ["ok", "internal_error", "ok"]


def test_broken_command_is_not_retried_when_the_batch_comes_again(
    fragile: Engine, sqlite_database: Database, timeline: Timeline
) -> None:
    again = batch("s1", timeline.say("!fk kaputt"))
    fragile.ingest(again)
    result = fragile.ingest(again)
    assert result.commands == 0
    assert len(outbox(sqlite_database)) == 1


# -- undecryptable events -----------------------------------------------------------------------


def test_undecryptable_event_is_kept_and_a_key_requested_once(
    running: Engine, sqlite_database: Database, timeline: Timeline, clock: FakeClock
) -> None:
    locked = timeline.locked("sitzung-a")
    result = running.ingest(batch("s1", locked))

    assert result.key_requests == [(locked.source, ROOM)]
    assert result.commands == 0
    row = pending(sqlite_database)[locked.event_id]
    assert row.state == "waiting"
    assert row.session_id == "sitzung-a"
    assert row.sender == ALICE
    assert row.first_seen_at == clock.now()
    assert row.source == locked.source
    assert outbox(sqlite_database) == []

    again = running.ingest(batch("s2", locked, since="s1"))
    assert again.key_requests == []
    assert len(pending(sqlite_database)) == 1


def test_nothing_happens_before_the_timeout(
    running: Engine, sqlite_database: Database, timeline: Timeline, clock: FakeClock
) -> None:
    locked = timeline.locked("sitzung-a")
    running.ingest(batch("s1", locked))
    keys = Keys()

    result = running.process_pending(keys)
    clock.advance(TIMEOUT - timedelta(seconds=1))
    later = running.process_pending(keys)

    assert result.outbox_added == later.outbox_added == 0
    assert outbox(sqlite_database) == []
    assert pending(sqlite_database)[locked.event_id].state == "waiting"
    assert keys.asked == [locked.event_id, locked.event_id]  # decryption retried each time


def test_after_the_timeout_one_notice_per_key_session(
    running: Engine, sqlite_database: Database, timeline: Timeline, clock: FakeClock
) -> None:
    a1, a2, a3 = (timeline.locked("sitzung-a") for _ in range(3))
    b1 = timeline.locked("sitzung-b", sender=BOB)
    running.ingest(batch("s1", a1, a2, b1, a3))
    clock.advance(TIMEOUT + timedelta(seconds=1))

    result = running.process_pending(no_keys)

    assert result.outbox_added == 2
    rows = outbox(sqlite_database)
    assert sorted(r.txn_id for r in rows) == sorted(
        [txn_id_for(a1.event_id, "undecryptable"), txn_id_for(b1.event_id, "undecryptable")]
    )
    by_txn = {r.txn_id: r for r in rows}
    notice = by_txn[txn_id_for(a1.event_id, "undecryptable")]
    assert notice.content["msgtype"] == "m.notice"
    assert "nicht entschlüsseln" in notice.content["body"]
    assert notice.content["m.relates_to"] == {"m.in_reply_to": {"event_id": a1.event_id}}
    assert notice.content["m.mentions"] == {"user_ids": [ALICE]}
    assert by_txn[txn_id_for(b1.event_id, "undecryptable")].content["m.mentions"] == {
        "user_ids": [BOB]
    }
    assert {r.state for r in pending(sqlite_database).values()} == {"notified"}

    # and never again, however often the engine looks
    for _ in range(3):
        clock.advance(timedelta(hours=1))
        assert running.process_pending(no_keys).outbox_added == 0
    assert len(outbox(sqlite_database)) == 2


def test_later_event_of_an_already_notified_session_gets_no_second_notice(
    running: Engine, sqlite_database: Database, timeline: Timeline, clock: FakeClock
) -> None:
    first = timeline.locked("sitzung-a")
    running.ingest(batch("s1", first))
    clock.advance(TIMEOUT + timedelta(seconds=1))
    running.process_pending(no_keys)

    second = timeline.locked("sitzung-a")
    running.ingest(batch("s2", second, since="s1"))
    clock.advance(TIMEOUT + timedelta(seconds=1))
    result = running.process_pending(no_keys)

    assert result.outbox_added == 0
    assert len(outbox(sqlite_database)) == 1
    assert pending(sqlite_database)[second.event_id].state == "notified"


def test_same_session_id_in_two_rooms_gets_a_notice_in_each(
    running: Engine, sqlite_database: Database, timeline: Timeline, clock: FakeClock
) -> None:
    other = RoomId("!zweiter:fk.test")
    here = timeline.locked("sitzung-a")
    there = timeline.locked("sitzung-a", room=other)
    running.ingest(batch("s1", OwnJoin(new_event_id(), other), here, there, rooms=(ROOM, other)))
    clock.advance(TIMEOUT + timedelta(seconds=1))
    assert running.process_pending(no_keys).outbox_added == 2
    assert {r.room_id for r in outbox(sqlite_database)} == {ROOM, other}


def test_key_arriving_before_the_timeout_answers_the_command(
    running: Engine, sqlite_database: Database, timeline: Timeline, clock: FakeClock
) -> None:
    locked = timeline.locked("sitzung-a")
    running.ingest(batch("s1", locked))
    keys = Keys()
    keys.arrive(timeline.unlocked(locked, "!fk ping"))
    clock.advance(timedelta(seconds=5))

    result = running.process_pending(keys)

    assert result.commands == 1
    [row] = outbox(sqlite_database)
    assert row.txn_id == txn_id_for(locked.event_id)
    assert row.content["body"] == "pong 🏓"
    assert row.content["m.relates_to"] == {"m.in_reply_to": {"event_id": locked.event_id}}
    state = pending(sqlite_database)[locked.event_id]
    assert state.state == "decrypted"
    assert state.resolved_at == clock.now()
    assert inbox(sqlite_database)[0].event_id == locked.event_id

    # answered once: the row is no longer retried
    clock.advance(TIMEOUT * 2)
    assert running.process_pending(keys).outbox_added == 0
    assert len(outbox(sqlite_database)) == 1


def test_key_arriving_after_the_notice_does_not_run_the_command_twice(
    running: Engine, sqlite_database: Database, timeline: Timeline, clock: FakeClock
) -> None:
    locked = timeline.locked("sitzung-a")
    running.ingest(batch("s1", locked))
    clock.advance(TIMEOUT + timedelta(seconds=1))
    running.process_pending(no_keys)
    assert pending(sqlite_database)[locked.event_id].state == "notified"

    keys = Keys()
    keys.arrive(timeline.unlocked(locked, "!fk ping"))
    clock.advance(timedelta(minutes=10))
    result = running.process_pending(keys)

    # The notice asked the sender to send it again; running the late copy too would
    # run the command twice.
    assert result.commands == 0
    assert [r.txn_id for r in outbox(sqlite_database)] == [
        txn_id_for(locked.event_id, "undecryptable"),
    ]
    row = pending(sqlite_database)[locked.event_id]
    assert row.state == "decrypted"
    assert row.source == {}, "the ciphertext is not kept once resolved"


def test_decrypted_chat_is_resolved_without_a_reply(
    running: Engine, sqlite_database: Database, timeline: Timeline
) -> None:
    locked = timeline.locked("sitzung-a")
    running.ingest(batch("s1", locked))
    keys = Keys()
    keys.arrive(timeline.unlocked(locked, "Wir sehen uns um zehn."))
    assert running.process_pending(keys).outbox_added == 0
    assert pending(sqlite_database)[locked.event_id].state == "decrypted"
    assert inbox(sqlite_database) == []


def test_notified_events_expire_after_a_week(
    running: Engine, sqlite_database: Database, timeline: Timeline, clock: FakeClock
) -> None:
    locked = timeline.locked("sitzung-a")
    running.ingest(batch("s1", locked))
    clock.advance(TIMEOUT + timedelta(seconds=1))
    running.process_pending(no_keys)
    clock.advance(PENDING_MAX_AGE)
    running.process_pending(no_keys)
    row = pending(sqlite_database)[locked.event_id]
    assert row.state == "expired"
    assert row.resolved_at == clock.now()
    assert len(outbox(sqlite_database)) == 1


def test_undecryptable_history_in_new_room_before_join_is_ignored(
    running: Engine, sqlite_database: Database, timeline: Timeline
) -> None:
    result = running.ingest(
        batch(
            "s1",
            timeline.locked("alt", room=NEW_ROOM),
            OwnJoin(new_event_id(), NEW_ROOM),
            rooms=(ROOM, NEW_ROOM),
        )
    )
    assert result.key_requests == []
    assert pending(sqlite_database) == {}


# -- review fixes: refused commands, rejoins, plaintext ---------------------------------------


def test_a_refused_command_leaves_no_partial_write(
    sqlite_database: Database, clock: FakeClock, timeline: Timeline
) -> None:
    from domain.errors import BadArgument

    registry = build_registry()

    @registry.command("halb", summary="Schreibt, dann Benutzerfehler.", case_data=False)
    def halb(ctx: CommandContext) -> Reply:
        ctx.uow.outbox.add(
            txn_id="halb-geschrieben",
            room_id=ctx.room_id,
            event_type="m.room.message",
            content={},
            requires_encryption=False,
            now=ctx.now,
        )
        raise BadArgument("x", "passt nicht")

    engine = make_engine(sqlite_database, clock, registry)
    engine.ingest(batch("s0"))
    engine.ingest(batch("s1", timeline.say("!fk halb")))
    txns = [r.txn_id for r in outbox(sqlite_database)]
    assert "halb-geschrieben" not in txns
    assert len(txns) == 1, "only the German error reply"


def test_commands_sent_while_the_bot_was_out_of_a_known_room_are_not_run(
    running: Engine, sqlite_database: Database, timeline: Timeline
) -> None:
    while_away = timeline.say("!fk ping")  # came in through the gap, before the rejoin
    after = timeline.say("!fk ping")
    running.ingest(batch("s1", while_away, OwnJoin(new_event_id(), ROOM), after, since="s0"))
    assert [r.event_id for r in inbox(sqlite_database)] == [after.event_id]


def test_a_plaintext_command_in_an_encrypted_room_gets_no_case_data(
    sqlite_database: Database, clock: FakeClock, timeline: Timeline
) -> None:
    registry = build_registry()

    @registry.command("fall", summary="Falldaten.")
    def fall(ctx: CommandContext) -> Reply:
        return Reply.text("FK-7QX2-MB")

    engine = make_engine(sqlite_database, clock, registry)
    engine.ingest(batch("s0"))
    forged = TextMessage(
        event_id=new_event_id(),
        room_id=ROOM,
        sender=ALICE,
        body="!fk fall",
        origin_ts=clock.now(),
        room_encrypted=True,
        was_encrypted=False,
    )
    engine.ingest(batch("s1", forged))
    (reply,) = outbox(sqlite_database)
    assert "FK-7QX2-MB" not in reply.content["body"]
    assert "nicht verschlüsselt" in reply.content["body"]


# -- quarantine (issue 12) ------------------------------------------------------------------


def _poison(event_id: str, room: RoomId | None = ROOM) -> Quarantined:
    return Quarantined(
        event_id=EventId(event_id),
        room_id=room,
        event_type="m.room.message",
        sender=STRANGER,
        reason="content.m.relates_to: model_type",
    )


def test_a_quarantined_event_is_recorded_and_the_rest_of_the_batch_carries_on(
    running: Engine,
    timeline: Timeline,
    sqlite_database: Database,
    caplog: pytest.LogCaptureFixture,
) -> None:
    ping = timeline.say("!fk ping")
    with caplog.at_level(logging.WARNING, logger="bot.engine"):
        running.ingest(batch("s1", _poison("$gift"), ping))
    assert checkpoint(sqlite_database) == "s1"
    assert [r.txn_id for r in outbox(sqlite_database)] == [txn_id_for(ping.event_id, "reply")]
    with sqlite_database.uow() as uow:
        (row,) = uow.quarantine.recent()
    assert (row.event_id, row.room_id, row.event_type, row.sender) == (
        "$gift",
        ROOM,
        "m.room.message",
        STRANGER,
    )
    assert row.reason == "content.m.relates_to: model_type"
    assert "$gift" in caplog.text
    # A replayed batch (crash before the checkpoint) records nothing twice; rows
    # without an id (invite state, to-device) are simply added.
    running.ingest(batch("s1", _poison("$gift"), _poison("$gift")))
    running.ingest(batch("s2", Quarantined(None, None, "m.room_key", None, "content: missing")))
    with sqlite_database.uow() as uow:
        assert uow.quarantine.count() == 2


def test_quarantine_is_recorded_on_the_first_start_and_before_a_join(
    engine: Engine, sqlite_database: Database
) -> None:
    """History is not executed, but what was set aside is still on record."""
    engine.ingest(batch("s0", _poison("$alt", NEW_ROOM), rooms=(ROOM, NEW_ROOM)))
    with sqlite_database.uow() as uow:
        assert [r.event_id for r in uow.quarantine.recent()] == ["$alt"]


def test_a_long_reply_keeps_its_whole_text_and_drops_only_the_formatting() -> None:
    line = "FK-7QX2-M6 – Beschluss: Teilnahme am Projekt ab Januar.\n"
    small = Reply(line * 10, "<p>" + line * 10 + "</p>")
    assert notice_content(small, mentions=[])["formatted_body"] == small.html
    # text 18 KB + HTML 18 KB: over the limit together, the text alone fits whole
    large = Reply(line * 320, "<p>" + line * 320 + "</p>")
    content = notice_content(large, mentions=[])
    assert content["body"] == large.plain
    assert "formatted_body" not in content
    # text alone over the limit: cut at a line, said so, under the limit
    huge = Reply(line * 700, "")
    cut = notice_content(huge, mentions=[])["body"]
    assert cut.endswith(CUT_NOTE)
    assert len(cut.encode()) <= MAX_TEXT_BYTES
    assert cut.removesuffix(CUT_NOTE).endswith("Januar.")
