"""Which words give away a text that was not translated (issue 15).

A reply in an English room must not contain the product's German terms, and a German
reply not the English ones. Names that are the same in both languages (Jugendamt,
Jobcenter, Agenda, Status, Institution), pseudonyms and what the user typed are not in
the lists; strip the user's own text before checking.
"""

from __future__ import annotations

import re
from typing import Final


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


GERMAN_TERMS: Final = _words(
    """
    erinnerung abgesagt verschoben angelegt fassung übersicht einplanung kalenderdatei
    feiertag entwurf stimme zurückgemeldet umfragen
    tagesordnung einwilligung einwilligungen sitzung sitzungen termin termine fall fälle
    falls beschluss beschlüsse lotse lotsin wiedervorlage wiedervorlagen protokoll
    anfrage anfragen widerruf schutzauftrag umfrage aufgabe aufgaben reihe fachkraft
    fachkräfte moderation anwesend entschuldigt vertagt erledigt eingeplant bestätigt
    und oder nicht bitte keine kein keinen für mit der das ist gibt noch uhr bis
    heute morgen gestern woche wochen tag tage montag dienstag mittwoch donnerstag
    freitag samstag sonntag di mi fr sa ungültige ungültig unbekannter
    unbekannte fehlt erlaubt aufruf mehr dazu gekürzt seite
    beschlussfähig beschlussfähigkeit anwesenheit vertreten angefragt teilnehmende
    eröffnet geschlossen frist lotsen vertagen
    übermorgen vorgestern tagen uhrzeit zeitumstellung mehrdeutig monat
    fallführend fallführende abgedeckt erfasst widerrufen unbefristet spätestens
    teilnehmende eröffnet beendet gefiltert einzelheiten zugeordnet
    """
)

ENGLISH_TERMS: Final = _words(
    """
    reminder cancelled overview scheduled apologies quorate
    the and not please meeting meetings session sessions consent consents case cases
    decision decisions navigator review reviews minutes request requests revoked
    revocation poll task tasks series caseworker moderators present excused postponed
    unknown invalid missing allowed usage page today tomorrow yesterday week weeks
    monday tuesday wednesday thursday friday saturday sunday mon tue wed thu fri sat sun
    attendance deadline postpone confirmed
    ambiguous clocks
    covered recorded expiry mandate ready waiting
    """
)

_WORD = re.compile(r"[^\W\d_]+", re.UNICODE)
_CODE = re.compile(r"`[^`]*`|<code>.*?</code>", re.S)


def foreign_words(text: str, language: str, *, allowed: frozenset[str] = frozenset()) -> set[str]:
    """The other language's terms in ``text`` (an English room's reply checked for German
    terms and the other way round), except ``allowed`` (lower case)."""
    terms = GERMAN_TERMS if language == "en" else ENGLISH_TERMS
    words = {w.casefold() for w in _WORD.findall(text)}
    return (words & terms) - allowed


def without_code(text: str) -> str:
    """``text`` without inline code: commands and values the user types are shown as
    code and are checked separately (they must be the room's language's words)."""
    return _CODE.sub(" ", text)
