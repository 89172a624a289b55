"""Commands are declared once; the framework splits, converts and explains their arguments."""

from __future__ import annotations

from typing import Annotated, Any

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from commands.framework import (
    REST,
    CommandContext,
    CommandRegistry,
    CommandSpec,
    Role,
    bind_arguments,
    tokenize,
)
from commands.reply import Reply
from domain.errors import (
    ArgumentError,
    BadArgument,
    InvalidInput,
    MissingArgument,
    TooManyArguments,
    UnknownOption,
    UserError,
)

PREFIX = "!fk"


class Dringlichkeit:
    """A custom argument type: the framework only needs ``convert`` and ``type_name``."""

    type_name = "Dringlichkeit"
    WERTE = ("niedrig", "normal", "dringend")

    @classmethod
    def convert(cls, text: str) -> str:
        value = text.casefold()
        if value not in cls.WERTE:
            raise ValueError("erlaubt sind " + ", ".join(cls.WERTE))
        return value


def _ok(ctx: CommandContext, **_: Any) -> Reply:
    return Reply.text("ok")


def build_test_registry() -> CommandRegistry:
    """Commands shaped like the real ones: a count, free text, a custom type, optional words."""
    registry = CommandRegistry()

    @registry.command("zahl", aliases=("Nummer",), summary="Eine Zahl.", case_data=False)
    def zahl(ctx: CommandContext, anzahl: int, *, modus: str | None = None) -> Reply:
        return Reply.text(f"{anzahl} {modus}")

    @registry.command("notiz", summary="Eine Notiz mit freiem Text.")
    def notiz(
        ctx: CommandContext, anzahl: int, text: Annotated[str, REST], *, prio: str | None = None
    ) -> Reply:
        return Reply.text(text)

    @registry.command("melden", summary="Mit eigenem Typ.", role=Role.MODERATION)
    def melden(
        ctx: CommandContext, stufe: Dringlichkeit, *, danach: Dringlichkeit | None = None
    ) -> Reply:
        return Reply.text(str(stufe))

    @registry.command("hilfe", aliases=("help", "?"), summary="Hilfe.", case_data=False)
    def hilfe(ctx: CommandContext, befehl: str | None = None) -> Reply:
        return Reply.text("hilfe")

    @registry.command("ping", summary="Lebt der Bot?", case_data=False)
    def ping(ctx: CommandContext) -> Reply:
        return Reply.text("pong")

    @registry.command("kommentar", summary="Optionaler Rest.", case_data=False)
    def kommentar(ctx: CommandContext, text: Annotated[str, REST] = "") -> Reply:
        return Reply.text(text)

    @registry.command("tausch", summary="Zwei Wörter.", case_data=False)
    def tausch(ctx: CommandContext, von: str, nach: str = "niemand") -> Reply:
        return Reply.text(f"{von}->{nach}")

    return registry


REGISTRY = build_test_registry()


def spec(name: str) -> CommandSpec:
    found = REGISTRY.lookup(name)
    assert found is not None, name
    return found


# -- tokenizer ----------------------------------------------------------------


def test_words_are_split_on_any_whitespace() -> None:
    tokens = tokenize("  eins\tzwei \n drei  ")
    assert [t.text for t in tokens] == ["eins", "zwei", "drei"]
    assert not any(t.key for t in tokens)
    assert tokens[0].start == 2


def test_straight_and_german_quotes_group_words() -> None:
    tokens = tokenize('vorher "zwei  Wörter" „drei kleine Wörter“ nachher')
    assert [t.text for t in tokens] == ["vorher", "zwei  Wörter", "drei kleine Wörter", "nachher"]
    assert tokens[1].start == len("vorher ")


def test_token_start_points_at_the_opening_quote() -> None:
    text = "a „b c“"
    tokens = tokenize(text)
    assert text[tokens[1].start] == "„"


