"""Active/standby on PostgreSQL: exactly one instance holds the bot's advisory lock.

Several ``fkbot run`` processes may run for one bot account on one PostgreSQL
database. The active one holds a *session-level* advisory lock whose key is derived
from the bot's user id (:func:`lock_key`), on a connection of its own (not from the
pool, so no pool recycling can drop it). The others stand by and try for the lock
every ``failover.retry_seconds``.

The lock lives exactly as long as that connection's server session. The active
instance asks the connection ``SELECT 1`` every ``failover.check_seconds``; an error,
or no answer within ``failover.check_timeout_seconds``, counts as loss: the instance
fences itself (see :class:`bot.app.App`) and exits. The server side of the connection
is told to give up on a silent peer after ``SERVER_GIVE_UP_MS`` (TCP user timeout and
keepalives), well after the client has stopped: the lock is never free while its old
holder still believes it holds it, except when its event loop is stalled for longer
than that.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import os
import socket
from collections.abc import Callable
from typing import Any

import psycopg
from sqlalchemy.engine import make_url

log = logging.getLogger(__name__)

APPLICATION_NAME = "fkbot-lock"
# The server drops a session whose peer is silent this long (TCP user timeout). The
# client fences after check_seconds + check_timeout_seconds (2 s by default): earlier.
SERVER_GIVE_UP_MS = 6000


class LockLost(Exception):
    """The lock connection is gone or did not answer in time: another may be active."""


def lock_key(user_id: str) -> int:
    """A stable signed 64-bit key for ``pg_try_advisory_lock(bigint)`` from the user id.

    SHA-256 of a fixed prefix and the user id (lower case, as Matrix ids compare), its
    first 8 bytes as a signed integer: the same on every host and Python version.
    """
    digest = hashlib.sha256(b"fkbot-active\x00" + user_id.lower().encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


def conninfo(url: str) -> str:
    """A libpq URI for psycopg from the SQLAlchemy URL (``postgresql+psycopg://…``)."""
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


class ActiveLock:
    """The advisory lock on a dedicated connection; acquire, watch, release."""

    def __init__(
        self,
        url: str,
        user_id: str,
        *,
        check_seconds: float = 1.0,
        check_timeout_seconds: float = 1.0,
        retry_seconds: float = 1.0,
    ) -> None:
        self._conninfo = conninfo(url)
        self.key = lock_key(user_id)
        self.check_seconds = check_seconds
        self.check_timeout = check_timeout_seconds
        self.retry_seconds = retry_seconds
        self._conn: psycopg.Connection[Any] | None = None
        self.held = False

    @property
    def fence_window(self) -> float:
        """How long a holder that lost its connection may still believe it is active:
        a new holder waits this long before it opens the crypto store or sends."""
        return self.check_seconds + self.check_timeout + 0.5

    def _connect(self) -> psycopg.Connection[Any]:
        conn = psycopg.connect(
            self._conninfo,
            autocommit=True,
            connect_timeout=max(2, int(self.check_timeout * 2)),
            application_name=f"{APPLICATION_NAME} {socket.gethostname()[:30]}:{os.getpid()}",
            # The client notices a dead server through the checks; these make the
            # kernel give up on an unanswered connection, too.
            keepalives=1,
            keepalives_idle=2,
            keepalives_interval=1,
            keepalives_count=3,
        )
        with contextlib.suppress(psycopg.Error):
            # The server gives up on us, and frees the lock, only after we fenced.
            conn.execute(f"SET tcp_user_timeout = {SERVER_GIVE_UP_MS}")
            conn.execute("SET tcp_keepalives_idle = 2")
            conn.execute("SET tcp_keepalives_interval = 1")
            conn.execute("SET tcp_keepalives_count = 3")
        return conn

    def _try_once(self) -> bool:
        """One attempt; raises psycopg errors (the caller retries with a new connection)."""
        if self._conn is None or self._conn.closed:
            self._conn = self._connect()
        row = self._conn.execute("SELECT pg_try_advisory_lock(%s)", (self.key,)).fetchone()
        return bool(row and row[0])

    def try_once(self) -> bool:
        """One blocking attempt (for the command line); False if another holds it."""
        try:
            got = self._try_once()
        except psycopg.Error:
            self._drop()
            raise
        self.held = got
        if not got:
            self._drop()
        return got

    async def acquire(
        self,
        stopping: asyncio.Event,
        on_attempt: Callable[[bool], None] = lambda _reachable: None,
    ) -> bool:
        """Try every ``retry_seconds`` until the lock is ours (True) or ``stopping`` (False).

        ``on_attempt(reachable)`` tells after each attempt whether the database answered
        (a standby that cannot reach it is not a healthy standby).
        """
        announced = False
        while not stopping.is_set():
            try:
                got = await asyncio.wait_for(
                    asyncio.to_thread(self._try_once), self.check_timeout + 5
                )
            except (psycopg.Error, OSError, TimeoutError) as exc:
                log.warning("Sperre nicht geprüft, Datenbank nicht erreichbar (%s)", exc)
                self._drop()
                on_attempt(False)
            else:
                on_attempt(True)
                if got:
                    self.held = True
                    log.info("Aktive Instanz: Sperre %d erhalten", self.key)
                    return True
                if not announced:
                    log.info("Bereitschaft: eine andere Instanz ist aktiv; Versuch jede Sekunde")
                    announced = True
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stopping.wait(), self.retry_seconds)
        return False

    def _ping(self) -> None:
        conn = self._conn
        if conn is None or conn.closed:
            raise LockLost("Sperrverbindung geschlossen")
        conn.execute("SELECT 1").fetchone()

    async def check(self) -> None:
        """One liveness check; raises :class:`LockLost` on an error or no answer in time."""
        try:
            await asyncio.wait_for(asyncio.to_thread(self._ping), self.check_timeout)
        except TimeoutError:
            raise LockLost(
                f"Sperrverbindung antwortet nicht binnen {self.check_timeout} s"
            ) from None
        except (psycopg.Error, OSError) as exc:
            raise LockLost(f"Sperrverbindung verloren: {exc}") from exc

    async def watch(self) -> LockLost:
        """Check every ``check_seconds``; returns (not raises) the loss when it happens."""
        while True:
            await asyncio.sleep(self.check_seconds)
            try:
                await self.check()
            except LockLost as lost:
                self.held = False
                return lost

    def _drop(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            with contextlib.suppress(Exception):
                conn.close()

    def release(self) -> None:
        """Close the lock connection: the server frees the lock with the session.

        After a loss the connection is only forgotten: a check may still hang on it in
        a worker thread, and the process is about to exit anyway."""
        if self.held:
            self.held = False
            self._drop()
        else:
            self._conn = None
