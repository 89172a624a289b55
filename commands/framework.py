"""Declarative commands: name, aliases, role, typed arguments and help live with the handler.

A handler is a plain function ``(ctx, <arguments>) -> Reply``. Its parameters
after ``ctx`` are the command's arguments, converted from their annotations:

* positional parameters are positional words (``!fk hilfe ping``);
* keyword-only parameters are ``name=value`` options (``dringlichkeit=dringend``);
* a parameter annotated ``Annotated[str, REST]`` takes the rest of the line verbatim;
* a default (usually ``None``) makes a parameter optional.

``!fk hilfe`` is generated from these declarations; nothing is written twice.
"""

from __future__ import annotations

import dataclasses
import difflib
import inspect
import re
import types
import typing
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime
from enum import Enum
from typing import TYPE_CHECKING, Annotated, Any

from bot.txn import txn_id_for
from commands.english import (
    ENGLISH_NAMES,
    english_label,
    english_name,
    english_option,
    english_value,
    option_name,
    value_word,
)
from commands.i18n import GERMAN, N_, SOURCE_LANGUAGE, Texts
from commands.reply import Reply
from domain.calendar import Calendar
from domain.dates import local_date
from domain.errors import (
    BadArgument,
    InvalidInput,
    MissingArgument,
    RepeatedOption,
    TooManyArguments,
    UnknownCommand,
    UnknownOption,
)
from domain.org import Member, Organisation, Role
from domain.text import Msg, Translator
from domain.work import Work

if TYPE_CHECKING:
    from bot.ids import EventId, RoomId, UserId
    from storage.models import OutboxMessage
    from storage.uow import UnitOfWork


__all__ = ["REST", "CommandContext", "CommandRegistry", "Label", "ReactionContext", "Role"]


class _Rest:
    """Marker: the parameter takes the rest of the message verbatim."""


REST = _Rest()


@dataclass(frozen=True)
class Label:
    """Marker: how the parameter's value is shown in the usage line, e.g. ``datum``."""

    text: str


@dataclass(frozen=True)
class CommandContext:
    """Everything a handler may use. No Matrix client, no SQL: a unit of work and ids."""

    room_id: RoomId
    sender: UserId
    event_id: EventId
    now: datetime
    sent_at: datetime  # when the sender sent it; relative dates ("morgen") count from here
    uow: UnitOfWork
    registry: CommandRegistry
    prefix: str
    member: Member
    org: Organisation
    calendar: Calendar = field(default_factory=Calendar, kw_only=True)
    # A direct chat with the bot (invited with ``is_direct``): no conference circle.
    room_direct: bool = field(default=False, kw_only=True)
    # The room's texts (``sprache``; the bot's default otherwise): ctx.t.gettext(…).
    t: Texts = field(default=GERMAN, kw_only=True)
    # Messages of the bot's own that the command posts besides its reply (a poll, a
    # poll's end); written in the command's transaction, sent only if it succeeds.
    posts: list[OutboxMessage] = field(default_factory=list, kw_only=True)

    def post(self, key: str, event_type: str, content: dict[str, Any]) -> OutboxMessage:
        """Queue a message of the bot's own, exactly once per command and ``key``."""
        row = self.uow.outbox.add(
            txn_id=txn_id_for(self.event_id, key),
            room_id=self.room_id,
            event_type=event_type,
            content=content,
            requires_encryption=True,
            now=self.now,
        )
        self.posts.append(row)
        return row

    @property
    def work(self) -> Work:
        """What the use cases need of this command: unit of work, sender, now, calendar."""
        institution = self.member.institution
        return Work(
            uow=self.uow,
            actor=self.sender,
            institution=institution.key if institution else None,
            now=self.now,
            calendar=self.calendar,
        )

    @property
    def roles(self) -> frozenset[Role]:
        return self.member.roles

    @property
    def today(self) -> date:
        """The sender's calendar day (Europe/Berlin): relative dates count from here."""
        return local_date(self.sent_at)


@dataclass(frozen=True)
class ReactionContext(CommandContext):
    """A reaction's context: ``event_id`` is the reaction, ``relates_to`` what it reacts to."""

    relates_to: EventId
    key: str


ReactionHandler = Callable[[ReactionContext], Reply | None]


