"""The command framework in the room's language (issue 15): help, usage lines, refusals and
argument errors read English in an English room — command words, option names,
placeholders and choices included — and German as before in a German room."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import cast

import pytest

from bot.clock import FakeClock
from bot.engine import CUT_NOTE, internal_error_reply, notice_content
from bot.ids import EventId, RoomId, UserId
from bot.keeper import _changed_text, _unsigned_text
from bot.testing.harness import AA, ADMIN, JA1, JC, NOBODY, ORG, ROOM, Room
from bot.testing.language import foreign_words, without_code
from commands.circle import Circles, RoomPolicy
from commands.core import build_registry
from commands.dispatch import Dispatcher
from commands.english import ENGLISH_NAMES
from commands.framework import CommandContext, CommandRegistry, command_line
from commands.i18n import Texts, texts
from commands.reply import Reply
from domain.org import Institution, InstitutionType, Member, Organisation, Role
from domain.pseudonym import ALPHABET
from storage.uow import Database, UnitOfWork

EN, DE = texts("en"), texts("de")
CODE = re.compile(r"`([^`]*)`")


@pytest.fixture
def clock() -> FakeClock:
    # Monday 23.11.2026, 10:00 in Berlin.
    return FakeClock(datetime(2026, 11, 23, 9, 0, tzinfo=UTC))


def _broken_registry() -> CommandRegistry:
    registry = build_registry()

    @registry.command("kaputt", summary="Ein Fehler im Bot.", case_data=False)
    def kaputt(ctx: CommandContext) -> Reply:
        raise RuntimeError("Geheimnis")

    return registry


def _room(db: Database, clock: FakeClock, language: str) -> Room:
    room = Room(db, clock, registry=_broken_registry())
    if language == "en":
        assert room.mod("sprache en") == "🌐 This room now speaks English."
    return room


def _typo(pseudonym: str) -> str:
    """The pseudonym with its last character (the check character) wrong."""
    last = pseudonym[-1]
    return pseudonym[:-1] + next(c for c in ALPHABET if c != last)


# The commands of the framework's own modules (core, people, sprache): their help is
# checked whole; other modules' summaries and descriptions are their own tests' business.
OWN = ("hilfe", "ping", "wer", "identität bestätigen", "rollen", "sprache")


def _help_of_others(room: Room) -> dict[str, str]:
    """Help on other modules' commands: what the framework writes around their texts."""
    return {
        "help case new": room.say(JA1, "hilfe fall neu"),
        "help request": room.say(JA1, "help request"),
        "help consent": room.say(JA1, "hilfe einwilligung"),
        "help series": room.say(JA1, "help series new"),
        "help meeting new": room.say(JA1, "hilfe termin neu"),
    }


def _framework_lines(reply: str, t: Texts) -> str:
    """The lines of a help text the framework writes: usage, other names, role, examples,
    and in the overview each command line without its summary (but with its role)."""
    labels = tuple(t.gettext(m) for m in ("Aufruf: ", "Andere Namen: ", "Rolle: ", "Beispiele:"))
    kept = []
    for index, line in enumerate(reply.split("\n")):
        command, dash, summary = line.partition(" — ")
        if dash:  # the header or an overview line: the summary is the module's
            role = re.search(r" \([^()]*: [a-z]+\)$", summary)
            kept.append(command + (role.group() if role else ""))
        elif index == 0 or line.startswith((*labels, "• `!fk ")):
            kept.append(line)
    return "\n".join(kept)


def _own_lines(overview: str) -> str:
    """The overview's lines of the framework's own commands, whole."""
    kept = []
    for line in overview.split("\n"):
        found = CODE.search(line)
        words = _command_words(found.group(1)) if found else None
        if words is not None and words[1] in OWN:
            kept.append(line)
    return "\n".join(kept)


