"""Recurring sessions: German rule phrases, occurrences, holidays, the clock changes."""

from __future__ import annotations

import itertools
import signal
import time as clock
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, time, timedelta

import pytest
from dateutil.rrule import rrulestr
from hypothesis import given, settings
from hypothesis import strategies as st

from domain.calendar import Calendar
from domain.dates import LOCAL_TZ
from domain.errors import ArgumentError
from domain.series import HolidayRule, Occurrence, RuleError, occurrences, parse_rule
from domain.when import WhenError, local_moment

SKIP, MOVE = HolidayRule.SKIP, HolidayRule.MOVE
TEN = time(10, 0)
HE = Calendar(land="HE")


def never(_day: date) -> bool:
    return False


def days_of(
    rule: str,
    first_day: date,
    *,
    after: date | None = None,
    until: date,
    is_holiday: Callable[[date], bool] = never,
    holiday_rule: HolidayRule = SKIP,
    limit: int = 60,
) -> list[date]:
    return [
        o.day
        for o in occurrences(
            rule,
            first_day,
            TEN,
            after=after or first_day,
            until=until,
            is_holiday=is_holiday,
            holiday_rule=holiday_rule,
            limit=limit,
        )
    ]


def weekdays_of(year: int, month: int, weekday: int) -> list[date]:
    first = date(year, month, 1)
    days = [first + timedelta(days=n) for n in range(31)]
    return [d for d in days if d.month == month and d.weekday() == weekday]


# -- rules ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "rule"),
    [
        ("jeden 2. Mittwoch im Monat", "FREQ=MONTHLY;BYDAY=2WE"),
        ("Jeden zweiten Mittwoch des Monats", "FREQ=MONTHLY;BYDAY=2WE"),
        ("jeden 2. Mi", "FREQ=MONTHLY;BYDAY=2WE"),
        ("jeden ersten Montag im Monat", "FREQ=MONTHLY;BYDAY=1MO"),
        ("jeden 3. Donnerstag", "FREQ=MONTHLY;BYDAY=3TH"),
        ("jeden vierten Dienstag", "FREQ=MONTHLY;BYDAY=4TU"),
        ("jeden 5. Freitag", "FREQ=MONTHLY;BYDAY=5FR"),
        ("jeden letzten Freitag", "FREQ=MONTHLY;BYDAY=-1FR"),
        ("jeden letzten Freitag im Monat", "FREQ=MONTHLY;BYDAY=-1FR"),
        ("jeden Mittwoch", "FREQ=WEEKLY;BYDAY=WE"),
        ("Jeden Mo", "FREQ=WEEKLY;BYDAY=MO"),
        ("jeden Sonntag", "FREQ=WEEKLY;BYDAY=SU"),
        ("alle 2 Wochen Dienstag", "FREQ=WEEKLY;INTERVAL=2;BYDAY=TU"),
        ("alle 2 Wochen Di", "FREQ=WEEKLY;INTERVAL=2;BYDAY=TU"),
        ("alle 2 Wochen, am Dienstag", "FREQ=WEEKLY;INTERVAL=2;BYDAY=TU"),
        ("alle 3 Wochen Fr", "FREQ=WEEKLY;INTERVAL=3;BYDAY=FR"),
        ("alle 12 Wochen Mo", "FREQ=WEEKLY;INTERVAL=12;BYDAY=MO"),
        ("  jeden   Mittwoch  ", "FREQ=WEEKLY;BYDAY=WE"),
        # raw RRULEs for anything else
        ("RRULE:FREQ=MONTHLY;BYDAY=2WE", "FREQ=MONTHLY;BYDAY=2WE"),
        ("rrule:freq=monthly;byday=2we", "FREQ=MONTHLY;BYDAY=2WE"),
        ("FREQ=WEEKLY;BYDAY=MO,WE", "FREQ=WEEKLY;BYDAY=MO,WE"),
        ("FREQ=MONTHLY;BYMONTHDAY=-1", "FREQ=MONTHLY;BYMONTHDAY=-1"),
        ("FREQ=WEEKLY;INTERVAL=2;BYDAY=TU;COUNT=5", "FREQ=WEEKLY;INTERVAL=2;BYDAY=TU;COUNT=5"),
        ("FREQ=DAILY", "FREQ=DAILY"),
        ("FREQ=WEEKLY;BYDAY=TU;UNTIL=20271231", "FREQ=WEEKLY;BYDAY=TU;UNTIL=20271231"),
    ],
)
def test_rules(text: str, rule: str) -> None:
    assert parse_rule(text) == rule


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("FREQ=HOURLY", "höchstens täglich"),
        ("FREQ=MINUTELY;INTERVAL=30", "höchstens täglich"),
        ("RRULE:FREQ=SECONDLY", "höchstens täglich"),
        ("freq=hourly;byhour=9", "höchstens täglich"),
        ("FREQ=WEEKLY;BYDAY=XX", "Ungültige RRULE"),
        ("FREQ=WEEKLY;FOO=1", "Ungültige RRULE"),
        ("FREQ=FORTNIGHTLY", "Ungültige RRULE"),
        ("FREQ=DAILY;BYHOUR=30", "Ungültige RRULE"),
        ("FREQ=WEEKLY;COUNT=3;UNTIL=20271231", "nicht beides"),
        ("RRULE:", "Ungültige RRULE"),
        ("RRULE:BYDAY=MO", "Ungültige RRULE"),
        ("FREQ=WEEKLY;DTSTART=20260101", "Ungültige RRULE"),
        ("FREQ=WEEKLY\nRRULE:FREQ=HOURLY", "Ungültige RRULE"),
        ("jeden Feiertag", "Regel nicht erkannt"),
        ("jeden 6. Mittwoch", "Regel nicht erkannt"),
        ("jeden 2. Mittwoch im Jahr", "Regel nicht erkannt"),
        ("alle 0 Wochen Di", "Regel nicht erkannt"),
        ("alle 13 Wochen Di", "Regel nicht erkannt"),
        ("alle zwei Wochen Di", "Regel nicht erkannt"),
        ("alle 2 Monate Di", "Regel nicht erkannt"),
        ("jeden Mittwoch um 10", "Regel nicht erkannt"),
        ("", "Regel nicht erkannt"),
    ],
)
def test_refused_rules(text: str, fragment: str) -> None:
    with pytest.raises(RuleError) as err:
        parse_rule(text)
    assert fragment in err.value.message
    assert isinstance(err.value, ArgumentError)


