"""Every event is untrusted input: the edge's conversion never raises, it accepts or quarantines.

The path under test is the one a sync takes, without the network: the raw JSON is
screened (bot/shapes.py), nio parses what is left and updates its room state, and
the gateway converts each timeline event. Hypothesis generates, for every event type
the bot reads, contents with wrong types, missing keys, huge and nested values.
"""

from __future__ import annotations

import asyncio
import copy
import itertools
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from nio import SyncResponse

from bot.config import MatrixConfig
from bot.events import OwnJoin, PollVote, Quarantined, Reaction, TextMessage, Undecryptable
from bot.matrix import MatrixGateway
from bot.shapes import check_event, screen_sync

BOT = "@bot:fk.test"
ALICE = "@alice:fk.test"
ROOM = "!raum:fk.test"
INVITE_ROOM = "!einladung:fk.test"
SECRET = "Geheimnis-4711"  # planted in generated values: must never reach a reason

_ids = itertools.count(1)


def _event(event_type: str, content: Any, state_key: str | None = None) -> dict[str, Any]:
    event: dict[str, Any] = {
        "event_id": f"$e{next(_ids)}",
        "sender": ALICE,
        "type": event_type,
        "origin_server_ts": 1_700_000_000_000,
        "content": content,
    }
    if state_key is not None:
        event["state_key"] = state_key
    return event


# Valid contents of every type the bot (or nio's room state) reads.
VALID: dict[str, tuple[dict[str, Any], str | None]] = {
    "text": ({"msgtype": "m.text", "body": "!fk ping"}, None),
    "reply": (
        {
            "msgtype": "m.text",
            "body": "!fk ping",
            "m.relates_to": {"m.in_reply_to": {"event_id": "$x"}},
        },
        None,
    ),
    "edit": (
        {
            "msgtype": "m.text",
            "body": "* !fk ping",
            "m.new_content": {"msgtype": "m.text", "body": "!fk ping"},
            "m.relates_to": {"rel_type": "m.replace", "event_id": "$x"},
        },
        None,
    ),
    "reaction": (
        {"m.relates_to": {"rel_type": "m.annotation", "event_id": "$x", "key": "👍"}},
        None,
    ),
    "poll": (
        {"m.relates_to": {"rel_type": "m.reference", "event_id": "$p"}, "m.selections": ["1"]},
        None,
    ),
    "poll_unstable": (
        {
            "m.relates_to": {"rel_type": "m.reference", "event_id": "$p"},
            "org.matrix.msc3381.poll.response": {"answers": ["1"]},
        },
        None,
    ),
    "encrypted": (
        {
            "algorithm": "m.megolm.v1.aes-sha2",
            "ciphertext": "AwgAEnAC",
            "session_id": "sess",
            "sender_key": "key",
            "device_id": "DEV",
        },
        None,
    ),
    "create": ({"creator": ALICE, "room_version": "10", "additional_creators": []}, ""),
    "power_levels": ({"users": {ALICE: 100}, "users_default": 0, "events": {}}, ""),
    "member": ({"membership": "join", "displayname": "Alice"}, ALICE),
    "encryption": ({"algorithm": "m.megolm.v1.aes-sha2"}, ""),
}
TYPES = {
    "text": "m.room.message",
    "reply": "m.room.message",
    "edit": "m.room.message",
    "reaction": "m.reaction",
    "poll": "m.poll.response",
    "poll_unstable": "org.matrix.msc3381.poll.response",
    "encrypted": "m.room.encrypted",
    "create": "m.room.create",
    "power_levels": "m.room.power_levels",
    "member": "m.room.member",
    "encryption": "m.room.encryption",
}

leaves = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20)
    | st.just(SECRET)
    | st.builds(lambda n: SECRET * n, st.integers(min_value=1, max_value=5000))
)
json_values = st.recursive(
    leaves,
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(st.text(max_size=8) | st.just(SECRET), inner, max_size=4)
    ),
    max_leaves=12,
)


def _nested(depth: int) -> Any:
    value: Any = SECRET
    for n in range(depth):
        value = [value] if n % 2 else {SECRET: value}
    return value


deep_values = st.integers(min_value=1, max_value=150).map(_nested)
any_value = json_values | deep_values


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    yield prefix
    if isinstance(value, dict):
        for key, item in value.items():
            yield from _paths(item, (*prefix, key))


@st.composite
def mutated(draw: st.DrawFn, kind: str) -> dict[str, Any]:
    """A valid content of ``kind`` with one to three places replaced, deleted or added."""
    content: Any = copy.deepcopy(VALID[kind][0])
    for _ in range(draw(st.integers(min_value=1, max_value=3))):
        paths = list(_paths(content))
        path = draw(st.sampled_from(paths))
        action = draw(st.sampled_from(["replace", "delete", "add"]))
        if not path:
            if action == "replace":
                content = draw(any_value)
            continue
        parent = content
        for key in path[:-1]:
            parent = parent[key]
        if not isinstance(parent, dict):
            continue
        if action == "replace":
            parent[path[-1]] = draw(any_value)
        elif action == "delete":
            parent.pop(path[-1], None)
        elif isinstance(parent.get(path[-1]), dict):
            parent[path[-1]][draw(st.text(max_size=8) | st.just(SECRET))] = draw(any_value)
    return content  # type: ignore[no-any-return]


