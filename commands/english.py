"""The English words a user may type, in every room, beside the German ones.

Commands (``case new`` for ``fall neu``), option names (``topic=`` for ``thema=``) and the
values of choices (``urgent`` for ``dringend``). German stays the word the bot itself
writes in German rooms; these only widen what it understands. A word here must not be
the German word of something else (the registry refuses a command word twice; the tests
check options and values).
"""

from __future__ import annotations

# The English name of every command whose German word is not English already; both
# work in every room (``status``, ``ping`` and ``agenda`` are the same in both).
ENGLISH_NAMES: dict[str, str] = {
    "abstimmen": "vote",
    "agenda bestätigen": "agenda confirm",
    "agenda senden": "agenda send",
    "anfrage": "request",
    "anfragen": "requests",
    "anwesend": "present",
    "aufgabe": "task",
    "beschluss": "decision",
    "einplanen": "schedule",
    "einwilligung": "consent",
    "einwilligung zeigen": "consent show",
    "entschuldigt": "excused",
    "erledigt": "close",
    "fall neu": "case new",
    "identität bestätigen": "identity confirm",
    "kalender": "calendar",
    "lotse": "navigator",
    "protokoll": "minutes",
    "protokoll bestätigen": "minutes confirm",
    "protokoll export": "minutes export",
    "reihe neu": "series new",
    "rollen": "roles",
    "schutzauftrag": "protection",
    "schutzauftrag beenden": "protection end",
    "schutzauftrag bestätigen": "protection confirm",
    "sitzung ende": "session end",
    "sitzung start": "session start",
    "termin absagen": "meeting cancel",
    "termin neu": "meeting new",
    "termin verschieben": "meeting move",
    "termine": "meetings",
    "umfrage": "poll",
    "umfrage schließen": "poll close",
    "vertagen": "postpone",
    "widerruf": "revoke",
    "wiedervorlage": "review",
    "wiedervorlage erledigt": "review done",
    "übersicht": "overview",
}


# Option names: ``topic=Familie`` means ``thema=Familie``. form, institution and status
# are the same in both languages.
ENGLISH_OPTIONS: dict[str, str] = {
    "from": "ab",
    "to": "an",
    "entrusted": "anvertraut",
    "until": "bis",
    "date": "datum",
    "doc": "dok",
    "urgency": "dringlichkeit",
    "holidays": "feiertage",
    "fingerprint": "fingerabdruck",
    "reason": "grund",
    "minutes": "minuten",
    "places": "plätze",
    "rule": "regel",
    "page": "seite",
    "participants": "teilnehmer",
    "meeting": "termin",
    "topic": "thema",
    "by": "von",
    "time": "zeit",
    "purpose": "zweck",
}

# Values of choices, by their German value.
ENGLISH_VALUES: dict[str, str] = {
    "regular": "regulär",
    "urgent": "dringend",
    "written": "schriftlich",
    "electronic": "elektronisch",
    "parents": "sorgeberechtigte",
    "person_concerned": "betroffene_person",
    "confiding_person": "anvertrauende_person",
    "waiting": "wartet",
    "ready": "bereit",
    "skip": "auslassen",
    "move": "verschieben",
    "yes": "ja",
    "no": "nein",
}


def option_name(key: str) -> str:
    """The German option name for ``key`` (already folded); unknown keys stay as they are."""
    return ENGLISH_OPTIONS.get(key, key)


def value_word(text: str) -> str:
    """The German value for an English choice word; anything else stays as it is."""
    return ENGLISH_VALUES.get(text.casefold(), text)
