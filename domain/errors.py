"""Mistakes a user can make. Each becomes a German reply plus the command's usage.

UserError
 ├── InvalidInput        the message itself is unusable (too long, control characters)
 ├── UnknownCommand      no command of that name (with suggestions)
 ├── ArgumentError       the arguments do not fit the declaration
 │    ├── MissingArgument
 │    ├── BadArgument
 │    ├── TooManyArguments
 │    ├── UnknownOption
 │    ├── RepeatedOption  the same option twice (which one counts is never guessed)
 │    ├── DateError        a date that is not one (domain/dates.py)
 │    │    └── WhenError   a date and time, e.g. one the clock change skips (domain/when.py)
 │    ├── PseudonymError   not a pseudonym, or a wrong check character (domain/pseudonym.py)
 │    ├── RuleError        a series rule that cannot be read (domain/series.py)
 │    └── UnknownInstitution  (domain/org.py)
 ├── PermissionDenied    the sender lacks the role the command needs
 ├── NotAllowedHere      the room does not allow this command (not encrypted, a direct chat)
 ├── NotFound            what the command names is not there (in this room)
 │    ├── UnknownCase
 │    ├── SessionNotFound
 │    └── PollNotFound
 ├── StateConflict       the case's state does not allow it (e.g. closed)
 └── PersonalDataRefused the text looks like personal data (commands/pdguard.py)

Commands and reactions render a UserError the same way (``Dispatcher.render_error``).

Anything that is not a UserError is a bug: it is logged with a reference number
and the room sees only that number.
"""

from __future__ import annotations

from collections.abc import Sequence

from domain.text import N_, Joined, Msg, Translator
from domain.text import SOURCE as _SOURCE


class UserError(Exception):
    """A mistake the user can fix, shown in the room in the room's language.

    ``text`` is a catalog msgid with ``%(name)s`` values (mark it with ``N_`` where it
    is written) or a :class:`Msg`; :meth:`render` translates it. ``message`` is the
    German text, for logs of the CLI and for tests.
    """

    show_usage = False

    def __init__(self, text: str | Msg, **values: object) -> None:
        self.text: Msg = text if isinstance(text, Msg) else Msg(text, **values)
        super().__init__(self.text.render(_SOURCE))

    def render(self, t: Translator) -> str:
        return self.text.render(t)

    @property
    def message(self) -> str:
        return str(self)


class InvalidInput(UserError):
    pass


class UnknownCommand(UserError):
    """The unknown word is never repeated: it could be a name someone typed by mistake."""

    def __init__(self, suggestions: Sequence[str | Msg], prefix: str) -> None:
        """``suggestions``: command names, or Msgs that show a whole command line in the
        room's words (commands.framework.CommandRegistry.unknown)."""
        parts: list[Msg | str] = [Msg(N_("Unbekannter Befehl."))]
        if suggestions:
            listed = Joined(
                *(s if isinstance(s, Msg) else f"{prefix} {s}" for s in suggestions),
                separator=", ",
            )
            parts.append(Msg(N_("Meintest du: %(commands)s?"), commands=listed))
        parts.append(Msg(N_("Alle Befehle: %(prefix)s hilfe"), prefix=prefix))
        super().__init__(Joined(*parts))


class ArgumentError(UserError):
    show_usage = True


# A parameter named in an error is a plain name or a Msg that shows it in the room's
# words (commands.framework.Param.label: ``<datum>`` / ``<date>``).


class MissingArgument(ArgumentError):
    def __init__(self, param: str | Msg) -> None:
        super().__init__(N_("Es fehlt die Angabe <%(param)s>."), param=param)


class BadArgument(ArgumentError):
    def __init__(self, param: str | Msg, reason: str | Msg) -> None:
        super().__init__(
            N_("Ungültige Angabe für <%(param)s>: %(reason)s"), param=param, reason=reason
        )


class TooManyArguments(ArgumentError):
    def __init__(self) -> None:
        super().__init__(N_("Zu viele Angaben."))


class UnknownOption(ArgumentError):
    def __init__(self, allowed: Sequence[str | Msg]) -> None:
        if not allowed:
            super().__init__(N_("Unbekannte Option. Dieser Befehl hat keine Optionen."))
            return
        choices = Joined(*(Joined(k, "=", separator="") for k in allowed), separator=", ")
        super().__init__(N_("Unbekannte Option. Erlaubt: %(options)s"), options=choices)


class RepeatedOption(ArgumentError):
    def __init__(self, name: str | Msg) -> None:
        super().__init__(
            N_("Die Option %(name)s= steht mehrfach in der Nachricht; bitte nur einmal angeben."),
            name=name,
        )


class PermissionDenied(UserError):
    pass


class NotAllowedHere(UserError):
    pass


# -- what a command refers to does not exist here (in this room) --------------------------


class NotFound(UserError):
    """A case, session, request or poll the user named is not there: in this room, a row
    of another room reads exactly like one that never existed."""


class UnknownCase(NotFound):
    show_usage = True

    def __init__(self) -> None:
        super().__init__(
            N_(
                "Unbekannter Fall: unter diesem Pseudonym ist kein Fall erfasst. Bitte das "
                "Pseudonym prüfen."
            )
        )


class SessionNotFound(NotFound):
    def __init__(self, prefix: str) -> None:
        super().__init__(
            N_("Diesen Termin gibt es nicht (mehr). Die Termine zeigt: %(prefix)s termine"),
            prefix=prefix,
        )


class PollNotFound(NotFound):
    def __init__(self) -> None:
        super().__init__(N_("Diese Umfrage gibt es nicht (oder sie ist schon geschlossen)."))


class StateConflict(UserError):
    """The case is not in a state that allows this (e.g. already closed)."""
