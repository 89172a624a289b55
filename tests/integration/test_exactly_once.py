"""Nothing lost, nothing twice: kill -9 at each point, downtime, gaps, key rotation, restarts."""

from __future__ import annotations

import asyncio
import json
import logging
import urllib.request
from pathlib import Path

import pytest

from bot.faults import POINTS
from bot.matrix import load_credentials
from bot.testing.botrun import BotSetup, InProcessBot, SubprocessBot, prepare_bot
from bot.testing.inroom import People, open_room
from bot.testing.peers import Participant

pytestmark = pytest.mark.synapse


async def settle_and_count(cw: Participant, room_id: str, event_ids: list[str]) -> dict[str, int]:
    """Send a last command and wait for its reply, so everything before it has been answered."""
    marker = await cw.send(room_id, "!fk ping")
    await cw.wait_reply(marker, 60)
    await asyncio.sleep(1.0)
    return {e: len(cw.replies_to(e)) for e in event_ids}


def devices_of(setup: BotSetup) -> list[str]:
    creds = load_credentials(setup.settings().matrix.store_path)
    assert creds is not None
    request = urllib.request.Request(  # noqa: S310 - loopback test server
        f"{creds.homeserver}/_matrix/client/v3/devices",
        headers={"Authorization": f"Bearer {creds.access_token}"},
    )
    with urllib.request.urlopen(request, timeout=10) as resp:  # noqa: S310
        return sorted(d["device_id"] for d in json.load(resp)["devices"])


@pytest.mark.parametrize("point", POINTS)
async def test_exactly_one_reply_after_kill_9(
    point: str, people: People, bot_setup: BotSetup
) -> None:
    bot = SubprocessBot(bot_setup)
    bot.start()
    try:
        cw = await people.person("fallmanager")
        room_id = await cw.create_encrypted_room("Fallkonferenz", [bot_setup.user_id])
        await cw.wait_for_member(room_id, bot_setup.user_id, 60)
        warmup = await cw.send(room_id, "!fk ping")
        await cw.wait_reply(warmup, 60)
        assert await bot.stop() == 0

        bot.start(crash_at=point)
        command = await cw.send(room_id, "!fk ping")
        assert await bot.wait_exit(60) == -9, bot.log_text()[-2000:]
        assert f"FKBOT_CRASH_AT={point}" in bot.log_text()

        bot.start()
        reply = await cw.wait_reply(command, 60)
        assert reply.body == "pong 🏓"
        counts = await settle_and_count(cw, room_id, [warmup, command])
        assert counts == {warmup: 1, command: 1}, bot.log_text()[-3000:]
    finally:
        bot.kill()


async def test_commands_sent_while_down_across_key_rotation_are_answered_once(
    people: People, synapse_server: object, tmp_path: Path
) -> None:
    # A timeline limit of 5 forces limited syncs, so the gap must be filled from /messages.
    setup = prepare_bot(people.server, tmp_path / "bot", timeline_limit=5)
    bot = InProcessBot(setup)
    await bot.start()
    room = await open_room(people, bot)
    cw = room.caseworker
    first = await cw.send(room.room_id, "!fk ping")
    await cw.wait_reply(first)
    await bot.stop()

    sent = [await cw.send(room.room_id, "!fk ping") for _ in range(12)]
    cw.client.invalidate_outbound_session(room.room_id)  # a new Megolm session from here on
    sent += [await cw.send(room.room_id, "!fk ping") for _ in range(13)]
    assert len(sent) == 25

    bot = InProcessBot(setup)
    await bot.start()
    try:
        await cw.wait_replies(sent, 120)
        counts = await settle_and_count(cw, room.room_id, sent)
        assert set(counts.values()) == {1}, counts
    finally:
        await bot.stop()


async def test_restart_keeps_the_device_and_still_decrypts(
    people: People, bot_setup: BotSetup
) -> None:
    bot = InProcessBot(bot_setup)
    await bot.start()
    room = await open_room(people, bot)
    before = await room.caseworker.send(room.room_id, "!fk ping")
    await room.caseworker.wait_reply(before)
    device = bot.app.settings.matrix.device_id
    await bot.stop()
    assert devices_of(bot_setup) == [device]

    again = InProcessBot(bot_setup)
    await again.start()
    try:
        after = await room.caseworker.send(room.room_id, "!fk ping")
        reply = await room.caseworker.wait_reply(after)
        assert reply.decrypted
        assert devices_of(bot_setup) == [device], "a restart must not create a second device"
    finally:
        await again.stop()


