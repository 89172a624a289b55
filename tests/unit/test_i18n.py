"""Message catalogs (issue 15): complete in German and English, real plurals, a
language per room that commands and timed messages follow."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path

import pytest
from babel.messages.catalog import Catalog, Message
from babel.messages.extract import DEFAULT_KEYWORDS, extract_from_dir
from babel.messages.pofile import read_po

from bot.clock import FakeClock
from bot.testing.harness import JA1, JC, MOD, Room, utc
from commands.core import build_registry
from commands.english import ENGLISH_NAMES, ENGLISH_OPTIONS, ENGLISH_VALUES
from commands.i18n import (
    DOMAIN,
    EXTRACT_KEYWORDS,
    LOCALE_DIR,
    SOURCE_FOLDERS,
    SOURCE_LANGUAGE,
    languages,
    texts,
)
from storage.uow import Database

ROOT = Path(__file__).resolve().parents[2]
PLACEHOLDER = re.compile(r"%\((\w+)\)[sd]|\{(\w+)\}")


def _catalog(path: Path, language: str | None = None) -> Catalog:
    with path.open("rb") as source:
        return read_po(source, locale=language, domain=DOMAIN)


def _forms(value: str | tuple[str, ...] | list[str] | None) -> tuple[str, ...]:
    if value is None:
        return ("",)
    return (value,) if isinstance(value, str) else tuple(value)


def _placeholders(text: str) -> set[str]:
    return {a or b for a, b in PLACEHOLDER.findall(text)}


def _msgids(messages: list[Message] | Catalog) -> set[str]:
    return {m.id if isinstance(m.id, str) else m.id[0] for m in messages if m.id}


TEMPLATE = _catalog(LOCALE_DIR / f"{DOMAIN}.pot")


# -- the catalogs --------------------------------------------------------------------


def test_the_template_holds_every_text_the_code_marks() -> None:
    """A text added to the code (gettext, ngettext, N_) without re-extracting fails here:
    run ``python -m commands.i18n`` (docs/OPERATIONS.md)."""
    marked = set()
    keywords = {**DEFAULT_KEYWORDS, **EXTRACT_KEYWORDS}
    for folder in SOURCE_FOLDERS:
        for _file, _line, message, _comments, _context in extract_from_dir(
            ROOT / folder, keywords=keywords
        ):
            marked.add(message if isinstance(message, str) else message[0])
    assert marked, "nothing extracted"
    assert marked == _msgids(TEMPLATE), (
        sorted(marked - _msgids(TEMPLATE)),
        sorted(_msgids(TEMPLATE) - marked),
    )


@pytest.mark.parametrize("language", sorted({"de", "en", *languages()}))
def test_every_msgid_has_a_translation_with_the_same_placeholders(language: str) -> None:
    assert language in languages()
    catalog = _catalog(LOCALE_DIR / language / "LC_MESSAGES" / f"{DOMAIN}.po", language)
    problems = []
    for template in TEMPLATE:
        if not template.id:
            continue
        message = catalog.get(template.id)
        if message is None or message.fuzzy:
            problems.append(("fehlt oder unsicher (fuzzy)", template.id))
            continue
        wanted = set().union(*(_placeholders(f) for f in _forms(template.id)))
        if template.pluralizable and len(_forms(message.string)) != catalog.num_plurals:
            # as many forms as the language's Plural-Forms header says (Polish: 3)
            problems.append((f"{catalog.num_plurals} Pluralformen erwartet", template.id))
        for form in _forms(message.string):
            if not form.strip():
                problems.append(("leer", template.id))
            elif _placeholders(form) != wanted:
                problems.append((f"Platzhalter {sorted(_placeholders(form))}", template.id))
        if language == SOURCE_LANGUAGE and _forms(message.string) != _forms(template.id):
            problems.append(("weicht vom deutschen Quelltext ab", template.id))
    assert problems == []


# -- plurals ---------------------------------------------------------------------------

PLURALS = {
    ("de", 0): "Tagesordnung (0 Fälle): ",
    ("de", 1): "Tagesordnung (1 Fall): ",
    ("de", 2): "Tagesordnung (2 Fälle): ",
    ("de", 5): "Tagesordnung (5 Fälle): ",
    ("en", 0): "Agenda (0 cases): ",
    ("en", 1): "Agenda (1 case): ",
    ("en", 2): "Agenda (2 cases): ",
    ("en", 5): "Agenda (5 cases): ",
}


@pytest.mark.parametrize(("language", "n"), sorted(PLURALS))
def test_plural_forms(language: str, n: int) -> None:
    t = texts(language)
    assert t.language == language
    agenda = t.ngettext("Tagesordnung (%(count)d Fall): ", "Tagesordnung (%(count)d Fälle): ", n)
    assert agenda == PLURALS[language, n]
    present = t.ngettext(
        "✋ %(sender)s (%(institution)s) ist anwesend. Vertreten: %(count)d Institution – "
        "%(quorum)s.",
        "✋ %(sender)s (%(institution)s) ist anwesend. Vertreten: %(count)d Institutionen "
        "– %(quorum)s.",
        n,
        sender="@a:fk.test",
        institution="Jugendamt",
        quorum="q",
    )
    word = {"de": ("Institution", "Institutionen"), "en": ("institution", "institutions")}
    assert present.endswith(f" {n} {word[language][n != 1]} – q."), present
    assert "(en)" not in present
    assert "/" not in agenda


# -- a language per room ----------------------------------------------------------------


@pytest.fixture
def clock() -> FakeClock:
    # Monday 23.11.2026, 10:00 in Berlin.
    return FakeClock(datetime(2026, 11, 23, 9, 0, tzinfo=UTC))


@pytest.fixture
def room(sqlite_database: Database, clock: FakeClock) -> Room:
    return Room(sqlite_database, clock)


def test_only_the_moderation_switches_the_language(room: Room) -> None:
    refused = room.say(JA1, "sprache en")
    assert refused.startswith("⚠️")
    assert "moderation" in refused
    assert "sprache" not in room.actions()
    assert room.say(JA1, "ping") == "pong 🏓"
    assert room.say(JA1, "hilfe").startswith("Befehle des Fallkonferenz-Bots")


def test_an_unknown_language_is_refused(room: Room) -> None:
    reply = room.mod("sprache xx")
    assert reply.startswith("⚠️")
    assert "de, en" in reply
    assert "sprache" not in room.actions()


def test_sprache_en_switches_this_room_only_and_is_audited(room: Room) -> None:
    other = room.other_room("!zweiter:fk.test")
    assert room.mod("sprache en") == "🌐 This room now speaks English."
    [entry] = [e for e in room.audit() if e.action == "sprache"]
    assert (entry.actor, entry.pseudonym, entry.detail) == (
        MOD,
        None,
        {"sprache": "en", "vorher": "de"},
    )

    english = room.say(JA1, "hilfe")
    assert english.startswith("Commands of the case conference bot"), english
    assert "Shows all commands or the help for one command." in english
    assert "Details on a command: `!fk help <command>`" in english
    assert "Befehle des" not in english
    detail = room.say(JA1, "help ping")
    assert "Checks that the bot is there and answers." in detail
    assert "Usage: " in detail
    assert "Aufruf" not in detail

    german = other.say(JA1, "hilfe")
    assert german.startswith("Befehle des Fallkonferenz-Bots"), german
    assert "Details zu einem Befehl: `!fk hilfe <befehl>`" in german
    assert "Commands of" not in german

    # ``language`` is the English name; both rooms answer in their own language.
    assert other.mod("language de") == "🌐 Dieser Raum spricht jetzt Deutsch."
    assert room.mod("language de") == "🌐 Dieser Raum spricht jetzt Deutsch."
    assert room.say(JA1, "hilfe").startswith("Befehle des Fallkonferenz-Bots")


def test_a_switch_counts_for_the_next_command_in_the_same_batch_and_after(room: Room) -> None:
    """The engine keeps each room's language between batches; a switch is seen at once."""
    assert room.say(JA1, "ping") == "pong 🏓"  # the room's language is now remembered
    switched, english = room.say_all(MOD, ["sprache en", "hilfe"])
    assert switched == "🌐 This room now speaks English."
    assert english.startswith("Commands of the case conference bot"), english
    assert room.say(JA1, "hilfe").startswith("Commands of the case conference bot")
    back, german = room.say_all(MOD, ["language de", "hilfe"])
    assert back == "🌐 Dieser Raum spricht jetzt Deutsch."
    assert german.startswith("Befehle des Fallkonferenz-Bots"), german
    assert room.say(JA1, "hilfe").startswith("Befehle des Fallkonferenz-Bots")