def test_empty_text_has_no_tokens() -> None:
    assert tokenize("") == []
    assert tokenize("   ") == []


@pytest.mark.parametrize(
    "text",
    ['"offen', "„offen", 'mitten"drin', "schluss“", '"zwei Wörter', "„zwei Wörter", 'a "b c'],
)
def test_unclosed_quote_is_invalid_input(text: str) -> None:
    with pytest.raises(InvalidInput, match="nicht geschlossen"):
        tokenize(text)


# -- binding --------------------------------------------------------------------


def test_positional_int_is_converted() -> None:
    assert bind_arguments(spec("zahl"), "42") == {"anzahl": 42, "modus": None}
    assert bind_arguments(spec("zahl"), "-7") == {"anzahl": -7, "modus": None}


@pytest.mark.parametrize("text", ["42 modus=schnell", "modus=schnell 42", "  42   modus=schnell "])
def test_keyword_option_is_bound_wherever_it_stands(text: str) -> None:
    assert bind_arguments(spec("zahl"), text) == {"anzahl": 42, "modus": "schnell"}


def test_quoted_word_is_one_positional_argument() -> None:
    assert bind_arguments(spec("tausch"), '"Team Nord" „Team Süd“') == {
        "von": "Team Nord",
        "nach": "Team Süd",
    }


def test_rest_takes_the_remainder_verbatim_keeping_inner_spacing() -> None:
    values = bind_arguments(spec("notiz"), "3 Termin   am  Montag,\tbitte  ")
    assert values == {"anzahl": 3, "text": "Termin   am  Montag,\tbitte", "prio": None}


def test_rest_keeps_quotes_as_typed() -> None:
    values = bind_arguments(spec("notiz"), '3 "Hallo  Welt"  und  mehr')
    assert values["text"] == '"Hallo  Welt"  und  mehr'


def test_option_before_the_rest_is_not_part_of_the_text() -> None:
    values = bind_arguments(spec("notiz"), "prio=hoch 3 Termin verschoben")
    assert values == {"anzahl": 3, "text": "Termin verschoben", "prio": "hoch"}


def test_option_inside_the_rest_is_part_of_the_text_only() -> None:
    values = bind_arguments(spec("notiz"), "3 Termin prio=hoch verschoben")
    assert values == {"anzahl": 3, "text": "Termin prio=hoch verschoben", "prio": None}


def test_missing_optional_arguments_get_their_defaults() -> None:
    assert bind_arguments(spec("hilfe"), "") == {"befehl": None}
    assert bind_arguments(spec("tausch"), "a") == {"von": "a", "nach": "niemand"}
    assert bind_arguments(spec("kommentar"), "") == {"text": ""}
    assert bind_arguments(spec("kommentar"), "  so  ist es ") == {"text": "so  ist es"}


def test_missing_required_argument() -> None:
    with pytest.raises(MissingArgument) as info:
        bind_arguments(spec("zahl"), "modus=schnell")
    assert info.value.message == "Es fehlt die Angabe <anzahl>."
    assert isinstance(info.value, ArgumentError)
    assert info.value.show_usage


def test_missing_rest_is_missing_argument() -> None:
    with pytest.raises(MissingArgument, match="<text>"):
        bind_arguments(spec("notiz"), "3")


@pytest.mark.parametrize("word", ["zwölf", "3.5", "1e3", "1234567890", "--1", "0x10"])
def test_bad_int_is_refused_in_german(word: str) -> None:
    with pytest.raises(BadArgument) as info:
        bind_arguments(spec("zahl"), word)
    assert info.value.message == "Ungültige Angabe für <anzahl>: keine ganze Zahl"
    assert info.value.show_usage


def test_nine_digits_are_still_a_number() -> None:
    assert bind_arguments(spec("zahl"), "123456789")["anzahl"] == 123456789