@dataclass(frozen=True)
class ReactionSpec:
    key: str
    handler: ReactionHandler


# -- the words a room is shown ---------------------------------------------------------


def in_english(t: Translator) -> bool:
    """Whether a room is shown the English command words: every room that does not
    speak German (the English words are understood everywhere, commands/english.py)."""
    return getattr(t, "language", SOURCE_LANGUAGE) != SOURCE_LANGUAGE


class Shown(Msg):
    """Words the user types, shown in a text (a command line, an option, a placeholder):
    the German words in a German room, the English ones elsewhere. Not a catalog text:
    both forms are the words commands/english.py defines."""

    __slots__ = ("english", "german")

    def __init__(self, german: str, english: str) -> None:
        super().__init__("")
        self.german = german
        self.english = english

    def render(self, t: Translator) -> str:
        return self.english if in_english(t) else self.german

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Shown) and (self.german, self.english) == (
            other.german,
            other.english,
        )

    def __hash__(self) -> int:
        return hash(self.german)

    def __repr__(self) -> str:
        return f"Shown({self.german!r}, {self.english!r})"


def command_word(name: str, t: Translator) -> str:
    """The command ``name`` (its German name) as the room is shown it: ``case new``."""
    return english_name(name) if in_english(t) else name


def shown_command(prefix: str, name: str, rest: str = "") -> Shown:
    """``!fk termine`` / ``!fk meetings``, with ``rest`` (e.g. a number) after it."""
    tail = f" {rest}" if rest else ""
    return Shown(f"{prefix} {name}{tail}", f"{prefix} {english_name(name)}{tail}")


def command_line(line: str, t: Translator) -> str:
    """A command line without the prefix (an example: ``hilfe fall neu``,
    ``anfrage FK-… dringlichkeit=dringend``) in the words the room is shown: the
    command, option names and choice words; free text stays as it is."""
    if not in_english(t):
        return line
    words = line.split(" ")
    for length in (2, 1):
        head = " ".join(words[:length]).casefold()
        if len(words) >= length and (head in _GERMAN_NAMES or head in _ENGLISH_NAMES):
            name = _GERMAN_NAMES.get(head) or _ENGLISH_NAMES[head]
            rest = words[length:]
            if name == "hilfe" and rest:
                return " ".join([english_name(name), command_line(" ".join(rest), t)])
            return " ".join([english_name(name), *(_english_word(w) for w in rest)])
    return " ".join(_english_word(w) for w in words)


def _english_word(word: str) -> str:
    key, sep, value = word.partition("=")
    if sep and key:
        return f"{english_option(key)}={english_value(value)}"
    return english_value(word)


_GERMAN_NAMES = {k.casefold(): k for k in ENGLISH_NAMES}
_ENGLISH_NAMES = {v.casefold(): k for k, v in ENGLISH_NAMES.items()}


def param_label(name: str) -> Shown:
    """A parameter named in a text (``<datum>`` / ``<date>``)."""
    return Shown(name, english_label(name))


def role_name(role: Role, t: Translator) -> str:
    """A role as a room reads it: ``moderation`` / ``moderators``."""
    return role.text().render(t)


Converter = Callable[[str], Any]


def _convert_int(text: str) -> int:
    if not re.fullmatch(r"-?[0-9]{1,9}", text):
        raise ValueError(Msg(N_("keine ganze Zahl")))
    return int(text)


def _convert_bool(text: str) -> bool:
    value = value_word(text).casefold()
    if value in ("ja", "j"):
        return True
    if value in ("nein", "n"):
        return False
    raise ValueError(Msg(N_("erwartet: %(choices)s"), choices=Shown("ja oder nein", "yes or no")))


_CONVERTERS: dict[Any, tuple[Converter, str]] = {
    str: (str, "Text"),
    int: (_convert_int, "Zahl"),
    bool: (_convert_bool, "ja|nein"),
}


def fold(text: str) -> str:
    """Case- and umlaut-insensitive form: ``Regulär`` = ``regulaer``."""
    text = text.casefold()
    for umlaut, plain in (("ä", "ae"), ("ö", "oe"), ("ü", "ue"), ("ß", "ss")):
        text = text.replace(umlaut, plain)
    return text


