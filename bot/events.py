"""What the Matrix edge hands to the rest of the bot: small frozen dataclasses, no nio types."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from bot.ids import EventId, RoomId, UserId


@dataclass(frozen=True)
class TextMessage:
    event_id: EventId
    room_id: RoomId
    sender: UserId
    body: str
    origin_ts: datetime
    room_encrypted: bool
    was_encrypted: bool
    power_level: int = 0  # the sender's power level in the room when the bot saw it


@dataclass(frozen=True)
class Reaction:
    """An ``m.reaction`` annotation; Element sends these unencrypted even in encrypted rooms."""

    event_id: EventId
    room_id: RoomId
    sender: UserId
    relates_to: EventId
    key: str
    origin_ts: datetime
    room_encrypted: bool = True
    power_level: int = 0


@dataclass(frozen=True)
class PollVote:
    """A poll response (``m.poll.response`` or MSC3381's unstable name) to some poll."""

    event_id: EventId
    room_id: RoomId
    sender: UserId
    poll_event_id: EventId
    selections: tuple[str, ...]
    origin_ts: datetime


@dataclass(frozen=True)
class Undecryptable:
    """An ``m.room.encrypted`` event whose room key the bot does not have (yet)."""

    event_id: EventId
    room_id: RoomId
    sender: UserId
    session_id: str
    origin_ts: datetime
    source: dict[str, Any] = field(repr=False)


@dataclass(frozen=True)
class OwnJoin:
    """The bot's own join; in a newly joined room only later events are commands.

    ``direct``: the invitation marked the room as a direct chat (``is_direct``), which
    is a one-to-one conversation, not a conference circle.
    """

    event_id: EventId
    room_id: RoomId
    direct: bool = False


@dataclass(frozen=True)
class Quarantined:
    """An event the edge refused because its shape does not fit (see bot/shapes.py).

    Only where it came from, who sent it, its type and why: never its content.
    Ids are None where the event did not even carry them as strings.
    """

    event_id: EventId | None
    room_id: RoomId | None
    event_type: str
    sender: UserId | None
    reason: str


@dataclass(frozen=True)
class Invite:
    room_id: RoomId
    inviter: UserId


RoomEvent = TextMessage | Reaction | PollVote | Undecryptable | OwnJoin | Quarantined


@dataclass(frozen=True)
class SyncBatch:
    """One sync response, gaps already filled, events in room order."""

    next_batch: str
    since: str | None
    events: tuple[RoomEvent, ...]
    invites: tuple[Invite, ...]
    joined_rooms: tuple[RoomId, ...]
    keys_arrived: bool
    left_rooms: tuple[RoomId, ...] = ()  # rooms the bot left or was removed from
