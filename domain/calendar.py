"""The room's calendar settings: time zone (Europe/Berlin), public holidays, defaults."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from functools import cache

from domain.dates import LOCAL_TZ, local_date


@cache
def _holidays(land: str | None, year: int) -> frozenset[date]:
    if land is None:
        return frozenset()
    import holidays  # on first use: rooms without a Land never load the tables

    return frozenset(holidays.country_holidays("DE", subdiv=land, years=year))


@dataclass(frozen=True)
class Calendar:
    land: str | None = None  # e.g. "HE" (Hessen); None: no holidays
    horizon_days: int = 180  # how far ahead series occurrences are created
    capacity: int = 6
    slot_minutes: int = 20
    duration_minutes: int = 120
    reminder_offsets: tuple[int, ...] = (7 * 24 * 60, 24 * 60, 60)  # minutes before start
    extra_closed_days: frozenset[date] = field(default_factory=frozenset)
    # The agenda is posted at ``agenda_post_time`` this many working days before the
    # session (0: not automatically); moderators are reminded ``confirm_reminder_minutes``
    # before the start while it is unconfirmed (0: never).
    agenda_working_days: int = 3
    agenda_post_time: time = time(8, 0)
    confirm_reminder_minutes: int = 24 * 60
    # Availability polls: candidate start times on each working day, and how many slots.
    poll_times: tuple[time, ...] = (time(9, 0), time(11, 0), time(14, 0))
    poll_slots: int = 8
    # Holding sessions: institutions needed for a quorum, working days until moderation
    # is reminded of unconfirmed minutes, days before a Wiedervorlage the Lotse hears.
    quorum: int = 2
    minutes_working_days: int = 5
    review_reminder_days: tuple[int, ...] = (7, 1)

    def is_holiday(self, day: date) -> bool:
        return day in self.extra_closed_days or day in _holidays(self.land, day.year)

    def is_working_day(self, day: date) -> bool:
        return day.weekday() < 5 and not self.is_holiday(day)

    def working_days_before(self, day: date, count: int) -> date:
        """The working day ``count`` working days before ``day`` (``day`` itself not counted)."""
        current = day
        while count > 0:
            current -= timedelta(days=1)
            if self.is_working_day(current):
                count -= 1
        return current

    def working_days_after(self, day: date, count: int) -> date:
        """The working day ``count`` working days after ``day`` (``day`` itself not counted)."""
        current = day
        while count > 0:
            current += timedelta(days=1)
            if self.is_working_day(current):
                count -= 1
        return current

    def agenda_post_at(self, starts_at: datetime) -> datetime | None:
        """When the agenda of a session starting at ``starts_at`` is posted (aware UTC)."""
        if self.agenda_working_days <= 0:
            return None
        day = self.working_days_before(local_date(starts_at), self.agenda_working_days)
        local = datetime.combine(day, self.agenda_post_time, tzinfo=LOCAL_TZ)
        return min(local.astimezone(starts_at.tzinfo), starts_at)
