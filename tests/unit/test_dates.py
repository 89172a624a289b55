"""German calendar dates: day before month, the year completed the right way, never guessed."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from domain.dates import DateError, Towards, format_date, local_date, parse_date
from domain.errors import ArgumentError

TODAY = date(2026, 11, 21)  # a Saturday
FUTURE, PAST = Towards.FUTURE, Towards.PAST


@pytest.mark.parametrize(
    ("text", "towards", "expected"),
    [
        # complete dates: the direction does not matter
        ("25.11.2026", FUTURE, date(2026, 11, 25)),
        ("25.11.2026", PAST, date(2026, 11, 25)),
        ("1.2.2027", FUTURE, date(2027, 2, 1)),
        ("01.02.2025", FUTURE, date(2025, 2, 1)),
        ("  25.11.2026\t", FUTURE, date(2026, 11, 25)),
        # day before month, always
        ("03.04.2027", FUTURE, date(2027, 4, 3)),
        ("12.01.2027", FUTURE, date(2027, 1, 12)),
        # a slash date that can only be read day before month (English rooms write them)
        ("25/11/2026", FUTURE, date(2026, 11, 25)),
        # two-digit years
        ("25.11.26", PAST, date(2026, 11, 25)),
        ("15.1.27", FUTURE, date(2027, 1, 15)),
        ("1.2.15", PAST, date(2015, 2, 1)),
        # ISO
        ("2026-11-25", FUTURE, date(2026, 11, 25)),
        ("2025-02-01", FUTURE, date(2025, 2, 1)),
        # without a year: the next or the last occurrence
        ("25.11.", FUTURE, date(2026, 11, 25)),
        ("25.11.", PAST, date(2025, 11, 25)),
        ("25.11", FUTURE, date(2026, 11, 25)),
        ("20.11.", FUTURE, date(2027, 11, 20)),
        ("20.11.", PAST, date(2026, 11, 20)),
        ("21.11.", FUTURE, TODAY),
        ("21.11.", PAST, TODAY),
        ("5.1.", FUTURE, date(2027, 1, 5)),
        ("5.1.", PAST, date(2026, 1, 5)),
        ("31.12.", FUTURE, date(2026, 12, 31)),
        ("31.12.", PAST, date(2025, 12, 31)),
        # words
        ("heute", FUTURE, TODAY),
        ("heute", PAST, TODAY),
        ("Heute", FUTURE, TODAY),
        ("morgen", PAST, date(2026, 11, 22)),
        ("MORGEN", FUTURE, date(2026, 11, 22)),
        ("übermorgen", FUTURE, date(2026, 11, 23)),
        ("Übermorgen", FUTURE, date(2026, 11, 23)),
        ("uebermorgen", FUTURE, date(2026, 11, 23)),
        ("gestern", FUTURE, date(2026, 11, 20)),
        ("vorgestern", PAST, date(2026, 11, 19)),
        (" gestern ", PAST, date(2026, 11, 20)),
    ],
)
def test_parse(text: str, towards: Towards, expected: date) -> None:
    assert parse_date(text, TODAY, towards) == expected


def test_future_is_the_default_direction() -> None:
    assert parse_date("20.11.", TODAY) == date(2027, 11, 20)


@pytest.mark.parametrize(
    ("today", "text", "towards", "expected"),
    [
        (date(2026, 12, 30), "2.1.", FUTURE, date(2027, 1, 2)),
        (date(2027, 1, 2), "30.12.", PAST, date(2026, 12, 30)),
        (date(2026, 12, 31), "morgen", FUTURE, date(2027, 1, 1)),
        (date(2027, 1, 1), "vorgestern", PAST, date(2026, 12, 30)),
        (date(2028, 2, 28), "übermorgen", FUTURE, date(2028, 3, 1)),
        (date(2028, 1, 10), "29.02.", FUTURE, date(2028, 2, 29)),  # leap year
        (date(2028, 3, 10), "29.2.", PAST, date(2028, 2, 29)),
    ],
)
def test_year_boundaries_and_leap_years(
    today: date, text: str, towards: Towards, expected: date
) -> None:
    assert parse_date(text, today, towards) == expected


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("11/25/2026", "Tag vor Monat"),
        ("25-11-2026", "Tag vor Monat"),
        ("25.13.", "Monat 13 gibt es nicht"),
        ("25.13.2026", "Monat 13 gibt es nicht"),
        ("11.25.2026", "Monat 25 gibt es nicht"),
        ("2026-13-01", "Monat 13 gibt es nicht"),
        ("31.02.2026", "Den 31.02.2026 gibt es nicht"),
        ("2026-02-30", "Den 30.02.2026 gibt es nicht"),
        ("31.04.", "Den 31.04."),
        ("0.1.2026", "gibt es nicht"),
        ("29.02.", "29.02. gibt es in diesem Jahr nicht"),
        ("29.2.", "bitte mit Jahr angeben"),
        ("29.02.2027", "Den 29.02.2027 gibt es nicht"),
        ("", "Datum nicht erkannt"),
        ("   ", "Datum nicht erkannt"),
        ("garbage", "Datum nicht erkannt"),
        ("Montag", "Datum nicht erkannt"),
        ("nächste Woche", "Datum nicht erkannt"),
        ("25.11.2026 10:00", "Datum nicht erkannt"),
        ("25.11.202", "Datum nicht erkannt"),
        ("25..11.", "Datum nicht erkannt"),
        ("2026-1-5", "Datum nicht erkannt"),
        ("25.11.2026x", "Datum nicht erkannt"),
        ("heute!", "Datum nicht erkannt"),
    ],
)
@pytest.mark.parametrize("towards", [FUTURE, PAST])
def test_refused_with_a_german_explanation(text: str, needle: str, towards: Towards) -> None:
    with pytest.raises(DateError) as info:
        parse_date(text, TODAY, towards)
    message = info.value.message
    assert needle in message
    assert isinstance(info.value, ArgumentError)
    assert info.value.show_usage is True


@pytest.mark.parametrize("text", ["11/25/2026", "garbage", "25.13.", "Montag"])
def test_unrecognised_input_shows_examples(text: str) -> None:
    with pytest.raises(DateError) as info:
        parse_date(text, TODAY)
    assert "25.11.2026" in info.value.message
    assert "morgen" in info.value.message


def test_29th_of_february_without_year_in_a_non_leap_year() -> None:
    # 2027 is no leap year: no guessing of 2028, the year must be given
    for today in (date(2027, 1, 10), date(2027, 12, 1)):
        for towards in Towards:
            with pytest.raises(DateError) as info:
                parse_date("29.02.", today, towards)
            assert "mit Jahr" in info.value.message
    assert parse_date("29.02.2028", date(2027, 1, 10)) == date(2028, 2, 29)


@pytest.mark.parametrize(
    ("day", "text"),
    [
        (date(2026, 1, 5), "05.01.2026"),
        (date(2026, 11, 25), "25.11.2026"),
        (date(2027, 12, 31), "31.12.2027"),
    ],
)
def test_format_date(day: date, text: str) -> None:
    assert format_date(day) == text


@pytest.mark.parametrize(
    ("moment", "expected"),
    [
        # winter (UTC+1)
        (datetime(2026, 1, 15, 22, 59, tzinfo=UTC), date(2026, 1, 15)),
        (datetime(2026, 1, 15, 23, 0, tzinfo=UTC), date(2026, 1, 16)),
        # summer (UTC+2)
        (datetime(2026, 6, 30, 21, 59, tzinfo=UTC), date(2026, 6, 30)),
        (datetime(2026, 6, 30, 22, 0, tzinfo=UTC), date(2026, 7, 1)),
        # the nights of the clock changes
        (datetime(2026, 3, 28, 23, 30, tzinfo=UTC), date(2026, 3, 29)),
        (datetime(2026, 10, 24, 22, 30, tzinfo=UTC), date(2026, 10, 25)),
        (datetime(2026, 10, 24, 21, 30, tzinfo=UTC), date(2026, 10, 24)),
    ],
)
def test_local_date_is_berlin(moment: datetime, expected: date) -> None:
    assert local_date(moment) == expected


days = st.dates(min_value=date(2000, 1, 1), max_value=date(2099, 12, 31))


@given(days, days)
def test_property_formatted_and_iso_dates_round_trip(day: date, today: date) -> None:
    for towards in Towards:
        assert parse_date(format_date(day), today, towards) == day
        assert parse_date(day.isoformat(), today, towards) == day
        assert parse_date(f"{day.day}.{day.month}.{day.year}", today, towards) == day


@given(days.filter(lambda d: (d.month, d.day) != (2, 29)), days)
def test_property_without_year_the_nearest_occurrence_in_the_direction(
    day: date, today: date
) -> None:
    text = f"{day.day}.{day.month}."
    occurrences = [date(year, day.month, day.day) for year in range(today.year - 1, today.year + 2)]
    assert parse_date(text, today, Towards.FUTURE) == min(d for d in occurrences if d >= today)
    assert parse_date(text, today, Towards.PAST) == max(d for d in occurrences if d <= today)
    assert parse_date(text.rstrip("."), today, Towards.PAST) == parse_date(text, today, PAST)


WORDS = {"heute": 0, "gestern": -1, "vorgestern": -2, "morgen": 1, "übermorgen": 2}


@given(days, st.sampled_from(sorted(WORDS.items())))
def test_property_words_are_relative_to_today(today: date, word: tuple[str, int]) -> None:
    text, offset = word
    for towards in Towards:
        assert parse_date(text, today, towards) == today + timedelta(days=offset)


@pytest.mark.parametrize(
    ("text", "days"),
    [
        ("in 3 Tagen", 3),
        ("in 1 Tag", 1),
        ("in 8 Wochen", 56),
        ("In 2 Woche", 14),
        ("in 0 Tagen", 0),
    ],
)
def test_days_and_weeks_ahead(text: str, days: int) -> None:
    today = date(2026, 11, 23)
    assert parse_date(text, today, FUTURE) == today + timedelta(days=days)


@pytest.mark.parametrize("text", ["in 3 Tagen", "in 8 Wochen"])
def test_days_and_weeks_ahead_are_not_a_past_date(text: str) -> None:
    with pytest.raises(DateError):
        parse_date(text, date(2026, 11, 23), PAST)


@pytest.mark.parametrize("text", ["in 3 Monaten", "in drei Wochen", "in 1234 Tagen", "vor 3 Tagen"])
def test_other_relative_phrases_are_refused(text: str) -> None:
    with pytest.raises(DateError):
        parse_date(text, date(2026, 11, 23), FUTURE)
