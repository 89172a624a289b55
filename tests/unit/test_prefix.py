"""With another prefix configured, every hint the bot gives names that prefix."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from bot.clock import FakeClock
from bot.testing.harness import JA1, JC, MOD, Room, bot_engine
from domain.calendar import Calendar
from storage.uow import Database

PREFIX = "!kk"


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(datetime(2026, 11, 23, 9, 0, tzinfo=UTC))


def test_hints_name_the_configured_prefix(sqlite_database: Database, clock: FakeClock) -> None:
    engine = bot_engine(sqlite_database, clock, prefix=PREFIX, calendar=Calendar(land="HE"))
    room = Room(sqlite_database, clock, engine=engine)
    replies = [
        room.say(JA1, f"{PREFIX} termine", raw=True),
        room.say(JA1, f"{PREFIX} agenda 99", raw=True),
        room.say(JA1, f"{PREFIX} hilfe termin absagen", raw=True),
        room.say(JA1, f"{PREFIX} hilfe sitzung start", raw=True),
        room.say(JA1, f"{PREFIX} hilfe umfrage", raw=True),
        room.say(MOD, f"{PREFIX} umfrage 99", raw=True),
        room.say(MOD, f"{PREFIX} sitzung start 99", raw=True),
    ]
    case = room.say(JA1, f"{PREFIX} fall neu", raw=True).split("Neuer Fall: ")[1].split()[0]
    room.say(
        JA1,
        f"{PREFIX} einwilligung {case} von=sorgeberechtigte an=jugendamt,jobcenter "
        "form=schriftlich datum=20.11.2026 dok=EW-17",
        raw=True,
    )
    replies.append(
        room.say(
            JC,
            f"{PREFIX} anfrage {case} thema=Ausbildung dringlichkeit=dringend teilnehmer=jugendamt",
            raw=True,
        )
    )
    for reply in replies:
        assert "!fk" not in reply, reply
    joined = "\n".join(replies)
    for hint in (f"{PREFIX} termine", f"{PREFIX} termin neu", f"{PREFIX} anwesend"):
        assert hint in joined, hint
