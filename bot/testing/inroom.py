"""Rooms on the test Synapse: real people (nio clients), a real bot, as the room sees it.

``People`` registers and starts participants; ``open_room`` opens an encrypted room
with a running bot. ``agenda_room`` starts a bot with a fake clock and puts several
institutions' people in one encrypted room (``LiveRoom``): the clock jumps to the
moments that matter and the bot's timer fires at once, as APScheduler would.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path

from bot.clock import FakeClock
from bot.testing.botrun import INSTITUTIONS, InProcessBot, prepare_bot
from bot.testing.peers import Participant, Seen
from bot.testing.synapse import SynapseServer
from domain.calendar import Calendar
from domain.dates import LOCAL_TZ, format_date, local_date

PSEUDONYM = re.compile(r"FK-[0-9A-Z]{4}-[0-9A-Z]{2}")
SESSION_ID = re.compile(r"#(\d+) ")
AGENDA_HEAD = "📋 Tagesordnung"


@dataclass
class People:
    server: SynapseServer
    workdir: Path
    started: list[Participant]

    async def person(self, name: str) -> Participant:
        user = self.server.register(f"{name}-{secrets.token_hex(3)}", displayname=name)
        participant = Participant(self.server.base_url, user, self.workdir / user.localpart)
        await participant.start()
        self.started.append(participant)
        return participant


@dataclass
class AgencyRoom:
    room_id: str
    caseworker: Participant
    bot: InProcessBot


async def open_room(people: People, bot: InProcessBot, *, encrypted: bool = True) -> AgencyRoom:
    caseworker = await people.person("fallmanagerin")
    bot_user = bot.setup.user_id
    if encrypted:
        room_id = await caseworker.create_encrypted_room("Fallkonferenz", [bot_user])
    else:
        room_id = await caseworker.create_plain_room("Fallkonferenz", [bot_user])
    await caseworker.wait_for_member(room_id, bot_user)
    return AgencyRoom(room_id, caseworker, bot)


@dataclass
class LiveRoom:
    """One bot with a fake clock and the people of several institutions in one encrypted room.

    The first person created the room (power level 100: moderation); everyone else
    has power level 0.
    """

    bot: InProcessBot
    clock: FakeClock
    room_id: str
    who: dict[str, Participant]

    @property
    def watcher(self) -> Participant:
        """Whose view of the room the assertions use (everyone sees the same)."""
        return next(iter(self.who.values()))

    @property
    def bot_user(self) -> str:
        return self.bot.setup.user_id

    @property
    def calendar(self) -> Calendar:
        return self.bot.app.settings.schedule.calendar()

    async def ask(self, name: str, text: str) -> Seen:
        person = self.who[name]
        event_id = await person.send(self.room_id, text)
        reply = await person.wait_reply(event_id)
        assert reply.sender == self.bot_user
        assert reply.decrypted, "a reply in an encrypted room must be encrypted"
        return reply

    async def says(self, name: str, text: str) -> str:
        return (await self.ask(name, text)).body

    def jump(self, when: datetime) -> None:
        """Move the bot's clock and let its timer run what is due now."""
        self.clock.set(when)
        timer = self.bot.app.timer
        assert timer is not None, "the bot runs its timer once it is in sync"
        timer.fire()

    def from_bot(self) -> list[Seen]:
        """Every message of the bot's own as the watcher saw it, in order."""
        return [s for s in self.watcher.seen if s.sender == self.bot_user]

    def own_posts(self) -> list[Seen]:
        """The bot's messages that answer no command: agendas, reminders, notices, edits."""
        commands = {s.event_id for s in self.watcher.seen if s.sender != self.bot_user}
        return [s for s in self.from_bot() if s.in_reply_to not in commands]

    async def wait_for(self, what: Callable[[Seen], bool], count: int = 1) -> list[Seen]:
        """Until the bot has posted ``count`` messages of its own (no command replies)
        matching ``what``; returns them."""
        await self.watcher.wait_until(
            lambda: len([s for s in self.own_posts() if what(s)]) >= count, 30
        )
        return [s for s in self.own_posts() if what(s)]

    async def settle(self) -> None:
        """A barrier: once the bot answered a ping, it has handled (and answered)
        everything the watcher sent before, and sent what it queued before."""
        await self.ask(next(iter(self.who)), "!fk ping")


