"""German calendar dates, day before month, never guessed.

Accepted: ``25.11.2026``, ``25.11.26``, ``25.11.`` / ``25.11`` (the year is
completed towards the past or the future, depending on what the date is for),
``2026-11-25`` (ISO), ``heute``, ``gestern``, ``vorgestern``, ``morgen``,
``übermorgen``, and for dates ahead ``in 3 Tagen`` / ``in 8 Wochen``. Anything
else — ``11/25/2026``, ``25.13.``, ``31.02.2026`` — is refused with examples.
"""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta
from enum import Enum

from domain.errors import ArgumentError
from storage.types import LOCAL_TZ

__all__ = ["LOCAL_TZ", "DateError", "Towards", "format_date", "local_date", "parse_date"]

_DOTTED = re.compile(r"(\d{1,2})\.(\d{1,2})(?:\.(\d{4}|\d{2})?)?")
_ISO = re.compile(r"(\d{4})-(\d{2})-(\d{2})")
_AHEAD = re.compile(r"in\s+(\d{1,3})\s+(tag|tage|tagen|woche|wochen)", re.IGNORECASE)
_WORDS = {"heute": 0, "gestern": -1, "vorgestern": -2, "morgen": 1, "übermorgen": 2}
EXAMPLES = "z. B. 25.11.2026, 25.11., heute, morgen oder 2026-11-25"


class Towards(Enum):
    """Which year a date without a year gets: the next or the last occurrence."""

    FUTURE = "future"
    PAST = "past"


class DateError(ArgumentError):
    pass


def format_date(day: date) -> str:
    return day.strftime("%d.%m.%Y")


def parse_date(text: str, today: date, towards: Towards = Towards.FUTURE) -> date:
    ahead = _AHEAD.fullmatch(text.strip())
    if ahead is not None and towards is Towards.FUTURE:
        count = int(ahead.group(1))
        result = today + timedelta(
            days=count * 7 if ahead.group(2).lower().startswith("w") else count
        )
        return _make(result.year, result.month, result.day)
    word = text.strip().casefold().replace("ue", "ü") if text.strip().isalpha() else None
    if word is not None:
        if word in _WORDS:
            return today + timedelta(days=_WORDS[word])
        raise DateError(f"Datum nicht erkannt. Bitte so angeben: {EXAMPLES}.")
    raw = text.strip()
    iso = _ISO.fullmatch(raw)
    dotted = _DOTTED.fullmatch(raw)
    if iso:
        year, month, day = int(iso.group(1)), int(iso.group(2)), int(iso.group(3))
        return _make(year, month, day)
    if dotted is None:
        raise DateError(
            f"Datum nicht erkannt (Tag vor Monat, mit Punkten). Bitte so angeben: {EXAMPLES}."
        )
    day, month, year_text = int(dotted.group(1)), int(dotted.group(2)), dotted.group(3)
    if year_text:
        year = int(year_text) + (2000 if len(year_text) == 2 else 0)
        return _make(year, month, day)
    candidate = _make(today.year, month, day, leap_ok=True)
    if towards is Towards.FUTURE and candidate < today:
        return _make(today.year + 1, month, day)
    if towards is Towards.PAST and candidate > today:
        return _make(today.year - 1, month, day)
    return candidate


# Dates the conference work can mean: consents of the past decades, sessions and
# reviews of the coming ones. Outside, date arithmetic (a reminder a week before
# 31.12.9999, a session's end) would overflow; such a date is a typo, never meant.
FIRST_YEAR, LAST_YEAR = 1900, 2199


def _make(year: int, month: int, day: int, *, leap_ok: bool = False) -> date:
    if not FIRST_YEAR <= year <= LAST_YEAR:
        raise DateError(
            f"Das Jahr {year} liegt außerhalb dessen, was hier gemeint sein kann "
            f"({FIRST_YEAR}–{LAST_YEAR}). Bitte das Datum prüfen: {EXAMPLES}."
        )
    if not 1 <= month <= 12:
        raise DateError(f"Den Monat {month} gibt es nicht (Tag vor Monat: {EXAMPLES}).")
    try:
        return date(year, month, day)
    except ValueError:
        if leap_ok and month == 2 and day == 29:
            raise DateError(
                "Den 29.02. gibt es in diesem Jahr nicht; bitte mit Jahr angeben."
            ) from None
        raise DateError(f"Den {day:02d}.{month:02d}.{year} gibt es nicht.") from None


def local_date(moment: datetime) -> date:
    return moment.astimezone(LOCAL_TZ).date()
