"""Exceptions of the bot runtime (user-input errors live in domain.errors).

BotError
 ├── StoreLockedError        another process holds the store lock
 ├── FencedError             the active instance lost its PostgreSQL lock and stopped
 ├── CredentialsError        stored login does not match the configuration
 └── MatrixError             anything that went wrong at the Matrix edge
      ├── HomeserverUnavailable   transient: connection refused, 5xx, timeout → back off
      ├── AuthenticationError     the homeserver rejects our token or password → stop
      └── SendError               a message was not accepted → the outbox retries
"""


class BotError(Exception):
    pass


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

    def __init__(self, message: str, *, permanent: bool = False) -> None:
        super().__init__(message)
        self.permanent = permanent