def _scenario(room: Room) -> tuple[dict[str, str], dict[str, str]]:
    """Every kind of reply of the framework and its modules, in the room's language: the
    texts to check for the other language's words (configured names left out), and the
    whole help texts as they were sent."""
    case = room.new_case()
    replies = {
        "help identity": room.say(JA1, "help identity confirm"),
        "help roles": room.say(JA1, "hilfe rollen"),
        "help language": room.say(JA1, "hilfe sprache"),
        "help help": room.say(JA1, "hilfe hilfe"),
        "help whoami": room.say(JA1, "help whoami"),
        "help unknown": room.say(JA1, "hilfe anfrge"),
        "unknown": room.say(JA1, "requst"),
        "unknown german": room.say(JA1, "anfrge"),
        "missing": room.say(JA1, "request"),
        "choice": room.say(JC, f"request {case} topic=Familie urgency=soon participants=jugendamt"),
        "bool": room.say(
            JC,
            f"anfrage {case} thema=Familie dringlichkeit=dringend teilnehmer=jugendamt "
            "anvertraut=vielleicht",
        ),
        "int": room.say(JA1, "requests page=x"),
        "empty": room.say(JA1, "requests page="),
        "too many": room.say(JA1, "ping extra"),
        "unknown option": room.say(JA1, "requests colour=red"),
        "repeated": room.say(JA1, "requests page=1 seite=2"),
        "quotes": room.mod('postpone FK-2345-AB "offen'),
        "too long": room.say(JA1, "ping " + "x" * 5000),
        "invisible": room.say(JA1, "ping \u200b"),
        "pseudonym shape": room.say(JA1, "status abc"),
        "pseudonym letters": room.say(JA1, "status FK-1234-0O"),
        "pseudonym typo": room.say(JA1, f"status {_typo(case)}"),
        "personal data": room.mod(f"postpone {case} Frau Yilmaz ruft 0171 1234567 an"),
        "role": room.say(JA1, "rollen"),
        "not assigned": room.say(NOBODY, "fall neu"),
        "unencrypted": room.say(JA1, "fall neu", encrypted=False),
        "unknown institution": room.say(JA1, f"revoke {case} xyz"),
        "whoami": room.say(JA1, "wer"),
        "whoami nobody": room.say(NOBODY, "whoami"),
        "roles": room.mod("rollen"),
        "identity none": room.say(ADMIN, "identity confirm @x.y:fk.test"),
        "identity bad id": room.say(ADMIN, "identität bestätigen niemand"),
        "language": room.mod("sprache xx"),
        "internal error": room.say(JA1, "kaputt"),
    }
    overview = room.say(JA1, "hilfe")
    t = EN if overview.startswith("Commands") else DE
    others = _help_of_others(room)
    checked = {k: _without_data(v) for k, v in replies.items()}
    checked["help"] = "\n".join([overview.split("\n")[0], _own_lines(overview)])
    checked["help footer"] = overview.split("\n")[-1]
    checked |= {f"{k} (framework)": _framework_lines(v, t) for k, v in others.items()}
    checked["help (framework)"] = _framework_lines(overview, t)
    return checked, {**replies, "help": overview, **others}


def _without_data(text: str) -> str:
    """The text without the configured institution names (data, not language)."""
    for institution in ORG.institutions.values():
        text = text.replace(institution.name, "")
    return text


