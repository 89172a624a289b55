"""The bot's /readyz and /metrics, scraped over HTTP after real traffic on a real Synapse.

Five pings, one user error and one poison event go through a running bot; the
counters say exactly that, and no label or value names the room, a person or the
server.
"""

from __future__ import annotations

import pytest

from bot.testing.botrun import BotSetup, InProcessBot
from bot.testing.inroom import People, open_room
from bot.testing.scrape import get as _get
from bot.testing.scrape import samples as _samples
from tests.integration.test_poison_events import send_plain

pytestmark = pytest.mark.synapse


async def test_five_commands_give_five_in_the_counter(people: People, bot_setup: BotSetup) -> None:
    bot = InProcessBot(bot_setup)
    await bot.start()
    try:
        room = await open_room(people, bot, encrypted=False)
        cw = room.caseworker
        health = bot.app.health
        assert health is not None
        assert health.port
        assert (await _get(health.port, "/healthz")) == (200, "ok\n")
        assert (await _get(health.port, "/readyz"))[0] == 200

        pings = [await cw.send(room.room_id, "!fk ping") for _ in range(5)]
        await cw.wait_replies(pings, 60)
        wrong = await cw.send(room.room_id, "!fk fall neu extra")  # a user error
        await cw.wait_reply(wrong, 60)
        poison = await send_plain(
            cw,
            room.room_id,
            "m.room.message",
            {"msgtype": "m.text", "body": "!fk ping", "m.relates_to": "kaputt"},
        )
        assert poison is not None
        marker = await cw.send(room.room_id, "!fk ping")  # after the poison: answered
        await cw.wait_reply(marker, 60)

        status, text = await _get(health.port, "/metrics")
        assert status == 200
        samples = _samples(text)
        commands = {k[1]: v for k, v in samples.items() if k[0] == "fkbot_commands_total"}
        assert commands == {(("outcome", "ok"),): 6, (("outcome", "user_error"),): 1}, commands
        assert samples[("fkbot_command_seconds_count", ())] == 7
        assert samples[("fkbot_quarantined_events_total", ())] == 1
        assert samples[("fkbot_quarantine_rows", ())] == 1
        assert sum(v for k, v in samples.items() if k[0] == "fkbot_reminders_sent_total") == 0
        assert samples[("fkbot_active", ())] == 1
        assert samples[("fkbot_standby", ())] == 0
        assert samples[("fkbot_outbox_pending", ())] == 0
        for secret in (room.room_id, cw.user.user_id, bot_setup.user_id, people.server.server_name):
            assert secret not in text
        assert (await _get(health.port, "/readyz"))[0] == 200
    finally:
        await bot.stop()
