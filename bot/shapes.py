"""The shapes of what the homeserver sends, checked before anyone reads it.

Every event is untrusted input: any room member chooses its content. This module
checks, with strict pydantic models and without nio, the shape of each event the
bot or nio interprets — its envelope (ids, sender, timestamp, content an object)
and, for the types the bot reads, its content (text messages and edits, reactions,
poll responses, encrypted events, create, power levels, members, encryption).

:func:`screen_sync` and :func:`screen_messages` run on the raw JSON of a sync or
``/messages`` answer *before* nio parses it and remove what does not fit, so neither
nio's parser nor its room state ever sees it. :func:`check_event` checks one event
(also a decrypted one, whose plaintext the raw screen could not see).

What does not fit becomes a :class:`~bot.events.Quarantined`: event id, room, type,
sender and a reason made of field names and error kinds only — never a value.
Nothing here raises on any JSON input.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from bot.events import Quarantined
from bot.ids import EventId, RoomId, UserId

MAX_ID = 255  # column width; ids and types longer than this are cut in the record
MAX_REASON = 300


class _Shape(BaseModel):
    """Strict: no coercion ("5" is not 5, 1 is not a string); unknown keys are fine."""

    model_config = ConfigDict(extra="allow", strict=True, frozen=True)


class Unsigned(_Shape):
    prev_content: dict[str, Any] | None = None
    redacted_because: dict[str, Any] | None = None
    transaction_id: str | None = None


class RoomEventEnvelope(_Shape):
    """What every room event (timeline, state, ``/messages``) carries."""

    type: str
    event_id: str
    sender: str
    origin_server_ts: int
    content: dict[str, Any]
    state_key: str | None = None
    unsigned: Unsigned | None = None


class StrippedStateEnvelope(_Shape):
    """Invite state: no event id, no timestamp."""

    type: str
    sender: str
    state_key: str
    content: dict[str, Any]
    unsigned: Unsigned | None = None


class ToDeviceEnvelope(_Shape):
    type: str
    sender: str
    content: dict[str, Any]


class BasicEventEnvelope(_Shape):
    """Ephemeral and account-data events: a type and an object."""

    type: str
    content: dict[str, Any]


# -- contents the bot reads ------------------------------------------------------------


class InReplyTo(_Shape):
    event_id: str


class Relation(_Shape):
    rel_type: str | None = None
    event_id: str | None = None
    key: str | None = None
    in_reply_to: InReplyTo | None = Field(default=None, alias="m.in_reply_to")


class NewContent(_Shape):
    msgtype: str | None = None
    body: str | None = None


class Mentions(_Shape):
    user_ids: list[str] | None = None
    room: bool | None = None


class MessageContent(_Shape):
    msgtype: str
    body: str
    format: str | None = None
    formatted_body: str | None = None
    relates_to: Relation | None = Field(default=None, alias="m.relates_to")
    new_content: NewContent | None = Field(default=None, alias="m.new_content")
    mentions: Mentions | None = Field(default=None, alias="m.mentions")


class Annotation(_Shape):
    rel_type: Literal["m.annotation"]
    event_id: str
    key: str


class ReactionContent(_Shape):
    relates_to: Annotation = Field(alias="m.relates_to")


class PollResponseContent(_Shape):
    """Only the relation must fit. Selections of the wrong type are a spoiled vote,
    which MSC3381 defines (it clears the voter's earlier vote): accepted, not quarantined."""

    relates_to: Relation | None = Field(default=None, alias="m.relates_to")


class EncryptedContent(_Shape):
    algorithm: str
    ciphertext: str | dict[str, Any]
    session_id: str | None = None
    sender_key: str | None = None
    device_id: str | None = None


class CreateContent(_Shape):
    creator: str | None = None
    room_version: str | None = None
    additional_creators: list[str] | None = None
    federate: bool | None = Field(default=None, alias="m.federate")
    predecessor: dict[str, Any] | None = None


class PowerLevelsContent(_Shape):
    users: dict[str, int] | None = None
    users_default: int | None = None
    events: dict[str, int] | None = None
    events_default: int | None = None
    state_default: int | None = None
    ban: int | None = None
    kick: int | None = None
    redact: int | None = None
    invite: int | None = None
    notifications: dict[str, int] | None = None


class MemberContent(_Shape):
    membership: str
    displayname: str | None = None
    avatar_url: str | None = None
    is_direct: bool | None = None
    reason: str | None = None


class EncryptionContent(_Shape):
    algorithm: str
    rotation_period_ms: int | None = None
    rotation_period_msgs: int | None = None


POLL_RESPONSE_TYPES = ("m.poll.response", "org.matrix.msc3381.poll.response")

CONTENT_SHAPES: dict[str, type[_Shape]] = {
    "m.room.message": MessageContent,
    "m.reaction": ReactionContent,
    "m.poll.response": PollResponseContent,
    "org.matrix.msc3381.poll.response": PollResponseContent,
    "m.room.encrypted": EncryptedContent,
    "m.room.create": CreateContent,
    "m.room.power_levels": PowerLevelsContent,
    "m.room.member": MemberContent,
    "m.room.encryption": EncryptionContent,
}
# State types whose content survives a redaction only in part; an empty content of a
# message-like type is a redaction, not a defect.
_REDACTABLE_TO_EMPTY = frozenset(
    {"m.room.message", "m.reaction", "m.room.encrypted", *POLL_RESPONSE_TYPES}
)

# Field names a reason may name; anything else in an error location (a dict key such
# as a user id in power levels) is written as "*": it is content.
_MODELS: tuple[type[BaseModel], ...] = (
    RoomEventEnvelope,
    StrippedStateEnvelope,
    Unsigned,
    *CONTENT_SHAPES.values(),
    Relation,
    Annotation,
    InReplyTo,
    NewContent,
    Mentions,
)
_NAMES = frozenset(
    {
        name
        for model in _MODELS
        for field_name, info in model.model_fields.items()
        for name in (field_name, info.alias)
        if name
    }
    | {"content", "unsigned", "timeline", "state", "events", "invite_state", "chunk"}
)


def reason_of(error: ValidationError, prefix: str = "") -> str:
    """The first problems as ``field.path: kind``; never a value, never a dict key."""
    parts = []
    for item in error.errors(include_url=False, include_context=False, include_input=False):
        path = ".".join(_safe_loc(part) for part in item["loc"])
        parts.append(f"{prefix}{path}: {item['type']}" if path else f"{prefix}{item['type']}")
        if len(parts) == 3:
            break
    return "; ".join(parts)[:MAX_REASON]


def _safe_loc(part: str | int) -> str:
    if isinstance(part, int):
        return f"[{part}]"
    if part in _NAMES or part in ("function-after", "literal_error", "str", "dict[str,any]"):
        return part
    return "*"


def _cut(value: Any) -> str | None:
    return value[:MAX_ID] if isinstance(value, str) else None


def quarantined(
    event: Any, room_id: str | None, reason: str, *, event_type: str | None = None
) -> Quarantined:
    """The record of a refused event: ids, type and sender if they are strings at all."""
    raw = event if isinstance(event, dict) else {}
    kind = event_type if event_type is not None else _cut(raw.get("type"))
    return Quarantined(
        event_id=EventId(e) if (e := _cut(raw.get("event_id"))) else None,
        room_id=RoomId(room_id[:MAX_ID]) if room_id else None,
        event_type=kind or "?",
        sender=UserId(s) if (s := _cut(raw.get("sender"))) else None,
        reason=reason[:MAX_REASON],
    )


def content_problem(event_type: str, content: dict[str, Any]) -> str | None:
    """Why this content does not fit its type's shape, or None (also for unknown types)."""
    shape = CONTENT_SHAPES.get(event_type)
    if shape is None or (not content and event_type in _REDACTABLE_TO_EMPTY):
        return None
    try:
        shape.model_validate(content)
    except ValidationError as exc:
        return reason_of(exc, "content.")
    except (RecursionError, ValueError, TypeError) as exc:  # pragma: no cover - defensive
        return f"content: {type(exc).__name__}"
    return None


def check_event(
    source: Any,
    room_id: str | None,
    envelope: type[_Shape] = RoomEventEnvelope,
) -> Quarantined | None:
    """None if ``source`` fits its envelope and (for types the bot reads) its content."""
    try:
        shell = envelope.model_validate(source)
    except ValidationError as exc:
        return quarantined(source, room_id, reason_of(exc))
    except (RecursionError, ValueError, TypeError) as exc:  # pragma: no cover - defensive
        return quarantined(source, room_id, type(exc).__name__)
    content: dict[str, Any] = getattr(shell, "content", {})
    problem = content_problem(str(getattr(shell, "type", "")), content)
    return None if problem is None else quarantined(source, room_id, problem)


Sink = Callable[[Quarantined], None]


def _screen_list(
    holder: Any,
    key: str,
    room_id: str | None,
    envelope: type[_Shape],
    sink: Sink,
    where: str,
) -> None:
    """Keep only the events of ``holder[key]`` that fit; report the others to ``sink``."""
    if not isinstance(holder, dict) or key not in holder:
        return
    events = holder[key]
    if not isinstance(events, list):
        sink(quarantined({}, room_id, f"{where}: list_type", event_type=where))
        holder[key] = []
        return
    kept = []
    for event in events:
        problem = check_event(event, room_id, envelope)
        if problem is None:
            kept.append(event)
        else:
            sink(problem)
    holder[key] = kept


def _section(parent: Any, key: str, sink: Sink, room_id: str | None) -> dict[str, Any] | None:
    """``parent[key]`` if it is an object; a wrong type is dropped (and reported)."""
    if not isinstance(parent, dict) or key not in parent:
        return None
    value = parent[key]
    if isinstance(value, dict):
        return value
    sink(quarantined({}, room_id, f"{key}: dict_type", event_type=key))
    del parent[key]
    return None


def screen_sync(raw: Any, sink: Sink) -> None:
    """Remove, in place, every event of a sync answer that does not fit; report each.

    Rooms: join (state, timeline, ephemeral, account data), invite (stripped state),
    leave; and to-device, presence and account-data events.
    """
    if not isinstance(raw, dict):
        return
    rooms = _section(raw, "rooms", sink, None)
    if rooms is not None:
        for section in ("join", "leave", "invite"):
            by_room = _section(rooms, section, sink, None)
            if by_room is None:
                continue
            for room_id in list(by_room):
                info = by_room[room_id]
                if not isinstance(info, dict):
                    sink(quarantined({}, room_id, f"{section}: dict_type", event_type="room"))
                    del by_room[room_id]
                    continue
                if section == "invite":
                    state = _section(info, "invite_state", sink, room_id)
                    _screen_list(state, "events", room_id, StrippedStateEnvelope, sink, "events")
                    continue
                for part in ("state", "timeline"):
                    block = _section(info, part, sink, room_id)
                    _screen_list(block, "events", room_id, RoomEventEnvelope, sink, part)
                for part in ("ephemeral", "account_data"):
                    block = _section(info, part, sink, room_id)
                    _screen_list(block, "events", room_id, BasicEventEnvelope, sink, part)
    to_device = _section(raw, "to_device", sink, None)
    _screen_list(to_device, "events", None, ToDeviceEnvelope, sink, "to_device")
    for part in ("presence", "account_data"):
        block = _section(raw, part, sink, None)
        _screen_list(block, "events", None, BasicEventEnvelope, sink, part)


def screen_messages(raw: Any, room_id: str, sink: Sink) -> None:
    """The same for a ``/messages`` page: its ``chunk`` and ``state``."""
    for key in ("chunk", "state"):
        _screen_list(raw, key, room_id, RoomEventEnvelope, sink, key)


def additional_creators(content: Any) -> tuple[str, ...]:
    """The ``additional_creators`` of an m.room.create content; () if it does not fit."""
    try:
        shape = CreateContent.model_validate(content)
    except ValidationError:
        return ()
    return tuple(shape.additional_creators or ())
