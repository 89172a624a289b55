"""Exceptions of the bot runtime (user-input errors live in domain.errors).

BotError
 ├── StoreLockedError        another process holds the store lock
 ├── FencedError             the active instance lost its PostgreSQL lock and stopped
 ├── CredentialsError        stored login does not match the configuration
 └── MatrixError             anything that went wrong at the Matrix edge
      ├── HomeserverUnavailable   transient: connection refused, 5xx, timeout → back off
      ├── AuthenticationError     the homeserver rejects our token or password → stop
      └── SendError               a message was not accepted → the outbox retries

What an operator reads (``fkbot check``, ``fkbot identity``) is a catalog text: raise
``BotError(N_("... %(path)s ..."), path=p)`` or with a :class:`~domain.text.Msg`;
``str(err)`` stays German for the logs, :meth:`BotError.render` speaks the operator's
language (the command line's locale, commands/i18n.py).
"""

from __future__ import annotations

from commands.i18n import GERMAN
from domain.text import Msg, Translator


class BotError(Exception):
    def __init__(self, text: str | Msg = "", **values: object) -> None:
        self.text: Msg = text if isinstance(text, Msg) else Msg(text, **values)
        super().__init__(self.text.render(GERMAN))

    def render(self, t: Translator) -> str:
        """The message in ``t``'s language (a text outside the catalog stays as it is)."""
        return self.text.render(t)


class StoreLockedError(BotError):
    pass


class FencedError(BotError):
    """The active instance lost its advisory lock (bot/activelock.py) and stopped
    syncing and sending; ``fkbot run`` exits with :data:`EXIT_FENCED` so that the
    supervisor starts it again, as a standby."""


EXIT_FENCED = 3


class CredentialsError(BotError):
    pass


class MatrixError(BotError):
    pass


class HomeserverUnavailable(MatrixError):
    pass


class AuthenticationError(MatrixError):
    pass


class SendError(MatrixError):
    """``permanent``: the homeserver refused for good (no retry can help)."""

    def __init__(self, message: str | Msg, *, permanent: bool = False) -> None:
        super().__init__(message)
        self.permanent = permanent