@pytest.mark.parametrize(
    "text",
    [
        "FREQ=DAILY;BYHOUR=9,15",  # two sessions a day
        "FREQ=WEEKLY;BYDAY=MO;BYMINUTE=0,30",
        "FREQ=DAILY;BYSECOND=1,2",
    ],
)
def test_times_of_day_in_the_rule_are_refused(text: str) -> None:
    """The series has one start time; a rule giving several a day is sub-daily."""
    with pytest.raises(RuleError) as err:
        parse_rule(text)
    assert "höchstens täglich" in err.value.message


@pytest.mark.parametrize(
    "text",
    [
        "FREQ=MONTHLY;BYDAY=9WE",  # dateutil crashes with an IndexError when expanding
        "FREQ=YEARLY;BYDAY=60MO",
        "FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=30",  # never: dateutil searches until 9999
        "FREQ=DAILY;BYMONTH=2;BYMONTHDAY=31",
        "FREQ=MONTHLY;BYDAY=6WE",
        "FREQ=MONTHLY;BYMONTHDAY=40",
    ],
)
def test_rules_without_any_date_are_refused_quickly(text: str) -> None:
    started = clock.monotonic()
    with pytest.raises(RuleError) as err:
        parse_rule(text)
    assert clock.monotonic() - started < 0.5
    assert "keinen Termin" in err.value.message or "Ungültige RRULE" in err.value.message


@contextmanager
def within(seconds: float) -> Iterator[None]:
    """Fail (instead of hanging the suite) when the block takes longer than ``seconds``."""

    def expired(_signum: int, _frame: object) -> None:
        raise TimeoutError(f"took longer than {seconds} s")

    previous = signal.signal(signal.SIGALRM, expired)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