def test_every_reply_of_the_framework_speaks_english_in_an_english_room(
    sqlite_database: Database, clock: FakeClock
) -> None:
    checked, replies = _scenario(_room(sqlite_database, clock, "en"))
    for kind, text in checked.items():
        assert foreign_words(without_code(text), "en") == set(), (kind, text)
    overview = replies["help"]
    assert overview.startswith("Commands of the case conference bot"), overview
    assert "`!fk request <case> topic=<category> urgency=<regular|urgent>" in overview
    assert "`!fk consent <case> by=<person_concerned|parents|confiding_person>" in overview
    assert "• `!fk case new` — " in overview
    assert "• `!fk roles` — Lists who has which institution and role. (role: moderators)" in (
        overview
    )
    assert "Details on a command: `!fk help <command>`" in overview
    assert replies["missing"].startswith("⚠️ <case> is missing."), replies["missing"]
    assert "Usage: `!fk request <case> topic=<category>" in replies["missing"]
    assert "More: `!fk help request`" in replies["missing"]
    assert "Invalid value for <urgency>: allowed: regular, urgent" in replies["choice"]
    assert "Invalid value for <entrusted>: expected: yes or no" in replies["bool"]
    assert "Invalid value for <page>: not a whole number" in replies["int"]
    assert "Invalid value for <page>: empty" in replies["empty"]
    assert "Allowed: page=, status=, meeting=, institution=" in replies["unknown option"]
    assert "The option page= appears more than once" in replies["repeated"]
    assert "A quotation mark is not closed." in replies["quotes"]
    for kind in ("unknown", "unknown german", "help unknown"):
        assert "Did you mean: !fk request, !fk requests?" in replies[kind], replies[kind]
        assert "All commands: !fk help" in replies[kind]
    assert "(5009 characters, at most 4000)" in replies["too long"]
    assert "(U+200B)" in replies["invisible"]
    assert "a case pseudonym looks like this" in replies["pseudonym shape"]
    assert "never contain 0, 1, I, L or O" in replies["pseudonym letters"]
    assert "this pseudonym contains a typo" in replies["pseudonym typo"]
    assert "(name, phone number)" in replies["personal data"], replies["personal data"]
    assert "Yilmaz" not in replies["personal data"]
    assert replies["role"] == "⚠️ “!fk roles” is reserved for the role “moderators”."
    assert "To see your assignment: !fk whoami." in replies["not assigned"]
    assert "This room or this message is not encrypted." in replies["unencrypted"]
    assert "Unknown institution. The known ones are: " in replies["unknown institution"]
    assert "Institution: Jugendamt Wetteraukreis (jugendamt)" in replies["whoami"]
    assert "Roles: caseworker" in replies["whoami"]
    assert "You are not assigned to an institution" in replies["whoami nobody"]
    assert (
        "• `@mona.moderation:fk.test` – Jugendamt Wetteraukreis: moderators" in (replies["roles"])
    )
    assert "power level 50 or higher" in replies["roles"]
    assert "No changed identity of @x.y:fk.test" in replies["identity none"]
    assert "Invalid value for <user>: expected a Matrix ID" in replies["identity bad id"]
    assert "Invalid value for <language>: " in replies["language"]
    error = replies["internal error"]
    assert error.startswith("❌ Internal error (ref `"), error
    assert "Geheimnis" not in error
    detail = replies["help request"]
    assert detail.startswith("!fk request — "), detail
    assert "Usage: `!fk request <case> topic=<category>" in detail
    assert "• `topic`: " in detail
    assert "Other names: `anfrage`" in detail
    assert "• `!fk request FK-" in detail  # an example, in English words
    assert "Usage: `!fk case new`" in replies["help case new"]
    assert "Other names: `fall neu`" in replies["help case new"]
    identity = replies["help identity"]
    assert "Usage: `!fk identity confirm <user> [fingerprint=<start>]`" in identity
    assert "• `fingerprint`: optional: the start of the new fingerprint" in identity
    assert "Role: admin" in identity
    assert "`!fk identity confirm @a.yilmaz:jugendamt.example`" in identity
    assert "Usage: `!fk language <language>`" in replies["help language"]
    assert "Role: moderators" in replies["help roles"]
    assert "`!fk help case new`" in replies["help help"]
    assert "Other names: `hilfe`, `?`" in replies["help help"]
    assert "holidays=<skip|move>" in replies["help series"]
    assert "Usage: `!fk meeting new <when>`" in replies["help meeting new"]


def _command_words(code: str) -> tuple[str, str] | None:
    """(the words after the prefix that name the command, the command's German name)."""
    registry = _broken_registry()
    words = code.removeprefix("!fk ").split()
    for length in (2, 1):
        spec = registry.lookup(" ".join(words[:length]))
        if spec is not None:
            return " ".join(words[:length]), spec.name
    return None


def test_usage_lines_and_examples_use_the_english_words_in_an_english_room(
    sqlite_database: Database, clock: FakeClock
) -> None:
    _, replies = _scenario(_room(sqlite_database, clock, "en"))
    # Every command shown as code, except the other names a help text lists.
    lines = [
        line
        for reply in replies.values()
        for line in reply.split("\n")
        if not line.startswith("Other names: ")
    ]
    codes = [c for line in lines for c in CODE.findall(line)]
    commands = [c for c in codes if c.startswith("!fk ")]
    assert len(commands) > 60, commands
    for code in commands:
        found = _command_words(code)
        assert found is not None, code
        shown, german = found
        assert shown == ENGLISH_NAMES.get(german, german), code
    everything = "\n".join(codes)
    for german in (
        "fall neu",
        "hilfe",
        "einwilligung",
        "termin neu",
        "<datum>",
        "<fall>",
        "thema=",
    ):
        assert german not in everything, german
    for english in ("!fk case new", "!fk help case new", "topic=", "<date>", "<case>"):
        assert english in everything, english


