"""Two rooms, one bot, two languages, on the real Synapse (issue 15).

One bot serves two encrypted rooms. The moderator of one switches it with
``!fk sprache en``; both rooms plan a session for the same morning and put a case on
it (typed with the German command words in one room, the English in the other; an
empty agenda is never posted). The bot's clock
then jumps to the week's reminder and to the moment the agenda is posted: what the
timed runner sends arrives in English in the switched room and in German in the other,
each with its own dates — the room's language is read per message, not per bot.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, time, timedelta

import pytest

from bot.clock import FakeClock
from bot.testing.botrun import BotSetup, InProcessBot
from bot.testing.inroom import People, gather
from bot.testing.language import foreign_words, without_code
from bot.testing.peers import Participant, Seen
from commands.i18n import texts
from domain.dates import LOCAL_TZ, local_date

pytestmark = pytest.mark.synapse

SESSION = re.compile(r"#(\d+)")
PSEUDONYM = re.compile(r"FK-[0-9A-Z]{4}-[0-9A-Z]{2}")


async def _ask(person: Participant, room_id: str, text: str) -> str:
    reply = await person.wait_reply(await person.send(room_id, text), 30)
    assert reply.decrypted, "a reply in an encrypted room must be encrypted"
    return reply.body


def _working_day_ahead(today: date, days: int) -> date:
    day = today + timedelta(days=days)
    while day.weekday() >= 5:
        day += timedelta(days=1)
    return day


async def test_timed_messages_speak_each_rooms_language(
    people: People, bot_setup: BotSetup
) -> None:
    clock = FakeClock(datetime.now(UTC))
    bot = InProcessBot(bot_setup, clock=clock)
    await bot.start()
    bot_user = bot_setup.user_id
    try:
        # Each creator has power level 100 in their room: moderation there.
        german_mod = await people.person("moderation-de")
        english_mod = await people.person("moderation-en")
        german_room = await gather([german_mod], bot_user)
        english_room = await gather([english_mod], bot_user)

        switched = await _ask(english_mod, english_room, "!fk sprache en")
        assert switched == "🌐 This room now speaks English.", switched

        # A working day two weeks ahead, 10:00: every jump below lies in the future.
        day = _working_day_ahead(local_date(clock.now()), 14)
        starts = datetime.combine(day, time(10, 0), tzinfo=LOCAL_TZ).astimezone(UTC)
        created_de = await _ask(german_mod, german_room, f"!fk termin neu {day:%d.%m.%Y} 10:00")
        created_en = await _ask(english_mod, english_room, f"!fk meeting new {day} 10:00")
        found_de, found_en = SESSION.search(created_de), SESSION.search(created_en)
        assert found_de is not None, created_de
        assert found_en is not None, created_en

        # A case on each agenda (everyone is a Jugendamt caseworker: the default agency).
        today = local_date(clock.now())
        case_de = PSEUDONYM.search(await _ask(german_mod, german_room, "!fk fall neu"))
        case_en = PSEUDONYM.search(await _ask(english_mod, english_room, "!fk case new"))
        assert case_de is not None
        assert case_en is not None
        for person, room_id, text in (
            (
                german_mod,
                german_room,
                f"!fk einwilligung {case_de.group()} von=sorgeberechtigte an=jugendamt "
                f"form=schriftlich datum={today:%d.%m.%Y} dok=EW-17",
            ),
            (
                german_mod,
                german_room,
                f"!fk anfrage {case_de.group()} thema=Ausbildung dringlichkeit=regulär "
                "teilnehmer=jugendamt",
            ),
            (
                english_mod,
                english_room,
                f"!fk consent {case_en.group()} by=parents to=jugendamt form=written "
                f"date={today} doc=EW-17",
            ),
            (
                english_mod,
                english_room,
                f"!fk request {case_en.group()} topic=Ausbildung urgency=regular "
                "participants=jugendamt",
            ),
        ):
            answer = await _ask(person, room_id, text)
            assert not answer.startswith("⚠️"), answer

        def own_posts(person: Participant, room_id: str, mark: str) -> list[Seen]:
            """The bot's messages in ``room_id`` that answer no command and start with
            ``mark`` (⏰ a reminder, 📋 an agenda)."""
            commands = {s.event_id for s in person.seen if s.sender != bot_user}
            return [
                s
                for s in person.seen
                if s.room_id == room_id
                and s.sender == bot_user
                and s.in_reply_to not in commands
                and s.body.startswith(mark)
            ]

        async def arrive(mark: str) -> tuple[str, str]:
            """The newest message marked ``mark`` in the German and the English room."""
            for person, room_id in ((german_mod, german_room), (english_mod, english_room)):
                await person.wait_until(lambda p=person, r=room_id: own_posts(p, r, mark), 30)
            return (
                own_posts(german_mod, german_room, mark)[-1].body,
                own_posts(english_mod, english_room, mark)[-1].body,
            )

        timer = bot.app.timer
        assert timer is not None, "the bot runs its timer once it is in sync"

        # -- a week before: the reminder, in each room's language ---------------------
        clock.set(starts - timedelta(days=7))
        timer.fire()
        german, english = await arrive("⏰")
        assert german.startswith("⏰ Erinnerung:"), german
        assert f"Termin #{found_de.group(1)}" in german, german
        assert texts("de").when(starts) in german, german  # "Mi 13.01.2027 10:00"
        assert "1 Fall auf der Tagesordnung" in german, german
        assert "Reminder" not in german, german

        assert english.startswith("⏰ Reminder:"), english
        assert f"#{found_en.group(1)}" in english, english
        assert texts("en").when(starts) in english, english  # "Wed 13 Jan 2027, 10:00"
        assert "in 1 week" in english, english
        assert "1 case on the agenda" in english, english
        assert "Erinnerung" not in english, english
        assert foreign_words(without_code(english), "en") == set(), english

        # -- three working days before, 08:00: the agenda is posted in both rooms ------
        post_at = bot.app.settings.schedule.calendar().agenda_post_at(starts)
        assert post_at is not None
        clock.set(post_at)
        timer.fire()
        german_agenda, english_agenda = await arrive("📋")
        assert german_agenda.startswith("📋 Tagesordnung"), german_agenda
        assert f"Termin #{found_de.group(1)}" in german_agenda, german_agenda
        assert case_de.group() in german_agenda, german_agenda
        assert f"#{found_en.group(1)}" in english_agenda, english_agenda
        assert case_en.group() in english_agenda, english_agenda
        assert english_agenda.startswith("📋 Agenda"), english_agenda
        assert f"meeting #{found_en.group(1)}" in english_agenda, english_agenda
        assert "Tagesordnung" not in english_agenda, english_agenda
        assert foreign_words(without_code(english_agenda), "en") == set(), english_agenda

        # Neither room received the other's messages.
        assert not [s for s in german_mod.seen if s.room_id == english_room]
        assert not [s for s in english_mod.seen if s.room_id == german_room]
    finally:
        await bot.stop()