def _enum_converter(enum: type[Enum]) -> tuple[Converter, str]:
    values = [str(member.value) for member in enum]

    def convert(text: str) -> Enum:
        for member in enum:
            if fold(str(member.value)) == fold(value_word(text)):
                return member
        allowed = Shown(", ".join(values), ", ".join(english_value(v) for v in values))
        raise ValueError(Msg(N_("erlaubt sind %(values)s"), values=allowed))

    return convert, "|".join(values)


@dataclass(frozen=True)
class Param:
    name: str
    kind: str  # "positional" | "option" | "rest"
    convert: Converter
    type_name: str
    optional: bool
    default: Any
    description: str

    def usage(self, t: Translator = GERMAN) -> str:
        """``<datum>``, ``[bis=<datum>]`` — in English rooms ``<date>``, ``[until=<date>]``."""
        if self.kind == "option":
            label = f"{self.shown_name(t)}=<{self.shown_type(t).lower()}>"
        else:
            label = f"<{self.shown_name(t)}>"
        return f"[{label}]" if self.optional else label

    def shown_name(self, t: Translator = GERMAN) -> str:
        """The name as the room is shown it: an option's English name, a positional
        word's English placeholder."""
        if not in_english(t):
            return self.name
        return english_option(self.name) if self.kind == "option" else english_label(self.name)

    def shown_type(self, t: Translator = GERMAN) -> str:
        return english_label(self.type_name) if in_english(t) else self.type_name

    @property
    def label(self) -> Shown:
        """The parameter named in an error, rendered in the room's words."""
        if self.kind == "option":
            return Shown(self.name, english_option(self.name))
        return param_label(self.name)


@dataclass(frozen=True)
class CommandSpec:
    name: str
    aliases: tuple[str, ...]
    summary: str
    role: Role | None
    params: tuple[Param, ...]
    handler: Callable[..., Reply]
    case_data: bool
    details: str
    examples: tuple[str, ...]

    def usage(self, prefix: str, t: Translator = GERMAN) -> str:
        """``!fk fall neu …`` — in rooms that do not speak German the English words:
        command, option names, placeholders and choices (``!fk case new …``)."""
        return " ".join([prefix, command_word(self.name, t), *(p.usage(t) for p in self.params)])

    def help_line(self, prefix: str, t: Translator = GERMAN) -> str:
        """How to ask for this command's help: ``!fk hilfe fall neu`` / ``!fk help case new``."""
        return f"{prefix} {command_word('hilfe', t)} {command_word(self.name, t)}"


def _unwrap_optional(annotation: Any) -> Any:
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        if len(args) == 1:
            return args[0]
    return annotation


def _converter_for(annotation: Any) -> tuple[Converter, str]:
    annotation = _unwrap_optional(annotation)
    if annotation in _CONVERTERS:
        return _CONVERTERS[annotation]
    if isinstance(annotation, type) and issubclass(annotation, Enum):
        return _enum_converter(annotation)
    convert = getattr(annotation, "convert", None)
    if callable(convert):
        return convert, getattr(annotation, "type_name", annotation.__name__)
    raise TypeError(f"no converter for {annotation!r}")


def _params_of(handler: Callable[..., Reply], help_texts: dict[str, str]) -> tuple[Param, ...]:
    hints = typing.get_type_hints(handler, include_extras=True)
    params: list[Param] = []
    signature = inspect.signature(handler)
    for name, p in list(signature.parameters.items())[1:]:  # skip ctx
        annotation = hints[name]
        extras: list[Any] = []
        for candidate in (annotation, _unwrap_optional(annotation)):
            if typing.get_origin(candidate) is Annotated:
                annotation, *extras = typing.get_args(candidate)
                break
        rest = any(isinstance(e, _Rest) for e in extras)
        convert, type_name = _converter_for(annotation)
        labels = [e.text for e in extras if isinstance(e, Label)]
        type_name = labels[0] if labels else type_name
        if p.kind is inspect.Parameter.KEYWORD_ONLY:
            kind = "option"
        elif rest:
            kind = "rest"
        else:
            kind = "positional"
        optional = p.default is not inspect.Parameter.empty
        params.append(
            Param(
                name=name,
                kind=kind,
                convert=convert,
                type_name=type_name,
                optional=optional,
                default=p.default if optional else None,
                description=help_texts.get(name, ""),
            )
        )
    rests = [p for p in params if p.kind == "rest"]
    if rests and [p for p in params if p.kind != "option"][-1] is not rests[0]:
        raise TypeError(f"{handler.__name__}: the REST parameter must be the last positional one")
    return tuple(params)