def test_every_reply_of_the_framework_stays_german_in_a_german_room(
    sqlite_database: Database, clock: FakeClock
) -> None:
    checked, replies = _scenario(_room(sqlite_database, clock, "de"))
    for kind, text in checked.items():
        assert foreign_words(without_code(text), "de") == set(), (kind, text)
    overview = replies["help"]
    assert overview.startswith("Befehle des Fallkonferenz-Bots"), overview
    assert "• `!fk fall neu` — " in overview
    assert "`!fk anfrage <fall> thema=<kategorie> dringlichkeit=<regulär|dringend>" in overview
    assert "(Rolle: moderation)" in overview
    assert replies["missing"].startswith("⚠️ Es fehlt die Angabe <fall>."), replies["missing"]
    assert "Mehr dazu: `!fk hilfe anfrage`" in replies["missing"]
    assert (
        "Ungültige Angabe für <dringlichkeit>: erlaubt sind regulär, dringend"
        in (replies["choice"])
    )
    assert "Ungültige Angabe für <anvertraut>: erwartet: ja oder nein" in replies["bool"]
    assert "Ungültige Angabe für <seite>: keine ganze Zahl" in replies["int"]
    assert "Ungültige Angabe für <seite>: leer" in replies["empty"]
    assert "Erlaubt: seite=, status=, termin=, institution=" in replies["unknown option"]
    assert "Die Option seite= steht mehrfach" in replies["repeated"]
    assert "Meintest du: !fk anfrage, !fk anfragen?" in replies["unknown"]
    assert "Alle Befehle: !fk hilfe" in replies["unknown"]
    assert "(5009 Zeichen, höchstens 4000)" in replies["too long"]
    assert "(Name, Telefonnummer)" in replies["personal data"]
    assert replies["role"] == "⚠️ „!fk rollen“ ist der Rolle „moderation“ vorbehalten."
    assert "Deine Zuordnung zeigt !fk wer." in replies["not assigned"]
    assert "Rollen: fachkraft" in replies["whoami"]
    assert replies["internal error"].startswith("❌ Interner Fehler (Ref `")
    detail = replies["help request"]
    assert detail.startswith("!fk anfrage — "), detail
    assert "Aufruf: `!fk anfrage <fall> thema=<kategorie>" in detail
    assert "Andere Namen: `request`" in detail
    assert "`!fk hilfe fall neu`" in replies["help help"]


def _ctx(registry: CommandRegistry, t: Texts, **fields: object) -> CommandContext:
    jugendamt = Institution("jugendamt", "Jugendamt", InstitutionType.JUGENDAMT)
    values: dict[str, object] = {
        "room_id": RoomId("!raum:fk.test"),
        "sender": UserId("@fachkraft:fk.test"),
        "event_id": EventId("$ereignis"),
        "now": datetime(2026, 11, 23, 9, 0, tzinfo=UTC),
        "sent_at": datetime(2026, 11, 23, 8, 59, tzinfo=UTC),
        "uow": cast(UnitOfWork, None),
        "registry": registry,
        "prefix": "!fk",
        "member": Member("@fachkraft:fk.test", jugendamt, frozenset({Role.FACHKRAFT})),
        "org": Organisation(institutions={"jugendamt": jugendamt}),
        "t": t,
        **fields,
    }
    return CommandContext(**values)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("t", "direct", "overflow"),
    [
        (
            EN,
            "Here you can use !fk help, !fk ping and !fk whoami.",
            "Invalid value for <date>: lies outside the calendar",
        ),
        (
            DE,
            "Hier gehen !fk hilfe, !fk ping und !fk wer.",
            "Ungültige Angabe für <Datum>: liegt außerhalb des Kalenders",
        ),
    ],
)
def test_the_direct_chat_and_an_impossible_date_are_refused_in_the_rooms_language(
    t: Texts, direct: str, overflow: str
) -> None:
    registry = build_registry()

    @registry.command("weit", summary="Rechnet zu weit.", case_data=False)
    def weit(ctx: CommandContext) -> Reply:
        raise OverflowError("date value out of range")

    dispatcher = Dispatcher(registry, "!fk", 4000)
    kwargs = {"room_encrypted": True, "require_encryption": True}
    refused = dispatcher.run(_ctx(registry, t, room_direct=True), "!fk fall neu", **kwargs)
    assert direct in refused.reply.plain, refused.reply.plain
    far = dispatcher.run(_ctx(registry, t), "!fk weit", **kwargs)
    assert far.reply.plain.startswith("⚠️ " + overflow), far.reply.plain
    for reply in (refused.reply.plain, far.reply.plain):
        assert foreign_words(without_code(reply), t.language) == set(), reply


