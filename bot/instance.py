"""The login and the cross-signing keys in the database, for instances on several hosts.

With PostgreSQL any instance may become the active one (see :mod:`bot.activelock`),
so what it needs to act as the bot's device lives in the table ``instance_state``:

* ``login``: homeserver, user id, device id in the clear; the access token sealed
  with a key derived from the pickle key (it is as good as the password);
* ``cross_signing``: the seeds sealed exactly as in ``cross_signing.json``.

A store directory from before (``credentials.json``, ``cross_signing.json``) is
taken over into the database once, at the first start on PostgreSQL.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, insert, select, update
from sqlalchemy.engine import make_url

from bot.config import Settings
from bot.errors import CredentialsError
from bot.identity import CrossSigningKeys, seal, unseal
from bot.matrix.credentials import Credentials, FileLoginStore, LoginStore
from domain.text import N_
from storage.db import make_engine
from storage.models import InstanceState

log = logging.getLogger(__name__)

LOGIN = "login"
CROSS_SIGNING = "cross_signing"
TOKEN_PURPOSE = b"fallkonferenz-bot access token"
WHERE = "der Datenbank (instance_state)"


class DatabaseLoginStore:
    """The login and the cross-signing keys in ``instance_state``, secrets sealed."""

    where = WHERE

    def __init__(
        self,
        engine: Engine,
        pickle_key: str,
        store_path: Path | None = None,
        *,
        import_files: bool = True,
    ) -> None:
        if not pickle_key:
            raise CredentialsError(
                "Pickle-Schlüssel fehlt (FKBOT_MATRIX__PICKLE_KEY): mit ihm ist die "
                f"Anmeldung in {WHERE} versiegelt."
            )
        self._engine = engine
        self._pickle_key = pickle_key
        # Files from a start before the database held these: taken over once
        # (``import_files``), or only read (``fkbot check`` changes nothing).
        self._files = FileLoginStore(store_path, pickle_key) if store_path else None
        self._import = import_files

    def _get(self, name: str) -> dict[str, Any] | None:
        with self._engine.connect() as conn:
            row = conn.execute(
                select(InstanceState.data).where(InstanceState.name == name)
            ).scalar_one_or_none()
        return dict(row) if row is not None else None

    def _put(self, name: str, data: dict[str, Any]) -> None:
        now = datetime.now(UTC)
        with self._engine.begin() as conn:
            updated = conn.execute(
                update(InstanceState)
                .where(InstanceState.name == name)
                .values(data=data, updated_at=now)
            ).rowcount
            if not updated:
                conn.execute(insert(InstanceState).values(name=name, data=data, updated_at=now))

    def load_credentials(self) -> Credentials | None:
        data = self._get(LOGIN)
        if data is None:
            return self._import_credentials()
        token = unseal(self._pickle_key, TOKEN_PURPOSE, str(data.get("sealed_token", "")))
        if token is None:
            raise CredentialsError(
                N_(
                    "Die Anmeldung in %(where)s lässt sich mit dem konfigurierten "
                    "Pickle-Schlüssel nicht öffnen (alle Instanzen brauchen denselben)."
                ),
                where=WHERE,
            )
        return Credentials(
            homeserver=data["homeserver"],
            user_id=data["user_id"],
            device_id=data["device_id"],
            access_token=token,
        )

    def save_credentials(self, creds: Credentials) -> None:
        self._put(
            LOGIN,
            {
                "version": 1,
                "homeserver": creds.homeserver,
                "user_id": creds.user_id,
                "device_id": creds.device_id,
                "sealed_token": seal(self._pickle_key, TOKEN_PURPOSE, creds.access_token),
            },
        )

    def load_identity(self) -> CrossSigningKeys | None:
        data = self._get(CROSS_SIGNING)
        if data is None:
            return self._import_identity()
        return CrossSigningKeys.unsealed(data, self._pickle_key, f"Cross-Signing in {WHERE}")

    def save_identity(self, keys: CrossSigningKeys) -> None:
        self._put(CROSS_SIGNING, keys.sealed(self._pickle_key))

    def _import_credentials(self) -> Credentials | None:
        if self._files is None:
            return None
        creds = self._files.load_credentials()
        if creds is not None and self._import:
            self.save_credentials(creds)
            log.info("Anmeldung aus %s in die Datenbank übernommen", self._files.where)
        return creds

    def _import_identity(self) -> CrossSigningKeys | None:
        if self._files is None:
            return None
        keys = self._files.load_identity()
        if keys is not None and self._import:
            self.save_identity(keys)
            log.info("Cross-Signing-Schlüssel aus %s übernommen", self._files.where)
        return keys


def is_postgres(url: str) -> bool:
    return make_url(url).get_backend_name() == "postgresql"


@contextmanager
def opened_login_store(settings: Settings, *, import_files: bool = True) -> Iterator[LoginStore]:
    """The login store ``fkbot run`` uses with these settings: the database with
    PostgreSQL (a store directory from before is read, and with ``import_files`` taken
    over), the store directory's files with SQLite."""
    matrix = settings.matrix
    key = matrix.pickle_key.get_secret_value() if matrix.pickle_key else ""
    if not is_postgres(settings.database.url):
        yield FileLoginStore(matrix.store_path, key)
        return
    engine = make_engine(settings.database.url)
    try:
        yield DatabaseLoginStore(engine, key, matrix.store_path, import_files=import_files)
    finally:
        engine.dispose()
