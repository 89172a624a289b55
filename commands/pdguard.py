"""The personal-data guard: free text that looks like personal data is refused.

The bot is not the Akte. Topics, notes, references and decisions must not carry
e-mail addresses, phone numbers, IBANs, birth dates, file references (Aktenzeichen),
addresses or names. The guard errs on the side of refusing; its answer names the
kind of data found, never the text, so nothing of it reaches the room or the log.

It reads a folded form of the text: Unicode compatibility forms (fullwidth ＠, ０-９)
become plain, ``(at)``/``[at]``/`` at ``/`` @ `` become ``@``, and for numbers any run
of separators between digits (dots, dashes of every kind, underscores, slashes,
brackets, ordinary and non-breaking spaces) counts as none, so ``+49.170.1234567``
and ``DE89.3704.0044…`` are the numbers they are. Names are caught only in the shapes
a heuristic can know without a register of people: a salutation with a name
(``Frau Yilmaz``) and a common first name next to a capitalised word (``Max
Mustermann``). The limits are documented in docs/SECURITY.md.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from datetime import date

from domain.errors import UserError
from domain.text import N_, Joined, Msg

_EMAIL = re.compile(r"[\w.+%-]+@[\w-]+(?:\.[\w-]+)*\.[a-z]{2,}", re.IGNORECASE)
_AT = re.compile(
    r"\s*(?:\(at\)|\[at\]|\{at\})\s*|\s+@\s+"
    r"|\s+at\s+(?=[\w-]+\s*(?:\.|\(dot\)|\[dot\]|\s+dot\s+)[a-z]{2,}\b)",
    re.IGNORECASE,
)
_DOT = re.compile(r"\s*(?:\(dot\)|\[dot\])\s*|\s+dot\s+", re.IGNORECASE)
# Any run of separators between two digits: "+49.170.123", "+49_170_…", non-breaking
# spaces and hyphens (U+00A0, U+2010–U+2015, U+2212). Ordinary spaces stay: they
# separate numbers that are not one ("EW-17 06031 …"); _PHONE allows them inside.
_DIGIT_SEPARATORS = re.compile(r"(?<=\d)[._/\\\-\u00a0\u2010-\u2015\u2212]+(?=\d)")
_COLLAPSED_PHONE = re.compile(r"(?<![\w+])(?:\+|00|0)[1-9]\d{5,}")
_PHONE_WORD = re.compile(
    r"\b(?:tel|telefon|fon|phone|handy|mobil|mobilnummer|fax|rufnummer|erreichbar unter)"
    r"\b\.?\s*(?:nr\.?\s*)?:?\s*\+?\d[\d\s]{4,}\d",
    re.IGNORECASE,
)
# Short dates and clock times: blanked before numbers are joined, so "01.12. 09.30 Uhr"
# does not read as the phone number 01120930.
_SHORT_DATE = re.compile(r"(?<![\d.])\d{1,2}\.\s?\d{1,2}\.(?:\d{4}|\d{2})?(?!\d)")
_CLOCK = re.compile(
    r"(?<![\d.])(?:[01]?\d|2[0-3])[:.][0-5]\d(?![\d.])(?:\s*uhr\b)?|(?<!\d)\d{1,2}\s*uhr\b",
    re.IGNORECASE,
)
# +49 … / 0049 … / 0 6031 12345 / (06031) 123-45 / 0171/1234567: at least 7 digits.
_PHONE = re.compile(r"(?<![\w.])(?:\+|00|\(?0)[1-9][\d\s/()\-]{5,}\d")
_IBAN = re.compile(r"\b[A-Z]{2}\d{2}(?:[\s.\-_]?[A-Z0-9]){11,30}\b", re.IGNORECASE)
_MONTHS = {
    name: number
    for number, names in enumerate(
        (
            "jan januar jänner",
            "feb februar",
            "mär märz maerz mrz",
            "apr april",
            "mai",
            "jun juni",
            "jul juli",
            "aug august",
            "sep sept september",
            "okt oktober",
            "nov november",
            "dez dezember",
        ),
        start=1,
    )
    for name in names.split()
}
_ENGLISH_MONTHS = {
    name: number
    for number, names in enumerate(
        (
            "jan january",
            "feb february",
            "mar march",
            "apr april",
            "may",
            "jun june",
            "jul july",
            "aug august",
            "sep sept september",
            "oct october",
            "nov november",
            "dec december",
        ),
        start=1,
    )
    for name in names.split()
}
_DATE = re.compile(
    # a two-digit year only right after the dot: in "25.11. 14:30" the 14 is the hour
    r"(?<!\d)(?<!\d\.)(?P<d>\d{1,2})\.\s?(?P<m>\d{1,2})\.\s?(?P<y>\d{4}|(?<=\.)\d{2})(?![\d])"
    r"|(?<!\d)(?P<iy>\d{4})-(?P<im>\d{2})-(?P<id>\d{2})(?!\d)"
    # 14. Februar 1987, 3. Apr. 2011 (four-digit year only: "3. April 10 Uhr" is a time)
    r"|(?<!\d)(?<!\d\.)(?P<nd>\d{1,2})\.\s*(?P<nm>"
    + "|".join(sorted(_MONTHS, key=len, reverse=True))
    + r")\b\.?\s*(?P<ny>\d{4})(?!\d)"
    # 14-02-1987, 14 02 1987, 14/02/1987: other separators only with a four-digit year
    r"|(?<![\d.\-/])(?P<sd>\d{1,2})(?P<sep>[\-/ ])(?P<sm>\d{1,2})(?P=sep)(?P<sy>\d{4})(?!\d)"
    # Feb 14, 1987 / February 14 1987
    r"|\b(?P<em>"
    + "|".join(sorted(_ENGLISH_MONTHS, key=len, reverse=True))
    + r")\.?\s+(?P<ed>\d{1,2}),?\s+(?P<ey>\d{4})(?!\d)",
    re.IGNORECASE,
)
# 13/04/2027, 03/04/2027: a calendar date written with slashes and a four-digit year is
# a date (the date parser reads it or refuses it with a hint), not the file reference
# "04/2027" or the phone number "03/04…"; whether it is an old date — a birth date — is
# still checked with the other dates. Short forms (13/04, 13/04/27) stay file references.
_SLASH_DATE = re.compile(r"(?<![\w./\-])(?P<a>\d{1,2})/(?P<b>\d{1,2})/(?:19|2\d)\d{2}(?![\w./\-])")
_BIRTH_WORD = re.compile(r"\b(?:geb\.|geboren\b|geburtsdatum\b|geburtstag\b)", re.IGNORECASE)
_AZ_WORD = re.compile(
    r"\b(?:az|akz|gz|aktenzeichen|geschäftszeichen|gesch\.?-?z|bg[-\s]?nr|bg-nummer|"
    r"kundennummer|kunden-?nr|kd\.?-?nr|vorgangsnummer)\b\.?"
    r"|\ba\.\s?z\b\.?|\bg\.\s?z\b\.?"
    r"|\b(?:vorgang|vorgangs-?nr|fallnummer|akte|aktennummer|bescheid)\b\.?\s*(?:nr\.?\s*)?[:#]?\s*\d",
    re.IGNORECASE,
)
# 123/26, 4 F 123/25, 51.2-1234/2026, 12345BG0012345 (Bedarfsgemeinschaft)
_AZ_SHAPE = re.compile(
    r"\b\d[\d.\-]*\s?(?:[A-Z]{1,3}\s)?\d{1,6}/\d{2,4}\b|\b\d{5}\s?BG\s?\d{7}\b"
    # 51-12345-26: groups of digits around a long middle (an ISO date's middle has two)
    r"|\b\d{1,4}-\d{4,8}-\d{2,4}\b",
    re.IGNORECASE,
)
_STREET = re.compile(
    r"\b[A-ZÄÖÜ][\wäöüß\-]*(?:straße|strasse|str\.|gasse|weg|allee|platz|ring|damm|ufer|"
    r"pfad|chaussee|steig|markt)\s*\d{1,4}\s?[a-zA-Z]?\b"
    r"|\b(?:straße|strasse|str\.|gasse|weg|allee|platz|ring)\s+\d{1,4}\s?[a-zA-Z]?\b"
    r"|\b(?:[Aa]m|[Aa]n der|[Aa]uf dem|[Ii]m|[Ii]n der|[Zz]um|[Zz]ur)\s+"
    r"[A-ZÄÖÜ][\wäöüß\-]+\s+\d{1,4}\s?[a-zA-Z]?,"
)
# A postcode before a place name; not before the words that follow counts.
_POSTCODE = re.compile(
    r"(?<![\d.\-/])\d{5}\s+(?P<town>[A-ZÄÖÜ][a-zäöüß]{2,}(?:[\s\-][A-ZÄÖÜ]\w+)?)"
)
_NOT_TOWNS = frozenset(
    [
        "Euro",
        "Eur",
        "Fälle",
        "Fällen",
        "Stunden",
        "Minuten",
        "Tage",
        "Tagen",
        "Personen",
        "Menschen",
        "Familien",
        "Kinder",
        "Jugendliche",
        "Teilnehmende",
        "Plätze",
        "Einträge",
        "Anfragen",
    ]
)
_SALUTATION = re.compile(
    r"\b(?:herrn?|frau|hr\.|fr\.)\s+(?:dr\.\s*)?[A-ZÄÖÜ][\wäöüß\-]+", re.IGNORECASE
)
# Common given names in the families and agencies of a German Kreis. Only together with
# a capitalised word next to them ("Max Mustermann", "Mustermann-Max") do they count.
_FIRST_NAMES = frozenset(
    [
        "Ahmed",
        "Ali",
        "Aleksandra",
        "Alexander",
        "Alina",
        "Amelie",
        "Andreas",
        "Angelika",
        "Anna",
        "Anne",
        "Anton",
        "Ayse",
        "Ayşe",
        "Ben",
        "Bernd",
        "Birgit",
        "Carla",
        "Carolin",
        "Christian",
        "Christina",
        "Claudia",
        "Daniel",
        "David",
        "Deniz",
        "Dennis",
        "Dieter",
        "Dirk",
        "Elena",
        "Elias",
        "Elif",
        "Emil",
        "Emilia",
        "Emily",
        "Emir",
        "Emma",
        "Emre",
        "Erik",
        "Fatima",
        "Fatma",
        "Felix",
        "Finn",
        "Florian",
        "Frank",
        "Franziska",
        "Gabriele",
        "Hannah",
        "Hans",
        "Hasan",
        "Heike",
        "Helga",
        "Helmut",
        "Ibrahim",
        "Ida",
        "Ivan",
        "Jan",
        "Jana",
        "Jannik",
        "Jens",
        "Jonas",
        "Julia",
        "Julian",
        "Jürgen",
        "Karin",
        "Katharina",
        "Katrin",
        "Kevin",
        "Klaus",
        "Lara",
        "Laura",
        "Lea",
        "Leon",
        "Leonie",
        "Lina",
        "Lisa",
        "Louis",
        "Luca",
        "Lukas",
        "Luis",
        "Maja",
        "Marco",
        "Marcel",
        "Maria",
        "Marie",
        "Mario",
        "Markus",
        "Martin",
        "Matthias",
        "Max",
        "Maximilian",
        "Mehmet",
        "Melanie",
        "Mia",
        "Michael",
        "Michaela",
        "Milan",
        "Mohammed",
        "Mohammad",
        "Monika",
        "Murat",
        "Mustafa",
        "Natalia",
        "Nico",
        "Niklas",
        "Nina",
        "Noah",
        "Olga",
        "Oliver",
        "Omar",
        "Oskar",
        "Patrick",
        "Paul",
        "Peter",
        "Petra",
        "Philipp",
        "Piotr",
        "Sabine",
        "Sandra",
        "Sara",
        "Sarah",
        "Sebastian",
        "Selin",
        "Sergej",
        "Simon",
        "Sofia",
        "Sophie",
        "Stefan",
        "Stefanie",
        "Susanne",
        "Sven",
        "Thomas",
        "Tim",
        "Tobias",
        "Tom",
        "Ursula",
        "Uwe",
        "Valentina",
        "Werner",
        "Wolfgang",
        "Yusuf",
        "Zeynep",
    ]
)
_NAME_PAIR = re.compile(r"\b([A-ZÄÖÜ][a-zäöüßşçğı]+)[\s\-]+([A-ZÄÖÜ][a-zäöüßşçğı]+)\b")


@dataclass(frozen=True)
class Finding:
    kind: str  # German label (a msgid): what kind of personal data was found


# The kinds of personal data :func:`scan` finds, as the refusal names them: msgids,
# translated where they are shown.
KINDS = (
    N_("E-Mail-Adresse"),
    N_("IBAN"),
    N_("Telefonnummer"),
    N_("Geburtsdatum"),
    N_("Aktenzeichen"),
    N_("Anschrift"),
    N_("Name"),
)


class PersonalDataRefused(UserError):
    """Never contains the offending text."""

    show_usage = True

    def __init__(self, findings: list[Finding]) -> None:
        kinds = Joined(*(Msg(k) for k in sorted({f.kind for f in findings})), separator=", ")
        super().__init__(
            N_(
                "Die Eingabe sieht nach personenbezogenen Daten aus (%(kinds)s) und wurde "
                "nicht gespeichert. Im Raum stehen nur Pseudonyme, Kategorien und Verweise "
                "ohne Personenbezug. Bitte ohne diese Angaben erneut senden."
            ),
            kinds=kinds,
        )


def _is_old_date(match: re.Match[str], today: date) -> bool:
    """A complete date more than a year back: likely a birth date, not a deadline."""
    try:
        if match.group("sy"):
            year, month, day = (
                int(match.group("sy")),
                int(match.group("sm")),
                int(match.group("sd")),
            )
            if month > 12 >= day:  # 04/13/2027 can only be month first: still a date
                month, day = day, month
        elif match.group("ey"):
            year, month, day = (
                int(match.group("ey")),
                _ENGLISH_MONTHS[match.group("em").casefold()],
                int(match.group("ed")),
            )
        elif match.group("iy"):
            year, month, day = (
                int(match.group("iy")),
                int(match.group("im")),
                int(match.group("id")),
            )
        elif match.group("nm"):
            year, month, day = (
                int(match.group("ny")),
                _MONTHS[match.group("nm").casefold()],
                int(match.group("nd")),
            )
        else:
            year, month, day = int(match.group("y")), int(match.group("m")), int(match.group("d"))
            if year < 100:
                year += 2000 if year <= today.year % 100 + 1 else 1900
        found = date(year, month, day)
    except ValueError:
        return True  # not a real date but date-shaped: refuse rather than guess
    return (today - found).days > 366


def fold(text: str) -> str:
    """The text as the guard reads it: compatibility forms plain, spelled-out ``@`` and
    ``.`` as the characters."""
    text = unicodedata.normalize("NFKC", text)
    return _DOT.sub(".", _AT.sub("@", text))


def _numbers(text: str) -> str:
    """Dates and clock times blanked, then separators between digits removed."""
    blanked = _CLOCK.sub(" ", _SHORT_DATE.sub(" ", _DATE.sub(" ", text)))
    return _DIGIT_SEPARATORS.sub("", blanked)


def _names(text: str) -> bool:
    if _SALUTATION.search(text):
        return True
    return any(
        first in _FIRST_NAMES or second in _FIRST_NAMES
        for first, second in _NAME_PAIR.findall(text)
    )


def _without_slash_dates(text: str) -> str:
    def blank(match: re.Match[str]) -> str:
        first, second = int(match.group("a")), int(match.group("b"))
        calendar = 1 <= first <= 31 and 1 <= second <= 31 and min(first, second) <= 12
        return " " if calendar else match.group()

    return _SLASH_DATE.sub(blank, text)


def scan(text: str, today: date) -> list[Finding]:
    findings: list[Finding] = []
    text = fold(text)
    if _EMAIL.search(text):
        findings.append(Finding("E-Mail-Adresse"))
    numbers = _numbers(text)
    if any(sum(ch.isdigit() for ch in m.group()) >= 12 for m in _IBAN.finditer(numbers)):
        findings.append(Finding("IBAN"))
    undated = _without_slash_dates(text)  # for the shapes a slash date resembles
    phones = [m.group() for m in _PHONE.finditer(undated)]
    if (
        any(sum(ch.isdigit() for ch in p) >= 7 for p in phones)
        or _COLLAPSED_PHONE.search(numbers)
        or _PHONE_WORD.search(numbers)
    ):
        findings.append(Finding("Telefonnummer"))
    dates = list(_DATE.finditer(text))
    birth_word = _BIRTH_WORD.search(text)
    if (
        any(_is_old_date(m, today) for m in dates)
        or (dates and birth_word)
        or (birth_word and _SHORT_DATE.search(text))
    ):
        findings.append(Finding("Geburtsdatum"))
    if _AZ_WORD.search(text) or _AZ_SHAPE.search(undated):
        findings.append(Finding("Aktenzeichen"))
    if _STREET.search(text) or any(
        m.group("town").split()[0].split("-")[0] not in _NOT_TOWNS for m in _POSTCODE.finditer(text)
    ):
        findings.append(Finding("Anschrift"))
    if _names(text):
        findings.append(Finding("Name"))
    return findings


def guard(text: str, today: date) -> None:
    """Raise PersonalDataRefused if ``text`` looks like it carries personal data."""
    findings = scan(text, today)
    if findings:
        raise PersonalDataRefused(findings)
