"""The command line speaks the operator's locale, or German (issue 15).

``fkbot`` reads LC_ALL, LC_MESSAGES, LANG and LANGUAGE as gettext does; a language
without a catalog, "C" and "POSIX" give German. The same operator session — a broken
configuration, ``check`` against an unreachable homeserver, ``db upgrade``, ``rooms``,
``purge``, ``quarantine``, ``audit`` and ``export`` with their refusals — is run under
an English and a German locale, and no line gives away the other language. The demo's
English script is checked without a homeserver: every English command names the same
command, with the same options, as its German counterpart.
"""

from __future__ import annotations

import contextlib
import re
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from enum import Enum
from pathlib import Path

import pytest

from bot.cli import main
from bot.clock import FakeClock
from bot.config import ConfigError, load_config
from bot.demo import (
    ALL_STEPS,
    DEMO_RRULE,
    DEMO_RULE,
    LANGUAGE_STEP,
    OPENING_STEP,
    TOPICS,
    Step,
    day_text,
    typed_values,
    typo_of,
)
from bot.testing.harness import JA1, JA2, JC, MOD, ORG, Room
from bot.testing.language import foreign_words, without_code
from commands.core import build_registry
from commands.dispatch import Dispatcher
from commands.english import ENGLISH_NAMES, ENGLISH_OPTIONS, ENGLISH_VALUES
from commands.framework import bind_arguments, tokenize
from commands.i18n import locale_language, texts
from domain.dates import local_date, parse_date
from domain.errors import UnknownCommand, UserError
from domain.pseudonym import new_pseudonym
from domain.series import parse_rule
from storage.models import QuarantinedEvent
from storage.uow import Database

pytestmark = pytest.mark.usefixtures("isolated")

ENGLISH = {"LANG": "en_GB.UTF-8"}
UNKNOWN_CASE = new_pseudonym("nirgends")  # well-formed, but no such case
GERMAN = {"LANG": "de_DE.UTF-8"}


@pytest.mark.parametrize(
    ("environ", "language"),
    [
        ({}, "de"),
        ({"LANG": "en_GB.UTF-8"}, "en"),
        ({"LANG": "en_US"}, "en"),
        ({"LANG": "de_DE"}, "de"),
        ({"LANG": "de_AT.UTF-8@euro"}, "de"),
        ({"LANG": "C"}, "de"),
        ({"LANG": "C.UTF-8"}, "de"),
        ({"LANG": "POSIX"}, "de"),
        ({"LANG": "fr_FR.UTF-8"}, "de"),  # no French catalog
        ({"LC_ALL": "en_GB.UTF-8", "LANG": "de_DE.UTF-8"}, "en"),
        ({"LC_MESSAGES": "en_IE.UTF-8", "LANG": "de_DE.UTF-8"}, "en"),
        ({"LC_ALL": "de_DE.UTF-8", "LC_MESSAGES": "en_GB.UTF-8"}, "de"),
        ({"LC_ALL": "", "LANG": "en_GB.UTF-8"}, "en"),
        ({"LANGUAGE": "fr:en", "LANG": "fr_FR.UTF-8"}, "en"),  # the first with a catalog
        ({"LANGUAGE": "en", "LANG": "de_DE.UTF-8"}, "en"),
        ({"LANGUAGE": "en", "LC_ALL": "C"}, "de"),  # gettext ignores LANGUAGE under C
    ],
)
def test_the_locale_names_the_language(environ: dict[str, str], language: str) -> None:
    assert locale_language(environ) == language


def _locale(monkeypatch: pytest.MonkeyPatch, environ: dict[str, str]) -> None:
    for name in ("LC_ALL", "LC_MESSAGES", "LANGUAGE", "LANG"):
        monkeypatch.delenv(name, raising=False)
    for name, value in environ.items():
        monkeypatch.setenv(name, value)