async def gather(people: list[Participant], bot_user: str) -> str:
    """The first person opens an encrypted room for the bot and the others; everyone
    joins, and each person sees every member joined before anyone sends — else the room
    key misses someone (the bot shares keys only with joined members, too)."""
    creator, *others = people
    room_id = await creator.create_encrypted_room(
        "Fallkonferenz", [bot_user, *(p.user_id for p in others)]
    )
    for person in others:
        await person.join(room_id)
    everyone = [bot_user, *(p.user_id for p in people)]
    for person in people:
        for user_id in everyone:
            await person.wait_for_member(room_id, user_id)
    return room_id


@asynccontextmanager
async def agenda_room(
    people: People, workdir: Path, institutions: Mapping[str, str]
) -> AsyncIterator[LiveRoom]:
    """Register the people (name → institution, all ``fachkraft``), start the bot with a
    fake clock at the real time, open the encrypted room, everyone joined."""
    who = {name: await people.person(name) for name in institutions}
    agency = {
        "institutions": INSTITUTIONS,
        "people": [
            {"user": who[name].user_id, "institution": key, "roles": ["fachkraft"]}
            for name, key in institutions.items()
        ],
    }
    setup = prepare_bot(people.server, workdir, agency=agency)
    clock = FakeClock(datetime.now(UTC))
    bot = InProcessBot(setup, clock=clock)
    await bot.start()
    try:
        room_id = await gather(list(who.values()), setup.user_id)
        yield LiveRoom(bot, clock, room_id, who)
    finally:
        await bot.stop()


def session_day(now: datetime, calendar: Calendar) -> date:
    """A working day for a 10:00 session whose agenda is posted later than ``now`` and
    whose one-week reminder is already past (so the jumps below meet exactly the agenda,
    the one-day and the one-hour reminder)."""
    today = local_date(now)
    for ahead in range(1, 8):
        day = today + timedelta(days=ahead)
        starts = ten_o_clock(day)
        post_at = calendar.agenda_post_at(starts)
        if (
            calendar.is_working_day(day)
            and post_at is not None
            and post_at > now
            and starts - timedelta(days=7) < now
        ):
            return day
    raise AssertionError("no suitable day within a week")


def ten_o_clock(day: date) -> datetime:
    """10:00 in Berlin on ``day``, in UTC."""
    return datetime.combine(day, time(10, 0), tzinfo=LOCAL_TZ).astimezone(UTC)


def one(pattern: re.Pattern[str], body: str) -> str:
    """The one distinct match of ``pattern`` in ``body`` (its group, if it has one)."""
    found: set[str] = set(pattern.findall(body))
    assert len(found) == 1, body
    return found.pop()


def consent(case: str, recipients: str) -> str:
    """``!fk einwilligung …`` for ``recipients``, given today (the real today: Synapse and
    the people run in real time)."""
    today = format_date(local_date(datetime.now(UTC)))
    return (
        f"!fk einwilligung {case} von=sorgeberechtigte an={recipients} "
        f"form=schriftlich datum={today} dok=EW-17"
    )


@dataclass(frozen=True)
class Planned:
    session: int
    starts: datetime
    cases: list[str]


async def post_agenda(room: LiveRoom, planned: Planned) -> Seen:
    """Jump to the agenda's posting time (N working days before, 08:00 Berlin)."""
    post_at = room.calendar.agenda_post_at(planned.starts)
    assert post_at is not None
    assert not [s for s in room.own_posts() if s.body.startswith(AGENDA_HEAD)]
    room.jump(post_at)
    [agenda] = await room.wait_for(lambda s: s.body.startswith(AGENDA_HEAD))
    assert agenda.decrypted, "the agenda names cases: it must be encrypted"
    assert agenda.in_reply_to is None
    assert agenda.replaces is None
    assert f"Termin #{planned.session}" in agenda.body
    for case in planned.cases:
        assert case in agenda.body, agenda.body
    return agenda