@pytest.mark.parametrize(
    ("language", "start"),
    [
        ("en", "⚠️ Agentur für Arbeit Gießen does not take part in this room's case conference;"),
        ("de", "⚠️ Agentur für Arbeit Gießen nimmt an der Fallkonferenz dieses Raums nicht teil;"),
    ],
)
def test_a_guest_institution_is_refused_in_the_rooms_language(
    sqlite_database: Database, clock: FakeClock, language: str, start: str
) -> None:
    policy = RoomPolicy(institutions=frozenset({"jugendamt", "jobcenter"}))
    room = Room(sqlite_database, clock, circles=Circles({ROOM: policy}))
    if language == "en":
        room.mod("sprache en")
    refusal = room.say(AA, "case new")
    assert refusal.startswith(start), refusal
    assert foreign_words(_without_data(refusal), language) == set(), refusal


@pytest.mark.parametrize("t", [EN, DE])
def test_the_engines_and_the_keepers_own_texts_follow_the_rooms_language(t: Texts) -> None:
    error = internal_error_reply("0A1B2C3D", t).plain
    cut = notice_content(Reply.text("x\n" * 40_000), mentions=[], t=t)["body"]
    changed = _changed_text("@a:fk.test", "QUJD" * 11, "!fk", t).build().plain
    unsigned = _unsigned_text("@a:fk.test", "DEVICE", t).build().plain
    for text in (error, cut, changed, unsigned):
        assert foreign_words(without_code(text), t.language) == set(), text
    if t is EN:
        assert error.startswith("❌ Internal error (ref `0A1B2C3D`). Nothing was changed.")
        assert cut.endswith(
            "… cut short: too long for one message. Please ask more specifically (e.g. page=)."
        )
        assert "`!fk identity confirm @a:fk.test`" in changed
    else:
        assert error.startswith("❌ Interner Fehler (Ref `0A1B2C3D`). Es wurde nichts geändert.")
        assert cut.endswith(CUT_NOTE)
        assert "`!fk identität bestätigen @a:fk.test`" in changed


def test_examples_are_shown_in_the_rooms_words() -> None:
    assert command_line("hilfe fall neu", EN) == "help case new"
    assert command_line("hilfe fall neu", DE) == "hilfe fall neu"
    assert (
        command_line("anfrage FK-7QX2-M6 thema=Familie dringlichkeit=dringend", EN)
        == "request FK-7QX2-M6 topic=Familie urgency=urgent"
    )
    assert command_line("ping", EN) == "ping"


@pytest.mark.parametrize(
    ("language", "start"),
    [
        ("en", "🔒 I could not decrypt this message: I do not have the room key."),
        ("de", "🔒 Ich konnte diese Nachricht nicht entschlüsseln: mir fehlt der Raumschlüssel."),
    ],
)
def test_the_undecryptable_notice_speaks_the_rooms_language(
    sqlite_database: Database, clock: FakeClock, language: str, start: str
) -> None:
    from datetime import timedelta

    from tests.unit.test_engine import Timeline, no_keys

    room = Room(sqlite_database, clock)
    if language == "en":
        room.mod("sprache en")
    locked = Timeline(clock).locked("sitzung-a", sender=JA1, room=ROOM)
    room.engine.ingest(room._batch(locked))  # type: ignore[arg-type]
    clock.advance(timedelta(minutes=2))
    assert room.engine.process_pending(no_keys).outbox_added == 1
    body = room.outbox()[-1].content["body"]
    assert body.startswith(start), body
    assert foreign_words(body, language) == set(), body


