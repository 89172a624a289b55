"""The demo works on every day of the year: it never jumps to a moment already past.

The demo creates its series starting ``DEMO_LEAD`` ahead and then jumps its bot's
clock to the week's reminder, the agenda's posting, the day and hour before, the
start and the Lotse's reminder. On 2026-12-03 the first session was six days away and
the week's reminder lay in the past (the demo timed out). Here every day of a year,
and every start hour of the day, is tried without Synapse.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

import pytest

from bot.demo import DEMO_LEAD, first_session, jump_moments
from domain.calendar import Calendar
from domain.dates import LOCAL_TZ

# The demo plays its first steps in real time before the first jump: allow for that.
PLAY_TIME = timedelta(minutes=30)


@pytest.mark.parametrize("year", [2026, 2027])
def test_no_day_of_the_year_asks_for_a_moment_in_the_past(year: int) -> None:
    calendar = Calendar(land="HE")
    day = date(year, 1, 1)
    checked = 0
    while day.year == year:
        for hour in (0, 9, 23):
            now = datetime.combine(day, time(hour, 30), tzinfo=LOCAL_TZ).astimezone(UTC)
            starts = first_session(day, calendar)
            moments = jump_moments(starts, calendar)
            assert moments == sorted(moments), (day, moments)
            assert moments[0] > now + PLAY_TIME, (day, hour, moments[0])
            checked += 1
        day += timedelta(days=1)
    assert checked == 3 * (366 if year % 4 == 0 else 365)


def test_the_case_that_failed_would_now_work() -> None:
    calendar = Calendar(land="HE")
    today = date(2026, 12, 3)
    starts = first_session(today, calendar)
    assert starts.astimezone(LOCAL_TZ).date() >= today + DEMO_LEAD
    assert jump_moments(starts, calendar)[0] > datetime(2026, 12, 3, 12, 0, tzinfo=UTC)
