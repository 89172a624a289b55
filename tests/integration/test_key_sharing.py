"""Who gets the bot's room keys: only cross-signed devices with the pinned identity.

Real Synapse, real nio clients that cross-sign themselves (as Element does), the
bot with its default policy ``cross-signed``.
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest

from bot.testing.botrun import INSTITUTIONS, InProcessBot, prepare_bot
from bot.testing.inroom import People
from bot.testing.peers import Participant, Seen
from bot.testing.synapse import SynapseServer

pytestmark = pytest.mark.synapse


@dataclass
class Room:
    room_id: str
    bot: InProcessBot
    moderator: Participant
    caseworker: Participant
    admin: Participant
    careless: Participant  # a device its owner never cross-signed

    def bot_notices(self, who: Participant, needle: str) -> list[Seen]:
        return [
            s
            for s in who.seen
            if s.sender == self.bot.setup.user_id and s.in_reply_to is None and needle in s.body
        ]


@pytest.fixture
async def room(
    people: People, synapse_server: SynapseServer, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Room]:
    moderator = await people.person("moderatorin")
    caseworker = await people.person("fachkraft")
    admin = await people.person("admin")
    user = synapse_server.register(f"ohne-cross-signing-{secrets.token_hex(3)}")
    careless = Participant(
        synapse_server.base_url, user, people.workdir / user.localpart, cross_signed=False
    )
    await careless.start()
    people.started.append(careless)
    roles = {
        moderator.user_id: ["fachkraft", "moderation"],
        caseworker.user_id: ["fachkraft"],
        admin.user_id: ["admin"],
        careless.user_id: ["fachkraft"],
    }
    agency = {
        "institutions": INSTITUTIONS,
        "people": [{"user": u, "institution": "jugendamt", "roles": r} for u, r in roles.items()],
    }
    setup = prepare_bot(synapse_server, tmp_path_factory.mktemp("trustbot"), agency=agency)
    bot = InProcessBot(setup)
    await bot.start()
    try:
        others = [caseworker, admin, careless]
        room_id = await moderator.create_encrypted_room(
            "Schlüsselprobe", [p.user_id for p in others] + [setup.user_id]
        )
        for participant in others:
            await participant.join(room_id)
        for user_id in [p.user_id for p in others] + [setup.user_id]:
            await moderator.wait_for_member(room_id, user_id)
        yield Room(room_id, bot, moderator, caseworker, admin, careless)
    finally:
        await bot.stop()


async def ping(room: Room, who: Participant) -> Seen:
    event_id = await who.send(room.room_id, "!fk ping")
    return await room.moderator.wait_reply(event_id, 30)


async def test_a_device_that_is_not_cross_signed_gets_no_room_key(room: Room) -> None:
    reply = await ping(room, room.caseworker)
    await room.caseworker.wait_until(
        lambda: room.caseworker.replies_to(reply.in_reply_to or ""), 30
    )
    assert "pong" in room.caseworker.replies_to(reply.in_reply_to or "")[0].body
    # The careless member's device receives the event but not its key.
    await room.careless.wait_until(lambda: reply.event_id in room.careless.undecryptable, 30)
    assert not [s for s in room.careless.seen if s.event_id == reply.event_id]

    device = room.careless.user.device_id
    await room.moderator.wait_until(lambda: room.bot_notices(room.moderator, device), 30)
    await ping(room, room.caseworker)
    await asyncio.sleep(1)  # a second notice would have arrived by now
    [notice] = room.bot_notices(room.moderator, device)
    assert room.careless.user_id in notice.body
    assert room.moderator.user_id in notice.raw["content"]["m.mentions"]["user_ids"]


async def test_a_changed_identity_stops_key_sharing_until_an_admin_confirms(room: Room) -> None:
    first = await ping(room, room.caseworker)
    await room.caseworker.wait_until(
        lambda: room.caseworker.replies_to(first.in_reply_to or ""), 30
    )

    gateway = room.bot.app.gateway
    assert gateway is not None
    before = gateway.device_list_version
    new_identity = await room.caseworker.cross_sign()  # e.g. after a reinstall without backup
    await room.moderator.wait_until(lambda: gateway.device_list_version > before, 30)

    withheld = await ping(room, room.caseworker)
    await room.caseworker.wait_until(lambda: withheld.event_id in room.caseworker.undecryptable, 30)
    needle = "hat sich geändert"
    await room.moderator.wait_until(lambda: room.bot_notices(room.moderator, needle), 30)
    [notice] = room.bot_notices(room.moderator, needle)
    assert room.caseworker.user_id in notice.body
    assert new_identity.master_public[:4] in notice.body  # the fingerprint to check

    # Still withheld, and the moderators are not told twice.
    again = await ping(room, room.caseworker)
    await room.caseworker.wait_until(lambda: again.event_id in room.caseworker.undecryptable, 30)
    assert len(room.bot_notices(room.moderator, needle)) == 1

    # A fachkraft cannot accept it; the admin can, after checking it out of band.
    refused = await room.caseworker.send(
        room.room_id, f"!fk identität bestätigen {room.caseworker.user_id}"
    )
    assert "vorbehalten" in (await room.moderator.wait_reply(refused, 30)).body
    accepted = await room.admin.send(
        room.room_id, f"!fk identität bestätigen {room.caseworker.user_id}"
    )
    assert "angenommen" in (await room.moderator.wait_reply(accepted, 30)).body

    shared = await ping(room, room.caseworker)
    await room.caseworker.wait_until(
        lambda: room.caseworker.replies_to(shared.in_reply_to or ""), 30
    )
    assert shared.event_id not in room.caseworker.undecryptable
