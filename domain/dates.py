"""Calendar dates, day before month, never guessed.

Accepted in every room: ``25.11.2026``, ``25.11.26``, ``25.11.`` / ``25.11`` (the
year is completed towards the past or the future, depending on what the date is
for), ``2026-11-25`` (ISO), ``heute``, ``gestern``, ``vorgestern``, ``morgen``,
``übermorgen``, and for dates ahead ``in 3 Tagen`` / ``in 8 Wochen``.

In a room that speaks English (``language="en"``) also ``today``, ``yesterday``,
``tomorrow`` and, for dates ahead, ``in 3 days`` / ``in 2 weeks`` / ``in 1 week`` —
the same words German accepts, no more (there is no English ``übermorgen``). The
German forms keep working there; a German room reads no English words.

Slash dates (``13/04/2027``, ``13/04/27``, ``13/04``) are numeric dates like the
dotted ones, so they are read the product's way, day before month, when that is the
only way to read them: ``13/04/2027`` is 13 April and ``05/05/2027`` is 5 May — that
is not a guess, the other order gives no other date. A slash date whose two first
parts could each be the month (``03/04/2027``: 3 April or 4 March) is refused with
a hint to write ``TT.MM.JJJJ`` or ``JJJJ-MM-TT``; one that is only a date month first
(``11/25/2026``) is refused too, naming the month that does not exist. Anything else
— ``25.13.``, ``31.02.2026``, ``25-11-2026`` — is refused with examples.

Every refusal is a catalog text (:class:`domain.text.Msg`), shown in the room's
language by the dispatcher; ``err.message`` stays German.
"""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta
from enum import Enum

from domain.errors import ArgumentError
from domain.text import N_, Msg, Translator
from storage.types import LOCAL_TZ

__all__ = [
    "LOCAL_TZ",
    "DateError",
    "Day",
    "Towards",
    "format_date",
    "local_date",
    "parse_date",
]

_DOTTED = re.compile(r"(\d{1,2})\.(\d{1,2})(?:\.(\d{4}|\d{2})?)?")
_SLASHED = re.compile(r"(\d{1,2})/(\d{1,2})(?:/(\d{4}|\d{2}))?")
_ISO = re.compile(r"(\d{4})-(\d{2})-(\d{2})")
_AHEAD = re.compile(r"in\s+(\d{1,3})\s+(tag|tage|tagen|woche|wochen)", re.IGNORECASE)
_WORDS = {"heute": 0, "gestern": -1, "vorgestern": -2, "morgen": 1, "übermorgen": 2}
# What a room in another language reads besides the German words: the same days
# ahead and the same relative words, where the language has a single word for them.
_AHEAD_IN = {
    "en": re.compile(r"in\s+(\d{1,3})\s+(day|days|week|weeks)", re.IGNORECASE),
}
_WORDS_IN = {
    "en": {"today": 0, "yesterday": -1, "tomorrow": 1},
}
EXAMPLES = N_("z. B. 25.11.2026, 25.11., heute, morgen oder 2026-11-25")
# Month names for the two readings of an ambiguous slash date ("3. April").
MONTHS = (
    N_("Januar"),
    N_("Februar"),
    N_("März"),
    N_("April"),
    N_("Mai"),
    N_("Juni"),
    N_("Juli"),
    N_("August"),
    N_("September"),
    N_("Oktober"),
    N_("November"),
    N_("Dezember"),
)


class Towards(Enum):
    """Which year a date without a year gets: the next or the last occurrence."""

    FUTURE = "future"
    PAST = "past"


class DateError(ArgumentError):
    pass


class Day(Msg):
    """A date inside a catalog text, written the room's way when it is shown:
    ``29.03.2026`` in German, ``29 Mar 2026`` in English (``Texts.day``)."""

    __slots__ = ("day",)

    def __init__(self, day: date) -> None:
        super().__init__("")
        self.day = day

    def render(self, t: Translator) -> str:
        day = getattr(t, "day", None)  # commands.i18n.Texts; the German source has none
        return str(day(self.day)) if callable(day) else format_date(self.day)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Day) and other.day == self.day

    def __hash__(self) -> int:
        return hash(self.day)

    def __repr__(self) -> str:
        return f"Day({self.day!r})"


def format_date(day: date) -> str:
    return day.strftime("%d.%m.%Y")


def _examples() -> Msg:
    return Msg(EXAMPLES)


