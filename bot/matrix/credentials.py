"""The stored login: homeserver, user, device id and access token.

In ``credentials.json`` in the store directory with SQLite; in the database (the
access token sealed with the pickle key) with PostgreSQL, see :mod:`bot.instance`.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from bot.errors import CredentialsError
from bot.identity import CrossSigningKeys
from bot.secretfiles import private_file_problem
from domain.text import Msg

CREDENTIALS_FILE = "credentials.json"


@dataclass(frozen=True)
class Credentials:
    homeserver: str
    user_id: str
    device_id: str
    access_token: str


def load_credentials(store_path: Path) -> Credentials | None:
    """The stored login; refused if group or others could read the token (as ssh would)."""
    path = store_path / CREDENTIALS_FILE
    problem = private_file_problem(path)
    if problem is not None:
        raise CredentialsError(Msg("Gespeicherte Anmeldung: %(problem)s", problem=problem))
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    return Credentials(**data)


def save_credentials(store_path: Path, creds: Credentials) -> None:
    """Atomically, readable only by the bot's user: the token is as good as the password."""
    store_path.mkdir(parents=True, exist_ok=True, mode=0o700)
    tmp = store_path / (CREDENTIALS_FILE + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        json.dump(creds.__dict__, fh)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, store_path / CREDENTIALS_FILE)


class LoginStore(Protocol):
    """Where the login and the cross-signing keys live: files in the store directory
    (SQLite), or the database (PostgreSQL, see :mod:`bot.instance`) so that any
    instance can take over without files from another host."""

    where: str  # for messages: a path or "der Datenbank"

    def load_credentials(self) -> Credentials | None: ...

    def save_credentials(self, creds: Credentials) -> None: ...

    def load_identity(self) -> CrossSigningKeys | None: ...

    def save_identity(self, keys: CrossSigningKeys) -> None: ...


class FileLoginStore:
    """``credentials.json`` and ``cross_signing.json`` in the store directory, mode 0600."""

    def __init__(self, store_path: Path, pickle_key: str) -> None:
        self.store_path = store_path
        self.where = str(store_path)
        self._pickle_key = pickle_key

    def load_credentials(self) -> Credentials | None:
        return load_credentials(self.store_path)

    def save_credentials(self, creds: Credentials) -> None:
        save_credentials(self.store_path, creds)

    def load_identity(self) -> CrossSigningKeys | None:
        return CrossSigningKeys.load(self.store_path, self._pickle_key)

    def save_identity(self, keys: CrossSigningKeys) -> None:
        keys.save(self.store_path, self._pickle_key)
