"""Recurring sessions: German rule phrases → RFC 5545 RRULE, occurrences in Europe/Berlin.

``parse_rule("jeden 2. Mittwoch im Monat")`` gives ``FREQ=MONTHLY;BYDAY=2WE``;
also understood: ``jeden letzten Freitag``, ``jeden Mittwoch``,
``alle 2 Wochen Dienstag`` and a raw ``RRULE:…``/``FREQ=…`` for anything else; the
same in English (``every 2nd Wednesday of the month``, ``every last Friday``,
``every Wednesday``, ``every 2 weeks on Tuesday``), in any room.
:func:`occurrences` expands a rule from a local start date and wall-clock time and
applies the holiday rule: ``auslassen`` drops an occurrence on a public holiday,
``verschieben`` moves it to the next working day (same time) unless the series
meets on or before that day anyway (then it is dropped). Wall-clock times
stay put across daylight-saving changes: 10:00 is 10:00 in winter and in summer.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from enum import StrEnum
from itertools import islice, pairwise

from dateutil.rrule import rrule, rrulestr

from domain.errors import ArgumentError
from domain.text import N_, Msg

_DAYS = {
    "montag": "MO", "dienstag": "TU", "mittwoch": "WE", "donnerstag": "TH",
    "freitag": "FR", "samstag": "SA", "sonntag": "SU",
    "mo": "MO", "di": "TU", "mi": "WE", "do": "TH", "fr": "FR", "sa": "SA", "so": "SU",
    "monday": "MO", "tuesday": "TU", "wednesday": "WE", "thursday": "TH",
    "friday": "FR", "saturday": "SA", "sunday": "SU",
    "mon": "MO", "tue": "TU", "wed": "WE", "thu": "TH", "fri": "FR", "sat": "SA", "sun": "SU",
}  # fmt: skip
_ORDINAL = {"1.": 1, "2.": 2, "3.": 3, "4.": 4, "5.": 5, "ersten": 1, "zweiten": 2,
            "dritten": 3, "vierten": 4, "letzten": -1,
            "1st": 1, "2nd": 2, "3rd": 3, "4th": 4, "5th": 5, "first": 1, "second": 2,
            "third": 3, "fourth": 4, "fifth": 5, "last": -1}  # fmt: skip
# Words that carry nothing ("im Monat", "of the month", "on"), and the English words
# that mean "jeden", "alle" and "Wochen".
_FILLER = frozenset({"im", "monat", "des", "monats", "am", "of", "the", "month", "on", "in"})
_EVERY = frozenset({"jeden", "jede", "every", "each"})
_ALL = frozenset({"alle", "every"})
_WEEKS = frozenset({"wochen", "weeks"})
EXAMPLES = N_(
    "„jeden 2. Mittwoch im Monat“, „jeden letzten Freitag“, „jeden Mittwoch“, "
    "„alle 2 Wochen Dienstag“ oder eine RRULE wie „FREQ=MONTHLY;BYDAY=2WE“"
)


class HolidayRule(StrEnum):
    SKIP = "auslassen"
    MOVE = "verschieben"


class RuleError(ArgumentError):
    pass


def parse_rule(text: str) -> str:
    """A German phrase (or a raw RRULE) → the RRULE body without DTSTART."""
    raw = text.strip()
    if raw.upper().startswith(("RRULE:", "FREQ=")):
        body = raw.split(":", 1)[1] if raw.upper().startswith("RRULE:") else raw
        _check(body.upper())
        return body.upper()
    words = [w.casefold() for w in raw.replace(",", " ").split()]
    words = [w for w in words if w not in _FILLER]
    if len(words) == 2 and words[0] in _EVERY and words[1] in _DAYS:
        return f"FREQ=WEEKLY;BYDAY={_DAYS[words[1]]}"
    if len(words) == 3 and words[0] in _EVERY and words[1] in _ORDINAL and words[2] in _DAYS:
        return f"FREQ=MONTHLY;BYDAY={_ORDINAL[words[1]]}{_DAYS[words[2]]}"
    if (
        len(words) == 4
        and words[0] in _ALL
        and words[1].isdigit()
        and words[2] in _WEEKS
        and words[3] in _DAYS
        and 1 <= int(words[1]) <= 12
    ):
        return f"FREQ=WEEKLY;INTERVAL={int(words[1])};BYDAY={_DAYS[words[3]]}"
    raise RuleError(N_("Regel nicht erkannt. Beispiele: %(examples)s."), examples=Msg(EXAMPLES))


def _invalid() -> RuleError:
    return RuleError(N_("Ungültige RRULE. Beispiele: %(examples)s."), examples=Msg(EXAMPLES))


def _daily() -> RuleError:
    return RuleError(N_("Sitzungen wiederholen sich höchstens täglich."))


def _check(body: str) -> None:
    if not re.fullmatch(r"[A-Z0-9=;,+\-]{1,200}", body) or "FREQ=" not in body:
        raise _invalid()
    if re.search(r"FREQ=(SECONDLY|MINUTELY|HOURLY)", body):
        raise _daily()
    # dateutil never advances with INTERVAL=0 and runs backwards with a negative one
    if any(int(n) < 1 for n in re.findall(r"INTERVAL=([+-]?\d+)", body)):
        raise _invalid()
    if "COUNT=" in body and "UNTIL=" in body:  # RFC 5545 forbids both; dateutil will raise
        raise RuleError(
            N_("Ungültige RRULE (COUNT oder UNTIL, nicht beides). Beispiele: %(examples)s."),
            examples=Msg(EXAMPLES),
        )
    try:
        rule = rrulestr(body, dtstart=datetime(2026, 1, 1))
        if not isinstance(rule, rrule):
            raise ValueError(body)
        # Expanding a rule without any date makes dateutil search up to the year 9999
        # (seconds, on every expansion) and some crash (BYDAY=9WE): probe ten years.
        probe = rule.replace(dtstart=datetime(9990, 1, 1), until=None, count=None)
        found = list(islice(probe, 3))
    except (ValueError, TypeError, IndexError):
        raise _invalid() from None
    if not found:
        raise RuleError(
            N_("Diese RRULE ergibt keinen Termin. Beispiele: %(examples)s."),
            examples=Msg(EXAMPLES),
        )
    # BYHOUR/BYMINUTE/BYSECOND give several sessions a day (the series has one start time)
    if re.search(r"BY(HOUR|MINUTE|SECOND)=", body):
        raise _daily()
    if any(a >= b for a, b in pairwise(found)):
        raise _invalid()


@dataclass(frozen=True)
class Occurrence:
    original: date  # the date the rule gives (key for cancellations and moves)
    day: date  # where it takes place after the holiday rule
    at: time


def occurrences(
    rule: str,
    first_day: date,
    at: time,
    *,
    after: date,
    until: date,
    is_holiday: Callable[[date], bool],
    holiday_rule: HolidayRule,
    limit: int = 60,
) -> Iterator[Occurrence]:
    """Occurrences with ``after <= day <= until``, holidays applied, at most ``limit``."""
    expanded = iter(rrulestr(rule, dtstart=datetime.combine(first_day, time(0, 0))))
    count = 0
    following = next(expanded, None)
    while following is not None:
        original = following.date()
        following = next(expanded, None)
        if original > until or count >= limit:
            return
        day = original
        if is_holiday(day):
            if holiday_rule is HolidayRule.SKIP:
                continue
            while is_holiday(day) or day.weekday() >= 5:
                day += timedelta(days=1)
            if following is not None and day >= following.date():
                continue  # the series meets by then anyway: no second session that day
        if not after <= day <= until:
            continue
        count += 1
        yield Occurrence(original, day, at)