def _reminders(room: Room) -> list[str]:
    return [c["body"] for c in room.run() if c["body"].startswith("⏰")]


def test_the_reminder_speaks_the_rooms_language(room: Room) -> None:
    other = room.other_room("!zweiter:fk.test")
    room.mod("sprache en")
    english = room.adhoc("28.12.2026 10:00")
    room.ready_case()
    german = other.adhoc("28.12.2026 11:00")
    other.ready_case()
    other.ready_case()

    room.clock.set(utc("21.12.2026", "10:00"))  # a week before both sessions
    bodies = _reminders(room)
    [en] = [b for b in bodies if f"#{english}" in b]
    [de] = [b for b in bodies if f"#{german}" in b]
    assert en.startswith("⏰ Reminder: "), en
    # "meeting", as the English commands say it (`meetings`, `meeting cancel`)
    assert f"Case conference (meeting #{english}) on Mon 28 Dec 2026, 10:00 – in 6 days." in en, (
        en
    )  # an hour late: the true distance
    assert "(late – due since 21 Dec 2026, 10:00)" in en, en
    assert f"1 case on the agenda (!fk agenda {english})." in en, en
    assert "Institutions taking part: " in en
    text = en.replace("Fallkonferenz", "")  # the session's name is data, not a text
    for word in ("Erinnerung", "Termin", "Tagesordnung", "Tage", "Fall", "Beteiligte", "Uhr"):
        assert word not in text, (word, en)
    assert de.startswith("⏰ Erinnerung: ")
    assert f"(Termin #{german}) am Mo 28.12.2026 11:00 – in 1 Woche." in de, de
    assert "verspätet" not in de
    assert f"2 Fälle auf der Tagesordnung (!fk agenda {german})." in de, de


