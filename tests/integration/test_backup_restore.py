"""Back up, lose the machine, restore: the same device answers, nothing twice.

The procedure is the one docs/OPERATIONS.md gives: stop the bot, copy the store
directory and take an SQLite backup (the ``.backup`` API) together; after the loss put
both back and start. A command sent while the bot was gone is answered once, by the
same device, without a new login.

Not covered here, and documented as the limit of a restore: Megolm sessions the bot
received *after* the backup are not in the restored store, so messages encrypted with
them need the sender's client to answer the bot's key request (Element does, for
sessions it had shared with the bot's device) or to rotate its session.
"""

from __future__ import annotations

import re
import shutil
import sqlite3
from pathlib import Path

import pytest

from bot.testing.botrun import BotSetup, InProcessBot
from bot.testing.inroom import People, open_room

pytestmark = pytest.mark.synapse

PSEUDONYM = re.compile(r"FK-[0-9A-Z]{4}-[0-9A-Z]{2}")


def _backup(setup: BotSetup, target: Path) -> None:
    target.mkdir()
    shutil.copytree(setup.workdir / "store", target / "store")
    source = sqlite3.connect(setup.workdir / "fkbot.sqlite3")
    copy = sqlite3.connect(target / "fkbot.sqlite3")
    with copy:
        source.backup(copy)
    source.close()
    copy.close()


def _restore(setup: BotSetup, source: Path) -> None:
    shutil.rmtree(setup.workdir / "store", ignore_errors=True)
    shutil.copytree(source / "store", setup.workdir / "store")
    for suffix in ("", "-wal", "-shm"):
        (setup.workdir / f"fkbot.sqlite3{suffix}").unlink(missing_ok=True)
    shutil.copyfile(source / "fkbot.sqlite3", setup.workdir / "fkbot.sqlite3")


async def test_a_restored_backup_answers_with_the_same_device_and_nothing_twice(
    people: People, bot_setup: BotSetup, tmp_path: Path
) -> None:
    bot = InProcessBot(bot_setup)
    await bot.start()
    room = await open_room(people, bot)
    cw = room.caseworker
    before = await cw.send(room.room_id, "!fk ping")
    await cw.wait_reply(before)
    device = bot.app.settings.matrix.device_id
    await bot.stop()
    _backup(bot_setup, tmp_path / "backup")
    # the machine is lost: the bot's files are gone; meanwhile a caseworker asks
    shutil.rmtree(bot_setup.workdir / "store")
    (bot_setup.workdir / "fkbot.sqlite3").unlink()
    waiting = await cw.send(room.room_id, "!fk fall neu")

    _restore(bot_setup, tmp_path / "backup")
    bot = InProcessBot(bot_setup)
    await bot.start()
    try:
        assert bot.app.settings.matrix.device_id == device  # no new device, no new login
        answer = await cw.wait_reply(waiting, 60)
        assert answer.decrypted
        case = PSEUDONYM.search(answer.body)
        assert case is not None
        marker = await cw.send(room.room_id, f"!fk status {case.group(0)}")
        status = await cw.wait_reply(marker, 60)
        assert status.body.startswith(f"Fall {case.group(0)}"), status.body
        for event_id in (before, waiting, marker):
            assert len(cw.replies_to(event_id)) == 1, event_id
    finally:
        await bot.stop()
