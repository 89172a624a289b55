"""nio events → the frozen dataclasses of :mod:`bot.events`, and the timeline around them.

Every event is checked against its shape (bot/shapes.py) before it is read; what
does not fit, or fails to convert, becomes a :class:`Quarantined` record instead.
A limited timeline's gap is paged in from ``/messages`` here as well.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from datetime import UTC, datetime

from nio import (
    AsyncClient,
    BadEvent,
    Event,
    InviteMemberEvent,
    MatrixRoom,
    MegolmEvent,
    MessageDirection,
    ReactionEvent,
    RoomMemberEvent,
    RoomMessagesError,
    RoomMessageText,
    SyncResponse,
    UnknownBadEvent,
    UnknownEvent,
)

from bot.events import (
    Invite,
    OwnJoin,
    PollVote,
    Quarantined,
    Reaction,
    RoomEvent,
    TextMessage,
    Undecryptable,
)
from bot.ids import EventId, RoomId, UserId
from bot.matrix.transport import checked, raise_for
from bot.shapes import check_event, quarantined
from domain.polls import parse_response

log = logging.getLogger("bot.matrix")  # one logger for the whole edge

MAX_GAP_PAGES = 50
GAP_PAGE_SIZE = 100
CREATOR_POWER = 100  # room versions 12+: creators rank above every power level


def _ts(event: Event) -> datetime:
    return datetime.fromtimestamp(event.server_timestamp / 1000, UTC)


def _refused(event: Event, room_id: str) -> Quarantined | None:
    """A quarantine record if the event (as nio parsed or decrypted it) does not fit."""
    source = getattr(event, "source", None)
    if isinstance(event, (BadEvent, UnknownBadEvent)):
        problem = check_event(source, room_id)
        return problem or quarantined(source, room_id, "von nio abgelehnt")
    return check_event(source, room_id)


def power_level(room: MatrixRoom | None, user_id: str, creators: frozenset[str]) -> int:
    if room is None:
        return 0
    if user_id in creators and _creators_are_privileged(room.room_version):
        return CREATOR_POWER
    return int(room.power_levels.get_user_level(user_id))


def _creators_are_privileged(room_version: str) -> bool:
    """From room version 12 on, creators are not listed in m.room.power_levels."""
    return room_version.isdigit() and int(room_version) >= 12


def joins_in(timeline: list[Event], own: str) -> bool:
    """Our own join is in this timeline: nothing before it will be executed anyway,
    so a newly joined room's older history need not be paged in."""
    return any(
        isinstance(e, RoomMemberEvent) and e.state_key == own and e.membership == "join"
        for e in timeline
    )


async def fill_gap(client: AsyncClient, room_id: str, prev_batch: str, since: str) -> list[Event]:
    """Page back from the limited timeline's start to our last checkpoint."""
    collected: list[Event] = []
    start = prev_batch
    for _ in range(MAX_GAP_PAGES):
        response = await checked(
            client.room_messages(
                room_id,
                start=start,
                end=since,
                direction=MessageDirection.back,
                limit=GAP_PAGE_SIZE,
            ),
            "/messages fehlgeschlagen",
        )
        if isinstance(response, RoomMessagesError):
            if response.status_code == "M_FORBIDDEN":
                log.error("Lücke in %s nicht ladbar (kein Zugriff mehr?)", room_id)
                break
            raise_for(response.status_code, response.message)
        collected.extend(response.chunk)
        if not response.chunk or not response.end or response.end == start:
            break
        start = response.end
    else:
        log.error(
            "Lücke in %s größer als %d Seiten; älteste Ereignisse fehlen",
            room_id,
            MAX_GAP_PAGES,
        )
    collected.reverse()
    return collected


PowerLevel = Callable[[str, str], int]  # (room id, user id) → power level


def convert_guarded(
    client: AsyncClient, room_id: str, event: Event, level: PowerLevel
) -> list[RoomEvent]:
    """One event converted; whatever goes wrong sets this event aside, not the batch."""
    try:
        return list(convert(client, room_id, [event], level))
    except Exception as exc:
        # The type only: a traceback or message could quote the content.
        log.error(
            "Ereignis %s nicht umwandelbar (%s)",
            getattr(event, "event_id", "?"),
            type(exc).__name__,
        )
        source = getattr(event, "source", None)
        return [quarantined(source, room_id, f"Umwandlung: {type(exc).__name__}")]


def convert(
    client: AsyncClient, room_id: str, timeline: list[Event], level: PowerLevel
) -> Iterable[RoomEvent]:
    rid = RoomId(room_id)
    own = client.user_id
    room = client.rooms.get(room_id)
    encrypted = bool(room and room.encrypted)
    for event in timeline:
        # Every event, decrypted ones too, must fit its shape before it is read.
        refused = _refused(event, room_id)
        if refused is not None:
            yield refused
            continue
        if isinstance(event, RoomMemberEvent):
            previous = event.prev_content if isinstance(event.prev_content, dict) else {}
            if (
                event.state_key == own
                and event.membership == "join"
                and previous.get("membership") != "join"
            ):
                yield OwnJoin(
                    EventId(event.event_id), rid, direct=previous.get("is_direct") is True
                )
            continue
        if event.sender == own:
            continue
        if isinstance(event, RoomMessageText):
            relates = event.source.get("content", {}).get("m.relates_to") or {}
            if relates.get("rel_type") == "m.replace":
                continue  # an edit is not a new command
            yield TextMessage(
                event_id=EventId(event.event_id),
                room_id=rid,
                sender=UserId(event.sender),
                body=event.body,
                origin_ts=_ts(event),
                room_encrypted=encrypted,
                was_encrypted=bool(getattr(event, "decrypted", False)),
                power_level=level(rid, event.sender),
            )
        elif isinstance(event, ReactionEvent):
            yield Reaction(
                event_id=EventId(event.event_id),
                room_id=rid,
                sender=UserId(event.sender),
                relates_to=EventId(event.reacts_to),
                key=event.key,
                origin_ts=_ts(event),
                room_encrypted=encrypted,
                power_level=level(rid, event.sender),
            )
        elif isinstance(event, MegolmEvent):
            yield Undecryptable(
                event_id=EventId(event.event_id),
                room_id=rid,
                sender=UserId(event.sender),
                session_id=event.session_id,
                origin_ts=_ts(event),
                source=event.source,
            )
        elif isinstance(event, UnknownEvent):
            vote = parse_response(event.type, event.source.get("content") or {})
            if vote is None:
                log.debug("Ereignis %s (%s) ignoriert", event.event_id, event.type)
                continue
            yield PollVote(
                event_id=EventId(event.event_id),
                room_id=rid,
                sender=UserId(event.sender),
                poll_event_id=EventId(vote.poll_event_id),
                selections=vote.selections,
                origin_ts=_ts(event),
            )


def invites(client: AsyncClient, response: SyncResponse) -> Iterable[Invite]:
    own = client.user_id
    for room_id, info in response.rooms.invite.items():
        inviter = None
        for event in info.invite_state:
            if (
                isinstance(event, InviteMemberEvent)
                and event.state_key == own
                and event.membership == "invite"
            ):
                inviter = event.sender
        if inviter:
            yield Invite(RoomId(room_id), UserId(inviter))
