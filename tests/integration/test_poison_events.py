"""No message, state event or room stops the bot: poison is set aside, the next ping answered.

Issue 12: a room member's ``m.relates_to: "kaputt"`` and a room created with
``additional_creators: 5`` used to crash the bot on every restart. Here a member
sends those and a dozen more shapes, plaintext and encrypted, timeline and state;
the bot sets them aside (quarantine), answers ``!fk ping``, is restarted and answers
again.
"""

from __future__ import annotations

import json
import logging
import secrets
from typing import Any
from urllib.parse import quote

import pytest

from bot.testing.botrun import BotSetup, InProcessBot
from bot.testing.inroom import People, open_room
from bot.testing.peers import Participant
from storage.db import make_engine
from storage.uow import Database

MARKER = "Vertraulich-0815"  # inside every poison: must not reach the log or the CLI


async def _put(person: Participant, path: str, content: Any) -> tuple[int, dict[str, Any]]:
    """A raw PUT, bypassing nio's encryption and its idea of what content is."""
    headers = {
        "Authorization": f"Bearer {person.user.access_token}",
        "Content-Type": "application/json",
    }
    response = await person.client.send("PUT", path, json.dumps(content), headers)
    async with response:
        data = await response.json(content_type=None)
    return response.status, data if isinstance(data, dict) else {}


async def send_plain(
    person: Participant, room_id: str, event_type: str, content: Any
) -> str | None:
    """The event id, or None if the homeserver itself refused the shape."""
    txn = secrets.token_hex(8)
    status, data = await _put(
        person, f"/_matrix/client/v3/rooms/{quote(room_id)}/send/{event_type}/{txn}", content
    )
    return str(data["event_id"]) if status == 200 else None


async def send_state(
    person: Participant, room_id: str, event_type: str, content: Any, state_key: str = ""
) -> str | None:
    """The event id, or None if the homeserver itself refused the shape."""
    status, data = await _put(
        person,
        f"/_matrix/client/v3/rooms/{quote(room_id)}/state/{event_type}/{quote(state_key)}",
        content,
    )
    return str(data["event_id"]) if status == 200 else None


def quarantine_rows(setup: BotSetup) -> list[tuple[str | None, str | None, str]]:
    engine = make_engine(setup.settings().database.url)
    try:
        with Database(engine).uow() as uow:
            return [(r.event_id, r.room_id, r.event_type) for r in uow.quarantine.recent(1000)]
    finally:
        engine.dispose()


def quarantined_ids(setup: BotSetup) -> set[str]:
    return {event_id for event_id, _, _ in quarantine_rows(setup) if event_id}


