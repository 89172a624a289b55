"""The personal-data guard: free text that looks like personal data is refused.

The bot is not the Akte. Topics, notes, references and decisions must not carry
e-mail addresses, phone numbers, IBANs, birth dates or file references
(Aktenzeichen). The guard errs on the side of refusing; its answer names the
kind of data found, never the text, so nothing of it reaches the room or the log.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date

from commands.errors import UserError

_EMAIL = re.compile(r"[\w.+%-]+@[\w-]+(?:\.[\w-]+)*\.[a-z]{2,}", re.IGNORECASE)
# +49 … / 0049 … / 0 6031 12345 / (06031) 123-45 / 0171/1234567: at least 7 digits.
_PHONE = re.compile(r"(?<![\w.])(?:\+|00|\(?0)[1-9][\d\s/()\-]{5,}\d")
_IBAN = re.compile(r"\b[A-Z]{2}\d{2}(?:\s?[A-Z0-9]){11,30}\b", re.IGNORECASE)
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
_DATE = re.compile(
    # a two-digit year only right after the dot: in "25.11. 14:30" the 14 is the hour
    r"(?<!\d)(?<!\d\.)(?P<d>\d{1,2})\.\s?(?P<m>\d{1,2})\.\s?(?P<y>\d{4}|(?<=\.)\d{2})(?![\d])"
    r"|(?<!\d)(?P<iy>\d{4})-(?P<im>\d{2})-(?P<id>\d{2})(?!\d)"
    # 14. Februar 1987, 3. Apr. 2011 (four-digit year only: "3. April 10 Uhr" is a time)
    r"|(?<!\d)(?<!\d\.)(?P<nd>\d{1,2})\.\s*(?P<nm>"
    + "|".join(sorted(_MONTHS, key=len, reverse=True))
    + r")\b\.?\s*(?P<ny>\d{4})(?!\d)",
    re.IGNORECASE,
)
_BIRTH_WORD = re.compile(r"\b(?:geb\.|geboren\b|geburtsdatum\b|geburtstag\b)", re.IGNORECASE)
_AZ_WORD = re.compile(
    r"\b(?:az|akz|gz|aktenzeichen|geschäftszeichen|gesch\.?-?z|bg[-\s]?nr|bg-nummer|"
    r"kundennummer|kunden-?nr|kd\.?-?nr|vorgangsnummer)\b\.?",
    re.IGNORECASE,
)
# 123/26, 4 F 123/25, 51.2-1234/2026, 12345BG0012345 (Bedarfsgemeinschaft)
_AZ_SHAPE = re.compile(
    r"\b\d[\d.\-]*\s?(?:[A-Z]{1,3}\s)?\d{1,6}/\d{2,4}\b|\b\d{5}\s?BG\s?\d{7}\b",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class Finding:
    kind: str  # German label: what kind of personal data was found


class PersonalDataRefused(UserError):
    """Never contains the offending text."""

    show_usage = True

    def __init__(self, findings: list[Finding]) -> None:
        kinds = ", ".join(sorted({f.kind for f in findings}))
        super().__init__(
            f"Die Eingabe sieht nach personenbezogenen Daten aus ({kinds}) und wurde nicht "
            "gespeichert. Im Raum stehen nur Pseudonyme, Kategorien und Verweise ohne "
            "Personenbezug. Bitte ohne diese Angaben erneut senden."
        )


def _is_old_date(match: re.Match[str], today: date) -> bool:
    """A complete date more than a year back: likely a birth date, not a deadline."""
    try:
        if match.group("iy"):
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


def scan(text: str, today: date) -> list[Finding]:
    findings: list[Finding] = []
    if _EMAIL.search(text):
        findings.append(Finding("E-Mail-Adresse"))
    if _IBAN.search(text) and any(
        sum(ch.isdigit() for ch in m.group()) >= 12 for m in _IBAN.finditer(text)
    ):
        findings.append(Finding("IBAN"))
    for match in _PHONE.finditer(text):
        if sum(ch.isdigit() for ch in match.group()) >= 7:
            findings.append(Finding("Telefonnummer"))
            break
    dates = list(_DATE.finditer(text))
    if any(_is_old_date(m, today) for m in dates) or (dates and _BIRTH_WORD.search(text)):
        findings.append(Finding("Geburtsdatum"))
    if _AZ_WORD.search(text) or _AZ_SHAPE.search(text):
        findings.append(Finding("Aktenzeichen"))
    return findings


def guard(text: str, today: date) -> None:
    """Raise PersonalDataRefused if ``text`` looks like it carries personal data."""
    findings = scan(text, today)
    if findings:
        raise PersonalDataRefused(findings)
