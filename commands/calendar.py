"""The room's calendar settings: time zone (Europe/Berlin), public holidays, defaults."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from functools import cache

import holidays


@cache
def _holidays(land: str | None, year: int) -> frozenset[date]:
    if land is None:
        return frozenset()
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

    def is_holiday(self, day: date) -> bool:
        return day in self.extra_closed_days or day in _holidays(self.land, day.year)

    def is_working_day(self, day: date) -> bool:
        return day.weekday() < 5 and not self.is_holiday(day)
