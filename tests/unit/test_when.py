"""German session dates and times: day before month, never guessed, Berlin wall clock."""

from __future__ import annotations

import contextlib
from datetime import UTC, date, datetime, time, timedelta

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from domain.dates import LOCAL_TZ
from domain.errors import ArgumentError
from domain.when import EXAMPLES, When, WhenError, local_moment, parse_when

SATURDAY = datetime(2026, 11, 21, 10, 0, tzinfo=UTC)  # 11:00 in Berlin, a Saturday
WEDNESDAY = datetime(2026, 11, 25, 10, 0, tzinfo=UTC)  # 11:00 in Berlin, a Wednesday


@pytest.mark.parametrize(
    ("text", "day", "at"),
    [
        # dates, day before month; a date without a year is the next one
        ("25.11.", date(2026, 11, 25), None),
        ("25.11", date(2026, 11, 25), None),
        ("25.11.2026", date(2026, 11, 25), None),
        ("25.11.26", date(2026, 11, 25), None),
        ("1.2.", date(2027, 2, 1), None),
        ("03.04.2027", date(2027, 4, 3), None),
        ("2026-11-25", date(2026, 11, 25), None),
        ("21.11.", date(2026, 11, 21), None),  # today is not in the past
        ("20.11.", date(2027, 11, 20), None),  # yesterday: next year's
        # words
        ("heute", date(2026, 11, 21), None),
        ("Heute", date(2026, 11, 21), None),
        ("morgen", date(2026, 11, 22), None),
        ("übermorgen", date(2026, 11, 23), None),
        ("uebermorgen", date(2026, 11, 23), None),
        # weekdays: the next one after today
        ("Mi", date(2026, 11, 25), None),
        ("mi.", date(2026, 11, 25), None),
        ("Mittwoch", date(2026, 11, 25), None),
        ("MITTWOCH", date(2026, 11, 25), None),
        ("So", date(2026, 11, 22), None),
        ("Montag", date(2026, 11, 23), None),
        ("Fr", date(2026, 11, 27), None),
        ("Sa", date(2026, 11, 28), None),  # today is Saturday: next week's
        ("Samstag", date(2026, 11, 28), None),
        # relative
        ("in 1 Tag", date(2026, 11, 22), None),
        ("in 3 Tagen", date(2026, 11, 24), None),
        ("in 1 Woche", date(2026, 11, 28), None),
        ("in 2 Wochen", date(2026, 12, 5), None),
        ("In 2 wochen", date(2026, 12, 5), None),
        # with a time
        ("Mi 10:00", date(2026, 11, 25), time(10, 0)),
        ("Mittwoch 8:15", date(2026, 11, 25), time(8, 15)),
        ("morgen 9 Uhr", date(2026, 11, 22), time(9, 0)),
        ("MORGEN 9 UHR", date(2026, 11, 22), time(9, 0)),
        ("morgen 9uhr", date(2026, 11, 22), time(9, 0)),
        ("25.11.2026 14:30", date(2026, 11, 25), time(14, 30)),
        ("25.11.2026 14:30 Uhr", date(2026, 11, 25), time(14, 30)),
        ("25.11. 14.30 Uhr", date(2026, 11, 25), time(14, 30)),
        ("2026-11-25 9:05", date(2026, 11, 25), time(9, 5)),
        ("heute 0:00", date(2026, 11, 21), time(0, 0)),
        ("heute 23:59", date(2026, 11, 21), time(23, 59)),
        ("übermorgen 07:45", date(2026, 11, 23), time(7, 45)),
        ("in 2 Wochen 10:00", date(2026, 12, 5), time(10, 0)),
        ("in 3 Tagen 9 Uhr", date(2026, 11, 24), time(9, 0)),
        ("  morgen \t 9:00  ", date(2026, 11, 22), time(9, 0)),
    ],
)
def test_accepted(text: str, day: date, at: time | None) -> None:
    assert parse_when(text, SATURDAY) == When(day, at)


@pytest.mark.parametrize(
    ("text", "day"),
    [
        ("Mi", date(2026, 12, 2)),  # today is Wednesday: next week's, never today
        ("Mittwoch", date(2026, 12, 2)),
        ("Do", date(2026, 11, 26)),
        ("Di", date(2026, 12, 1)),
        ("heute", date(2026, 11, 25)),
        ("25.11.", date(2026, 11, 25)),
    ],
)
def test_weekday_from_a_wednesday(text: str, day: date) -> None:
    assert parse_when(text, WEDNESDAY).day == day