@pytest.mark.parametrize(
    "text",
    [
        "FREQ=WEEKLY;INTERVAL=0;BYDAY=MO",  # dateutil repeats the first date forever
        "FREQ=YEARLY;INTERVAL=0;BYMONTH=2;BYMONTHDAY=30",  # ... or never returns
        "FREQ=YEARLY;INTERVAL=+0;BYMONTH=0",
        "FREQ=DAILY;INTERVAL=-1",  # runs backwards and crashes
        "FREQ=YEARLY;INTERVAL=-1;BYYEARDAY=366",
        "FREQ=WEEKLY;INTERVAL=2;INTERVAL=0;BYDAY=TU",
    ],
)
def test_intervals_below_one_are_refused(text: str) -> None:
    with within(2.0), pytest.raises(RuleError) as err:
        parse_rule(text)
    assert "Ungültige RRULE" in err.value.message


def test_rare_but_real_rules_are_accepted() -> None:
    assert parse_rule("FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=29") == (
        "FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=29"
    )
    assert parse_rule("FREQ=YEARLY;BYDAY=53MO") == "FREQ=YEARLY;BYDAY=53MO"


@pytest.mark.parametrize(
    "text", ["<b>jeden</b> Mittwoch", "@room jeden Mi", "FREQ=WEEKLY;BYDAY=<X>", "jeden Müller"]
)
def test_refusals_do_not_echo_the_input(text: str) -> None:
    with pytest.raises(RuleError) as err:
        parse_rule(text)
    for word in ("<b>", "@room", "<X>", "Müller"):
        assert word not in err.value.message


# -- occurrences -------------------------------------------------------------------------


def test_second_wednesday_of_each_month() -> None:
    rule = parse_rule("jeden 2. Mittwoch im Monat")
    got = days_of(rule, date(2026, 1, 1), until=date(2026, 12, 31))
    assert got == [weekdays_of(2026, month, 2)[1] for month in range(1, 13)]
    assert got[:3] == [date(2026, 1, 14), date(2026, 2, 11), date(2026, 3, 11)]


def test_last_friday_of_each_month() -> None:
    rule = parse_rule("jeden letzten Freitag")
    got = days_of(rule, date(2026, 1, 1), until=date(2026, 12, 31))
    assert got == [weekdays_of(2026, month, 4)[-1] for month in range(1, 13)]
    assert date(2026, 1, 30) in got
    assert date(2026, 7, 31) in got


def test_every_other_tuesday() -> None:
    rule = parse_rule("alle 2 Wochen Di")
    start = date(2026, 11, 24)  # a Tuesday
    got = days_of(rule, start, until=date(2027, 2, 28))
    assert got == [start + timedelta(days=14 * n) for n in range(len(got))]
    assert len(got) == 7
    # from a Monday: the first Tuesday is the next day, then every 14 days
    assert days_of(rule, date(2026, 11, 23), until=date(2026, 12, 31)) == [
        date(2026, 11, 24),
        date(2026, 12, 8),
        date(2026, 12, 22),
    ]


def test_window_and_limit() -> None:
    rule = parse_rule("jeden Mittwoch")
    got = days_of(rule, date(2026, 11, 21), after=date(2026, 12, 2), until=date(2026, 12, 23))
    assert got == [date(2026, 12, 2), date(2026, 12, 9), date(2026, 12, 16), date(2026, 12, 23)]
    assert days_of(rule, date(2026, 11, 21), until=date(2027, 12, 31), limit=3) == [
        date(2026, 11, 25),
        date(2026, 12, 2),
        date(2026, 12, 9),
    ]
    assert days_of(rule, date(2026, 11, 21), until=date(2027, 12, 31), limit=0) == []
    assert days_of(rule, date(2026, 11, 26), until=date(2026, 12, 1)) == []


def test_occurrence_keeps_time_and_original() -> None:
    got = list(
        occurrences(
            parse_rule("jeden Mittwoch"),
            date(2026, 11, 25),
            time(14, 30),
            after=date(2026, 11, 25),
            until=date(2026, 12, 2),
            is_holiday=lambda d: d == date(2026, 11, 25),
            holiday_rule=MOVE,
        )
    )
    assert got == [
        Occurrence(original=date(2026, 11, 25), day=date(2026, 11, 26), at=time(14, 30)),
        Occurrence(original=date(2026, 12, 2), day=date(2026, 12, 2), at=time(14, 30)),
    ]


