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


class UserError(Exception):
    """A mistake the user can fix; ``message`` is shown in the room as is."""

    show_usage = False

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class InvalidInput(UserError):
    pass


class UnknownCommand(UserError):
    """The unknown word is never repeated: it could be a name someone typed by mistake."""

    def __init__(self, suggestions: list[str], prefix: str) -> None:
        hint = ""
        if suggestions:
            hint = " Meintest du: " + ", ".join(f"{prefix} {s}" for s in suggestions) + "?"
        super().__init__(f"Unbekannter Befehl.{hint} Alle Befehle: {prefix} hilfe")


class ArgumentError(UserError):
    show_usage = True


class MissingArgument(ArgumentError):
    def __init__(self, param: str) -> None:
        super().__init__(f"Es fehlt die Angabe <{param}>.")


class BadArgument(ArgumentError):
    def __init__(self, param: str, reason: str) -> None:
        super().__init__(f"Ungültige Angabe für <{param}>: {reason}")


class TooManyArguments(ArgumentError):
    def __init__(self) -> None:
        super().__init__("Zu viele Angaben.")


class UnknownOption(ArgumentError):
    def __init__(self, allowed: list[str]) -> None:
        choices = ", ".join(f"{k}=" for k in allowed) or "keine"
        super().__init__(f"Unbekannte Option. Erlaubt: {choices}")


class RepeatedOption(ArgumentError):
    def __init__(self, name: str) -> None:
        super().__init__(
            f"Die Option {name}= steht mehrfach in der Nachricht; bitte nur einmal angeben."
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
            "Unbekannter Fall: unter diesem Pseudonym ist kein Fall erfasst. Bitte das "
            "Pseudonym prüfen."
        )


class SessionNotFound(NotFound):
    def __init__(self, prefix: str) -> None:
        super().__init__(f"Diesen Termin gibt es nicht (mehr). Die Termine zeigt: {prefix} termine")


class PollNotFound(NotFound):
    def __init__(self) -> None:
        super().__init__("Diese Umfrage gibt es nicht (oder sie ist schon geschlossen).")


class StateConflict(UserError):
    """The case is not in a state that allows this (e.g. already closed)."""