def parse_date(
    text: str, today: date, towards: Towards = Towards.FUTURE, *, language: str = "de"
) -> date:
    """The date ``text`` names; ``language`` is the room's (its words are read too)."""
    raw = text.strip()
    for ahead_pattern in (_AHEAD, _AHEAD_IN.get(language)):
        ahead = ahead_pattern.fullmatch(raw) if ahead_pattern else None
        if ahead is not None and towards is Towards.FUTURE:
            count = int(ahead.group(1))
            weeks = ahead.group(2).lower().startswith("w")
            result = today + timedelta(days=count * 7 if weeks else count)
            return _make(result.year, result.month, result.day)
    if raw.isalpha():
        words = _WORDS_IN.get(language, {})
        if raw.casefold() in words:
            return today + timedelta(days=words[raw.casefold()])
        word = raw.casefold().replace("ue", "ü")
        if word in _WORDS:
            return today + timedelta(days=_WORDS[word])
        raise DateError(
            N_("Datum nicht erkannt. Bitte so angeben: %(examples)s."), examples=_examples()
        )
    iso = _ISO.fullmatch(raw)
    if iso:
        year, month, day = int(iso.group(1)), int(iso.group(2)), int(iso.group(3))
        return _make(year, month, day)
    slashed = _SLASHED.fullmatch(raw)
    if slashed is not None:
        return _slashed(raw, slashed, today, towards)
    dotted = _DOTTED.fullmatch(raw)
    if dotted is None:
        raise DateError(
            N_("Datum nicht erkannt (Tag vor Monat, mit Punkten). Bitte so angeben: %(examples)s."),
            examples=_examples(),
        )
    return _numeric(int(dotted.group(1)), int(dotted.group(2)), dotted.group(3), today, towards)


def _numeric(day: int, month: int, year_text: str | None, today: date, towards: Towards) -> date:
    if year_text:
        year = int(year_text) + (2000 if len(year_text) == 2 else 0)
        return _make(year, month, day)
    candidate = _make(today.year, month, day, leap_ok=True)
    if towards is Towards.FUTURE and candidate < today:
        return _make(today.year + 1, month, day)
    if towards is Towards.PAST and candidate > today:
        return _make(today.year - 1, month, day)
    return candidate


def _slashed(raw: str, match: re.Match[str], today: date, towards: Towards) -> date:
    """``13/04/2027`` day before month; ``03/04/2027`` (either way) and ``11/25/2026``
    (month first) refused with the hint to write the date unmistakably."""
    first, second = int(match.group(1)), int(match.group(2))
    if first != second and 1 <= first <= 12 and 1 <= second <= 12:
        raise DateError(
            N_(
                "%(given)s ist mehrdeutig (%(first)s oder %(second)s). "
                "Bitte TT.MM.JJJJ oder JJJJ-MM-TT schreiben."
            ),
            given=raw,
            first=_day_of_month(first, second),
            second=_day_of_month(second, first),
        )
    if second > 12 and 1 <= first <= 12:
        raise DateError(
            N_(
                "%(given)s: Den Monat %(month)s gibt es nicht. "
                "Bitte mit Tag vor Monat angeben: %(examples)s."
            ),
            given=raw,
            month=second,
            examples=_examples(),
        )
    return _numeric(first, second, match.group(3), today, towards)


def _day_of_month(day: int, month: int) -> Msg:
    # Translators: a day of a month without the year, e.g. "3. April" / "3 April".
    return Msg(N_("%(day)s. %(month)s"), day=day, month=Msg(MONTHS[month - 1]))


# Dates the conference work can mean: consents of the past decades, sessions and
# reviews of the coming ones. Outside, date arithmetic (a reminder a week before
# 31.12.9999, a session's end) would overflow; such a date is a typo, never meant.
FIRST_YEAR, LAST_YEAR = 1900, 2199


def _make(year: int, month: int, day: int, *, leap_ok: bool = False) -> date:
    if not FIRST_YEAR <= year <= LAST_YEAR:
        raise DateError(
            N_(
                "Das Jahr %(year)s liegt außerhalb dessen, was hier gemeint sein kann "
                "(%(first)s–%(last)s). Bitte das Datum prüfen: %(examples)s."
            ),
            year=year,
            first=FIRST_YEAR,
            last=LAST_YEAR,
            examples=_examples(),
        )
    if not 1 <= month <= 12:
        raise DateError(
            N_("Den Monat %(month)s gibt es nicht (Tag vor Monat: %(examples)s)."),
            month=month,
            examples=_examples(),
        )
    try:
        return date(year, month, day)
    except ValueError:
        if leap_ok and month == 2 and day == 29:
            raise DateError(
                N_("Den 29.02. gibt es in diesem Jahr nicht; bitte mit Jahr angeben.")
            ) from None
        raise DateError(
            N_("Den %(date)s gibt es nicht."), date=f"{day:02d}.{month:02d}.{year}"
        ) from None


def local_date(moment: datetime) -> date:
    return moment.astimezone(LOCAL_TZ).date()