def test_every_kind_of_personal_data_is_named_in_the_rooms_language() -> None:
    from datetime import date

    from commands.pdguard import KINDS, PersonalDataRefused, scan

    text = (
        "a.b@example.org DE89 3704 0044 0532 0130 00 Tel. 0171 1234567 geb. 01.01.1980 "
        "Az. 123/26 Hauptstraße 5 Frau Yilmaz"
    )
    findings = scan(text, date(2026, 11, 23))
    assert {f.kind for f in findings} == set(KINDS)
    refusal = PersonalDataRefused(findings)
    english = refusal.render(EN)
    assert "(file reference, postal address, email address, date of birth, IBAN, name, " in (
        english
    ), english
    assert foreign_words(english, "en") == set()
    assert refusal.message == refusal.render(DE)
    assert "(Aktenzeichen, Anschrift, E-Mail-Adresse, Geburtsdatum, IBAN, Name, " in (
        refusal.message
    )


# Parameter words that are English already.
SAME_IN_ENGLISH = frozenset(
    {"name", "text", "status", "form", "institution", "code", "hh:mm-hh:mm", "institution,…"}
)


def test_every_parameter_has_an_english_name_and_label() -> None:
    """A new parameter needs its English word in commands/english.py (ENGLISH_OPTIONS for
    an option, ENGLISH_LABELS for a placeholder), or the English usage line shows German."""
    missing = set()
    for spec in build_registry():
        for param in spec.params:
            shown = param.shown_name(EN)
            if shown == param.name and param.name not in SAME_IN_ENGLISH:
                missing.add(param.name)
            label = param.shown_type(EN).lower()
            untranslated = param.kind == "option" and label == param.type_name.lower()
            if untranslated and label not in SAME_IN_ENGLISH:
                missing.add(param.type_name)
    assert missing == set()


@pytest.mark.parametrize("language", ["en", "de"])
def test_confirming_a_changed_identity_speaks_the_rooms_language(
    sqlite_database: Database, clock: FakeClock, language: str
) -> None:
    room = _room(sqlite_database, clock, language)
    with sqlite_database.uow() as uow:
        uow.pins.pin(JA1, "A" * 43, clock.now())
        uow.pins.saw(JA1, "B" * 43, clock.now())
        uow.commit()
    wrong = room.say(ADMIN, f"identity confirm {JA1} fingerprint=AAAA")
    accepted = room.say(ADMIN, f"identität bestätigen {JA1} fingerabdruck=BBBB")
    for reply in (wrong, accepted):
        assert foreign_words(without_code(reply), language) == set(), reply
    if language == "en":
        assert wrong == ("⚠️ The fingerprint given does not match the new key. Nothing was changed.")
        assert accepted.startswith(f"🔐 New identity of {JA1} accepted. Fingerprint:")
        assert "Their verified devices receive keys again" in accepted
    else:
        assert accepted.startswith(f"🔐 Neue Identität von {JA1} angenommen. Fingerabdruck:")


EXAMPLES = [(spec, example) for spec in build_registry() for example in spec.examples]


@pytest.mark.parametrize(("spec", "example"), EXAMPLES, ids=[f"{s.name}: {e}" for s, e in EXAMPLES])
def test_every_example_is_shown_in_english_and_means_the_same_command(
    spec: object, example: str
) -> None:
    """The help's examples in an English room: English words, free text included (a
    decision, a series name, "tomorrow 9:00"), and each still names its command with
    the same arguments bound as the German example."""
    from commands.framework import CommandSpec, bind_arguments

    assert isinstance(spec, CommandSpec)
    english = texts("en")
    shown = command_line(english.gettext(example), english)
    dispatcher = Dispatcher(build_registry(), "!fk", 4000)
    found, rest = dispatcher.find(shown)
    assert found.name == spec.name, shown
    _, german_rest = dispatcher.find(example)
    assert sorted(bind_arguments(found, rest)) == sorted(bind_arguments(spec, german_rest))
    assert foreign_words(shown, "en") == set(), shown
