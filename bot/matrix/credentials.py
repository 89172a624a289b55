"""The stored login: homeserver, user, device id and access token in ``credentials.json``."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

from bot.errors import CredentialsError
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