def _clean(text: str) -> str:
    """Without code spans, paths, ids, configuration keys (``schedule.poll_times``) and
    the operating system's own error texts (the test's directory names and a resolver's
    "Name or service not known" are no language of ours)."""
    text = re.sub(r"\[Errno [^\]]*\][^\n]*", " ", without_code(text))
    text = re.sub(r"^\s+- [^:\s]+:", " ", text, flags=re.M)
    return re.sub(r"(/\S+|![\w.:-]+|@[\w.:-]+|FK-\w{4}-\w{2})", " ", text)


def _broken_config(tmp_path: Path) -> Path:
    path = tmp_path / "etc" / "broken.toml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(
        "[matrix]\n"
        'homeserver = "matrix.fk.test"\n'
        'user_id = "@fallbot:fk.test"\n'
        'allowed_homeservers = ["fk.test"]\n'
        "colour = 3\n"
        "\n[bot]\n"
        'language = "xx"\n'
        "\n[schedule]\n"
        'poll_times = ["09:00", "09:00"]\n'
        "horizon_days = 3\n"
        "\n[agency.institutions.jugendamt]\n"
        'name = "Jugendamt"\n',
        encoding="utf-8",
    )
    return path


def _config_naming_unknown_rooms(tmp_path: Path) -> Path:
    """Valid sections, but a room that is no room id and institutions nobody declared
    (checked across sections, after each section is valid)."""
    path = tmp_path / "etc" / "rooms.toml"
    path.write_text(
        "[matrix]\n"
        'homeserver = "https://matrix.fk.test"\n'
        'user_id = "@fallbot:fk.test"\n'
        'allowed_homeservers = ["fk.test"]\n'
        "\n[agency.institutions.jugendamt]\n"
        'name = "Jugendamt"\n'
        '\n[rooms."!raum:fk.test"]\n'
        'institutions = ["jugendamt", "polizei", "schule"]\n',
        encoding="utf-8",
    )
    return path