# -- holidays ----------------------------------------------------------------------------


def holidays(*days: date) -> Callable[[date], bool]:
    return lambda day: day in days


WEDNESDAYS = parse_rule("jeden Mittwoch")
FRIDAYS = parse_rule("jeden Freitag")


def test_skip_drops_the_holiday() -> None:
    got = days_of(
        WEDNESDAYS,
        date(2026, 11, 18),
        until=date(2026, 12, 2),
        is_holiday=holidays(date(2026, 11, 25)),
        holiday_rule=SKIP,
    )
    assert got == [date(2026, 11, 18), date(2026, 12, 2)]


def test_move_goes_to_the_next_working_day() -> None:
    got = days_of(
        WEDNESDAYS,
        date(2026, 11, 18),
        until=date(2026, 12, 2),
        is_holiday=holidays(date(2026, 11, 25)),
        holiday_rule=MOVE,
    )
    assert got == [date(2026, 11, 18), date(2026, 11, 26), date(2026, 12, 2)]


def test_move_past_a_second_holiday() -> None:
    got = days_of(
        WEDNESDAYS,
        date(2026, 11, 25),
        until=date(2026, 11, 30),
        is_holiday=holidays(date(2026, 11, 25), date(2026, 11, 26)),
        holiday_rule=MOVE,
    )
    assert got == [date(2026, 11, 27)]


def test_move_past_the_weekend() -> None:
    fri = date(2026, 11, 27)
    got = days_of(FRIDAYS, fri, until=fri, is_holiday=holidays(fri), holiday_rule=MOVE)
    assert got == []  # moved to Monday 30.11., after ``until``: left for a later expansion
    got = days_of(
        FRIDAYS, fri, until=date(2026, 12, 3), is_holiday=holidays(fri), holiday_rule=MOVE
    )
    assert got == [date(2026, 11, 30)]
    got = days_of(
        FRIDAYS,
        fri,
        until=date(2026, 12, 3),
        is_holiday=holidays(fri, date(2026, 11, 30)),
        holiday_rule=MOVE,
    )
    assert got == [date(2026, 12, 1)]


def test_a_weekend_series_is_not_moved_unless_on_a_holiday() -> None:
    saturdays = parse_rule("jeden Samstag")
    got = days_of(saturdays, date(2026, 11, 21), until=date(2026, 11, 28), holiday_rule=MOVE)
    assert got == [date(2026, 11, 21), date(2026, 11, 28)]


def test_a_moved_session_never_doubles_a_regular_one() -> None:
    """Mon–Fri series, Thursday a holiday: Friday has one session, not two."""
    weekdays = parse_rule("FREQ=WEEKLY;BYDAY=MO,TU,WE,TH,FR")
    got = days_of(
        weekdays,
        date(2026, 11, 23),
        until=date(2026, 11, 27),
        is_holiday=holidays(date(2026, 11, 26)),
        holiday_rule=MOVE,
    )
    assert got == [date(2026, 11, 23), date(2026, 11, 24), date(2026, 11, 25), date(2026, 11, 27)]


def test_closed_between_the_years() -> None:
    """A weekly series over a closure of two weeks: one session when it opens again."""
    closed = frozenset(date(2026, 12, 21) + timedelta(days=n) for n in range(15))  # –04.01.
    calendar = Calendar(land="HE", extra_closed_days=closed)
    got = days_of(
        WEDNESDAYS,
        date(2026, 12, 16),
        until=date(2027, 1, 13),
        is_holiday=calendar.is_holiday,
        holiday_rule=MOVE,
    )
    # 23.12. and 30.12. both move to Tuesday 05.01.: one session there, not two
    assert got == [date(2026, 12, 16), date(2027, 1, 5), date(2027, 1, 6), date(2027, 1, 13)]
    assert all(calendar.is_working_day(d) for d in got)