@st.composite
def poisoned_event(draw: st.DrawFn) -> dict[str, Any]:
    kind = draw(st.sampled_from(sorted(VALID)))
    content = draw(mutated(kind))
    event = _event(TYPES[kind], content, VALID[kind][1])
    if draw(st.booleans()) and event.get("state_key") is not None:
        event["unsigned"] = {"prev_content": draw(any_value)}
    return event


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MatrixGateway]:
    store = tmp_path_factory.mktemp("store")
    config = MatrixConfig(
        homeserver="http://127.0.0.1:1",
        user_id=BOT,
        device_id="FKTEST01",
        store_path=Path(store),
        allowed_homeservers=("fk.test",),
    )
    gw = MatrixGateway(config, pickle_key="x" * 8 + "fuzzing-only-key-0123456789abcdef")
    gw.client.restore_login(BOT, "FKTEST01", "token")
    yield gw
    asyncio.run(gw.client.close())


def _sync(
    events: list[dict[str, Any]], state: list[dict[str, Any]], invite: list[Any]
) -> dict[str, Any]:
    return {
        "next_batch": f"s{next(_ids)}",
        "rooms": {
            "join": {
                ROOM: {
                    "timeline": {"events": events, "limited": False, "prev_batch": "p"},
                    "state": {"events": state},
                }
            },
            "invite": {INVITE_ROOM: {"invite_state": {"events": invite}}},
        },
    }


def run_sync(gateway: MatrixGateway, raw: dict[str, Any]) -> list[Any]:
    """What MatrixGateway.sync does with an answer, without the network."""
    raw = json.loads(json.dumps(raw))  # as the wire would deliver it
    found: list[Quarantined] = []
    screen_sync(raw, found.append)
    response = SyncResponse.from_dict(raw)
    assert isinstance(response, SyncResponse)
    asyncio.run(gateway.client.receive_response(response))
    out: list[Any] = list(found)
    for room_id, info in response.rooms.join.items():
        for event in info.timeline.events:
            out.extend(gateway._convert_guarded(room_id, event))
        for member in gateway.joined_members(room_id):
            gateway.power_level(room_id, member)
    list(gateway._invites(response))
    return out


def _creator_state() -> list[dict[str, Any]]:
    return [
        _event("m.room.create", {"creator": ALICE, "room_version": "10"}, ""),
        _event("m.room.member", {"membership": "join"}, ALICE),
        _event("m.room.member", {"membership": "join"}, BOT),
    ]


@settings(
    max_examples=300,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    events=st.lists(poisoned_event(), min_size=1, max_size=4),
    where=st.sampled_from(["timeline", "state", "invite"]),
)
def test_conversion_never_raises_and_each_event_is_accepted_or_quarantined(
    gateway: MatrixGateway, events: list[dict[str, Any]], where: str
) -> None:
    ping = _event("m.room.message", {"msgtype": "m.text", "body": "!fk ping"})
    if where == "timeline":
        raw = _sync([*events, ping], _creator_state(), [])
    elif where == "state":
        raw = _sync([ping], [*_creator_state(), *events], [])
    else:
        stripped = [
            {k: v for k, v in e.items() if k not in ("event_id", "origin_server_ts")}
            for e in events
        ]
        raw = _sync([ping], _creator_state(), stripped)
    out = run_sync(gateway, raw)
    quarantined = [e for e in out if isinstance(e, Quarantined)]
    for record in quarantined:
        assert SECRET not in repr(record), "a quarantine record must not quote content"
        assert len(record.reason) <= 300
    # The rest of the batch carries on: the ping after the poison is still a command.
    texts = [e for e in out if isinstance(e, TextMessage)]
    assert ping["event_id"] in {t.event_id for t in texts}
    accepted = {getattr(e, "event_id", None) for e in out if not isinstance(e, Quarantined)}
    refused = {q.event_id for q in quarantined}
    if where == "timeline":
        for event in events:
            # Each poisoned timeline event is either quarantined, or it fitted (and was
            # converted or, being of no interest, left out): never both.
            assert not (event["event_id"] in accepted and event["event_id"] in refused)
            if event["event_id"] not in refused:
                assert check_event(event, ROOM) is None


@settings(max_examples=300, deadline=None)
@given(
    source=any_value
    | st.dictionaries(
        st.sampled_from(
            ["type", "event_id", "sender", "origin_server_ts", "content", "state_key", "unsigned"]
        ),
        any_value,
    )
)
def test_check_event_takes_any_json(source: Any) -> None:
    result = check_event(source, ROOM)
    assert result is None or isinstance(result, Quarantined)
    if result is not None:
        # Ids, type and sender are recorded as sent (that is the point); the reason
        # never quotes anything.
        assert SECRET not in result.reason


# -- the shapes named in issue 12, one by one -----------------------------------------


