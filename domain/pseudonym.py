"""Case pseudonyms: random, readable, with a check character that catches typos.

Format ``FK-XXXX-XC``: five random (or event-derived) characters and one check character from an
alphabet of 31 symbols without look-alikes (no 0/O, 1/I/L). 31 is prime, so the
weighted check ``Σ (i+1)·v_i mod 31`` catches every single wrong character and
every swap of two characters: a mistyped pseudonym never names another case.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from typing import Self

from domain.errors import ArgumentError
from domain.text import N_

ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"
RANDOM_CHARS = 5
_VALUE = {c: i for i, c in enumerate(ALPHABET)}
_SHAPE = re.compile(r"(?:FK)?-?([0-9A-Z]{4})-?([0-9A-Z]{2})")


def check_char(body: str) -> str:
    total = sum((i + 1) * _VALUE[c] for i, c in enumerate(body))
    return ALPHABET[total % len(ALPHABET)]


def _format(body: str) -> str:
    full = body + check_char(body)
    return f"FK-{full[:4]}-{full[4:]}"


def new_pseudonym(seed: str | None = None) -> str:
    """A fresh pseudonym: random, or — with ``seed`` (the command's event id and an
    attempt number) — derived from it, so a command run again after a restore from
    backup hands out the same pseudonym it handed out the first time."""
    if seed is None:
        return _format("".join(secrets.choice(ALPHABET) for _ in range(RANDOM_CHARS)))
    number = int.from_bytes(hashlib.sha256(seed.encode()).digest()[:8], "big")
    body = ""
    for _ in range(RANDOM_CHARS):
        number, index = divmod(number, len(ALPHABET))
        body += ALPHABET[index]
    return _format(body)


class PseudonymError(ArgumentError):
    """The text is not a valid pseudonym; never echoes it."""


class Pseudonym(str):
    """A syntactically valid case pseudonym (upper-case, check character verified).

    Used as a command argument type: ``fk-7qx2-mb``, ``FK7QX2MB`` and ``7QX2-MB`` are
    accepted; a wrong check character is answered with a hint, never a guess.
    """

    type_name = "Fall"

    @classmethod
    def convert(cls, text: str) -> Self:
        match = _SHAPE.fullmatch(text.strip().upper())
        if match is None:
            raise PseudonymError(
                N_("Unbekannter Fall: ein Fall-Pseudonym sieht so aus: FK-7QX2-M6.")
            )
        body, tail = match.group(1) + match.group(2)[0], match.group(2)[1]
        if any(c not in _VALUE for c in body + tail):
            raise PseudonymError(
                N_(
                    "Unbekannter Fall: Pseudonyme enthalten weder 0, 1, I, L noch O – "
                    "vermutlich ein Tippfehler."
                )
            )
        if check_char(body) != tail:
            raise PseudonymError(
                N_(
                    "Unbekannter Fall: in diesem Pseudonym steckt ein Tippfehler – an "
                    "irgendeiner Stelle, nicht unbedingt am Ende (das Prüfzeichen am Schluss "
                    "passt nicht zu den Zeichen davor). Bitte das ganze Pseudonym genau aus der "
                    "Akte abschreiben."
                )
            )
        return cls(_format(body))
