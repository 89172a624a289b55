"""The operator's view: `fkbot check`, and a homeserver that goes away and comes back."""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from bot.testing.botrun import BotSetup, InProcessBot, prepare_bot
from bot.testing.inroom import People, open_room
from bot.testing.synapse import SynapseServer

pytestmark = pytest.mark.synapse


async def test_check_passes_for_a_good_configuration(bot_setup: BotSetup) -> None:
    result = bot_setup.cli("check")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "✓ Homeserver http://127.0.0.1:" in result.stdout
    assert "✓ Pickle-Schlüssel gesetzt" in result.stdout
    # Before the first start nothing can verify the password without logging in.
    assert "? Passwort gesetzt, aber NICHT geprüft" in result.stdout
    assert "Alles in Ordnung." not in result.stdout
    assert bot_setup.env["FKBOT_MATRIX__PICKLE_KEY"] not in result.stdout

    bot = InProcessBot(bot_setup)
    await bot.start()
    await bot.stop()
    result = bot_setup.cli("check")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "per whoami geprüft" in result.stdout
    assert "Alles in Ordnung." in result.stdout


def test_check_names_every_problem(bot_setup: BotSetup) -> None:
    env = {k: v for k, v in os.environ.items() if k not in bot_setup.env}
    env.update({"FKBOT_MATRIX__HOMESERVER": f"http://127.0.0.1:{_closed_port()}"})
    result = subprocess.run(
        [sys.executable, "-m", "bot", "check", "--config", str(bot_setup.config_path)],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 1
    assert "✗ Pickle-Schlüssel fehlt" in result.stdout
    assert "✗ Passwort fehlt für die erste Anmeldung" in result.stdout
    assert "nicht erreichbar" in result.stdout


def test_wrong_keys_are_reported_with_their_path(bot_setup: BotSetup) -> None:
    text = bot_setup.config_path.read_text(encoding="utf-8")
    bot_setup.config_path.write_text(
        text.replace("[matrix]", '[matrix]\nhomeservr = "x"') + '\n[bot]\nprefix = "!x"\n',
        encoding="utf-8",
    )
    result = bot_setup.cli("check")
    assert result.returncode == 2
    assert "matrix.homeservr: unbekannter Schlüssel" in result.stderr
    assert "bot.prefix: unbekannter Schlüssel" in result.stderr


def test_password_in_the_toml_is_refused(bot_setup: BotSetup) -> None:
    text = bot_setup.config_path.read_text(encoding="utf-8")
    bot_setup.config_path.write_text(
        text.replace("[matrix]", '[matrix]\npassword = "geheim"'), encoding="utf-8"
    )
    result = bot_setup.cli("run")
    assert result.returncode == 2
    assert "matrix.password darf nicht in der TOML-Datei stehen" in result.stderr
    assert "geheim" not in result.stderr


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def test_bot_backs_off_while_the_homeserver_is_down_and_answers_after(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    server = SynapseServer(tmp_path / "own-synapse", log_level="WARNING")
    server.start()
    people = People(server, tmp_path / "people", [])
    bot: InProcessBot | None = None
    try:
        setup = prepare_bot(
            server, tmp_path / "bot", sync_timeout_seconds=1, reconnect_max_seconds=4
        )
        bot = InProcessBot(setup)
        await bot.start()
        room = await open_room(people, bot)
        before = await room.caseworker.send(room.room_id, "!fk ping")
        await room.caseworker.wait_reply(before)

        caplog.set_level(logging.WARNING, logger="bot.app")
        caplog.clear()
        server.stop()
        await asyncio.sleep(8)
        attempts = [r for r in caplog.records if "nicht erreichbar" in r.getMessage()]
        # 1 + 2 + 4 + 4 s of backoff fit into 8 s: a handful of attempts, not a busy loop.
        assert 2 <= len(attempts) <= 6, [r.getMessage() for r in attempts]
        server.start()
        after = await room.caseworker.send(room.room_id, "!fk ping")
        reply = await room.caseworker.wait_reply(after, 60)
        assert reply.body == "pong 🏓"
        assert len(room.caseworker.replies_to(before)) == 1
    finally:
        if bot is not None:
            await bot.stop()
        for participant in people.started:
            await participant.stop()
        server.stop()