POISON: dict[str, tuple[str, Any, str | None]] = {
    "relates_to a string": (
        "m.room.message",
        {"msgtype": "m.text", "body": "hallo", "m.relates_to": "kaputt"},
        None,
    ),
    "body not a string": ("m.room.message", {"msgtype": "m.text", "body": 5}, None),
    "msgtype not a string": ("m.room.message", {"msgtype": ["m.text"], "body": "x"}, None),
    "new_content not an object": (
        "m.room.message",
        {
            "msgtype": "m.text",
            "body": "* x",
            "m.new_content": "x",
            "m.relates_to": {"rel_type": "m.replace", "event_id": "$x"},
        },
        None,
    ),
    "in_reply_to a string": (
        "m.room.message",
        {"msgtype": "m.text", "body": "x", "m.relates_to": {"m.in_reply_to": "$x"}},
        None,
    ),
    "content a string": ("m.room.message", "kaputt", None),
    "reaction relates_to a list": ("m.reaction", {"m.relates_to": ["$x"]}, None),
    "reaction key a number": (
        "m.reaction",
        {"m.relates_to": {"rel_type": "m.annotation", "event_id": "$x", "key": 1}},
        None,
    ),
    "poll relates_to a string": (
        "m.poll.response",
        {"m.relates_to": "$p", "m.selections": ["1"]},
        None,
    ),
    "encrypted ciphertext a number": (
        "m.room.encrypted",
        {"algorithm": "m.megolm.v1.aes-sha2", "ciphertext": 5, "session_id": "s"},
        None,
    ),
    "additional_creators a number": (
        "m.room.create",
        {"creator": ALICE, "additional_creators": 5},
        "",
    ),
    "power level users a list": ("m.room.power_levels", {"users": [ALICE]}, ""),
    "power level a string": ("m.room.power_levels", {"users": {ALICE: "100"}}, ""),
    "membership a number": ("m.room.member", {"membership": 5}, "@bob:fk.test"),
    "encryption algorithm a number": ("m.room.encryption", {"algorithm": 5}, ""),
}


@pytest.mark.parametrize("name", sorted(POISON))
def test_every_named_poison_is_quarantined_and_the_ping_after_it_answered(
    gateway: MatrixGateway, name: str
) -> None:
    event_type, content, state_key = POISON[name]
    poison = _event(event_type, content, state_key)
    ping = _event("m.room.message", {"msgtype": "m.text", "body": "!fk ping"})
    out = run_sync(gateway, _sync([poison, ping], _creator_state(), []))
    refused = [e for e in out if isinstance(e, Quarantined)]
    assert [q.event_id for q in refused] == [poison["event_id"]]
    assert refused[0].event_type == event_type
    assert refused[0].sender == ALICE
    assert refused[0].room_id == ROOM
    assert refused[0].reason
    assert ping["event_id"] in {e.event_id for e in out if isinstance(e, TextMessage)}


def test_a_decrypted_plaintext_that_does_not_fit_is_quarantined(gateway: MatrixGateway) -> None:
    """The raw screen cannot see inside ciphertext: the conversion checks again."""
    from nio import RoomMessageText

    source = _event(
        "m.room.message", {"msgtype": "m.text", "body": "hallo", "m.relates_to": "kaputt"}
    )
    event = RoomMessageText.from_dict(source)
    event.decrypted = True
    (out,) = gateway._convert_guarded(ROOM, event)
    assert isinstance(out, Quarantined)
    assert out.event_id == source["event_id"]


def test_valid_events_are_converted_as_before(gateway: MatrixGateway) -> None:
    text = _event("m.room.message", VALID["text"][0])
    edit = _event("m.room.message", VALID["edit"][0])
    reaction = _event("m.reaction", VALID["reaction"][0])
    vote = _event("m.poll.response", VALID["poll"][0])
    out = run_sync(gateway, _sync([text, edit, reaction, vote], _creator_state(), []))
    kinds = [type(e) for e in out if not isinstance(e, OwnJoin | Undecryptable)]
    assert kinds == [TextMessage, Reaction, PollVote]  # the edit is not a new command


def test_a_reason_names_fields_never_values_or_keys() -> None:
    poison = _event("m.room.power_levels", {"users": {SECRET: "hundert"}}, "")
    record = check_event(poison, ROOM)
    assert record is not None
    assert SECRET not in record.reason
    assert "hundert" not in record.reason
    assert record.reason.startswith("content.users.*")


def test_a_room_whose_events_are_not_a_list_loses_only_that_list(gateway: MatrixGateway) -> None:
    ping = _event("m.room.message", {"msgtype": "m.text", "body": "!fk ping"})
    raw = _sync([ping], _creator_state(), [])
    raw["rooms"]["join"]["!anderer:fk.test"] = {"timeline": {"events": "kaputt"}, "state": 5}
    out = run_sync(gateway, raw)
    assert ping["event_id"] in {e.event_id for e in out if isinstance(e, TextMessage)}
    assert {q.event_type for q in out if isinstance(q, Quarantined)} == {"timeline", "state"}
