"""The English words a user may type, in every room, beside the German ones.

Commands (``case new`` for ``fall neu``), option names (``topic=`` for ``thema=``) and the
values of choices (``urgent`` for ``dringend``). German stays the word the bot itself
writes in German rooms; these only widen what it understands. A word here must not be
the German word of something else (the registry refuses a command word twice; the tests
check options and values).
"""

from __future__ import annotations

# The English name of every command whose German word is not English already; both
# work in every room (``status``, ``ping`` and ``agenda`` are the same in both). Rooms
# that do not speak German are shown these names (usage lines, help, hints).
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
    "hilfe": "help",
    "identität bestätigen": "identity confirm",
    "kalender": "calendar",
    "lotse": "navigator",
    "protokoll": "minutes",
    "protokoll bestätigen": "minutes confirm",
    "protokoll export": "minutes export",
    "reihe neu": "series new",
    "rollen": "roles",
    "schutzauftrag": "protection",
    "sprache": "language",
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
    "wer": "whoami",
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


# How a parameter is shown where the room does not speak German: the placeholder of a
# positional word (``<date>`` for ``<datum>``) and the label of an option's value
# (``until=<date>``). Option names themselves come from ENGLISH_OPTIONS, choice words
# from ENGLISH_VALUES; a word missing here is shown as it is.
ENGLISH_LABELS: dict[str, str] = {
    "@nutzer": "@user",
    "@nutzer:server": "@user:server",
    "anfang": "start",
    "anfrage": "request",
    "auswahl": "choice",
    "befehl": "command",
    "datum": "date",
    "fall": "case",
    "grund=<text>": "reason=<text>",
    "institutionen": "institutions",
    "kategorie": "category",
    "nr": "number",
    "nutzer": "user",
    "regel": "rule",
    "sprache": "language",
    "termin": "meeting",
    "text [bis <datum>]": "text [until <date>]",
    "umfrage": "poll",
    "verweis": "reference",
    "wann": "when",
    "zahl": "number",
    "zweck": "purpose",
}

_OPTIONS_IN_ENGLISH = {german: english for english, german in ENGLISH_OPTIONS.items()}
_VALUES_IN_ENGLISH = {german: english for english, german in ENGLISH_VALUES.items()}


def english_name(command: str) -> str:
    """The English name of the command ``command`` (its German name)."""
    return ENGLISH_NAMES.get(command, command)


def english_option(name: str) -> str:
    """The English name of the option ``name`` (``topic`` for ``thema``)."""
    return _OPTIONS_IN_ENGLISH.get(name, name)


def english_value(value: str) -> str:
    """The English word of a choice value (``urgent`` for ``dringend``)."""
    return _VALUES_IN_ENGLISH.get(value, value)


def english_label(label: str) -> str:
    """A parameter's placeholder in English: ``date`` for ``datum``, ``regular|urgent``
    for ``regulär|dringend``; words without an English form stay as they are."""
    folded = label.casefold()
    if folded in ENGLISH_LABELS:
        return ENGLISH_LABELS[folded]
    if folded in _OPTIONS_IN_ENGLISH:
        return _OPTIONS_IN_ENGLISH[folded]
    if "|" in label:
        return "|".join(english_value(v) for v in label.split("|"))
    return label


def option_name(key: str) -> str:
    """The German option name for ``key`` (already folded); unknown keys stay as they are."""
    return ENGLISH_OPTIONS.get(key, key)


def value_word(text: str) -> str:
    """The German value for an English choice word; anything else stays as it is."""
    return ENGLISH_VALUES.get(text.casefold(), text)