def test_a_move_onto_the_next_regular_date_is_dropped() -> None:
    """Closed until the next Wednesday: the moved session would meet the regular one."""
    closed = holidays(*(date(2026, 11, 25) + timedelta(days=n) for n in range(7)))
    got = list(
        occurrences(
            WEDNESDAYS,
            date(2026, 11, 25),
            TEN,
            after=date(2026, 11, 25),
            until=date(2026, 12, 9),
            is_holiday=closed,
            holiday_rule=MOVE,
        )
    )
    assert [(o.original, o.day) for o in got] == [
        (date(2026, 12, 2), date(2026, 12, 2)),
        (date(2026, 12, 9), date(2026, 12, 9)),
    ]


# -- real German holidays ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("day", "holiday"),
    [
        (date(2026, 10, 3), True),  # Tag der Deutschen Einheit
        (date(2026, 12, 25), True),
        (date(2026, 12, 26), True),
        (date(2027, 1, 1), True),
        (date(2026, 4, 6), True),  # Ostermontag
        (date(2026, 6, 4), True),  # Fronleichnam: a holiday in Hessen
        (date(2026, 11, 18), False),  # Buß- und Bettag: only in Sachsen
        (date(2026, 3, 8), False),  # Frauentag: only in Berlin (and Mecklenburg-Vorpommern)
        (date(2026, 11, 25), False),
        (date(2026, 11, 21), False),  # a plain Saturday: no holiday, no working day either
        (date(2026, 11, 22), False),  # a plain Sunday
    ],
)
def test_hessen_holidays(day: date, holiday: bool) -> None:
    assert HE.is_holiday(day) is holiday
    assert HE.is_working_day(day) is (not holiday and day.weekday() < 5)


def test_holidays_depend_on_the_land() -> None:
    assert not Calendar(land="BE").is_holiday(date(2026, 6, 4))
    assert Calendar(land="BE").is_holiday(date(2026, 3, 8))
    assert Calendar(land="SN").is_holiday(date(2026, 11, 18))
    assert not Calendar().is_holiday(date(2026, 12, 25))  # no land: no holidays
    assert Calendar(extra_closed_days=frozenset({date(2026, 11, 25)})).is_holiday(
        date(2026, 11, 25)
    )


def test_fronleichnam_in_hessen() -> None:
    thursdays = parse_rule("jeden Donnerstag")
    args = {"until": date(2026, 6, 11), "is_holiday": HE.is_holiday}
    skipped = days_of(thursdays, date(2026, 5, 28), holiday_rule=SKIP, **args)  # type: ignore[arg-type]
    moved = days_of(thursdays, date(2026, 5, 28), holiday_rule=MOVE, **args)  # type: ignore[arg-type]
    assert skipped == [date(2026, 5, 28), date(2026, 6, 11)]
    assert moved == [date(2026, 5, 28), date(2026, 6, 5), date(2026, 6, 11)]
    in_berlin = days_of(
        thursdays,
        date(2026, 5, 28),
        until=date(2026, 6, 11),
        is_holiday=Calendar(land="BE").is_holiday,
        holiday_rule=SKIP,
    )
    assert in_berlin == [date(2026, 5, 28), date(2026, 6, 4), date(2026, 6, 11)]


def test_einheit_on_a_wednesday() -> None:
    got = days_of(
        WEDNESDAYS,
        date(2029, 9, 26),
        until=date(2029, 10, 10),
        is_holiday=HE.is_holiday,
        holiday_rule=MOVE,
    )
    assert got == [date(2029, 9, 26), date(2029, 10, 4), date(2029, 10, 10)]


def test_christmas_on_a_friday() -> None:
    """25.12.2026 is a Friday, 26.12. a Saturday (and a holiday): moved to Monday 28.12."""
    skipped = days_of(FRIDAYS, date(2026, 12, 18), until=date(2027, 1, 8), is_holiday=HE.is_holiday)
    assert skipped == [date(2026, 12, 18), date(2027, 1, 8)]  # 01.01.2027 is a Friday, too
    moved = list(
        occurrences(
            FRIDAYS,
            date(2026, 12, 18),
            TEN,
            after=date(2026, 12, 18),
            until=date(2027, 1, 8),
            is_holiday=HE.is_holiday,
            holiday_rule=MOVE,
        )
    )
    assert [(o.original, o.day) for o in moved] == [
        (date(2026, 12, 18), date(2026, 12, 18)),
        (date(2026, 12, 25), date(2026, 12, 28)),
        (date(2027, 1, 1), date(2027, 1, 4)),
        (date(2027, 1, 8), date(2027, 1, 8)),
    ]