class Router:
    """A module's commands and reaction handlers, declared at module level.

    ``@router.command(...)`` takes the same arguments as ``CommandRegistry.command``;
    nothing is checked until ``CommandRegistry.include(router)`` registers the
    declarations (in order), so a module can be imported without a registry.
    """

    def __init__(self, name: str) -> None:
        self.name = name
        self._commands: list[tuple[dict[str, Any], Callable[..., Reply]]] = []
        self._reactions: list[tuple[str, ReactionHandler]] = []

    def command(
        self, name: str, **declaration: Any
    ) -> Callable[[Callable[..., Reply]], Callable[..., Reply]]:
        def declare(handler: Callable[..., Reply]) -> Callable[..., Reply]:
            self._commands.append(({"name": name, **declaration}, handler))
            return handler

        return declare

    def reaction(self, key: str) -> Callable[[ReactionHandler], ReactionHandler]:
        def declare(handler: ReactionHandler) -> ReactionHandler:
            self._reactions.append((key, handler))
            return handler

        return declare


class CommandRegistry:
    def __init__(self) -> None:
        self._specs: dict[str, CommandSpec] = {}
        self._names: dict[str, str] = {}
        self._reactions: dict[str, list[ReactionSpec]] = {}

    def reaction(self, key: str) -> Callable[[ReactionHandler], ReactionHandler]:
        """Register a handler for reactions with ``key`` (e.g. "✅").

        Handlers decide themselves whether a reaction matters (which message, whose
        role); returning None means "not for me" and nothing is recorded.
        """

        def register(handler: ReactionHandler) -> ReactionHandler:
            self._reactions.setdefault(key, []).append(ReactionSpec(key, handler))
            return handler

        return register

    def include(self, router: Router) -> None:
        """Register every command and reaction handler ``router`` declares."""
        for declaration, handler in router._commands:
            self.command(**declaration)(handler)
        for key, reaction in router._reactions:
            self.reaction(key)(reaction)

    def reaction_handlers(self, key: str) -> list[ReactionSpec]:
        # Clients append U+FE0F (emoji presentation) inconsistently: ✅ vs ✅️.
        return self._reactions.get(key.removesuffix("\ufe0f"), [])

    def command(
        self,
        name: str,
        *,
        summary: str,
        aliases: tuple[str, ...] = (),
        role: Role | None = None,
        case_data: bool = True,
        details: str = "",
        examples: tuple[str, ...] = (),
        params: dict[str, str] | None = None,
    ) -> Callable[[Callable[..., Reply]], Callable[..., Reply]]:
        def register(handler: Callable[..., Reply]) -> Callable[..., Reply]:
            spec = CommandSpec(
                name=name,
                aliases=aliases,
                summary=summary,
                role=role,
                params=_params_of(handler, params or {}),
                handler=handler,
                case_data=case_data,
                details=details,
                examples=examples,
            )
            words = [w.casefold() for w in (name, *aliases)]
            taken = [w for w in words if w in self._names]
            if taken or len(set(words)) != len(words):
                raise ValueError(f"command words registered twice: {taken or words}")
            self._names.update(dict.fromkeys(words, name))
            self._specs[name] = spec
            return handler

        return register

    def alias(self, name: str, *words: str) -> None:
        """More words for the command ``name`` (e.g. its English name), checked like the
        declared ones: no word may name two commands."""
        spec = self._specs[name]
        folded = [w.casefold() for w in words]
        taken = [w for w in folded if w in self._names]
        if taken:
            raise ValueError(f"command words registered twice: {taken}")
        self._names.update(dict.fromkeys(folded, name))
        self._specs[name] = dataclasses.replace(spec, aliases=(*spec.aliases, *words))

    def lookup(self, word: str) -> CommandSpec | None:
        name = self._names.get(word.casefold())
        return self._specs[name] if name else None

    def suggest(self, word: str) -> list[str]:
        """The (German) names of commands close to ``word``, a German or English word."""
        matches = difflib.get_close_matches(word.casefold(), list(self._names), n=3, cutoff=0.7)
        return sorted({self._names[m] for m in matches})

    def unknown(self, word: str, prefix: str) -> UnknownCommand:
        """The error for an unknown ``word``: its suggestions in the words of the room
        that reads it (``!fk case new`` in an English room)."""
        return UnknownCommand([shown_command(prefix, n) for n in self.suggest(word)], prefix)

    def __iter__(self) -> Iterator[CommandSpec]:
        return iter(sorted(self._specs.values(), key=lambda s: s.name))


