"""What arrives is normalised before it is read: replies, invisible marks, Unicode forms."""

from __future__ import annotations

import unicodedata
from datetime import UTC, datetime

import pytest

from bot.clock import FakeClock
from bot.testing.harness import JA1, MOD, PREFIX, Room
from commands.dispatch import invocation, normalise
from storage.uow import Database


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ("\ufeff!fk ping", "ping"),
        ("\u200f!fk ping", "ping"),
        ("\u2067!fk\u2069 ping", "ping"),
        ("！ｆｋ ping", "ping"),
        ("！ｆｋ　ｐｉｎｇ", "ping"),
        (unicodedata.normalize("NFD", "!fk übersicht"), "übersicht"),
        ("> <@anna:fk.test> Termin morgen?\n> zweite Zeile\n\n!fk ping", "ping"),
        ("> zitiert\n!fk ping", None),  # no empty line: not a reply fallback
        ("!fkx ping", None),
        ("hallo !fk ping", None),
    ],
)
def test_commands_are_found_through_the_usual_disguises(body: str, expected: str | None) -> None:
    assert invocation(body, PREFIX) == expected


def test_arguments_keep_their_characters() -> None:
    # fullwidth letters in the arguments are not folded: what was typed is what counts
    assert normalise("!fk beschluss FK-7QX2-M6 Ｔｅｘｔ") == "!fk beschluss FK-7QX2-M6 Ｔｅｘｔ"
    assert normalise("!fk  ｈｉｌｆｅ  ping") == "!fk  hilfe  ping"


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(datetime(2026, 11, 23, 9, 0, tzinfo=UTC))


def test_a_repeated_option_is_refused_and_named(database: Database, clock: FakeClock) -> None:
    room = Room(database, clock)
    case = room.new_case()
    before = room.snapshot()
    reply = room.say(
        JA1,
        f"einwilligung {case} von=sorgeberechtigte von=betroffene_person an=jugendamt "
        "form=schriftlich datum=20.11.2026 dok=EW-17",
    )
    assert reply.startswith("⚠️ Die Option von= steht mehrfach in der Nachricht"), reply
    assert "Aufruf:" in reply
    assert room.snapshot() == before


@pytest.mark.parametrize(
    "command",
    [
        "termin neu 31.12.9999 23:59",
        "termin neu 01.01.0001 10:00",
        "termin verschieben 1 31.12.9999 10:00",
        "termin neu in 999 wochen",
    ],
)
def test_dates_out_of_range_are_user_errors(
    database: Database, clock: FakeClock, command: str
) -> None:
    room = Room(database, clock)
    room.adhoc("26.11.2026 10:00")
    before = room.snapshot()
    reply = room.say(MOD, command)
    assert reply.startswith("⚠️ "), reply
    assert "Interner Fehler" not in reply
    assert room.snapshot() == before


@pytest.mark.parametrize(
    "body",
    [
        "> <@carla.jobcenter:fk.test> kann jemand?\n\n!fk status {case}",
        "\ufeff!fk status {case}",
        "\u200e！ｆｋ status {case}",
        "!fk " + unicodedata.normalize("NFD", "übersicht"),
    ],
)
def test_disguised_commands_are_answered_like_plain_ones(
    database: Database, clock: FakeClock, body: str
) -> None:
    room = Room(database, clock)
    case = room.new_case()
    plain = room.say(
        MOD if "bersicht" in body else JA1, normalise(body.format(case=case)), raw=True
    )
    disguised = room.say(MOD if "bersicht" in body else JA1, body.format(case=case), raw=True)
    assert disguised == plain
    assert not disguised.startswith("⚠️"), disguised


@pytest.mark.parametrize(
    ("dok", "accepted"),
    [
        ("EW-17", True),
        ("Ordner-3-Blatt-12", True),
        ("JC-EW-5", True),
        ("Mustermann-Max", False),  # a name: no number
        ("Mustermann-1", False),  # a long word is a word, not a reference
        ("Akte", False),
    ],
)
def test_a_document_reference_takes_reference_shapes_only(
    database: Database, clock: FakeClock, dok: str, accepted: bool
) -> None:
    room = Room(database, clock)
    case = room.new_case()
    reply = room.say(
        JA1,
        f"einwilligung {case} von=sorgeberechtigte an=jugendamt form=schriftlich "
        f"datum=20.11.2026 dok={dok}",
    )
    assert reply.startswith("⚠️") is not accepted, reply
    assert dok not in reply  # neither echoed when refused nor shown to the room when kept