async def test_poison_is_quarantined_and_the_bot_answers_before_and_after_a_restart(
    people: People, bot_setup: BotSetup, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="bot")
    bot = InProcessBot(bot_setup)
    await bot.start()
    room = await open_room(people, bot)
    cw, rid = room.caseworker, room.room_id
    first = await cw.send(rid, "!fk ping")
    await cw.wait_reply(first)  # keys shared, the bot is in the room

    expected: dict[str, str] = {}  # event id -> what it was
    kept: dict[str, str] = {}  # fits its shape (or is of no interest): not quarantined

    # -- the two cases of the issue ---------------------------------------------------
    kaputt = await send_plain(
        cw, rid, "m.room.message", {"msgtype": "m.text", "body": MARKER, "m.relates_to": "kaputt"}
    )
    assert kaputt is not None, "Synapse takes the poison of issue 12"
    expected[kaputt] = "relates_to a string (plaintext)"
    expected[
        await cw.send_event(
            rid, "m.room.message", {"msgtype": "m.text", "body": MARKER, "m.relates_to": "kaputt"}
        )
    ] = "relates_to a string (encrypted)"
    status, created = await cw._post(
        "/_matrix/client/v3/createRoom",
        {
            "name": "Gift",
            "invite": [bot_setup.user_id],
            "preset": "private_chat",
            # Synapse checks additional_creators only from room version 12 on.
            "room_version": "11",
            "creation_content": {"additional_creators": 5},
            "initial_state": [
                {
                    "type": "m.room.encryption",
                    "state_key": "",
                    "content": {"algorithm": "m.megolm.v1.aes-sha2"},
                }
            ],
        },
    )
    assert status == 200, created
    poison_room = str(created["room_id"])

    # -- a dozen more shapes -------------------------------------------------------------
    encrypted: dict[str, tuple[str, dict[str, Any]]] = {
        "body not a string": ("m.room.message", {"msgtype": "m.text", "body": 5}),
        "new_content not an object": (
            "m.room.message",
            {
                "msgtype": "m.text",
                "body": f"* {MARKER}",
                "m.new_content": MARKER,
                "m.relates_to": {"rel_type": "m.replace", "event_id": first},
            },
        ),
        "in_reply_to a string": (
            "m.room.message",
            {"msgtype": "m.text", "body": MARKER, "m.relates_to": {"m.in_reply_to": first}},
        ),
        "poll relates_to a string": (
            "m.poll.response",
            {"m.relates_to": MARKER, "m.selections": ["1"]},
        ),
        # Synapse refuses a non-string msgtype in plaintext; encrypted it cannot look.
        "msgtype a list (encrypted)": ("m.room.message", {"msgtype": ["m.text"], "body": MARKER}),
        "mentions not a list (encrypted)": (
            "m.room.message",
            {"msgtype": "m.text", "body": MARKER, "m.mentions": {"user_ids": MARKER}},
        ),
        "formatted_body a number (encrypted)": (
            "m.room.message",
            {"msgtype": "m.text", "body": MARKER, "format": "x", "formatted_body": 5},
        ),
        "content nested deep": (
            "m.room.message",
            {"msgtype": "m.text", "body": MARKER, "m.relates_to": [[[[[[[[[[MARKER]]]]]]]]]]},
        ),
    }
    for name, (event_type, content) in encrypted.items():
        expected[await cw.send_event(rid, event_type, content)] = name
    plain: dict[str, tuple[str, dict[str, Any]]] = {
        "msgtype a list": ("m.room.message", {"msgtype": ["m.text"], "body": MARKER}),
        "reaction relates_to a string": ("m.reaction", {"m.relates_to": MARKER}),
        "reaction key a number": (
            "m.reaction",
            {"m.relates_to": {"rel_type": "m.annotation", "event_id": first, "key": 7}},
        ),
        "poll relates_to a list": (
            "org.matrix.msc3381.poll.response",
            {"m.relates_to": [first], "org.matrix.msc3381.poll.response": {"answers": ["1"]}},
        ),
        "encrypted without a string ciphertext": (
            "m.room.encrypted",
            {"algorithm": "m.megolm.v1.aes-sha2", "ciphertext": 5, "session_id": MARKER},
        ),
    }
    refused_by_synapse = []
    for name, (event_type, content) in plain.items():
        event_id = await send_plain(cw, rid, event_type, content)
        if event_id is None:
            refused_by_synapse.append(name)
        else:
            expected[event_id] = name
    # Poll answers that are not a list are a spoiled vote by MSC3381: accepted, not set aside.
    kept[
        await cw.send_event(
            rid,
            "m.poll.response",
            {
                "m.relates_to": {"rel_type": "m.reference", "event_id": first},
                "m.selections": MARKER,
            },
        )
    ] = "poll answers not a list"
    huge = await send_plain(cw, rid, "m.room.message", {"msgtype": "m.text", "body": MARKER * 2000})
    assert huge is not None
    kept[huge] = "huge body"

    # State: Synapse refuses some shapes itself; whatever it accepts must be set aside.
    state_shapes: list[tuple[str, str, dict[str, Any], str]] = [
        ("power-level users not an object", "m.room.power_levels", {"users": [cw.user_id]}, ""),
        ("power level a string", "m.room.power_levels", {"users": {cw.user_id: "hundert"}}, ""),
        ("membership a number", "m.room.member", {"membership": 5}, cw.user_id),
        (
            "displayname an object",
            "m.room.member",
            {"membership": "join", "displayname": {}},
            cw.user_id,
        ),
        ("encryption algorithm a number", "m.room.encryption", {"algorithm": 5}, ""),
    ]
    for name, event_type, content, state_key in state_shapes:
        event_id = await send_state(cw, rid, event_type, content, state_key)
        if event_id is None:
            refused_by_synapse.append(name)
        else:
            expected[event_id] = name
    print(f"Synapse itself refused {refused_by_synapse}; {len(expected)} shapes reached the bot")
    assert len(expected) >= 12

    # -- the bot carries on ----------------------------------------------------------------
    after = await cw.send(rid, "!fk ping")
    await cw.wait_reply(after, 60)
    await cw.wait_for_member(poison_room, bot_setup.user_id, 60)
    in_poison_room = await cw.send(poison_room, "!fk ping")
    await cw.wait_reply(in_poison_room, 60)
    await bot.stop()

    stored = quarantined_ids(bot_setup)
    missing = {name for event_id, name in expected.items() if event_id not in stored}
    assert not missing, f"not quarantined: {missing}"
    assert not stored & set(kept), "shapes that fit must not be quarantined"
    assert (poison_room, "m.room.create") in {(r, t) for _, r, t in quarantine_rows(bot_setup)}

    # -- restart: full state again, the same poison, no crash loop --------------------------
    again = InProcessBot(bot_setup)
    await again.start()
    try:
        ping = await cw.send(rid, "!fk ping")
        await cw.wait_reply(ping, 60)
        ping2 = await cw.send(poison_room, "!fk ping")
        await cw.wait_reply(ping2, 60)
    finally:
        await again.stop()
    assert quarantined_ids(bot_setup) >= set(expected)

    listing = bot_setup.cli("quarantine")
    assert listing.returncode == 0, listing.stderr
    for event_id in expected:
        assert event_id in listing.stdout
    assert MARKER not in listing.stdout + listing.stderr
    bot_records = [r for r in caplog.records if r.name.startswith("bot")]
    assert any("Quarantäne" in r.getMessage() for r in bot_records)
    assert not [r for r in bot_records if MARKER in r.getMessage()]
    # The test peer survived the same shapes: it saw every reply above.