def test_empty_values_are_refused() -> None:
    with pytest.raises(BadArgument, match="<modus>: leer"):
        bind_arguments(spec("zahl"), "1 modus=")
    with pytest.raises(BadArgument, match="<von>: leer"):
        bind_arguments(spec("tausch"), '""')


def test_too_many_arguments() -> None:
    with pytest.raises(TooManyArguments, match="Zu viele Angaben"):
        bind_arguments(spec("zahl"), "1 2")
    with pytest.raises(TooManyArguments):
        bind_arguments(spec("ping"), "jetzt")


def test_unknown_option_lists_the_allowed_ones() -> None:
    with pytest.raises(UnknownOption) as info:
        bind_arguments(spec("zahl"), "1 farbe=rot")
    assert info.value.message == "Unbekannte Option. Erlaubt: modus="
    assert info.value.show_usage


def test_without_options_an_equals_sign_is_an_ordinary_word() -> None:
    assert bind_arguments(spec("tausch"), "a=b") == {"von": "a=b", "nach": "niemand"}


def test_quoted_equals_sign_is_not_an_option() -> None:
    assert bind_arguments(spec("notiz"), '3 "prio=x"') == {
        "anzahl": 3,
        "text": '"prio=x"',
        "prio": None,
    }
    with pytest.raises(TooManyArguments):
        bind_arguments(spec("zahl"), '1 "modus=x"')


def test_option_value_may_be_quoted() -> None:
    assert bind_arguments(spec("zahl"), '1 modus="zwei Wörter"') == {
        "anzahl": 1,
        "modus": "zwei Wörter",
    }


def test_custom_converter_class_converts_and_explains() -> None:
    assert bind_arguments(spec("melden"), "DRINGEND danach=normal") == {
        "stufe": "dringend",
        "danach": "normal",
    }
    with pytest.raises(BadArgument) as info:
        bind_arguments(spec("melden"), "egal")
    assert info.value.message == (
        "Ungültige Angabe für <stufe>: erlaubt sind niedrig, normal, dringend"
    )
    assert spec("melden").usage(PREFIX) == "!fk melden <stufe> [danach=<dringlichkeit>]"
    assert {p.name: p.type_name for p in spec("melden").params} == {
        "stufe": "Dringlichkeit",
        "danach": "Dringlichkeit",
    }


def test_parameter_without_converter_is_refused_at_registration() -> None:
    registry = CommandRegistry()
    with pytest.raises(TypeError, match="no converter"):

        @registry.command("kommazahl", summary="x")
        def kommazahl(ctx: CommandContext, wert: float) -> Reply:
            return Reply.text("x")


def test_rest_must_be_the_last_positional_parameter() -> None:
    registry = CommandRegistry()
    with pytest.raises(TypeError, match="REST parameter must be the last"):

        @registry.command("falsch", summary="x")
        def falsch(ctx: CommandContext, text: Annotated[str, REST], anzahl: int) -> Reply:
            return Reply.text("x")


# -- registry ---------------------------------------------------------------------


@pytest.mark.parametrize("word", ["zahl", "ZAHL", "Zahl", "nummer", "NUMMER", "Nummer"])
def test_names_and_aliases_are_case_insensitive(word: str) -> None:
    assert spec(word).name == "zahl"


def test_unknown_word_is_not_found() -> None:
    assert REGISTRY.lookup("zahlen") is None
    assert REGISTRY.lookup("") is None


def test_registering_a_word_twice_raises() -> None:
    registry = build_test_registry()
    with pytest.raises(ValueError, match="registered twice"):

        @registry.command("PING", summary="noch einmal")
        def ping2(ctx: CommandContext) -> Reply:
            return Reply.text("x")

    with pytest.raises(ValueError, match="registered twice"):

        @registry.command("neu", aliases=("HELP",), summary="Alias besetzt")
        def neu(ctx: CommandContext) -> Reply:
            return Reply.text("x")

    assert spec("ping").summary == "Lebt der Bot?"
    assert registry.lookup("help") is not None
    assert registry.lookup("help").name == "hilfe"  # type: ignore[union-attr]


