"""Crypto continuity across a failover, seen by a strict matrix-js-sdk client.

Two ``fkbot run`` processes on one PostgreSQL (active + standby, bot/testing/failover.py)
and the strict client of test_js_sdk_client.py (Rust crypto, only cross-signed devices)
in session mode. The active answers a first command; then it is frozen (SIGSTOP), a
second command is sent, and it is killed (kill -9): it never saw that command. The new
active must decrypt it with the Megolm session the old one stored in PostgreSQL. A
third command after the failover comes under a new Megolm session, whose room key
arrives over the Olm session the old one stored. Every command is answered exactly
once, by the one bot device, and every reply decrypts with no shield at all.

On the way, both processes' ``/readyz`` and ``/metrics`` are scraped over HTTP.
"""

from __future__ import annotations

import asyncio
import os
import re
import secrets
import signal
import time
from collections import Counter
from pathlib import Path

import pytest

from bot.testing.botrun import SubprocessBot, prepare_bot
from bot.testing.failover import BotPair
from bot.testing.inroom import People
from bot.testing.jsenv import JsSession, ensure_js_env
from bot.testing.keycheck import keys_query
from bot.testing.scrape import get as _get
from bot.testing.scrape import samples as _samples

pytestmark = [pytest.mark.synapse, pytest.mark.postgres]
PG = pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)

PORT_LINE = re.compile(r"Gesundheits- und Metrik-Endpunkt auf 127\.0\.0\.1:(\d+)")


async def _health_port(bot: SubprocessBot, timeout: float = 30) -> int:
    """The port of this run's listener (``127.0.0.1:0`` in the test config): the last
    one the log names."""
    deadline = time.monotonic() + timeout
    while not (ports := PORT_LINE.findall(bot.log_text())):
        if time.monotonic() > deadline:
            raise TimeoutError(f"no health listener in {bot.log_path.name}")
        await asyncio.sleep(0.1)
    return int(ports[-1])


@PG
async def test_a_strict_client_reads_every_reply_across_a_kill_9_failover(
    people: People, db_url: str, tmp_path: Path
) -> None:
    await asyncio.to_thread(ensure_js_env)  # the one-time npm ci, before any timing
    server = people.server
    setup = prepare_bot(server, tmp_path / "bot", database_url=db_url)
    device_id = setup.settings().matrix.device_id
    user = server.register(f"strikt-{secrets.token_hex(3)}", displayname="Strikte Fachkraft")
    pair = BotPair(setup, db_url)
    pair.start()
    js = JsSession(
        {
            "homeserver": server.base_url,
            "user_id": user.user_id,
            "password": user.password,
            "bot_user_id": setup.user_id,
        },
        tmp_path / "js-client.log",
    )
    try:
        old, _ = await pair.active()
        (standby,) = [b for b in pair.bots if b is not old]
        await pair.standing_by(standby)
        ready = await js.start()
        room_id = ready["room_id"]
        assert ready["own_cross_signing_ready"], ready
        assert ready["own_device_signed"], ready
        assert ready["bot_devices"] == {
            device_id: {"signed_by_owner": True, "cross_signing_verified": False}
        }, ready

        # Before: the active answers.
        sent = await js.ask("send", body="!fk ping")
        before, first_session = sent["event_id"], sent["session_id"]
        first = (await js.ask("reply", event_id=before, timeout=60))["reply"]
        assert first["decrypted"], first
        assert "pong" in first["body"], first

        # The standby says so over HTTP; the active too.
        standby_port, old_port = await _health_port(standby), await _health_port(old)
        status, body = await _get(standby_port, "/readyz")
        assert (status, body.split(":")[0]) == (200, "standby"), body
        standby_metrics = _samples((await _get(standby_port, "/metrics"))[1])
        assert standby_metrics[("fkbot_standby", ())] == 1
        assert standby_metrics[("fkbot_active", ())] == 0
        assert (await _get(old_port, "/readyz"))[0] == 200
        old_metrics = _samples((await _get(old_port, "/metrics"))[1])
        assert old_metrics[("fkbot_active", ())] == 1
        assert old_metrics[("fkbot_standby", ())] == 0
        assert old_metrics[("fkbot_commands_total", (("outcome", "ok"),))] == 1

        # The failover: the active is frozen, a command goes out under the Megolm
        # session it holds, and it dies without ever having seen that command.
        assert old.process is not None
        os.kill(old.process.pid, signal.SIGSTOP)
        sent = await js.ask("send", body="!fk ping")
        unseen = sent["event_id"]
        assert sent["session_id"] == first_session  # a key the old instance stored
        killed_at = time.monotonic()
        old.kill()
        assert await old.wait_exit(10) == -9
        second = (await js.ask("reply", event_id=unseen, timeout=60))["reply"]
        takeover = time.monotonic() - killed_at
        new, _ = await pair.active(timeout=5)
        assert new is standby

        # After: a new Megolm session, its key sent over the stored Olm session.
        sent = await js.ask("send", body="!fk ping", new_session=True)
        after = sent["event_id"]
        assert first_session is not None
        assert sent["session_id"] not in (None, first_session)  # its key came over Olm
        third = (await js.ask("reply", event_id=after, timeout=60))["reply"]
        await asyncio.sleep(2.0)  # a duplicate would arrive right behind the first reply

        replies = [e for e in (await js.ask("report"))["bot_events"] if e["in_reply_to"]]
        assert Counter(e["in_reply_to"] for e in replies) == {before: 1, unseen: 1, after: 1}, (
            replies
        )
        for reply in (first, second, third, *replies):
            assert reply["decrypted"], (reply, js.log())
            assert (reply["shield_colour"], reply["shield_reason"]) == ("NONE", None), reply
            assert reply["msgtype"] == "m.notice", reply
            assert "pong" in reply["body"], reply
            assert reply["device_id"] == device_id, reply
        assert len({r["sender_key"] for r in replies}) == 1, replies
        # Still the one device, trusted; no new login on the server.
        devices = (await js.ask("bot_devices"))["bot_devices"]
        assert devices == {device_id: {"signed_by_owner": True, "cross_signing_verified": False}}
        query = keys_query(server.base_url, user.access_token, setup.user_id)
        assert set(query["device_keys"][setup.user_id]) == {device_id}

        # The new active over HTTP: active, ready, and it answered exactly two commands.
        new_port = await _health_port(new)
        assert (await _get(new_port, "/readyz"))[0] == 200
        text = (await _get(new_port, "/metrics"))[1]
        new_metrics = _samples(text)
        assert new_metrics[("fkbot_active", ())] == 1
        assert new_metrics[("fkbot_standby", ())] == 0
        commands = {k: v for k, v in new_metrics.items() if k[0] == "fkbot_commands_total"}
        assert commands == {("fkbot_commands_total", (("outcome", "ok"),)): 2}, commands
        assert new_metrics[("fkbot_command_seconds_count", ())] == 2
        for secret in (room_id, user.user_id, setup.user_id, server.server_name):
            assert secret not in text
        print(f"\nstrict client across kill -9: take-over {takeover:.1f} s")
        assert takeover < 30
    finally:
        await js.close()
        pair.kill_all()