def test_today_is_the_day_in_berlin_not_in_utc() -> None:
    # Tuesday 23:30 UTC is already Wednesday 00:30 in Berlin
    late = datetime(2026, 11, 24, 23, 30, tzinfo=UTC)
    assert parse_when("heute", late).day == date(2026, 11, 25)
    assert parse_when("Mi", late).day == date(2026, 12, 2)
    assert parse_when("morgen 9 Uhr", late) == When(date(2026, 11, 26), time(9, 0))


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("10", "Datum nicht erkannt"),  # an hour? a day?
        ("14.30", "Den Monat 30 gibt es nicht"),  # a time? a date?
        ("heute 14.30", "Datum nicht erkannt"),
        ("25.11 10", "Datum nicht erkannt"),
        ("Mi 10", "Datum nicht erkannt"),
        ("morgen um 10", "Datum nicht erkannt"),
        ("11/25/2026", "Tag vor Monat"),
        ("25.13.", "Den Monat 13 gibt es nicht"),
        ("31.02.2026", "Den 31.02.2026 gibt es nicht"),
        ("29.02.", "29.02. gibt es in diesem Jahr nicht"),
        ("heute 25:00", "Die Uhrzeit 25:00 gibt es nicht"),
        ("heute 24:00", "Die Uhrzeit 24:00 gibt es nicht"),
        ("heute 12:60", "Die Uhrzeit 12:60 gibt es nicht"),
        ("heute 30 Uhr", "Die Uhrzeit 30:00 gibt es nicht"),
        ("14:30", "Bitte auch ein Datum angeben"),
        ("9:00", "Bitte auch ein Datum angeben"),
        ("14:30 Uhr", "Datum nicht erkannt"),
        ("", "Es fehlt ein Datum"),
        ("   ", "Es fehlt ein Datum"),
        ("nächste Woche", "Datum nicht erkannt"),
        ("in 2 Monaten", "Datum nicht erkannt"),
        ("Mi 25.11.", "Datum nicht erkannt"),
        ("Mi 10:00 Raum", "Datum nicht erkannt"),
        ("irgendwann", "Datum nicht erkannt"),
        ("heute 9:5", "Datum nicht erkannt"),
        ("heute 9. Uhr", "Datum nicht erkannt"),
    ],
)
def test_refused(text: str, fragment: str) -> None:
    with pytest.raises(WhenError) as err:
        parse_when(text, SATURDAY)
    assert fragment in err.value.message
    assert isinstance(err.value, ArgumentError)  # shown to the user, not a bug report


@pytest.mark.parametrize(
    "text", ["10", "25.11 10", "11/25/2026", "14:30", "", "Mi 10", "irgendwann", "heute 9:5"]
)
def test_refusals_show_examples(text: str) -> None:
    with pytest.raises(WhenError) as err:
        parse_when(text, SATURDAY)
    assert "z. B." in err.value.message


@pytest.mark.parametrize(
    "text",
    [
        "<b>morgen</b>",
        "@room 10:00",
        "https://evil.example/x 10:00",
        "FK-7QX2-M6 morgen",
        "Müller, Kevin",
        "morgen {{x}} 9 Uhr",
        "Mi\u202e10:00",
        "heute 9:00 ; DROP TABLE session",
    ],
)
def test_weird_input_is_not_echoed(text: str) -> None:
    with pytest.raises(WhenError) as err:
        parse_when(text, SATURDAY)
    message = err.value.message
    for word in text.split():
        if word.casefold() not in ("morgen", "heute", "mi", "10:00", "9:00", "9", "uhr"):
            assert word not in message
    assert "\u202e" not in message


_MARKERS = "<>@#$%&{}[]~|\\^`*=!?"


@given(
    st.text(
        alphabet=st.sampled_from(list("0123456789.:-/ \tUuhrMmiDdoOrgenHhtüTaWchs" + _MARKERS)),
        max_size=20,
    )
)
def test_any_text_parses_or_is_refused_in_german_without_echo(text: str) -> None:
    message: str | None = None
    try:
        when = parse_when(text, SATURDAY)
    except WhenError as err:
        message = err.message
    if message is not None:
        assert not set(message) & set(_MARKERS)
        return
    # only the words for past days parse to a past day; `termin neu` refuses those
    past_words = ("gestern", "vorgestern")
    assert when.day >= SATURDAY.date() or text.strip().casefold() in past_words


@given(st.text(max_size=30))
def test_arbitrary_unicode_never_crashes(text: str) -> None:
    with contextlib.suppress(WhenError):
        parse_when(text, SATURDAY)


# -- moments: Berlin wall clock → UTC, with the clock changes --------------------------


def test_winter_and_summer_offsets() -> None:
    assert local_moment(date(2026, 11, 25), time(10, 0)) == datetime(2026, 11, 25, 9, 0, tzinfo=UTC)
    assert local_moment(date(2026, 7, 1), time(10, 0)) == datetime(2026, 7, 1, 8, 0, tzinfo=UTC)
    assert local_moment(date(2026, 11, 25), time(10, 0)).utcoffset() == timedelta(0)