# -- daylight saving ----------------------------------------------------------------------


def test_ten_oclock_stays_ten_oclock_across_the_autumn_change() -> None:
    got = list(
        occurrences(
            WEDNESDAYS,
            date(2026, 10, 14),
            TEN,
            after=date(2026, 10, 14),
            until=date(2026, 11, 11),
            is_holiday=never,
            holiday_rule=SKIP,
        )
    )
    moments = [local_moment(o.day, o.at) for o in got]
    assert [m.hour for m in moments] == [8, 8, 9, 9, 9]  # UTC
    assert {m.astimezone(LOCAL_TZ).time() for m in moments} == {TEN}
    offsets = {m.astimezone(LOCAL_TZ).utcoffset() for m in moments}
    assert offsets == {timedelta(hours=2), timedelta(hours=1)}
    assert moments[1] - moments[0] == timedelta(days=7)
    assert moments[2] - moments[1] == timedelta(days=7, hours=1)  # the week with 25.10.


def test_ten_oclock_stays_ten_oclock_across_the_spring_change() -> None:
    got = days_of(WEDNESDAYS, date(2026, 3, 18), until=date(2026, 4, 1))
    moments = [local_moment(day, TEN) for day in got]
    assert moments == [
        datetime(2026, 3, 18, 9, 0, tzinfo=UTC),
        datetime(2026, 3, 25, 9, 0, tzinfo=UTC),
        datetime(2026, 4, 1, 8, 0, tzinfo=UTC),
    ]


def test_a_series_at_half_past_two_loses_only_the_changeover_sundays() -> None:
    sundays = parse_rule("jeden Sonntag")
    refused = []
    for day in days_of(sundays, date(2026, 1, 4), until=date(2026, 12, 27)):
        try:
            local = local_moment(day, time(2, 30)).astimezone(LOCAL_TZ)
        except WhenError:
            refused.append(day)
            continue
        assert (local.date(), local.time()) == (day, time(2, 30))
    assert refused == [date(2026, 3, 29), date(2026, 10, 25)]


# -- properties ---------------------------------------------------------------------------

_RULES = [
    "jeden 2. Mittwoch im Monat",
    "jeden letzten Freitag",
    "jeden Mittwoch",
    "jeden Samstag",
    "alle 2 Wochen Dienstag",
    "alle 3 Wochen Fr",
    "FREQ=WEEKLY;BYDAY=MO,TU,WE,TH,FR",
    "FREQ=DAILY",
    "FREQ=MONTHLY;BYMONTHDAY=1,15",
    "FREQ=MONTHLY;BYMONTHDAY=-1",
    "FREQ=WEEKLY;BYDAY=TH;COUNT=7",
]
_START = date(2026, 1, 1)
_WINDOW = st.dates(min_value=_START, max_value=date(2027, 6, 30))


@st.composite
def _closed_days(draw: st.DrawFn) -> Callable[[date], bool]:
    """Random closures: single days and runs of up to three weeks, or real Hessen holidays."""
    if draw(st.booleans()):
        return HE.is_holiday
    closed: set[date] = set()
    for start in draw(st.lists(_WINDOW, max_size=8)):
        length = draw(st.integers(1, 21))
        closed.update(start + timedelta(days=n) for n in range(length))
    frozen = frozenset(closed)
    return lambda day: day in frozen


