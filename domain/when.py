"""Dates and times for sessions: day before month, never guessed.

``parse_when(text, now, language=…)`` accepts

* a date: ``25.11.``, ``25.11.2026``, ``2026-11-25``, ``heute``, ``morgen``,
  ``übermorgen``, a weekday (``Mi``, ``Mittwoch`` — the next one after today),
  ``in 3 Tagen``, ``in 2 Wochen`` (and the slash dates of :mod:`domain.dates`);
* in a room that speaks English also ``today``, ``tomorrow``, an English weekday
  (``Wed``, ``Wednesday``, any case, ``Tues``/``Thurs`` too) and ``in 3 days``,
  ``in 2 weeks`` — the German forms keep working there;
* optionally followed by a time: ``14:30``, ``14:30 Uhr``, ``9 Uhr``, ``14.30 Uhr``.

A bare ``10`` or ``14.30`` (hour? date?) is refused with examples, as is a local
time that does not exist (the hour skipped in spring) or exists twice (the hour
repeated in autumn). Times are Europe/Berlin; results are aware datetimes. Every
refusal is a catalog text, shown in the room's language.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from domain.dates import LOCAL_TZ, DateError, Day, Towards, parse_date
from domain.text import N_, Msg

EXAMPLES = N_("z. B. 25.11., 25.11.2026 14:30, Mi 10:00, morgen 9 Uhr, übermorgen, in 2 Wochen")

_WEEKDAYS = {
    "mo": 0, "montag": 0,
    "di": 1, "dienstag": 1,
    "mi": 2, "mittwoch": 2,
    "do": 3, "donnerstag": 3,
    "fr": 4, "freitag": 4,
    "sa": 5, "samstag": 5,
    "so": 6, "sonntag": 6,
}  # fmt: skip
# The weekdays a room in another language reads besides the German ones.
_WEEKDAYS_IN = {
    "en": {
        "mon": 0, "monday": 0,
        "tue": 1, "tues": 1, "tuesday": 1,
        "wed": 2, "wednesday": 2,
        "thu": 3, "thur": 3, "thurs": 3, "thursday": 3,
        "fri": 4, "friday": 4,
        "sat": 5, "saturday": 5,
        "sun": 6, "sunday": 6,
    },
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
            raise WhenError(
                N_("Bitte auch eine Uhrzeit angeben (%(examples)s)."), examples=_examples()
            )
        return local_moment(self.day, clock)


def local_moment(day: date, clock: time) -> datetime:
    """Berlin wall-clock time → UTC; refuses times the clock change skips or repeats."""
    first = datetime.combine(day, clock, LOCAL_TZ).replace(fold=0)
    back = first.astimezone(UTC).astimezone(LOCAL_TZ)
    if (back.date(), back.time()) != (day, clock):
        raise WhenError(
            N_(
                "%(time)s Uhr gibt es am %(date)s wegen der Zeitumstellung nicht; "
                "bitte eine andere Uhrzeit wählen."
            ),
            time=f"{clock:%H:%M}",
            date=Day(day),
        )
    if first.utcoffset() != first.replace(fold=1).utcoffset():
        raise WhenError(
            N_(
                "%(time)s Uhr gibt es am %(date)s wegen der Zeitumstellung zweimal; "
                "bitte eine andere Uhrzeit wählen."
            ),
            time=f"{clock:%H:%M}",
            date=Day(day),
        )
    return first.astimezone(UTC)


def _parse_time(text: str) -> time:
    match = _TIME.fullmatch(text.strip())
    if match is None or (match.group("m") is None and not match.group("uhr")):
        raise WhenError(
            N_("Uhrzeit nicht erkannt: bitte wie 14:30 oder 9 Uhr (%(examples)s)."),
            examples=_examples(),
        )
    if "." in text and not match.group("uhr"):
        raise WhenError(
            N_("„14.30“ könnte ein Datum sein: Uhrzeiten bitte als 14:30 oder 14.30 Uhr.")
        )
    hour, minute = int(match.group("h")), int(match.group("m") or 0)
    if hour > 23 or minute > 59:
        raise WhenError(N_("Die Uhrzeit %(time)s gibt es nicht."), time=f"{hour}:{minute:02d}")
    return time(hour, minute)


def _examples() -> Msg:
    return Msg(EXAMPLES)


def _parse_day(words: list[str], today: date, language: str) -> date:
    text = " ".join(words)
    folded = text.casefold().rstrip(".")
    weekdays = _WEEKDAYS_IN.get(language, {})
    weekday = _WEEKDAYS.get(folded, weekdays.get(folded))
    if weekday is not None:
        ahead = (weekday - today.weekday()) % 7 or 7
        return today + timedelta(days=ahead)
    if len(words) != 1 and not folded.startswith("in "):
        raise WhenError(N_("Datum nicht erkannt (%(examples)s)."), examples=_examples())
    try:
        # One parser for dates, "in 3 Tagen" included: the same words mean the same day
        # in `termin neu` as in `bis=` or `datum=`.
        return parse_date(text, today, Towards.FUTURE, language=language)
    except DateError as err:
        raise WhenError(err.text) from None


def parse_when(text: str, now: datetime, *, language: str = "de") -> When:
    """Split ``text`` into a date part and an optional trailing time; both must parse.
    ``language`` is the room's: its words for days are read besides the German ones."""
    words = text.split()
    if not words:
        raise WhenError(N_("Es fehlt ein Datum (%(examples)s)."), examples=_examples())
    today = now.astimezone(LOCAL_TZ).date()
    for split in (2, 1):  # "14:30 Uhr" is two words, "9:00" one
        if len(words) > split:
            head, tail = words[:-split], " ".join(words[-split:])
            if _looks_like_time(tail):
                return When(_parse_day(head, today, language), _parse_time(tail))
    if len(words) == 1 and _looks_like_time(words[0]) and ":" in words[0]:
        raise WhenError(N_("Bitte auch ein Datum angeben (%(examples)s)."), examples=_examples())
    return When(_parse_day(words, today, language), None)


def _looks_like_time(text: str) -> bool:
    return bool(_TIME.fullmatch(text.strip())) and (":" in text or "uhr" in text.casefold())
