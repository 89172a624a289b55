"""Two conference circles on one bot, on the real Synapse: nothing crosses rooms.

Room A (Jugendamt and Jobcenter) and room B (another Jugendamt team) share one bot and
one member, the Jugendamt caseworker who works in both. Room A registers a case,
consents, requests a conference and an availability poll; room B creates a session for
the same day. The bot's clock then jumps to the agenda posting time, the reminders and
the next day's daily pass. Every message room B's own moderator received, and every
answer the shared caseworker got in room B, is checked for room A's pseudonyms.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path

import aiohttp
import pytest

from bot.clock import FakeClock
from bot.testing.botrun import INSTITUTIONS, InProcessBot, prepare_bot
from bot.testing.inroom import People
from bot.testing.peers import Participant
from domain.dates import LOCAL_TZ, format_date, local_date

pytestmark = pytest.mark.synapse

PSEUDONYM = re.compile(r"FK-[0-9A-Z]{4}-[0-9A-Z]{2}")
SESSION = re.compile(r"Termin angelegt: #(\d+) ")


def _ten(day: date, hour: int) -> datetime:
    return datetime.combine(day, time(hour, 0), tzinfo=LOCAL_TZ).astimezone(UTC)


async def _ask(person: Participant, room_id: str, text: str) -> str:
    reply = await person.wait_reply(await person.send(room_id, text))
    assert reply.decrypted
    return reply.body


async def test_two_rooms_on_one_bot_share_nothing_but_the_bot(
    people: People, tmp_path: Path
) -> None:
    mod_a = await people.person("moderation-a")
    jobcenter = await people.person("jobcenter-a")
    shared = await people.person("fachkraft-beide")
    mod_b = await people.person("moderation-b")
    agency = {
        "institutions": INSTITUTIONS,
        "people": [
            {"user": mod_a.user_id, "institution": "jugendamt", "roles": ["fachkraft"]},
            {"user": jobcenter.user_id, "institution": "jobcenter", "roles": ["fachkraft"]},
            {"user": shared.user_id, "institution": "jugendamt", "roles": ["fachkraft"]},
            {"user": mod_b.user_id, "institution": "jugendamt", "roles": ["fachkraft"]},
        ],
    }
    setup = prepare_bot(people.server, tmp_path / "bot", agency=agency)
    clock = FakeClock(datetime.now(UTC))
    bot = InProcessBot(setup, clock=clock)
    await bot.start()
    try:
        room_a = await mod_a.create_encrypted_room(
            "Kreis A", [setup.user_id, jobcenter.user_id, shared.user_id]
        )
        room_b = await mod_b.create_encrypted_room("Kreis B", [setup.user_id, shared.user_id])
        for person, room in ((jobcenter, room_a), (shared, room_a), (shared, room_b)):
            await person.join(room)
        for person, room, others in (
            (mod_a, room_a, (setup.user_id, jobcenter.user_id, shared.user_id)),
            (mod_b, room_b, (setup.user_id, shared.user_id)),
            (shared, room_a, (setup.user_id, mod_a.user_id, jobcenter.user_id)),
            (shared, room_b, (setup.user_id, mod_b.user_id)),
        ):
            for user_id in others:
                await person.wait_for_member(room, user_id)

        # a working day two weeks ahead: every jump below lies in the future
        day = local_date(clock.now()) + timedelta(days=14)
        while day.weekday() >= 5:
            day += timedelta(days=1)
        session_a = SESSION.search(
            await _ask(mod_a, room_a, f"!fk termin neu {day:%d.%m.%Y} 10:00")
        )
        session_b = SESSION.search(
            await _ask(mod_b, room_b, f"!fk termin neu {day:%d.%m.%Y} 11:00")
        )
        assert session_a is not None
        assert session_b is not None

        cases = []
        # the urgent case cannot wait for the session: it gets an availability poll
        soon = f"bis={format_date(local_date(clock.now()) + timedelta(days=7))}"
        for urgency in ("regulär", "dringend"):
            case = PSEUDONYM.search(await _ask(shared, room_a, "!fk fall neu"))
            assert case is not None
            cases.append(case.group(0))
            today = format_date(local_date(clock.now()))
            consent = await _ask(
                shared,
                room_a,
                f"!fk einwilligung {case.group(0)} von=sorgeberechtigte "
                f"an=jugendamt,jobcenter form=schriftlich datum={today} dok=EW-17",
            )
            assert "erfasst" in consent, consent
            requested = await _ask(
                jobcenter,
                room_a,
                f"!fk anfrage {case.group(0)} thema=Ausbildung dringlichkeit={urgency} "
                f"teilnehmer=jugendamt {soon if urgency == 'dringend' else ''}".strip(),
            )
            assert "✅ Einwilligung geprüft" in requested, requested
        assert f"Termin #{session_a.group(1)}" in await _ask(mod_a, room_a, "!fk agenda")
        poll = await _ask(mod_a, room_a, "!fk umfrage 2")

        # room B: the shared caseworker and B's moderator see nothing of it
        for text in (f"!fk status {cases[0]}", f"!fk einwilligung zeigen {cases[1]}"):
            answer = await _ask(shared, room_b, text)
            assert answer.startswith("⚠️ Unbekannter Fall"), answer
        requests_b = await _ask(shared, room_b, "!fk anfragen")
        assert not PSEUDONYM.search(requests_b), requests_b
        await _ask(mod_b, room_b, "!fk einplanen")
        agenda_b = await _ask(mod_b, room_b, f"!fk agenda {session_b.group(1)}")
        assert not PSEUDONYM.search(agenda_b), agenda_b
        foreign_poll = await _ask(mod_b, room_b, "!fk umfrage 2")
        assert foreign_poll.startswith("⚠️"), foreign_poll
        assert not PSEUDONYM.search(foreign_poll), foreign_poll

        # timed work: agenda posting, one-day and one-hour reminders, the next daily pass
        timer = bot.app.timer
        assert timer is not None
        for moment in (
            _ten(day, 10) - timedelta(days=3, hours=2),
            _ten(day, 10) - timedelta(days=1),
            _ten(day, 10) - timedelta(hours=1),
            _ten(day, 10) + timedelta(days=1),
        ):
            clock.set(moment)
            timer.fire()
            await _ask(mod_b, room_b, "!fk ping")  # a barrier: the bot sent what it queued
            await _ask(mod_a, room_a, "!fk ping")

        seen_b = [s for s in mod_b.seen if s.room_id == room_b]
        from_bot_b = [s for s in seen_b if s.sender == setup.user_id]
        assert any("Tagesordnung" in s.body for s in from_bot_b)  # B's own agenda came
        # (the shared caseworker's own probes in room B name the cases; the bot's never)
        answers_b = [s for s in shared.seen if s.room_id == room_b and s.sender == setup.user_id]
        for message in [*from_bot_b, *answers_b]:
            for case in cases:
                assert case not in message.body, message.body
                assert case not in str(message.raw.get("content")), message.raw
        seen_a = [s for s in mod_a.seen if s.room_id == room_a and s.sender == setup.user_id]
        assert any(cases[0] in s.body and "Tagesordnung" in s.body for s in seen_a)
        assert "Umfrage" in poll
        # the bot never posted into a room it was not asked from about another's data
        assert not [s for s in mod_b.seen if s.room_id == room_a]
        # the operator's view: ready, counted, and no room, person or case in the metrics
        assert bot.app.health is not None
        assert bot.app.health.port is not None
        async with aiohttp.ClientSession() as http:
            base = f"http://127.0.0.1:{bot.app.health.port}"
            async with http.get(f"{base}/readyz") as ready:
                assert ready.status == 200, await ready.text()
            async with http.get(f"{base}/metrics") as scraped:
                metrics = await scraped.text()
        assert 'fkbot_commands_total{outcome="ok"}' in metrics
        assert "fkbot_active 1.0" in metrics
        for secret in (room_a, room_b, shared.user_id, setup.user_id, *cases):
            assert secret not in metrics
    finally:
        await bot.stop()
