"""From a message body to a reply: only real commands, clean text, the right people, safe echoes."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, cast

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from bot.ids import EventId, RoomId, UserId
from commands.core import build_registry
from commands.dispatch import Dispatcher, Outcome, check_text, invocation
from commands.framework import REST, CommandContext, CommandRegistry, Role
from commands.reply import Reply
from domain.errors import InvalidInput
from domain.org import Institution, InstitutionType, Member, Organisation
from storage.uow import UnitOfWork

PREFIX = "!fk"
JUGENDAMT = Institution("jugendamt", "Jugendamt", InstitutionType.JUGENDAMT)
MAX = 4000


class Calls:
    def __init__(self) -> None:
        self.names: list[str] = []


def registry_with_test_commands(calls: Calls) -> CommandRegistry:
    registry = build_registry()

    @registry.command("zahl", summary="Eine Zahl.", case_data=False)
    def zahl(ctx: CommandContext, anzahl: int, *, modus: str | None = None) -> Reply:
        calls.names.append("zahl")
        return Reply.text(f"Zahl {anzahl}")

    @registry.command("sperren", summary="Nur Moderation.", role=Role.MODERATION, case_data=False)
    def sperren(ctx: CommandContext) -> Reply:
        calls.names.append("sperren")
        return Reply.text("gesperrt")

    @registry.command("fall", summary="Falldaten.")
    def fall(ctx: CommandContext) -> Reply:
        calls.names.append("fall")
        return Reply.text("Falldaten")

    @registry.command("echo", summary="Wiederholt Text.", case_data=False)
    def echo(ctx: CommandContext, text: Annotated[str, REST]) -> Reply:
        calls.names.append("echo")
        return Reply.text("Du schriebst: ", text)

    return registry


def make_ctx(registry: CommandRegistry, roles: frozenset[Role] = frozenset()) -> CommandContext:
    return CommandContext(
        room_id=RoomId("!raum:fk.test"),
        sender=UserId("@fachkraft:fk.test"),
        event_id=EventId("$ereignis"),
        now=datetime(2026, 11, 23, 9, 0, tzinfo=UTC),
        sent_at=datetime(2026, 11, 23, 8, 59, tzinfo=UTC),
        uow=cast(UnitOfWork, None),  # these handlers never touch storage
        registry=registry,
        prefix=PREFIX,
        member=Member("@fachkraft:fk.test", JUGENDAMT, roles),
        org=Organisation(institutions={"jugendamt": JUGENDAMT}),
    )


@pytest.fixture
def calls() -> Calls:
    return Calls()


@pytest.fixture
def dispatcher(calls: Calls) -> Dispatcher:
    return Dispatcher(registry_with_test_commands(calls), PREFIX, MAX)


def run(
    dispatcher: Dispatcher,
    body: str,
    *,
    roles: frozenset[Role] = frozenset(),
    encrypted: bool = True,
    require_encryption: bool = True,
) -> Outcome:
    return dispatcher.run(
        make_ctx(dispatcher.registry, roles),
        body,
        room_encrypted=encrypted,
        require_encryption=require_encryption,
    )


# -- is it a command for us? -------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ("!fk ping", "ping"),
        ("!FK ping", "ping"),
        ("!Fk  hilfe  ping ", "hilfe  ping"),
        ("   !fk ping", "ping"),
        ("\n\t!fk ping", "ping"),
        ("!fk", ""),
        ("!fk   ", ""),
        ("!fk\nping", "ping"),
        ("!fkx", None),
        ("!fkping", None),
        ("!fk-ping", None),
        ("fk ping", None),
        ("ping !fk", None),
        ("Guten Morgen zusammen", None),
        ("", None),
    ],
)
def test_invocation_needs_the_prefix_as_a_word_of_its_own(body: str, expected: str | None) -> None:
    assert invocation(body, PREFIX) == expected


def test_invocation_with_another_prefix() -> None:
    assert invocation("!bot ping", "!bot") == "ping"
    assert invocation("!fk ping", "!bot") is None


# -- is the text acceptable? --------------------------------------------------------


@pytest.mark.parametrize(
    ("char", "code_point"),
    [
        ("\x00", "U+0000"),
        ("\x07", "U+0007"),
        ("\r", "U+000D"),
        ("\x1b", "U+001B"),
        ("\u202e", "U+202E"),
        ("\u2066", "U+2066"),
        ("\u200b", "U+200B"),
        ("\ufeff", "U+FEFF"),
        ("\ue000", "U+E000"),
    ],
)
def test_invisible_and_control_characters_are_refused_with_code_point(
    char: str, code_point: str
) -> None:
    with pytest.raises(InvalidInput) as info:
        check_text(f"!fk hilfe {char}ping", MAX)
    assert f"({code_point})" in info.value.message
    assert "ping" not in info.value.message


@pytest.mark.parametrize(
    "text",
    [
        "!fk hilfe\nping",
        "!fk hilfe\tping",
        "!fk notiz Größe, Übermaß, Äpfel, Öl, süß — „Zitat“ 🏓 😀 €",
        "!fk notiz Straße 12, 2. OG (links) – Tel. folgt; ok? ja!",
    ],
)
def test_ordinary_text_is_accepted(text: str) -> None:
    check_text(text, MAX)


def test_length_limit() -> None:
    check_text("x" * 100, 100)
    with pytest.raises(InvalidInput) as info:
        check_text("x" * 101, 100)
    assert info.value.message == "Die Nachricht ist zu lang (101 Zeichen, höchstens 100)."


# -- running commands -------------------------------------------------------------------


def test_ping_is_answered(dispatcher: Dispatcher) -> None:
    outcome = run(dispatcher, "!fk ping")
    assert outcome.kind == "ok"
    assert outcome.command == "ping"
    assert outcome.reply.plain == "pong 🏓"
    assert outcome.case_data is False


def test_bare_prefix_shows_the_help(dispatcher: Dispatcher) -> None:
    outcome = run(dispatcher, "!fk")
    assert outcome.kind == "ok"
    assert outcome.command == "hilfe"
    assert "!fk ping" in outcome.reply.plain


def test_newlines_and_tabs_separate_words(dispatcher: Dispatcher, calls: Calls) -> None:
    outcome = run(dispatcher, "!fk zahl\n7\tmodus=x")
    assert outcome.kind == "ok"
    assert outcome.reply.plain == "Zahl 7"


def test_unknown_command_suggests_a_close_one(dispatcher: Dispatcher) -> None:
    outcome = run(dispatcher, "!fk pnig")
    assert outcome.kind == "user_error"
    assert outcome.command is None
    assert outcome.reply.plain == (
        "⚠️ Unbekannter Befehl. Meintest du: !fk ping? Alle Befehle: !fk hilfe"
    )
    assert "Aufruf" not in outcome.reply.plain


@pytest.mark.parametrize(
    "word",
    [
        "erika.mustermann@jugendamt.example",
        "01701234567",
        "+491701234567",
        "0170/1234567",
        "@kind:fk.test",
        "Mustermann1980",
    ],
)
@pytest.mark.parametrize("template", ["!fk {}", "!fk hilfe {}", "!fk zahl 1 {}"])
def test_words_that_may_be_personal_data_are_never_echoed(
    dispatcher: Dispatcher, word: str, template: str
) -> None:
    outcome = run(dispatcher, template.format(word))
    assert outcome.kind == "user_error"
    assert word not in outcome.reply.plain
    assert word not in outcome.reply.html
    # nor any part that could identify a person
    for piece in ("mustermann", "1701234567", "kind:"):
        assert piece not in outcome.reply.plain.casefold()


def test_unknown_word_is_never_echoed_it_could_be_a_name(dispatcher: Dispatcher) -> None:
    outcome = run(dispatcher, "!fk hilfe Mustermann")
    assert outcome.reply.plain == "⚠️ Unbekannter Befehl. Alle Befehle: !fk hilfe"
    assert "Mustermann" not in outcome.reply.html


def test_command_with_role_is_refused_without_it(dispatcher: Dispatcher, calls: Calls) -> None:
    outcome = run(dispatcher, "!fk sperren", roles=frozenset({Role.FACHKRAFT}))
    assert outcome.kind == "user_error"
    assert outcome.command == "sperren"
    assert outcome.reply.plain == "⚠️ „!fk sperren“ ist der Rolle „moderation“ vorbehalten."
    assert "Aufruf" not in outcome.reply.plain
    assert calls.names == []


@pytest.mark.parametrize("roles", [{Role.MODERATION}, {Role.ADMIN}, {Role.FACHKRAFT, Role.ADMIN}])
def test_command_with_role_runs_for_that_role_and_for_admins(
    dispatcher: Dispatcher, calls: Calls, roles: set[Role]
) -> None:
    outcome = run(dispatcher, "!fk sperren", roles=frozenset(roles))
    assert outcome.kind == "ok"
    assert calls.names == ["sperren"]


def test_role_is_checked_before_arguments(dispatcher: Dispatcher) -> None:
    outcome = run(dispatcher, "!fk sperren zu viel")
    assert "Rolle „moderation“" in outcome.reply.plain


def test_case_data_command_refused_in_unencrypted_room(
    dispatcher: Dispatcher, calls: Calls
) -> None:
    outcome = run(dispatcher, "!fk fall", encrypted=False, require_encryption=True)
    assert outcome.kind == "user_error"
    assert outcome.command == "fall"
    assert "nicht verschlüsselt" in outcome.reply.plain
    assert outcome.case_data is False
    assert calls.names == []


def test_case_data_command_allowed_in_encrypted_room(dispatcher: Dispatcher) -> None:
    outcome = run(dispatcher, "!fk fall", encrypted=True, require_encryption=True)
    assert outcome.kind == "ok"
    assert outcome.case_data is True


def test_case_data_command_allowed_when_encryption_not_required(dispatcher: Dispatcher) -> None:
    outcome = run(dispatcher, "!fk fall", encrypted=False, require_encryption=False)
    assert outcome.kind == "ok"
    assert outcome.case_data is True


def test_commands_without_case_data_work_in_unencrypted_rooms(dispatcher: Dispatcher) -> None:
    outcome = run(dispatcher, "!fk ping", encrypted=False, require_encryption=True)
    assert outcome.kind == "ok"


def test_argument_errors_show_usage_and_help_pointer(dispatcher: Dispatcher) -> None:
    outcome = run(dispatcher, "!fk zahl")
    assert outcome.kind == "user_error"
    assert outcome.command == "zahl"
    assert outcome.reply.plain == (
        "⚠️ Es fehlt die Angabe <anzahl>.\n\n"
        "Aufruf: `!fk zahl <anzahl> [modus=<text>]`\n\n"
        "Mehr dazu: `!fk hilfe zahl`"
    )
    assert "<code>!fk zahl &lt;anzahl&gt; [modus=&lt;text&gt;]</code>" in outcome.reply.html
    assert "<p>⚠️ Es fehlt die Angabe &lt;anzahl&gt;.</p>" in outcome.reply.html


@pytest.mark.parametrize("body", ["!fk zahl zwölf", "!fk zahl 1 2", "!fk zahl 1 farbe=rot"])
def test_every_argument_error_shows_usage(dispatcher: Dispatcher, body: str) -> None:
    assert "Aufruf: `!fk zahl" in run(dispatcher, body).reply.plain


@pytest.mark.parametrize(
    ("body", "kwargs"),
    [
        ("!fk pnig", {}),
        ("!fk sperren", {}),
        ("!fk fall", {"encrypted": False}),
        ("!fk ping \u200b", {}),  # bidi marks are dropped; a zero-width space is refused
        ('!fk zahl "1', {}),
    ],
)
def test_other_user_errors_show_no_usage(
    dispatcher: Dispatcher, body: str, kwargs: dict[str, bool]
) -> None:
    outcome = run(dispatcher, body, **kwargs)
    assert outcome.kind == "user_error"
    assert "Aufruf" not in outcome.reply.plain


def test_invalid_text_is_refused_before_anything_runs(dispatcher: Dispatcher, calls: Calls) -> None:
    outcome = run(dispatcher, "!fk echo hallo\x00welt")
    assert outcome.kind == "user_error"
    assert outcome.command is None
    assert "U+0000" in outcome.reply.plain
    assert "hallo" not in outcome.reply.plain
    assert calls.names == []


def test_too_long_message_is_refused(calls: Calls) -> None:
    dispatcher = Dispatcher(registry_with_test_commands(calls), PREFIX, 100)
    outcome = run(dispatcher, "!fk echo " + "a" * 200)
    assert outcome.kind == "user_error"
    assert "zu lang (209 Zeichen, höchstens 100)" in outcome.reply.plain
    assert calls.names == []


def test_handler_bugs_are_not_swallowed() -> None:
    registry = CommandRegistry()

    @registry.command("kaputt", summary="x", case_data=False)
    def kaputt(ctx: CommandContext) -> Reply:
        raise RuntimeError("Fehler im Handler")

    dispatcher = Dispatcher(registry, PREFIX, MAX)
    with pytest.raises(RuntimeError, match="Fehler im Handler"):
        run(dispatcher, "!fk kaputt")


# -- escaping -------------------------------------------------------------------------------

SCRIPT = "<script>alert('x')</script>"


@pytest.mark.parametrize(
    "body",
    [
        f"!fk echo {SCRIPT}",
        f"!fk {SCRIPT}",
        f"!fk hilfe {SCRIPT}",
        f"!fk zahl {SCRIPT}",
        f"!fk zahl 1 modus={SCRIPT}",
        f"!fk zahl 1 {SCRIPT}",
        "!fk echo <b>fett</b> & <img src=x onerror=alert(1)>",
    ],
)
def test_user_text_is_escaped_in_html(dispatcher: Dispatcher, body: str) -> None:
    html = run(dispatcher, body).reply.html
    assert "<script" not in html
    assert "<img" not in html
    assert "<b>fett" not in html


def test_echoed_text_arrives_escaped(dispatcher: Dispatcher) -> None:
    outcome = run(dispatcher, "!fk echo <b>A & B</b>")
    assert outcome.reply.plain == "Du schriebst: <b>A & B</b>"
    assert outcome.reply.html == "<p>Du schriebst: &lt;b&gt;A &amp; B&lt;/b&gt;</p>"


def test_help_lists_every_command_with_usage(dispatcher: Dispatcher) -> None:
    plain = run(dispatcher, "!fk hilfe").reply.plain
    for usage in ("`!fk ping`", "`!fk hilfe [<befehl>]`", "`!fk zahl <anzahl> [modus=<text>]`"):
        assert usage in plain
    assert "(Rolle: moderation)" in plain


def test_help_for_one_command(dispatcher: Dispatcher) -> None:
    outcome = run(dispatcher, "!fk help ZAHL")
    assert outcome.kind == "ok"
    assert "Aufruf: `!fk zahl <anzahl> [modus=<text>]`" in outcome.reply.plain


# -- property: the dispatcher never raises for user input ----------------------------------

CORE = Dispatcher(build_registry(), PREFIX, 200)


@settings(suppress_health_check=[HealthCheck.too_slow], max_examples=300)
@given(
    text=st.one_of(
        st.text(),
        st.tuples(st.sampled_from(["hilfe", "HELP", "?", "ping", "pnig", ""]), st.text()).map(
            " ".join
        ),
    )
)
@example(text="hilfe " + SCRIPT)
@example(text="hilfe 01701234567")
@example(text="hilfe „offen")
@example(text="ping ping")
@example(text="\u2028ping")
@example(text="x" * 300)
def test_dispatcher_never_raises_for_user_input(text: str) -> None:
    outcome = CORE.run(
        make_ctx(CORE.registry),
        "!fk " + text,
        room_encrypted=False,
        require_encryption=True,
    )
    assert isinstance(outcome, Outcome)
    assert outcome.kind in ("ok", "user_error")
    assert "<script" not in outcome.reply.html