def test_every_command_has_an_english_name_that_works_in_every_room(room: Room) -> None:
    registry = build_registry()
    same_in_english = {"agenda", "ping", "status", "sprache", "hilfe", "wer"}
    named = {spec.name for spec in registry if spec.name in ENGLISH_NAMES}
    assert named | same_in_english == {spec.name for spec in registry}
    for german, english in ENGLISH_NAMES.items():
        spec = registry.lookup(english)
        assert spec is not None, english
        assert spec.name == german, english
    # the same command under both names, in a German room and in an English one
    assert room.say(JA1, "case new").startswith("📁 ")  # German room, English word
    pseudonym = room.new_case()
    assert room.say(JA1, f"consent show {pseudonym}") == room.say(
        JA1, f"einwilligung zeigen {pseudonym}"
    )
    room.mod("sprache en")
    assert room.say(JA1, "fall neu").startswith("📁 ")  # English room, German words
    assert room.say(JA1, f"revoke {pseudonym}") == room.say(JA1, f"widerruf {pseudonym}")


def test_english_option_names_and_choice_words_mean_the_german_ones(room: Room) -> None:
    registry = build_registry()
    german_options = {p.name for spec in registry for p in spec.params if p.kind == "option"}
    assert not set(ENGLISH_OPTIONS) & german_options  # never another option's German name
    assert set(ENGLISH_OPTIONS.values()) <= german_options
    pseudonym = room.new_case()
    consent = room.say(
        JA1,
        f"consent {pseudonym} by=parents to=jugendamt,jobcenter form=written "
        "date=20.11.2026 doc=EW-17",
    )
    assert consent.startswith(f"📝 Einwilligung v1 für {pseudonym} erfasst"), consent
    request = room.say(
        JC, f"request {pseudonym} topic=Ausbildung urgency=urgent participants=jugendamt"
    )
    assert "bereit für die Planung" in request, request
    [row] = room.requests(pseudonym)
    assert (row.urgency, row.participants) == ("dringend", ["jobcenter", "jugendamt"])
    refused = room.say(JC, f"request {pseudonym} topic=Ausbildung thema=Familie")
    assert refused.startswith("⚠️"), refused  # the same option twice, in two languages
    assert "thema=" in refused
    assert room.say(JA1, "requests status=waiting page=1") == room.say(
        JA1, "anfragen status=wartet seite=1"
    )
    meeting = room.say(MOD, "meeting new 27.11.2026 10:00 places=1 minutes=30")
    assert meeting.startswith("📅 Termin angelegt"), meeting
    for english, german in ENGLISH_VALUES.items():
        assert english != german
