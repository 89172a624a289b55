"""German dates and times for sessions: day before month, never guessed.

``parse_when(text, now)`` accepts

* a date: ``25.11.``, ``25.11.2026``, ``2026-11-25``, ``heute``, ``morgen``,
  ``übermorgen``, a weekday (``Mi``, ``Mittwoch`` — the next one after today),
  ``in 3 Tagen``, ``in 2 Wochen``;
* optionally followed by a time: ``14:30``, ``14:30 Uhr``, ``9 Uhr``, ``14.30 Uhr``.

A bare ``10`` or ``14.30`` (hour? date?) is refused with examples, as is a local
time that does not exist (the hour skipped in spring) or exists twice (the hour
repeated in autumn). Times are Europe/Berlin; results are aware datetimes.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from domain.dates import LOCAL_TZ, DateError, Towards, parse_date

EXAMPLES = "z. B. 25.11., 25.11.2026 14:30, Mi 10:00, morgen 9 Uhr, übermorgen, in 2 Wochen"

_WEEKDAYS = {
    "mo": 0, "montag": 0,
    "di": 1, "dienstag": 1,
    "mi": 2, "mittwoch": 2,
    "do": 3, "donnerstag": 3,
    "fr": 4, "freitag": 4,
    "sa": 5, "samstag": 5,
    "so": 6, "sonntag": 6,
}  # fmt: skip
_TIME = re.compile(r"(?P<h>\d{1,2})(?:[:.](?P<m>\d{2}))?(?:\s*(?P<uhr>uhr))?$", re.IGNORECASE)


class WhenError(DateError):
    pass


@dataclass(frozen=True)
class When:
    day: date
    at: time | None  # None: no time given

    def moment(self, default: time | None = None) -> datetime:
        """The aware instant (UTC) of this local date and time in Europe/Berlin."""
        clock = self.at or default
        if clock is None:
            raise WhenError(f"Bitte auch eine Uhrzeit angeben ({EXAMPLES}).")
        return local_moment(self.day, clock)


def local_moment(day: date, clock: time) -> datetime:
    """Berlin wall-clock time → UTC; refuses times the clock change skips or repeats."""
    first = datetime.combine(day, clock, LOCAL_TZ).replace(fold=0)
    back = first.astimezone(UTC).astimezone(LOCAL_TZ)
    if (back.date(), back.time()) != (day, clock):
        raise WhenError(
            f"{clock:%H:%M} Uhr gibt es am {day:%d.%m.%Y} wegen der Zeitumstellung nicht; "
            "bitte eine andere Uhrzeit wählen."
        )
    if first.utcoffset() != first.replace(fold=1).utcoffset():
        raise WhenError(
            f"{clock:%H:%M} Uhr gibt es am {day:%d.%m.%Y} wegen der Zeitumstellung zweimal; "
            "bitte eine andere Uhrzeit wählen."
        )
    return first.astimezone(UTC)


def _parse_time(text: str) -> time:
    match = _TIME.fullmatch(text.strip())
    if match is None or (match.group("m") is None and not match.group("uhr")):
        raise WhenError(f"Uhrzeit nicht erkannt: bitte wie 14:30 oder 9 Uhr ({EXAMPLES}).")
    if "." in text and not match.group("uhr"):
        raise WhenError("„14.30“ könnte ein Datum sein: Uhrzeiten bitte als 14:30 oder 14.30 Uhr.")
    hour, minute = int(match.group("h")), int(match.group("m") or 0)
    if hour > 23 or minute > 59:
        raise WhenError(f"Die Uhrzeit {hour}:{minute:02d} gibt es nicht.")
    return time(hour, minute)


def _parse_day(words: list[str], today: date) -> date:
    text = " ".join(words)
    folded = text.casefold().rstrip(".")
    if folded in _WEEKDAYS:
        ahead = (_WEEKDAYS[folded] - today.weekday()) % 7 or 7
        return today + timedelta(days=ahead)
    if len(words) != 1 and not folded.startswith("in "):
        raise WhenError(f"Datum nicht erkannt ({EXAMPLES}).")
    try:
        # One parser for dates, "in 3 Tagen" included: the same words mean the same day
        # in `termin neu` as in `bis=` or `datum=`.
        return parse_date(text, today, Towards.FUTURE)
    except DateError as err:
        raise WhenError(err.message) from None


def parse_when(text: str, now: datetime) -> When:
    """Split ``text`` into a date part and an optional trailing time; both must parse."""
    words = text.split()
    if not words:
        raise WhenError(f"Es fehlt ein Datum ({EXAMPLES}).")
    today = now.astimezone(LOCAL_TZ).date()
    for split in (2, 1):  # "14:30 Uhr" is two words, "9:00" one
        if len(words) > split:
            head, tail = words[:-split], " ".join(words[-split:])
            if _looks_like_time(tail):
                return When(_parse_day(head, today), _parse_time(tail))
    if len(words) == 1 and _looks_like_time(words[0]) and ":" in words[0]:
        raise WhenError(f"Bitte auch ein Datum angeben ({EXAMPLES}).")
    return When(_parse_day(words, today), None)


def _looks_like_time(text: str) -> bool:
    return bool(_TIME.fullmatch(text.strip())) and (":" in text or "uhr" in text.casefold())