async def test_first_start_ignores_history(people: People, bot_setup: BotSetup) -> None:
    cw = await people.person("fallmanager")
    room_id = await cw.create_plain_room("Vorher", [bot_setup.user_id])
    old = await cw.send(room_id, "!fk ping")
    bot = InProcessBot(bot_setup)
    await bot.start()
    try:
        await cw.wait_for_member(room_id, bot_setup.user_id, 30)
        new = await cw.send(room_id, "!fk ping")
        await cw.wait_reply(new)
        counts = await settle_and_count(cw, room_id, [old, new])
        assert counts == {old: 0, new: 1}
    finally:
        await bot.stop()


async def test_second_process_on_the_same_store_refuses_to_start(
    people: People, bot_setup: BotSetup
) -> None:
    first = SubprocessBot(bot_setup)
    first.start()
    try:
        cw = await people.person("fallmanager")
        room_id = await cw.create_encrypted_room("Sperre", [bot_setup.user_id])
        await cw.wait_for_member(room_id, bot_setup.user_id, 60)
        second = SubprocessBot(bot_setup)
        second.log_path = bot_setup.workdir / "second.log"
        second.start()
        assert await second.wait_exit(30) == 1
        assert "schon von einem anderen Prozess" in second.log_text()
        assert first.process is not None
        assert first.process.poll() is None, "the first bot must keep running"
    finally:
        first.kill()


async def test_undecryptable_message_gets_one_notice(people: People, tmp_path: Path) -> None:
    setup = prepare_bot(people.server, tmp_path / "bot", undecryptable_timeout_seconds=1)
    bot = InProcessBot(setup)
    await bot.start()
    try:
        cw = await people.person("fallmanager")
        room_id = await cw.create_encrypted_room("Ohne Schlüssel", [setup.user_id])
        await cw.wait_for_member(room_id, setup.user_id, 30)
        await cw.client.joined_members(room_id)

        async def bot_device_known() -> bool:
            if cw.client.should_query_keys:
                await cw.client.keys_query()
            return any(True for _ in cw.client.device_store.active_user_devices(setup.user_id))

        for _ in range(100):
            if await bot_device_known():
                break
            await asyncio.sleep(0.1)
        assert await bot_device_known(), "the caseworker must know the bot's device"
        for device in cw.client.device_store.active_user_devices(setup.user_id):
            cw.client.blacklist_device(device)  # the bot gets no room key
        first = await cw.send(room_id, "!fk ping")
        second = await cw.send(room_id, "!fk ping")
        notice = await cw.wait_reply(first, 30)
        assert notice.body.startswith("🔒 Ich konnte diese Nachricht nicht entschlüsseln")
        counts = {e: len(cw.replies_to(e)) for e in (first, second)}
        await asyncio.sleep(2.5)
        counts = {e: len(cw.replies_to(e)) for e in (first, second)}
        assert counts == {first: 1, second: 0}, "one notice per key session, never a flood"
    finally:
        await bot.stop()


async def test_joining_a_busy_room_does_not_page_in_its_history(
    people: People, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    setup = prepare_bot(people.server, tmp_path / "bot", timeline_limit=5)
    bot = InProcessBot(setup)
    await bot.start()
    try:
        cw = await people.person("fallmanager")
        room_id = await cw.create_plain_room("Voller Raum", [])
        old = [await cw.send(room_id, f"!fk ping {i}") for i in range(20)]
        caplog.set_level(logging.INFO, logger="bot.matrix")
        await cw.invite(room_id, setup.user_id)
        await cw.wait_for_member(room_id, setup.user_id, 30)
        new = await cw.send(room_id, "!fk ping")
        assert (await cw.wait_reply(new)).body == "pong 🏓"
        counts = await settle_and_count(cw, room_id, old)
        assert set(counts.values()) == {0}, "history before the join is never executed"
        gaps = [r.getMessage() for r in caplog.records if "Lücke" in r.getMessage()]
        assert not any(room_id in g for g in gaps), gaps
    finally:
        await bot.stop()