@pytest.mark.parametrize(
    ("day", "clock", "utc"),
    [
        # spring forward 29.03.2026: 02:00 CET → 03:00 CEST
        (date(2026, 3, 29), time(1, 59), datetime(2026, 3, 29, 0, 59, tzinfo=UTC)),
        (date(2026, 3, 29), time(3, 0), datetime(2026, 3, 29, 1, 0, tzinfo=UTC)),
        (date(2026, 3, 29), time(3, 30), datetime(2026, 3, 29, 1, 30, tzinfo=UTC)),
        (date(2026, 3, 29), time(10, 0), datetime(2026, 3, 29, 8, 0, tzinfo=UTC)),
        # fall back 25.10.2026: 03:00 CEST → 02:00 CET
        (date(2026, 10, 25), time(1, 59), datetime(2026, 10, 24, 23, 59, tzinfo=UTC)),
        (date(2026, 10, 25), time(3, 0), datetime(2026, 10, 25, 2, 0, tzinfo=UTC)),
        (date(2026, 10, 25), time(10, 0), datetime(2026, 10, 25, 9, 0, tzinfo=UTC)),
    ],
)
def test_around_the_clock_changes(day: date, clock: time, utc: datetime) -> None:
    assert local_moment(day, clock) == utc


@pytest.mark.parametrize("clock", [time(2, 0), time(2, 30), time(2, 59)])
def test_the_skipped_hour_is_refused(clock: time) -> None:
    with pytest.raises(WhenError) as err:
        local_moment(date(2026, 3, 29), clock)
    assert err.value.message == (
        f"{clock:%H:%M} Uhr gibt es am 29.03.2026 wegen der Zeitumstellung nicht; "
        "bitte eine andere Uhrzeit wählen."
    )


@pytest.mark.parametrize("clock", [time(2, 0), time(2, 30), time(2, 59)])
def test_the_repeated_hour_is_refused(clock: time) -> None:
    with pytest.raises(WhenError) as err:
        local_moment(date(2026, 10, 25), clock)
    assert err.value.message == (
        f"{clock:%H:%M} Uhr gibt es am 25.10.2026 wegen der Zeitumstellung zweimal; "
        "bitte eine andere Uhrzeit wählen."
    )


def test_parsed_sessions_at_the_clock_changes() -> None:
    january = datetime(2026, 1, 10, 12, 0, tzinfo=UTC)
    with pytest.raises(WhenError, match="nicht"):
        parse_when("29.03.2026 02:30", january).moment()
    with pytest.raises(WhenError, match="zweimal"):
        parse_when("25.10. 2:30 Uhr", january).moment()
    assert parse_when("29.03. 03:30", january).moment() == datetime(2026, 3, 29, 1, 30, tzinfo=UTC)
    assert parse_when("25.11. 10:00", january).moment() == datetime(2026, 11, 25, 9, 0, tzinfo=UTC)
    assert parse_when("01.07. 10 Uhr", january).moment() == datetime(2026, 7, 1, 8, 0, tzinfo=UTC)


def test_moment_needs_a_time() -> None:
    with pytest.raises(WhenError) as err:
        When(date(2026, 11, 25), None).moment()
    assert err.value.message == f"Bitte auch eine Uhrzeit angeben ({EXAMPLES})."
    assert When(date(2026, 11, 25), None).moment(time(10, 0)) == datetime(
        2026, 11, 25, 9, 0, tzinfo=UTC
    )
    # a given time wins over the default
    assert When(date(2026, 11, 25), time(14, 30)).moment(time(10, 0)) == datetime(
        2026, 11, 25, 13, 30, tzinfo=UTC
    )
    with pytest.raises(WhenError, match="zweimal"):
        When(date(2026, 10, 25), None).moment(time(2, 15))


def _last_sunday(year: int, month: int) -> date:
    end = date(year + month // 12, month % 12 + 1, 1) - timedelta(days=1)
    return end - timedelta(days=(end.weekday() - 6) % 7)


_DAYS = st.dates(min_value=date(2000, 1, 1), max_value=date(2099, 12, 31))
_CLOCKS = st.times().map(lambda t: t.replace(second=0, microsecond=0))


@given(_DAYS, _CLOCKS)
def test_wall_clock_round_trips_outside_the_changes(day: date, clock: time) -> None:
    assume(day not in (_last_sunday(day.year, 3), _last_sunday(day.year, 10)))
    moment = local_moment(day, clock)
    assert moment.utcoffset() == timedelta(0)
    local = moment.astimezone(LOCAL_TZ)
    assert (local.date(), local.time()) == (day, clock)
    summer = _last_sunday(day.year, 3) < day < _last_sunday(day.year, 10)
    assert local.utcoffset() == timedelta(hours=2 if summer else 1)
    assert When(day, clock).moment() == moment


@given(st.integers(2000, 2099), st.sampled_from([3, 10]), _CLOCKS)
def test_only_the_hour_from_two_to_three_is_refused(year: int, month: int, clock: time) -> None:
    day = _last_sunday(year, month)
    if clock.hour == 2:
        with pytest.raises(WhenError, match="nicht" if month == 3 else "zweimal"):
            local_moment(day, clock)
        return
    local = local_moment(day, clock).astimezone(LOCAL_TZ)
    assert (local.date(), local.time()) == (day, clock)
    after = clock.hour >= 3
    summer = after if month == 3 else not after
    assert local.utcoffset() == timedelta(hours=2 if summer else 1)