@settings(max_examples=300, deadline=None)
@given(
    st.sampled_from(_RULES),
    _WINDOW,
    _WINDOW,
    st.integers(0, 120),
    _closed_days(),
    st.sampled_from([SKIP, MOVE]),
    st.integers(0, 40),
)
def test_occurrence_invariants(
    phrase: str,
    first_day: date,
    after: date,
    span: int,
    is_holiday: Callable[[date], bool],
    holiday_rule: HolidayRule,
    limit: int,
) -> None:
    rule = parse_rule(phrase)
    until = after + timedelta(days=span)
    got = list(
        occurrences(
            rule,
            first_day,
            TEN,
            after=after,
            until=until,
            is_holiday=is_holiday,
            holiday_rule=holiday_rule,
            limit=limit,
        )
    )
    days = [o.day for o in got]
    assert len(got) <= limit
    assert all(a < b for a, b in itertools.pairwise(days)), "strictly increasing"
    assert all(after <= d <= until for d in days)
    assert not any(is_holiday(d) for d in days)
    assert all(o.at == TEN for o in got)

    rule_days = [
        dt.date()
        for dt in rrulestr(rule, dtstart=datetime.combine(first_day, time(0, 0))).between(
            datetime.combine(first_day, time(0, 0)), datetime.combine(until, time(0, 0)), inc=True
        )
    ]
    assert all(o.original in rule_days for o in got)
    assert all(o.original <= o.day for o in got)
    if holiday_rule is SKIP:
        assert all(o.original == o.day for o in got)
        expected = [d for d in rule_days if d >= after and not is_holiday(d)][:limit]
        assert days == expected
    else:
        moved = [o for o in got if o.original != o.day]
        assert all(is_holiday(o.original) and o.day.weekday() < 5 for o in moved)
        for o in moved:  # to the *next* working day
            between = [o.original + timedelta(days=n) for n in range((o.day - o.original).days)]
            assert all(is_holiday(d) or d.weekday() >= 5 for d in between)
        # every regular date in the window is kept (or already has the series' session)
        regular = [d for d in rule_days if after <= d and not is_holiday(d)]
        if len(got) < limit:
            assert set(regular) <= set(days)


_RRULE_PARTS = [
    "FREQ=DAILY", "FREQ=WEEKLY", "FREQ=MONTHLY", "FREQ=YEARLY",
    "INTERVAL=0", "INTERVAL=2", "INTERVAL=-1", "INTERVAL=+0", "COUNT=0", "COUNT=3",
    "BYDAY=9WE", "BYDAY=-1FR", "BYDAY=MO,TU", "BYDAY=0MO", "BYDAY=+2TU", "BYDAY=5FR",
    "BYMONTHDAY=31", "BYMONTHDAY=0", "BYMONTHDAY=-40", "BYMONTHDAY=29", "BYMONTH=2",
    "BYMONTH=0", "BYMONTH=2,4", "BYSETPOS=0", "BYSETPOS=-1", "BYSETPOS=400", "BYSETPOS=2",
    "BYWEEKNO=53", "BYWEEKNO=0", "BYWEEKNO=-60", "BYYEARDAY=366", "BYYEARDAY=0",
    "BYYEARDAY=-366", "WKST=SU", "WKST=XX", "UNTIL=20270101", "UNTIL=19000101",
    "BYEASTER=0", "BYHOUR=9,15", "BYMINUTE=0,30",
]  # fmt: skip


@settings(max_examples=300, deadline=None)
@given(
    st.sampled_from(_RRULE_PARTS[:4]),
    st.lists(st.sampled_from(_RRULE_PARTS), max_size=4),
    st.sampled_from([SKIP, MOVE]),
)
def test_raw_rrules_are_refused_or_expand_safely(
    freq: str, parts: list[str], holiday_rule: HolidayRule
) -> None:
    """Whatever a moderator types: a German refusal, or a rule that expands quickly into
    one session a day at most, in order — never a crash, a hang or a duplicate."""
    body = ";".join([freq, *parts])
    with within(2.0):
        try:
            rule = parse_rule(body)
        except RuleError:
            return
        got = list(
            occurrences(
                rule,
                date(2026, 1, 1),
                TEN,
                after=date(2026, 11, 21),
                until=date(2027, 5, 20),
                is_holiday=lambda d: d.day in (1, 2, 3),
                holiday_rule=holiday_rule,
            )
        )
    days = [o.day for o in got]
    assert all(a < b for a, b in itertools.pairwise(days))
