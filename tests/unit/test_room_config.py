"""Per-room settings: which institutions take part, extra moderation, the room's calendar."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from bot.clock import FakeClock
from bot.config import load_config
from bot.testing.configs import MINIMAL, error_of, write
from bot.testing.harness import AA, JA1, JC, NEW_CASE, ORG, ROOM, Room
from commands.circle import Circles, RoomPolicy
from domain.org import Role
from storage.uow import Database

AGENCY = """
[agency.institutions.jugendamt]
name = "Jugendamt"
type = "jugendamt"
[agency.institutions.jobcenter]
name = "Jobcenter"
type = "jobcenter"
"""


def test_rooms_section_builds_policies_and_keeps_global_defaults(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        MINIMAL
        + AGENCY
        + '\n[schedule]\nland = "HE"\n'
        + '\n[rooms."!kreis:fk.test"]\ninstitutions = ["jugendamt"]\n'
        + 'moderators = ["@Mona:FK.test"]\nschedule = { land = "BY", horizon_days = 90 }\n',
    )
    settings = load_config(path)
    circles = settings.circles()
    policy = circles.policy("!kreis:fk.test")
    assert policy.institutions == frozenset({"jugendamt"})
    assert policy.moderators == frozenset({"@Mona:fk.test"})
    assert policy.calendar is not None
    assert (policy.calendar.land, policy.calendar.horizon_days) == ("BY", 90)
    assert circles.policy("!sonst:fk.test") == RoomPolicy()  # a room without an entry
    assert settings.calendar().land == "HE"


@pytest.mark.parametrize(
    ("room", "expected"),
    [
        ('[rooms."kreis"]\n', "keine Raum-ID"),
        ('[rooms."!kreis:fk.test"]\ninstitutions = ["schule"]\n', "unbekannte Institution"),
        ('[rooms."!kreis:fk.test"]\nmoderators = ["mona"]\n', "keine Matrix-ID"),
        ('[rooms."!kreis:fk.test"]\nschedule = { lnd = "BY" }\n', "lnd"),
    ],
)
def test_bad_room_entries_are_named(tmp_path: Path, room: str, expected: str) -> None:
    path = write(tmp_path, MINIMAL + AGENCY + "\n" + room)
    assert expected in error_of(path)


def test_policy_makes_other_institutions_guests_and_adds_moderators() -> None:
    policy = RoomPolicy(institutions=frozenset({"jugendamt"}), moderators=frozenset({JA1}))
    guest = policy.member(ORG, JC, 100)
    assert (guest.institution, guest.roles) == (None, frozenset())
    moderator = policy.member(ORG, JA1, 0)
    assert moderator.has(Role.MODERATION)
    assert moderator.has(Role.FACHKRAFT)
    assert RoomPolicy().member(ORG, JC, 0) == ORG.member(JC, 0)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(datetime(2026, 11, 23, 9, 0, tzinfo=UTC))


def test_a_room_with_its_own_institutions_refuses_guests_with_a_clear_reason(
    sqlite_database: Database, clock: FakeClock
) -> None:
    policy = RoomPolicy(
        institutions=frozenset({"jugendamt", "jobcenter"}), moderators=frozenset({JA1})
    )
    room = Room(sqlite_database, clock, circles=Circles({ROOM: policy}))
    assert NEW_CASE.search(room.say(JA1, "fall neu"))
    refusal = room.say(AA, "fall neu")
    assert refusal.startswith("⚠️ Agentur für Arbeit Gießen nimmt an der Fallkonferenz"), refusal
    assert "📅 Termin angelegt" in room.say(JA1, "termin neu 26.11.2026 10:00")  # moderation here
    other = room.other_room("!anderswo:fk.test")  # no entry: global rules
    assert NEW_CASE.search(other.say(AA, "fall neu"))
    assert "vorbehalten" in other.say(JA1, "termin neu 26.11.2026 11:00")
