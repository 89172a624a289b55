"""Reminders in the encrypted room: due while the bot was down → sent once, late, marked.

The bot runs with a controllable clock; Synapse and the clients run in real time.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from bot.clock import FakeClock
from bot.testing.botrun import BotSetup, InProcessBot
from bot.testing.inroom import People, open_room
from domain.dates import LOCAL_TZ

pytestmark = pytest.mark.synapse


async def test_a_reminder_missed_while_down_is_sent_once_late_after_restart(
    people: People, bot_setup: BotSetup
) -> None:
    clock = FakeClock(datetime.now(UTC))
    bot = InProcessBot(bot_setup, clock=clock)
    await bot.start()
    try:
        room = await open_room(people, bot)  # the creator has power level 100: moderation
        moderator = room.caseworker
        day = (clock.now().astimezone(LOCAL_TZ) + timedelta(days=3)).date()
        created = await moderator.send(room.room_id, f"!fk termin neu {day:%d.%m.%Y} 10:00")
        reply = await moderator.wait_reply(created, 30)
        assert "Termin angelegt" in reply.body, reply.body
    finally:
        await bot.stop()

    def reminders() -> list[str]:
        return [
            s.body
            for s in moderator.seen
            if s.sender == bot_setup.user_id and "Erinnerung" in s.body
        ]

    assert reminders() == []  # the 1-week reminder was already past: never sent
    starts = datetime(day.year, day.month, day.day, 10, 0, tzinfo=LOCAL_TZ).astimezone(UTC)
    clock.set(starts - timedelta(minutes=30))  # 1-day and 1-hour reminders both missed
    bot = InProcessBot(bot_setup, clock=clock)
    await bot.start()
    try:
        await moderator.wait_until(lambda: reminders(), 30)
    finally:
        await bot.stop()
    bot = InProcessBot(bot_setup, clock=clock)
    await bot.start()
    try:
        ping = await moderator.send(room.room_id, "!fk ping")
        await moderator.wait_reply(ping, 30)
    finally:
        await bot.stop()
    [message] = reminders()  # one catch-up, not a burst, and not again after a restart
    assert "in 30 Minuten" in message  # sent at 09:30 for 10:00: the time really left
    assert "verspätet – fällig seit" in message
    assert f"{day:%d.%m.%Y} 10:00" in message
