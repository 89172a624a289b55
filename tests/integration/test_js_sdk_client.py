"""A strict matrix-js-sdk client (Rust crypto, only-signed-devices isolation) talks to the bot.

Issue "Trusted identity": a client that excludes devices not cross-signed by their
owner (Element's "exclude insecure devices", matrix-js-sdk's
``OnlySignedDevicesIsolationMode``), with its own identity cross-signed, exchanges
encrypted messages with the bot in both directions and shows no warning on the bot's
reply. The client is matrix-js-sdk 43 under Node 22, installed once into ``.js-env/``
by :mod:`bot.testing.jsenv`.
"""

from __future__ import annotations

import asyncio
import secrets

import pytest

from bot.testing.botrun import BotSetup, InProcessBot
from bot.testing.inroom import People
from bot.testing.jsenv import ensure_js_env, run_client
from bot.testing.keycheck import keys_query, only_public, signed_by

pytestmark = pytest.mark.synapse

CLIENT_TIMEOUT_S = 60.0


async def test_strict_js_sdk_client_and_bot_exchange_encrypted_messages(
    people: People, bot_setup: BotSetup
) -> None:
    await asyncio.to_thread(ensure_js_env)  # the one-time npm ci, before any timing
    server = people.server
    user = server.register(f"strikt-{secrets.token_hex(3)}", displayname="Strikte Fachkraft")
    bot = InProcessBot(bot_setup)
    await bot.start()
    try:
        run = await asyncio.to_thread(
            run_client,
            {
                "homeserver": server.base_url,
                "user_id": user.user_id,
                "password": user.password,
                "bot_user_id": bot_setup.user_id,
                "command": "!fk ping",
            },
            timeout=CLIENT_TIMEOUT_S,
        )
        result = run.result
        assert run.returncode == 0, run.explain()
        assert result["ok"], run.explain()

        # The client's own side of the bargain: its identity and device are cross-signed.
        assert result["own_cross_signing_ready"], run.explain()
        assert result["own_device_signed"], run.explain()

        # js → bot: the bot decrypted "!fk ping" (it could not have answered otherwise).
        # bot → js: the client decrypted the reply, an m.notice in reply to its event.
        reply = result["reply"]
        assert reply["sender"] == bot_setup.user_id
        assert reply["in_reply_to"] == result["sent_event_id"]
        assert result["reply_msgtype"] == "m.notice"
        assert "pong" in result["reply_body"]
        assert result["reply_decrypted"], run.explain()

        # No shield at all: in particular not UNSIGNED_DEVICE ("Encrypted by a device not
        # verified by its owner"), which an unsigned bot device would get.
        assert (result["shield_colour"], result["shield_reason"]) == ("NONE", None), run.explain()
        assert not [e for e in result["bot_events"] if e["decryption_failure"]], run.explain()

        # The js client saw the bot's device as signed by its owner ...
        device_id = bot.app.settings.matrix.device_id
        assert result["bot_devices"][device_id]["signed_by_owner"] is True, run.explain()

        # ... and so does an independent check of the chain on the server's keys.
        query = keys_query(server.base_url, user.access_token, bot_setup.user_id)
        master = query["master_keys"][bot_setup.user_id]
        ssk = query["self_signing_keys"][bot_setup.user_id]
        device_keys = query["device_keys"][bot_setup.user_id][device_id]
        assert signed_by(ssk, bot_setup.user_id, only_public(master))
        assert signed_by(device_keys, bot_setup.user_id, only_public(ssk))
    finally:
        await bot.stop()
