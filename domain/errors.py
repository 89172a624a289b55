"""Mistakes a user can make. Each becomes a German reply plus the command's usage.

UserError
 ├── InvalidInput        the message itself is unusable (too long, control characters)
 ├── UnknownCommand      no command of that name (with suggestions)
 ├── ArgumentError       the arguments do not fit the declaration
 │    ├── MissingArgument
 │    ├── BadArgument
 │    ├── TooManyArguments
 │    ├── UnknownOption
 │    └── RepeatedOption  the same option twice (which one counts is never guessed)
 ├── PermissionDenied    the sender lacks the role the command needs
 └── NotAllowedHere      the room does not allow this command (not encrypted, a direct chat)

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