# -- parsing ----------------------------------------------------------------

# A token is a quoted phrase ("…" or „…“), optionally after an option key
# (modus="zwei Wörter"), or a bare word.
_TOKEN = re.compile(r'(?:(?P<key>[^\s"„“=]+)=)?(?:"(?P<dq>[^"]*)"|„(?P<gq>[^“]*)“)|(?P<word>\S+)')
_QUOTES = re.compile(r'"|„|“')
_OPTION_KEY = re.compile(r"[a-zäöüß_]+", re.IGNORECASE)


@dataclass(frozen=True)
class Token:
    text: str
    start: int
    key: str | None  # set when the token has the form key=value

    @property
    def option_key(self) -> str | None:
        return self.key.casefold() if self.key and _OPTION_KEY.fullmatch(self.key) else None


def tokenize(text: str) -> list[Token]:
    tokens: list[Token] = []
    for match in _TOKEN.finditer(text):
        word = match.group("word")
        if word is not None:
            if _QUOTES.search(word):
                raise InvalidInput(
                    N_(
                        "Anführungszeichen sind nicht geschlossen. Text in Anführungszeichen "
                        'bitte so schreiben: "mehrere Wörter".'
                    )
                )
            key, sep, value = word.partition("=")
            if sep and key:
                tokens.append(Token(value, match.start(), key))
            else:
                tokens.append(Token(word, match.start(), None))
        else:
            quoted = match.group("dq") if match.group("dq") is not None else match.group("gq")
            tokens.append(Token(quoted, match.start(), match.group("key")))
    return tokens


def _as_word(token: Token) -> str:
    return f"{token.key}={token.text}" if token.key is not None else token.text


def bind_arguments(spec: CommandSpec, text: str) -> dict[str, Any]:
    """Turn the text after the command word into the handler's keyword arguments.

    Options (``name=value``) may stand anywhere before the free text; once a REST
    parameter starts, the rest of the line is taken verbatim, options included.
    """
    tokens = tokenize(text)
    options = {p.name: p for p in spec.params if p.kind == "option"}
    positional = [p for p in spec.params if p.kind != "option"]
    values: dict[str, Any] = {}
    index = 0
    for token in tokens:
        key = token.option_key
        if key is not None and key not in options:
            key = option_name(key)  # an English option name
        if options and key is not None:
            if key not in options:
                raise UnknownOption([p.label for p in options.values()])
            if key in values:
                raise RepeatedOption(options[key].label)
            values[key] = _convert(options[key], token.text)
            continue
        if index >= len(positional):
            raise TooManyArguments()
        param = positional[index]
        index += 1
        if param.kind == "rest":
            values[param.name] = _convert(param, text[token.start :].strip())
            break
        values[param.name] = _convert(param, _as_word(token))
    for param in spec.params:
        if param.name not in values:
            if not param.optional:
                raise MissingArgument(param.label)
            values[param.name] = param.default
    return values


def _convert(param: Param, raw: str) -> Any:
    if raw == "":
        raise BadArgument(param.label, Msg(N_("leer")))
    try:
        return param.convert(raw)
    except ValueError as exc:
        # A converter's reason is a Msg (translated here) or German text (shown as it is).
        reason = exc.args[0] if exc.args and isinstance(exc.args[0], Msg) else str(exc)
        if not reason:
            expected = Shown(param.type_name, english_label(param.type_name))
            reason = Msg(N_("erwartet: %(choices)s"), choices=expected)
        raise BadArgument(param.label, reason) from None
