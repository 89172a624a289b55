"""From a message body to a Reply: validate, find the command, check access, bind, run."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

from commands.framework import (
    CommandContext,
    CommandRegistry,
    CommandSpec,
    Shown,
    bind_arguments,
    shown_command,
)
from commands.i18n import GERMAN, N_, Texts
from commands.pdguard import guard
from commands.reply import Doc, Reply, code
from domain.errors import (
    BadArgument,
    InvalidInput,
    NotAllowedHere,
    PermissionDenied,
    UserError,
)
from domain.text import Msg

ALLOWED_CONTROL = {"\n", "\t"}
# Format characters that ordinary text needs: joiners inside emoji (👩‍⚕️) and
# scripts, and the soft hyphen that text pasted from word processors carries.
ALLOWED_FORMAT = {"\u200c", "\u200d", "\u00ad"}


# Invisible marks that clients and keyboards put in front of or into text: the byte
# order mark and the bidi marks, embeddings, overrides and isolates. They carry no
# meaning for a command; left in, they hide it ("\ufeff!fk ping" got silence).
_INVISIBLE = dict.fromkeys(
    map(ord, "\ufeff\u200e\u200f\u061c\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
)
# The prefix and up to two command words, before the arguments.
_HEAD = re.compile(r"\s*(\S+)(?:\s+(\S+))?(?:\s+(\S+))?")


def _without_reply_fallback(body: str) -> str:
    """A Matrix reply's body starts with the quoted original (``> …`` lines) and an
    empty line (the spec's reply fallback); the command is what follows."""
    if not body.startswith(">"):
        return body
    lines = body.split("\n")
    for index, line in enumerate(lines):
        if line.startswith(">"):
            continue
        if line.strip() == "":
            return "\n".join(lines[index + 1 :])
        break
    return body


def normalise(body: str) -> str:
    """The body as commands read it: no reply fallback, no invisible marks, NFC, and
    the prefix and command words in NFKC (``！ｆｋ`` is ``!fk``); arguments keep their
    characters (NFC only), so what a caseworker typed is what is stored."""
    text = unicodedata.normalize("NFC", _without_reply_fallback(body).translate(_INVISIBLE))
    head = _HEAD.match(text)
    if head is None:
        return text
    parts, at = [], 0
    for index in range(1, 4):
        if head.group(index) is None:
            break
        start, end = head.span(index)
        parts += [text[at:start], unicodedata.normalize("NFKC", text[start:end])]
        at = end
    return "".join(parts) + text[at:]


def invocation(body: str, prefix: str) -> str | None:
    """The text after the prefix if ``body`` is a command for us, else None.

    The prefix must be a word of its own: ``!fkx`` is not ``!fk``. The body is
    :func:`normalise` d first.
    """
    stripped = normalise(body).lstrip()
    if not stripped.casefold().startswith(prefix.casefold()):
        return None
    rest = stripped[len(prefix) :]
    if rest and not rest[0].isspace():
        return None
    return rest.strip()


def check_text(text: str, max_length: int) -> None:
    if len(text) > max_length:
        raise InvalidInput(
            N_("Die Nachricht ist zu lang (%(length)s Zeichen, höchstens %(max)s)."),
            length=len(text),
            max=max_length,
        )
    for char in text:
        if char in ALLOWED_CONTROL or char in ALLOWED_FORMAT:
            continue
        # Cc: control, Cf: format (bidi overrides, zero-width space, BOM), Co: private
        # use, Cs: lone surrogates. Unassigned code points (Cn) pass: newer emoji are
        # unassigned in older Unicode tables.
        if unicodedata.category(char) in ("Cc", "Cf", "Co", "Cs"):
            raise InvalidInput(
                N_(
                    "Die Nachricht enthält unsichtbare Steuer- oder Richtungszeichen "
                    "(U+%(code)s). Bitte ohne diese Zeichen erneut senden."
                ),
                code=f"{ord(char):04X}",
            )


# A pseudonym is not personal data, even when its letters spell "AZ"; and a date given
# as a date option (datum=14.02.2024) is parsed strictly, so it is not a birth date in
# free text. Both are left out of what the personal-data guard reads.
_PSEUDONYM_TOKEN = re.compile(r"(?<![\w-])FK-?[0-9A-Z]{4}-?[0-9A-Z]{2}(?![\w-])", re.I)


def guarded_text(spec: CommandSpec, rest: str) -> str:
    dates = [p.name for p in spec.params if p.kind == "option" and p.type_name == "datum"]
    text = _PSEUDONYM_TOKEN.sub(" ", rest)
    if dates:
        pattern = r"(?<!\S)(?:" + "|".join(map(re.escape, dates)) + r")=[0-9.\-]{1,10}(?!\S)"
        text = re.sub(pattern, " ", text, flags=re.IGNORECASE)
    return text


@dataclass(frozen=True)
class Outcome:
    reply: Reply
    command: str | None
    kind: str  # "ok" | "user_error" | "internal_error"
    case_data: bool = False


class Dispatcher:
    def __init__(self, registry: CommandRegistry, prefix: str, max_length: int) -> None:
        self.registry = registry
        self.prefix = prefix
        self.max_length = max_length

    def command_name(self, body: str) -> str | None:
        """The command a body asks for, if any; never raises (used for the inbox record)."""
        try:
            return self.find(invocation(body, self.prefix) or "")[0].name
        except UserError:
            return None

    def find(self, text: str) -> tuple[CommandSpec, str]:
        """The command named by the first one or two words (``fall neu`` before ``fall``)."""
        parts = text.split(None, 2)
        if len(parts) >= 2:
            spec = self.registry.lookup(f"{parts[0]} {parts[1]}")
            if spec is not None:
                return spec, parts[2] if len(parts) > 2 else ""
        word = parts[0] if parts else "hilfe"
        spec = self.registry.lookup(word)
        if spec is None:
            raise self.registry.unknown(word, self.prefix)
        return spec, text.split(None, 1)[1] if len(parts) > 1 else ""

    def run(
        self, ctx: CommandContext, body: str, *, room_encrypted: bool, require_encryption: bool
    ) -> Outcome:
        """Run the command in ``body``; raises only for bugs — user mistakes become the reply."""
        spec: CommandSpec | None = None
        body = normalise(body)
        try:
            check_text(body, self.max_length)
            text = (invocation(body, self.prefix) or "").replace("\n", " ").replace("\t", " ")
            spec, rest = self.find(text)
            if spec.case_data and ctx.room_direct:
                raise NotAllowedHere(
                    N_(
                        "Das hier ist ein Direktchat mit mir, kein Konferenzraum. Fälle, "
                        "Einwilligungen, Termine und Beschlüsse gehören in den verschlüsselten "
                        "Raum eurer Fallkonferenz und sind nur dort sichtbar. Hier gehen "
                        "%(help)s, %(ping)s und %(whoami)s."
                    ),
                    help=shown_command(self.prefix, "hilfe"),
                    ping=shown_command(self.prefix, "ping"),
                    whoami=shown_command(self.prefix, "wer"),
                )
            if spec.case_data and require_encryption and not room_encrypted:
                raise NotAllowedHere(
                    N_(
                        "Dieser Raum oder diese Nachricht ist nicht verschlüsselt. Falldaten "
                        "gibt es nur in Ende-zu-Ende-verschlüsselten Räumen."
                    )
                )
            if spec.case_data and ctx.member.institution is None:
                guest = ctx.org.member(ctx.sender).institution
                if guest is not None:
                    raise PermissionDenied(
                        N_(
                            "%(institution)s nimmt an der Fallkonferenz dieses Raums nicht "
                            "teil; Falldaten gibt es hier nur für die beteiligten Institutionen."
                        ),
                        institution=guest.name,
                    )
                raise PermissionDenied(
                    N_(
                        "Du bist keiner Institution zugeordnet; Falldaten gibt es nur für "
                        "eingetragene Fachkräfte. Deine Zuordnung zeigt %(whoami)s."
                    ),
                    whoami=shown_command(self.prefix, "wer"),
                )
            if spec.role is not None and not ctx.member.has(spec.role):
                raise PermissionDenied(
                    N_("„%(command)s“ ist der Rolle „%(role)s“ vorbehalten."),
                    command=shown_command(self.prefix, spec.name),
                    role=spec.role.text(),
                )
            # Before any argument is looked at: nothing personal reaches a handler,
            # the database or an error message.
            guard(guarded_text(spec, rest), ctx.today)
            kwargs = bind_arguments(spec, rest)
            try:
                reply = spec.handler(ctx, **kwargs)
            except OverflowError:
                # A date so far out that arithmetic on it overflows: a typo, never meant.
                raise BadArgument(
                    Shown("Datum", "date"),
                    Msg(N_("liegt außerhalb des Kalenders, den der Bot rechnen kann")),
                ) from None
            return Outcome(reply, spec.name, "ok", spec.case_data)
        except UserError as err:
            reply = self.render_error(err, spec, ctx.t)
            return Outcome(reply, spec.name if spec else None, "user_error")

    def render_error(self, err: UserError, spec: CommandSpec | None, t: Texts = GERMAN) -> Reply:
        doc = Doc().para("⚠️ ", err.render(t))
        if spec is not None and err.show_usage:
            doc.para(t.gettext("Aufruf: "), code(spec.usage(self.prefix, t)))
            doc.para(t.gettext("Mehr dazu: "), code(spec.help_line(self.prefix, t)))
        return doc.build()