def _operator_session(
    tmp_path: Path,
    config: Path,
    database: Database,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> str:
    """Everything the operator reads in one session, refusals included."""
    out: list[str] = []

    def run(*argv: str) -> None:
        with contextlib.suppress(SystemExit):
            main(list(argv))
        captured = capsys.readouterr()
        out.append(captured.out + captured.err)

    run("check", "--config", str(_broken_config(tmp_path)))
    run("check", "--config", str(_config_naming_unknown_rooms(tmp_path)))
    run("check", "--config", str(tmp_path / "etc" / "missing.toml"))
    monkeypatch.setenv("FKBOT_MATRIX__PICKLE_KEY", "zu-kurz")
    run("check", "--config", str(config))
    monkeypatch.setenv("FKBOT_MATRIX__PICKLE_KEY", "Xk3-9fQz_LmN2pR8sT4vW6yA1bC5dE7gH0jK")
    run("check", "--config", str(config))  # the homeserver of cli_config is unreachable
    run("db", "upgrade", "--config", str(config))
    run("rooms", "--config", str(config))
    run("rooms", "assign", UNKNOWN_CASE, "!raum:fk.test", "--config", str(config))
    run("rooms", "move", "--from", "!a:fk.test", "--to", "!a:fk.test", "--config", str(config))
    run("rooms", "move", "--from", "!a:fk.test", "--to", "!b:fk.test", "--config", str(config))
    run("purge", "--dry-run", "--config", str(config))
    run("quarantine", "--config", str(config))
    with database.uow() as uow:
        for event_id in ("$eins", "$zwei"):
            uow.quarantine.add(
                QuarantinedEvent(
                    event_id=event_id,
                    room_id="!raum:fk.test",
                    event_type="m.room.message",
                    sender="@mallory:fk.test",
                    reason="content.body: string_type",
                    quarantined_at=datetime(2026, 12, 3, 9, 0, tzinfo=UTC),
                )
            )
        uow.commit()
    run("quarantine", "--config", str(config))
    run("quarantine", "--limit", "1", "--config", str(config))
    run("audit", "verify", "--config", str(config))
    run("audit", "export", "--out", str(config), "--config", str(config))
    run("audit", "export", "--out", str(tmp_path / "audit.jsonl"), "--config", str(config))
    run("export", "protokoll", "--termin", "7", "--config", str(config))
    run("identity", "reset", "--config", str(config))
    return "\n".join(out)


def test_the_operator_reads_english_under_an_english_locale(
    tmp_path: Path,
    config: Path,
    cli_database: Database,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    _locale(monkeypatch, ENGLISH)
    text = _operator_session(tmp_path, config, cli_database, monkeypatch, capsys)
    for expected in (
        "problems in the configuration:",
        "must start with http:// or https://",
        "unknown key",
        "unknown language; available: de, en",
        "distinct times in the format HH:MM",
        "is too small",
        "unknown institutions polizei, schule",
        "Configuration file",
        "Pickle key too short",
        "not reachable",
        "2 problems found.",
        "Database at revision",
        "The bot does not know any room yet.",
        f"There is no case {UNKNOWN_CASE}.",
        "Source and target are the same room.",
        "No cases whose retention period is over.",
        "No events in quarantine.",
        "2 events in quarantine",
        "The newest 1 of 2 events",
        "The room !a:fk.test holds no data.",
        "Audit chain intact: 0 entries",
        "1 audit entry exported",
        "already exists; it is not overwritten.",
        "There are no minutes for meeting #7",
        "Are you sure? Then run it with --yes.",
    ):
        assert expected in text, expected
    assert foreign_words(_clean(text), "en") == set(), text


def test_the_same_session_reads_german_under_a_german_locale(
    tmp_path: Path,
    config: Path,
    cli_database: Database,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    _locale(monkeypatch, GERMAN)
    text = _operator_session(tmp_path, config, cli_database, monkeypatch, capsys)
    for expected in (
        "Fehler in der Konfiguration:",
        "muss mit http:// oder https:// beginnen",
        "unbekannte Institutionen polizei, schule",
        "2 Probleme gefunden.",
        "Der Bot kennt noch keinen Raum.",
        f"Einen Fall {UNKNOWN_CASE} gibt es nicht.",
        "2 Ereignisse in Quarantäne",
        "Audit-Kette in Ordnung: 0 Einträge",
        "1 Audit-Eintrag exportiert",
        "Wirklich? Dann mit --yes aufrufen.",
    ):
        assert expected in text, expected
    # pydantic's "Input should be …" never appears: every problem above has a text of ours.
    assert foreign_words(_clean(text), "de") == set(), text


def test_configuration_errors_stay_german_in_str_for_the_logs() -> None:
    error = ConfigError("Konfigurationsdatei %(path)s nicht gefunden.", path="/etc/x.toml")
    assert str(error) == "Konfigurationsdatei /etc/x.toml nicht gefunden."
    assert error.render(texts("en")) == "Configuration file /etc/x.toml not found."
    with pytest.raises(ConfigError) as info:
        load_config(Path("/nonexistent/fkbot.toml"))
    assert "nicht gefunden" in str(info.value)


def test_the_help_follows_the_locale(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    _locale(monkeypatch, ENGLISH)
    with pytest.raises(SystemExit):
        main(["--help"])
    english = capsys.readouterr().out
    assert "check the configuration and the homeserver" in english
    _locale(monkeypatch, {"LANG": "C.UTF-8"})
    with pytest.raises(SystemExit):
        main(["--help"])
    assert "Konfiguration und Homeserver prüfen" in capsys.readouterr().out


# -- the demo's English script -------------------------------------------------------

FIRST_CASE = new_pseudonym("erster")
VALUES = {
    "fall": FIRST_CASE,
    "fall2": new_pseudonym("zweiter"),
    "fall3": new_pseudonym("dritter"),
    "typo": typo_of(FIRST_CASE),
    "kaya": "@kaya:kreis.test",
    "becker": "@becker:kreis.test",
}
GERMAN_COMMAND_WORDS = set(ENGLISH_NAMES) - set(ENGLISH_NAMES.values())


def _typed(language: str) -> dict[str, str]:
    return VALUES | typed_values(language, date(2026, 12, 4), date(2027, 1, 27))


def _bound(dispatcher: Dispatcher, text: str) -> tuple[str, dict[str, object]] | None:
    """The command a typed line names and its bound arguments (or the argument error the
    line meets on purpose, as the mistyped pseudonym); None if it names no command."""
    try:
        spec, rest = dispatcher.find(text.removeprefix("!fk ").strip())
    except UnknownCommand:
        return None
    try:
        return spec.name, bind_arguments(spec, rest)
    except UserError as err:
        return spec.name, {"refused": type(err).__name__}


def test_every_english_step_is_the_same_command_as_its_german_one() -> None:
    dispatcher = Dispatcher(build_registry(), "!fk", 4000)
    german, english = _typed("de"), _typed("en")
    checked = 0
    for step in ALL_STEPS:
        if step.de is None:
            continue
        de = _bound(dispatcher, step.de.format(**german))
        en = _bound(dispatcher, step.en.format(**english))
        if de is None:  # the typo and the name: unknown in both languages
            assert en is None, step
            continue
        assert en is not None, step
        assert en[0] == de[0], step
        de_args, en_args = de[1], en[1]
        assert {k for k, v in de_args.items() if v is not None} == {
            k for k, v in en_args.items() if v is not None
        }, step
        for key, value in de_args.items():
            if isinstance(value, Enum | int) or key in ("grund", "an", "teilnehmer"):
                assert en_args[key] == value, (step, key)
        checked += 1
    assert checked >= 30


def test_the_english_script_types_english_words_only() -> None:
    english = _typed("en")
    for step in ALL_STEPS:
        text = step.en.format(**english).removeprefix("!fk ").casefold()
        words = text.split()
        assert " ".join(words[:2]) not in GERMAN_COMMAND_WORDS, step
        assert words[0] not in GERMAN_COMMAND_WORDS, step
        for token in tokenize(text):
            if token.key is not None:
                assert token.key in ENGLISH_OPTIONS or token.key == "form", (step, token.key)
                assert token.text not in ENGLISH_VALUES.values(), (step, token.text)
        assert "heute" not in text
        assert not re.search(r"\b\d{2}\.\d{2}\.\d{4}\b", text), step  # ISO dates only


def test_the_room_is_switched_before_anything_else_and_only_outside_german() -> None:
    dispatcher = Dispatcher(build_registry(), "!fk", 4000)
    assert ALL_STEPS[0] is LANGUAGE_STEP
    assert LANGUAGE_STEP.text("de") is None
    switch = _bound(dispatcher, LANGUAGE_STEP.en.format(**_typed("en")))
    assert switch == ("sprache", {"sprache": "en"})


def test_the_english_dates_and_rule_mean_what_the_german_ones_mean() -> None:
    today = date(2026, 12, 4)
    german, english = _typed("de"), _typed("en")
    for key in ("heute", "ab", "bis", "review"):
        assert parse_date(german[key], today) == parse_date(english[key], today), key
    assert parse_rule(DEMO_RRULE) == parse_rule(DEMO_RULE)
    assert english["review_text"] == "27 Jan 2027"
    assert german["review_text"] == "27.01.2027"


def test_the_narration_and_the_day_are_in_the_demos_language() -> None:
    en = texts("en")
    for step in ALL_STEPS:
        assert en.gettext(step.narration) != step.narration, step.narration
        assert foreign_words(en.gettext(step.narration), "en") == set(), step.narration
    moment = datetime(2027, 1, 13, 9, 0, tzinfo=UTC)
    assert day_text(texts("de"), moment) == "Mittwoch, 13.01.2027 10:00"
    assert day_text(en, moment) == "Wednesday, 13 Jan 2027, 10:00"


# -- the demo's script played in a room (no homeserver) --------------------------------

PLAYERS = {"lehmann": MOD, "yilmaz": JA1, "kaya": JA2, "becker": JC}


def _play(room: Room, language: str) -> list[tuple[Step, str]]:
    """Every step of the demo in ``language`` as its participants type it, the clock
    moved to the session's start before the session opens; (step, reply) each."""
    today = local_date(room.clock.now())
    values = {"kaya": JA2, "becker": JC} | typed_values(language, today, today)
    played: list[tuple[Step, str]] = []
    for step in ALL_STEPS:
        text = step.text(language)
        if text is None:
            continue
        if step is OPENING_STEP:
            session = next(
                s
                for s in room.sessions()
                if s.room_id == room.room_id
                and s.starts_at > room.clock.now()
                and room.agenda_ids(s.id)
            )
            room.clock.set(session.starts_at - timedelta(minutes=2))
            review = local_date(session.starts_at) + timedelta(days=14)
            values |= {
                k: v
                for k, v in typed_values(language, today, review).items()
                if k.startswith("review")
            }
        reply = room.say(PLAYERS[step.who], text.format(**values).removeprefix("!fk "))
        found = re.search(r"FK-[0-9A-Z]{4}-[0-9A-Z]{2}", reply)
        if step.creates_case and found:
            if "fall" not in values:
                values |= {"fall": found.group(), "typo": typo_of(found.group())}
            else:
                values[f"fall{sum(k.startswith('fall') for k in values) + 1}"] = found.group()
        played.append((step, reply))
    return played


def test_the_english_demo_plays_like_the_german_one(
    sqlite_database: Database,
) -> None:
    """The same steps succeed and the same are refused (the typo, the name, the e-mail
    address, the wrong institution, the same person twice) in both languages."""
    clock = FakeClock(datetime(2026, 11, 23, 9, 0, tzinfo=UTC))
    # The demo's topics: the German defaults it types, and those of TOPICS["en"].
    org = replace(ORG, topics=("Ausbildung", "Wohnen", *TOPICS["en"]))
    german_room = Room(sqlite_database, clock, org=org)
    english_room = german_room.other_room("!english:fk.test")  # the same bot
    german = _play(german_room, "de")
    english = _play(english_room, "en")  # later, on its own days: rooms share nothing
    assert english[0][0] is LANGUAGE_STEP
    assert english[0][1] == "🌐 This room now speaks English."
    refused_de = [step.narration for step, reply in german if reply.startswith("⚠️")]
    refused_en = [step.narration for step, reply in english[1:] if reply.startswith("⚠️")]
    assert refused_en == refused_de
    assert len(refused_de) == 6, refused_de
    assert [step for step, _ in english[1:]] == [step for step, _ in german]


def _room_text(reply: str, org_names: list[str]) -> str:
    """A reply without what is data, not language: the institutions' names (configured),
    the topics the demo types, Matrix ids and pseudonyms."""
    text = _clean(reply)
    for name in [*org_names, *TOPICS["en"], "Ausbildung", "Wohnen"]:
        text = text.replace(name, " ")
    return text


def test_every_reply_of_the_demo_is_in_the_rooms_language(
    sqlite_database: Database,
) -> None:
    """The whole conference, played in an English and a German room: not one of the
    product's German terms in the English replies, nor an English one in the German."""
    clock = FakeClock(datetime(2026, 11, 23, 9, 0, tzinfo=UTC))
    org = replace(ORG, topics=("Ausbildung", "Wohnen", *TOPICS["en"]))
    names = [i.name for i in org.institutions.values()]
    german_room = Room(sqlite_database, clock, org=org)
    english_room = german_room.other_room("!english:fk.test")
    leaks = []
    for room, language in ((german_room, "de"), (english_room, "en")):
        for step, reply in _play(room, language):
            found = foreign_words(_room_text(reply, names), language)
            if found:
                leaks.append((language, step.narration, sorted(found), reply))
    assert leaks == []
