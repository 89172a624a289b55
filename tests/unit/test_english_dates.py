"""Dates in both languages (issue 15): what a room may type as a date, and the refusals.

English rooms read ``today``/``tomorrow``/``yesterday``, English weekdays (``Wed 10:00``)
and ``in 3 days``/``in 2 weeks`` besides every German form; German rooms read what
they read before. Numeric dates stay day before month or ISO; a slash date that could
be read either way is refused with a hint, in the room's language. "Now" is always
injected: Monday 23.11.2026, 10:00 in Berlin.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime, time

import pytest

from bot.clock import FakeClock
from bot.testing.harness import JA1, Room, utc
from bot.testing.language import foreign_words, without_code
from commands.i18n import GERMAN, Texts, texts
from domain.dates import DateError, Towards, parse_date
from domain.errors import ArgumentError
from domain.when import When, WhenError, local_moment, parse_when
from storage.models import Review
from storage.uow import Database

NOW = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)  # Monday 23.11.2026, 10:00 in Berlin
TODAY = date(2026, 11, 23)
ENGLISH = texts("en")
FUTURE, PAST = Towards.FUTURE, Towards.PAST

AMBIGUOUS_DE = (
    "03/04/2027 ist mehrdeutig (3. April oder 4. März). Bitte TT.MM.JJJJ oder JJJJ-MM-TT schreiben."
)
AMBIGUOUS_EN = (
    "03/04/2027 is ambiguous (3 April or 4 March). Please write DD.MM.YYYY or YYYY-MM-DD."
)


def refusal(
    error: type[ArgumentError], call: Callable[..., object], *args: object, **kw: object
) -> ArgumentError:
    """The refusal ``call(*args, **kw)`` raises."""
    with pytest.raises(error) as info:
        call(*args, **kw)
    return info.value


# -- parse_date: the words of the room's language ----------------------------------------


@pytest.mark.parametrize(
    ("text", "towards", "expected"),
    [
        ("today", FUTURE, date(2026, 11, 23)),
        ("Today", PAST, date(2026, 11, 23)),
        ("tomorrow", FUTURE, date(2026, 11, 24)),
        ("TOMORROW", FUTURE, date(2026, 11, 24)),
        ("yesterday", PAST, date(2026, 11, 22)),
        ("in 1 day", FUTURE, date(2026, 11, 24)),
        ("in 3 days", FUTURE, date(2026, 11, 26)),
        ("in 1 week", FUTURE, date(2026, 11, 30)),
        ("In 2 Weeks", FUTURE, date(2026, 12, 7)),
        ("in  8  weeks", FUTURE, date(2027, 1, 18)),
    ],
)
def test_english_words_in_an_english_room(text: str, towards: Towards, expected: date) -> None:
    assert parse_date(text, TODAY, towards, language="en") == expected


@pytest.mark.parametrize(
    "text", ["today", "tomorrow", "yesterday", "in 3 days", "in 2 weeks", "in 1 week"]
)
def test_english_words_are_not_read_in_a_german_room(text: str) -> None:
    err = refusal(DateError, parse_date, text, TODAY, FUTURE)
    assert "Datum nicht erkannt" in err.message
    assert err.message == err.render(GERMAN)


@pytest.mark.parametrize(
    ("text", "towards", "expected"),
    [
        ("heute", FUTURE, date(2026, 11, 23)),
        ("morgen", FUTURE, date(2026, 11, 24)),  # the next day, not "morning"
        ("übermorgen", FUTURE, date(2026, 11, 25)),
        ("uebermorgen", FUTURE, date(2026, 11, 25)),
        ("gestern", PAST, date(2026, 11, 22)),
        ("vorgestern", PAST, date(2026, 11, 21)),
        ("in 3 Tagen", FUTURE, date(2026, 11, 26)),
        ("in 2 Wochen", FUTURE, date(2026, 12, 7)),
        ("25.11.2026", FUTURE, date(2026, 11, 25)),
        ("25.11.", PAST, date(2025, 11, 25)),
        ("03.04.2027", FUTURE, date(2027, 4, 3)),
        ("2027-04-03", FUTURE, date(2027, 4, 3)),
    ],
)
@pytest.mark.parametrize("language", ["de", "en"])
def test_german_forms_in_both_rooms(
    text: str, towards: Towards, expected: date, language: str
) -> None:
    assert parse_date(text, TODAY, towards, language=language) == expected


def test_days_ahead_are_only_for_dates_ahead_in_english_too() -> None:
    err = refusal(DateError, parse_date, "in 2 weeks", TODAY, PAST, language="en")
    assert err.render(ENGLISH).startswith("Date not recognised")


def test_an_unknown_language_reads_german() -> None:
    assert parse_date("morgen", TODAY, language="xx") == date(2026, 11, 24)
    refusal(DateError, parse_date, "tomorrow", TODAY, language="xx")


# -- slash dates: day before month, never guessed -----------------------------------------


@pytest.mark.parametrize("language", ["de", "en"])
def test_a_slash_date_either_way_is_refused_with_a_hint(language: str) -> None:
    err = refusal(DateError, parse_date, "03/04/2027", TODAY, language=language)
    assert err.message == AMBIGUOUS_DE
    assert err.render(GERMAN) == AMBIGUOUS_DE
    assert err.render(ENGLISH) == AMBIGUOUS_EN
    assert err.show_usage is True
    # the same in a date with a time
    err = refusal(WhenError, parse_when, "03/04/2027 10:00", NOW, language=language)
    assert err.render(ENGLISH) == AMBIGUOUS_EN


@pytest.mark.parametrize(
    ("text", "german", "english"),
    [
        ("1/2", "(1. Februar oder 2. Januar)", "(1 February or 2 January)"),
        ("12/11/26", "(12. November oder 11. Dezember)", "(12 November or 11 December)"),
        ("05/06", "(5. Juni oder 6. Mai)", "(5 June or 6 May)"),
    ],
)
def test_every_slash_date_with_two_possible_months_is_refused(
    text: str, german: str, english: str
) -> None:
    for towards in Towards:
        err = refusal(DateError, parse_date, text, TODAY, towards, language="en")
        assert german in err.message
        assert english in err.render(ENGLISH)


@pytest.mark.parametrize(
    ("text", "towards", "expected"),
    [
        ("13/04/2027", FUTURE, date(2027, 4, 13)),  # only day before month can be meant
        ("31/12/2026", FUTURE, date(2026, 12, 31)),
        ("05/05/2027", FUTURE, date(2027, 5, 5)),  # both readings are the same day
        ("13/04/27", FUTURE, date(2027, 4, 13)),
        ("25/11", FUTURE, date(2026, 11, 25)),
        ("25/11", PAST, date(2025, 11, 25)),
    ],
)
@pytest.mark.parametrize("language", ["de", "en"])
def test_a_slash_date_that_can_only_be_day_first_is_read(
    text: str, towards: Towards, expected: date, language: str
) -> None:
    assert parse_date(text, TODAY, towards, language=language) == expected


def test_a_slash_date_that_only_fits_month_first_is_refused() -> None:
    err = refusal(DateError, parse_date, "11/25/2026", TODAY, language="en")
    assert err.message.startswith("11/25/2026: Den Monat 25 gibt es nicht. Bitte mit Tag vor Monat")
    assert err.render(ENGLISH) == (
        "11/25/2026: there is no month 25. Please put the day before the month: "
        "e.g. 25.11.2026, 25.11., today, tomorrow or 2026-11-25."
    )


@pytest.mark.parametrize(
    ("text", "german"),
    [
        ("31/02/2027", "Den 31.02.2027 gibt es nicht."),
        ("13/13/2027", "Den Monat 13 gibt es nicht"),
        ("0/5/2027", "Den 00.05.2027 gibt es nicht."),
    ],
)
def test_slash_dates_that_are_no_dates(text: str, german: str) -> None:
    err = refusal(DateError, parse_date, text, TODAY, language="en")
    assert german in err.message
    assert not foreign_words(err.render(ENGLISH), "en")


# -- parse_when: weekdays and relative words with a time -----------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Wed 10:00", When(date(2026, 11, 25), time(10, 0))),
        ("wed 10:00", When(date(2026, 11, 25), time(10, 0))),
        ("WEDNESDAY 10:00", When(date(2026, 11, 25), time(10, 0))),
        ("Wed. 14:30", When(date(2026, 11, 25), time(14, 30))),
        ("Mon 9:00", When(date(2026, 11, 30), time(9, 0))),  # today is Monday: the next one
        ("Monday", When(date(2026, 11, 30), None)),
        ("Tue 9:00", When(date(2026, 11, 24), time(9, 0))),
        ("Tues 9:00", When(date(2026, 11, 24), time(9, 0))),
        ("Thu 9:00", When(date(2026, 11, 26), time(9, 0))),
        ("Thurs 9:00", When(date(2026, 11, 26), time(9, 0))),
        ("Thursday 9:00", When(date(2026, 11, 26), time(9, 0))),
        ("Fri 11:00", When(date(2026, 11, 27), time(11, 0))),
        ("Sat 11:00", When(date(2026, 11, 28), time(11, 0))),
        ("Sunday 11:00", When(date(2026, 11, 29), time(11, 0))),
        ("tomorrow 9:00", When(date(2026, 11, 24), time(9, 0))),
        ("today 18:00", When(date(2026, 11, 23), time(18, 0))),
        ("in 2 weeks 10:00", When(date(2026, 12, 7), time(10, 0))),
        ("in 3 days", When(date(2026, 11, 26), None)),
        # German forms keep working in an English room
        ("Mi 10:00", When(date(2026, 11, 25), time(10, 0))),
        ("morgen 9 Uhr", When(date(2026, 11, 24), time(9, 0))),
        ("übermorgen 14:30", When(date(2026, 11, 25), time(14, 30))),
        ("in 2 Wochen 10:00", When(date(2026, 12, 7), time(10, 0))),
        ("25.11.2026 14:30", When(date(2026, 11, 25), time(14, 30))),
        ("2026-11-25 14:30", When(date(2026, 11, 25), time(14, 30))),
        ("13/04/2027 10:00", When(date(2027, 4, 13), time(10, 0))),
    ],
)
def test_english_room_dates_and_times(text: str, expected: When) -> None:
    assert parse_when(text, NOW, language="en") == expected


@pytest.mark.parametrize(
    "text", ["Wed 10:00", "wednesday", "Thurs 9:00", "tomorrow 9:00", "in 2 weeks 10:00"]
)
def test_english_weekdays_and_words_are_not_read_in_a_german_room(text: str) -> None:
    err = refusal(WhenError, parse_when, text, NOW)
    assert "Datum nicht erkannt" in err.message


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Mi 10:00", When(date(2026, 11, 25), time(10, 0))),
        ("Mittwoch 10:00", When(date(2026, 11, 25), time(10, 0))),
        ("morgen 9 Uhr", When(date(2026, 11, 24), time(9, 0))),
        ("in 2 Wochen", When(date(2026, 12, 7), None)),
        ("03.04.2027 10:00", When(date(2027, 4, 3), time(10, 0))),
        ("2027-04-03 10:00", When(date(2027, 4, 3), time(10, 0))),
    ],
)
def test_german_room_reads_what_it_read(text: str, expected: When) -> None:
    assert parse_when(text, NOW) == expected
    assert parse_when(text, NOW, language="de") == expected


def test_no_next_weekday_in_either_language() -> None:
    """German has no "nächsten Mi", so English has no "next Wed": never guessed."""
    refusal(WhenError, parse_when, "nächsten Mi 10:00", NOW, language="en")
    refusal(WhenError, parse_when, "next Wed 10:00", NOW, language="en")


# -- the refusals in the room's language ----------------------------------------------------


def test_a_clock_change_refusal_in_english() -> None:
    spring = refusal(WhenError, local_moment, date(2027, 3, 28), time(2, 30))
    assert spring.message == (
        "02:30 Uhr gibt es am 28.03.2027 wegen der Zeitumstellung nicht; "
        "bitte eine andere Uhrzeit wählen."
    )
    assert spring.render(ENGLISH) == (
        "02:30 does not exist on 28 Mar 2027 because the clocks go forward; "
        "please choose another time."
    )
    autumn = refusal(WhenError, parse_when("25.10.2026 2:15", NOW).moment)
    assert autumn.render(ENGLISH) == (
        "02:15 occurs twice on 25 Oct 2026 because the clocks go back; please choose another time."
    )
    assert autumn.render(GERMAN) == autumn.message


BAD = [
    "10",
    "14.30",
    "heute 14.30",
    "Mi 10",
    "morgen um 10",
    "11/25/2026",
    "03/04/2027",
    "25.13.",
    "31.02.2026",
    "29.02.",
    "1899-01-01",
    "heute 25:00",
    "14:30",
    "",
    "nächste Woche",
    "in 2 Monaten",
    "irgendwann",
    "Wed 10",
]


@pytest.mark.parametrize("text", BAD)
def test_every_refusal_speaks_the_rooms_language(text: str) -> None:
    english = refusal(WhenError, parse_when, text, NOW, language="en")
    german = refusal(WhenError, parse_when, text, NOW)
    assert foreign_words(english.render(ENGLISH), "en") == set(), english.render(ENGLISH)
    assert german.render(GERMAN) == german.message
    assert foreign_words(german.message, "de") == set(), german.message


def test_a_date_without_a_time_in_english() -> None:
    err = refusal(WhenError, When(date(2026, 11, 25), None).moment)
    assert err.render(ENGLISH) == (
        "Please give a time as well "
        "(e.g. 25.11., 25.11.2026 14:30, Wed 10:00, tomorrow 9:00, in 2 weeks)."
    )


# -- end to end: commands in an English room -------------------------------------------------


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(NOW)


@pytest.fixture
def room(sqlite_database: Database, clock: FakeClock) -> Room:
    return Room(sqlite_database, clock)


def _check(reply: str, language: Texts) -> None:
    assert foreign_words(without_code(reply), language.language) == set(), reply


def test_meeting_new_with_english_dates(room: Room) -> None:
    assert room.mod("sprache en").startswith("🌐")
    for command in ("meeting new Wed 10:00", "meeting new tomorrow 9:00"):
        assert not room.mod(command).startswith("⚠️")
    room.mod("meeting new in 2 weeks 14:30 dauer=60")
    assert sorted(s.starts_at.astimezone(UTC) for s in room.sessions()) == [
        utc("24.11.2026", "08:00"),
        utc("25.11.2026", "09:00"),
        utc("07.12.2026", "13:30"),
    ]


def test_english_dates_are_refused_in_a_german_room(room: Room) -> None:
    reply = room.mod("termin neu Wed 10:00")
    assert reply.startswith("⚠️ Datum nicht erkannt"), reply
    _check(reply, GERMAN)
    assert room.sessions() == []


@pytest.mark.parametrize(
    ("command", "english", "german"),
    [
        ("meeting new 03/04/2027 10:00", AMBIGUOUS_EN, AMBIGUOUS_DE),
        (
            "meeting new 28.03.2027 02:30",
            "02:30 does not exist on 28 Mar 2027 because the clocks go forward",
            "02:30 Uhr gibt es am 28.03.2027 wegen der Zeitumstellung nicht",
        ),
        ("meeting new someday 10:00", "Date not recognised", "Datum nicht erkannt"),
        ("meeting new 25.11.2026", "Please give a time as well", "Bitte auch eine Uhrzeit angeben"),
        ("meeting move {nr} morgen 25:00", "25:00 is not a valid time", "25:00 gibt es nicht"),
        ("meeting move {nr} Wed 10", "Date not recognised", "Datum nicht erkannt"),
    ],
)
def test_date_refusals_in_both_rooms(room: Room, command: str, english: str, german: str) -> None:
    mine = room.adhoc("26.11.2026 10:00")
    other = room.other_room("!deutsch:fk.test")
    theirs = other.adhoc("26.11.2026 10:00")
    room.mod("sprache en")
    reply = room.mod(command.format(nr=mine))
    assert reply.startswith(f"⚠️ {english}"), reply
    _check(reply, ENGLISH)
    reply = other.mod(command.format(nr=theirs))
    assert reply.startswith("⚠️ "), reply
    assert german in reply, reply
    _check(reply, GERMAN)


def test_consent_and_request_dates_in_an_english_room(room: Room) -> None:
    room.mod("sprache en")
    case = room.new_case()
    ambiguous = room.say(
        JA1,
        f"consent {case} by=parents to=jugendamt,jobcenter form=written date=03/04/2026 doc=EW-17",
    )
    assert ambiguous == (
        "⚠️ Invalid value for <datum>: 03/04/2026 is ambiguous (3 April or 4 March). "
        "Please write DD.MM.YYYY or YYYY-MM-DD." + ambiguous[ambiguous.index("\n") :]
    ), ambiguous
    _check(ambiguous, ENGLISH)
    assert room.consents(case) == []
    room.say(
        JA1,
        f"consent {case} by=parents to=jugendamt,jobcenter form=written "
        'date=yesterday until="in 8 weeks" doc=EW-17',
    )
    [consent] = room.consents(case)
    assert (consent.given_on, consent.expires_on) == (date(2026, 11, 22), date(2027, 1, 18))
    room.say(
        JA1,
        f"request {case} topic=Ausbildung urgency=regular participants=jobcenter "
        'until="in 3 weeks"',
    )
    [request] = room.requests(case)
    assert request.latest_date == date(2026, 12, 14)


def test_review_in_two_weeks_in_an_english_room(room: Room) -> None:
    session = room.adhoc("26.11.2026 10:00")
    case, _, _ = room.ready_case()
    assert room.agenda_ids(session)
    room.clock.set(utc("26.11.2026", "09:30"))
    room.mod("sitzung start")
    room.mod("sprache en")
    room.say(JA1, f"review {case} in 2 weeks")
    room.say(JA1, f"review {case} 13/04/2027")
    ambiguous = room.say(JA1, f"review {case} 03/04/2027")
    assert ambiguous.startswith("⚠️ Invalid value for <datum>: " + AMBIGUOUS_EN), ambiguous
    _check(ambiguous, ENGLISH)
    with room.db.uow() as uow:
        dues = [r.due for r in uow.session.query(Review).order_by(Review.id)]
    assert dues == [date(2026, 12, 10), date(2027, 4, 13)]