def test_refused_registration_leaves_the_registry_unchanged() -> None:
    registry = build_test_registry()
    with pytest.raises(ValueError, match="registered twice"):

        @registry.command("frisch", aliases=("neu", "ping"), summary="Alias besetzt")
        def frisch(ctx: CommandContext) -> Reply:
            return Reply.text("x")

    assert registry.lookup("frisch") is None
    assert registry.lookup("neu") is None


@pytest.mark.parametrize(
    ("typo", "expected"),
    [("pnig", ["ping"]), ("hilf", ["hilfe"]), ("Zahll", ["zahl"]), ("numer", ["zahl"])],
)
def test_suggest_finds_close_command_names(typo: str, expected: list[str]) -> None:
    assert REGISTRY.suggest(typo) == expected


def test_suggest_finds_nothing_for_unrelated_words() -> None:
    assert REGISTRY.suggest("xylophon") == []


def test_registry_iterates_commands_sorted_by_name_once_each() -> None:
    names = [s.name for s in REGISTRY]
    assert names == sorted(names)
    assert names.count("hilfe") == 1
    assert "help" not in names


@pytest.mark.parametrize(
    ("name", "usage"),
    [
        ("zahl", "!fk zahl <anzahl> [modus=<text>]"),
        ("notiz", "!fk notiz <anzahl> <text> [prio=<text>]"),
        ("hilfe", "!fk hilfe [<befehl>]"),
        ("ping", "!fk ping"),
        ("tausch", "!fk tausch <von> [<nach>]"),
    ],
)
def test_usage_strings(name: str, usage: str) -> None:
    assert spec(name).usage(PREFIX) == usage


def test_usage_uses_the_configured_prefix() -> None:
    assert spec("zahl").usage("!bot") == "!bot zahl <anzahl> [modus=<text>]"


def test_declaration_carries_role_help_and_case_data_flag() -> None:
    registry = CommandRegistry()

    @registry.command(
        "sperren",
        summary="Sperrt.",
        role=Role.MODERATION,
        params={"wer": "wen es trifft"},
        examples=("sperren jemand",),
    )
    def sperren(ctx: CommandContext, wer: str) -> Reply:
        return Reply.text("x")

    declared = registry.lookup("sperren")
    assert declared is not None
    assert declared.role is Role.MODERATION
    assert declared.case_data is True  # the safe default
    assert declared.params[0].description == "wen es trifft"
    assert declared.examples == ("sperren jemand",)
    assert declared.handler is sperren


# -- property: binding never fails with anything but a user error --------------------

_PIECES = st.sampled_from(
    [
        "1",
        "-5",
        "42",
        "x",
        "modus=",
        "modus=a",
        "prio=b",
        "farbe=rot",
        "=",
        '"',
        "„",
        "“",
        '""',
        '"a b"',
        "„c d“",
        "  ",
        "\t",
        "ß=1",
        "Modus=x",
        "٣",
        "1234567890",
    ]
)
_TEXTS = st.one_of(
    st.text(),
    st.lists(st.one_of(_PIECES, st.text(max_size=4)), max_size=8).map(" ".join),
    st.lists(_PIECES, max_size=8).map("".join),
)


@pytest.mark.parametrize("name", ["zahl", "notiz"])
@given(text=_TEXTS)
@example(text='1 modus="a')
@example(text="1 modus=a modus=b")
def test_binding_returns_or_raises_a_user_error(name: str, text: str) -> None:
    command = spec(name)
    try:
        values = bind_arguments(command, text)
    except UserError as err:
        message = err.message
        values = None
    if values is None:
        assert message
        return
    assert set(values) == {p.name for p in command.params}
    assert isinstance(values["anzahl"], int)
    if name == "notiz":
        assert values["text"]
        assert values["text"] == values["text"].strip()
