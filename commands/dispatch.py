"""From a message body to a Reply: validate, find the command, check access, bind, run."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

from commands.errors import (
    InvalidInput,
    NotAllowedHere,
    PermissionDenied,
    UnknownCommand,
    UserError,
)
from commands.framework import (
    CommandContext,
    CommandRegistry,
    CommandSpec,
    bind_arguments,
)
from commands.pdguard import guard
from commands.reply import Doc, Reply, code

ALLOWED_CONTROL = {"\n", "\t"}
# Format characters that ordinary text needs: joiners inside emoji (👩‍⚕️) and
# scripts, and the soft hyphen that text pasted from word processors carries.
ALLOWED_FORMAT = {"\u200c", "\u200d", "\u00ad"}


def invocation(body: str, prefix: str) -> str | None:
    """The text after the prefix if ``body`` is a command for us, else None.

    The prefix must be a word of its own: ``!fkx`` is not ``!fk``.
    """
    stripped = body.lstrip()
    if not stripped.casefold().startswith(prefix.casefold()):
        return None
    rest = stripped[len(prefix) :]
    if rest and not rest[0].isspace():
        return None
    return rest.strip()


def check_text(text: str, max_length: int) -> None:
    if len(text) > max_length:
        raise InvalidInput(
            f"Die Nachricht ist zu lang ({len(text)} Zeichen, höchstens {max_length})."
        )
    for char in text:
        if char in ALLOWED_CONTROL or char in ALLOWED_FORMAT:
            continue
        # Cc: control, Cf: format (bidi overrides, zero-width space, BOM), Co: private
        # use, Cs: lone surrogates. Unassigned code points (Cn) pass: newer emoji are
        # unassigned in older Unicode tables.
        if unicodedata.category(char) in ("Cc", "Cf", "Co", "Cs"):
            raise InvalidInput(
                "Die Nachricht enthält unsichtbare Steuer- oder Richtungszeichen "
                f"(U+{ord(char):04X}). Bitte ohne diese Zeichen erneut senden."
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
            raise UnknownCommand(self.registry.suggest(word), self.prefix)
        return spec, text.split(None, 1)[1] if len(parts) > 1 else ""

    def run(
        self, ctx: CommandContext, body: str, *, room_encrypted: bool, require_encryption: bool
    ) -> Outcome:
        """Run the command in ``body``; raises only for bugs — user mistakes become the reply."""
        spec: CommandSpec | None = None
        try:
            check_text(body, self.max_length)
            text = (invocation(body, self.prefix) or "").replace("\n", " ").replace("\t", " ")
            spec, rest = self.find(text)
            if spec.case_data and ctx.room_direct:
                raise NotAllowedHere(
                    "Das hier ist ein Direktchat mit mir, kein Konferenzraum. Fälle, "
                    "Einwilligungen, Termine und Beschlüsse gehören in den verschlüsselten Raum "
                    "eurer Fallkonferenz und sind nur dort sichtbar. Hier gehen "
                    f"{self.prefix} hilfe, {self.prefix} ping und {self.prefix} wer."
                )
            if spec.case_data and require_encryption and not room_encrypted:
                raise NotAllowedHere(
                    "Dieser Raum oder diese Nachricht ist nicht verschlüsselt. Falldaten gibt "
                    "es nur in Ende-zu-Ende-verschlüsselten Räumen."
                )
            if spec.case_data and ctx.member.institution is None:
                guest = ctx.org.member(ctx.sender).institution
                if guest is not None:
                    raise PermissionDenied(
                        f"{guest.name} nimmt an der Fallkonferenz dieses Raums nicht teil; "
                        "Falldaten gibt es hier nur für die beteiligten Institutionen."
                    )
                raise PermissionDenied(
                    "Du bist keiner Institution zugeordnet; Falldaten gibt es nur für "
                    f"eingetragene Fachkräfte. Deine Zuordnung zeigt {self.prefix} wer."
                )
            if spec.role is not None and not ctx.member.has(spec.role):
                raise PermissionDenied(
                    f"„{self.prefix} {spec.name}“ ist der Rolle „{spec.role.value}“ vorbehalten."
                )
            # Before any argument is looked at: nothing personal reaches a handler,
            # the database or an error message.
            guard(guarded_text(spec, rest), ctx.today)
            kwargs = bind_arguments(spec, rest)
            reply = spec.handler(ctx, **kwargs)
            return Outcome(reply, spec.name, "ok", spec.case_data)
        except UserError as err:
            return Outcome(self.render_error(err, spec), spec.name if spec else None, "user_error")

    def render_error(self, err: UserError, spec: CommandSpec | None) -> Reply:
        doc = Doc().para("⚠️ ", err.message)
        if spec is not None and err.show_usage:
            doc.para("Aufruf: ", code(spec.usage(self.prefix)))
            doc.para("Mehr dazu: ", code(f"{self.prefix} hilfe {spec.name}"))
        return doc.build()
