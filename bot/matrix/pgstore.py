"""nio's crypto store in the project's database, for failover on PostgreSQL (issue 16).

nio keeps a device's end-to-end state (the Olm account, Olm and Megolm sessions, the
devices it knows with their trust marks, encrypted rooms, outgoing key requests) in a
store whose class :class:`nio.AsyncClientConfig` names; its own stores are SQLite files
in ``store_path``, which a standby instance on another machine cannot read. The store
here implements the same interface on the tables ``crypto_*`` (migration
``0013_crypto_store``), keyed by (user id, device id), so an instance that takes over
restores the login and keeps decrypting old and new messages with the same device.

Every pickle is vodozemac's, made by nio with the configured pickle key exactly as in
nio's SQLite store (:func:`nio.crypto.sessions.derive_pickle_key`); what the SQLite store
keeps in clear (device keys, session and room ids, trust marks) is in clear here too.

nio calls the store synchronously from its event loop, as it does its SQLite store; each
call is one short transaction. A failing database raises out of nio's call and, like any
database error of the bot, ends the run (the next run, here or on the standby, starts
from what was committed) rather than going on with a write lost. Each instance that
takes the device over bumps ``crypto_account.epoch``; a write by an instance taken over
since fails with :class:`SupersededError`, so a zombie cannot overwrite newer ratchets
and one-time keys with the stale ones it holds in memory.

:func:`crypto_store_class` picks the store for the configured database: this one on
PostgreSQL, nio's :class:`~nio.store.SqliteStore` (file ``store_path/crypto.db``) on SQLite.
A device that ran on SQLite before is imported from that file once, the first time the
database has no account for it (:meth:`DatabaseCryptoStore.import_sqlite`); the file is
then renamed ``crypto.db.imported``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, ClassVar

from nio.crypto import (
    DeviceStore,
    GroupSessionStore,
    InboundGroupSession,
    OlmAccount,
    OlmDevice,
    OutgoingKeyRequest,
    Session,
    SessionStore,
    TrustState,
)
from nio.store import MatrixStore, SqliteStore
from sqlalchemy import Connection, Engine, Table, delete, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import make_url

from storage.db import make_engine
from storage.models import (
    CryptoAccount,
    CryptoDevice,
    CryptoEncryptedRoom,
    CryptoKeyRequest,
    CryptoMegolmSession,
    CryptoOlmSession,
)

log = logging.getLogger("bot.matrix")

ACCOUNT: Table = CryptoAccount.__table__  # type: ignore[assignment]
OLM: Table = CryptoOlmSession.__table__  # type: ignore[assignment]
MEGOLM: Table = CryptoMegolmSession.__table__  # type: ignore[assignment]
DEVICE: Table = CryptoDevice.__table__  # type: ignore[assignment]
ROOM: Table = CryptoEncryptedRoom.__table__  # type: ignore[assignment]
REQUEST: Table = CryptoKeyRequest.__table__  # type: ignore[assignment]

IMPORTED_SUFFIX = ".imported"  # what an imported SQLite crypto store is renamed to
CHUNK = 500  # rows per multi-row INSERT (PostgreSQL allows 65535 parameters)


def _aware(value: datetime) -> datetime:
    """nio's times are naive local time; the database keeps UTC."""
    return value.astimezone(UTC)


def _naive(value: datetime) -> datetime:
    return value.astimezone().replace(tzinfo=None)


def _chunks(rows: Sequence[dict[str, Any]]) -> Iterator[Sequence[dict[str, Any]]]:
    for start in range(0, len(rows), CHUNK):
        yield rows[start : start + CHUNK]


class NoAccountError(LookupError):
    """A write that needs the device's Olm account before nio has saved one."""


class SupersededError(RuntimeError):
    """Another instance has taken the device over since this one loaded it: this
    instance's state is stale and must not be written (fail-stop; it exits and, if it
    becomes active again, starts over from the database)."""


class DatabaseCryptoStore(MatrixStore):  # type: ignore[misc]  # nio has no type stubs
    """nio's store interface on the ``crypto_*`` tables of an SQLAlchemy engine.

    Not used directly: :func:`database_store` makes a subclass bound to an engine, which
    nio constructs as it constructs its own stores, ``(user_id, device_id, store_path,
    pickle_key, store_name)``. ``store_path``/``store_name`` only locate an SQLite crypto
    store to import once.
    """

    engine: ClassVar[Engine]

    def __init__(
        self,
        user_id: str,
        device_id: str,
        store_path: str = "",
        pickle_key: str = "",
        database_name: str = "",
    ) -> None:
        # MatrixStore's own __init__ would open an SQLite file: not called on purpose.
        self.user_id = user_id
        self.device_id = device_id
        self.store_path = store_path
        self.pickle_key = pickle_key
        self.database_name = database_name or f"{user_id}_{device_id}.db"
        # The account row and the epoch this instance claimed it at (see _claim).
        self._account_id: int | None = None
        self._epoch: int | None = None
        insert = postgresql.insert if self.engine.dialect.name == "postgresql" else sqlite.insert
        self._insert: Callable[[Table], Any] = insert
        if store_path and self._find_account() is None:
            self.import_sqlite(Path(store_path) / self.database_name)
        self._claim()

    def __repr__(self) -> str:  # never the pickle key
        return f"{type(self).__name__}({self.user_id!r}, {self.device_id!r})"

    __eq__ = object.__eq__
    __hash__ = object.__hash__

    @classmethod
    def dispose(cls) -> None:
        """Close the pooled connections (the bot is shutting down)."""
        cls.engine.dispose()

    # -- plumbing ---------------------------------------------------------------------

    @contextmanager
    def _tx(self) -> Iterator[Connection]:
        with self.engine.begin() as conn:
            yield conn

    def _find_account(self, conn: Connection | None = None) -> int | None:
        """The device's account row, if any (a read: claims nothing)."""
        query = select(ACCOUNT.c.id).where(
            ACCOUNT.c.user_id == self.user_id, ACCOUNT.c.device_id == self.device_id
        )
        if conn is None:
            with self.engine.connect() as own:
                found: int | None = own.execute(query).scalar_one_or_none()
        else:
            found = conn.execute(query).scalar_one_or_none()
        return found

    def _claim(self) -> None:
        """Take the device over: bump its epoch, so that every write of an instance that
        held it before fails (:class:`SupersededError`) instead of overwriting newer
        state with the ratchets and one-time keys it still has in memory."""
        with self._tx() as conn:
            row = conn.execute(
                update(ACCOUNT)
                .where(ACCOUNT.c.user_id == self.user_id, ACCOUNT.c.device_id == self.device_id)
                .values(epoch=ACCOUNT.c.epoch + 1)
                .returning(ACCOUNT.c.id, ACCOUNT.c.epoch)
            ).one_or_none()
        if row is not None:
            self._account_id, self._epoch = row.id, row.epoch

    def _account(self, conn: Connection) -> int:
        """The account id for a write in ``conn``, after checking that no other instance
        has claimed the device since this one did (the check locks the account row
        until the transaction ends, so a claim cannot slip in between)."""
        if self._account_id is None or self._epoch is None:
            if self._find_account(conn) is not None:
                raise SupersededError(self._superseded())
            raise NoAccountError(f"Kein Olm-Konto für {self.user_id} ({self.device_id})")
        fenced = conn.execute(
            update(ACCOUNT)
            .where(ACCOUNT.c.id == self._account_id, ACCOUNT.c.epoch == self._epoch)
            .values(epoch=ACCOUNT.c.epoch)
        )
        if fenced.rowcount != 1:
            raise SupersededError(self._superseded())
        return self._account_id

    def _superseded(self) -> str:
        return (
            f"Krypto-Speicher von {self.user_id} ({self.device_id}) wurde von einer anderen "
            "Instanz übernommen: diese schreibt nicht mehr"
        )

    def _upsert(
        self,
        conn: Connection,
        table: Table,
        rows: Sequence[dict[str, Any]],
        keys: Sequence[str],
        update_columns: Sequence[str] = (),
    ) -> None:
        """INSERT … ON CONFLICT (keys) DO UPDATE/NOTHING: PostgreSQL has no REPLACE."""
        for chunk in _chunks(rows):
            stmt = self._insert(table).values(list(chunk))
            if update_columns:
                stmt = stmt.on_conflict_do_update(
                    index_elements=list(keys),
                    set_={name: stmt.excluded[name] for name in update_columns},
                )
            else:
                stmt = stmt.on_conflict_do_nothing(index_elements=list(keys))
            conn.execute(stmt)

    # -- the Olm account ---------------------------------------------------------------

    def load_account(self) -> OlmAccount | None:
        with self.engine.connect() as conn:
            row = conn.execute(
                select(ACCOUNT.c.id, ACCOUNT.c.pickle, ACCOUNT.c.shared).where(
                    ACCOUNT.c.user_id == self.user_id, ACCOUNT.c.device_id == self.device_id
                )
            ).one_or_none()
        if row is None:
            return None
        account = OlmAccount.from_pickle(row.pickle.encode(), self.pickle_key, row.shared)
        if account.upgrade_pickle:  # a libolm pickle (imported): store vodozemac's
            account.upgrade_pickle = False
            self.save_account(account)
        return account

    def save_account(self, account: OlmAccount) -> None:
        with self._tx() as conn:
            self._save_account(conn, account)

    def _save_account(self, conn: Connection, account: OlmAccount) -> None:
        pickle = account.pickle(self.pickle_key).decode()
        if self._epoch is None and self._find_account(conn) is None:
            # nio creates the device's account: the first epoch is this instance's
            stmt = (
                self._insert(ACCOUNT)
                .values(
                    user_id=self.user_id,
                    device_id=self.device_id,
                    pickle=pickle,
                    shared=bool(account.shared),
                    epoch=1,
                )
                .on_conflict_do_nothing(index_elements=["user_id", "device_id"])
                .returning(ACCOUNT.c.id)
            )
            created = conn.execute(stmt).scalar_one_or_none()
            if created is None:  # another instance was quicker
                raise SupersededError(self._superseded())
            self._account_id, self._epoch = created, 1
            return
        account_id = self._account(conn)
        conn.execute(
            update(ACCOUNT)
            .where(ACCOUNT.c.id == account_id)
            .values(pickle=pickle, shared=bool(account.shared))
        )

    # -- Olm sessions --------------------------------------------------------------------

    def load_sessions(self) -> SessionStore:
        store = SessionStore()
        with self.engine.connect() as conn:
            account_id = self._find_account(conn)
            if account_id is None:
                return store
            rows = conn.execute(select(OLM).where(OLM.c.account_id == account_id)).all()
        for row in rows:
            session = Session.from_pickle(
                row.pickle.encode(), _naive(row.created_at), self.pickle_key, _naive(row.used_at)
            )
            store.add(row.sender_key, session)
            if session.upgrade_pickle:
                session.upgrade_pickle = False
                self.save_session(row.sender_key, session)
        return store

    def save_session(self, curve_key: str, session: Session) -> None:
        with self._tx() as conn:
            self._save_sessions(conn, [(curve_key, session)])

    def _save_sessions(self, conn: Connection, sessions: Iterable[tuple[str, Session]]) -> None:
        account_id = self._account(conn)
        rows = [
            {
                "account_id": account_id,
                "session_id": session.id,
                "sender_key": curve_key,
                "pickle": session.pickle(self.pickle_key).decode(),
                "created_at": _aware(session.creation_time),
                "used_at": _aware(session.use_time),
            }
            for curve_key, session in sessions
        ]
        self._upsert(
            conn,
            OLM,
            rows,
            ["account_id", "session_id"],
            ["sender_key", "pickle", "used_at"],
        )

    # -- Megolm inbound sessions (room keys) -----------------------------------------------

    def load_inbound_group_sessions(self) -> GroupSessionStore:
        store = GroupSessionStore()
        with self.engine.connect() as conn:
            account_id = self._find_account(conn)
            if account_id is None:
                return store
            rows = conn.execute(select(MEGOLM).where(MEGOLM.c.account_id == account_id)).all()
        for row in rows:
            session = InboundGroupSession.from_pickle(
                row.pickle.encode(),
                row.signing_key,
                row.sender_key,
                row.room_id,
                self.pickle_key,
                list(row.forwarding_chain),
            )
            store.add(session)
            if session.upgrade_pickle:
                session.upgrade_pickle = False
                self.save_inbound_group_session(session)
        return store

    def save_inbound_group_session(self, session: InboundGroupSession) -> None:
        with self._tx() as conn:
            self._save_group_sessions(conn, [session])

    def _save_group_sessions(
        self, conn: Connection, sessions: Iterable[InboundGroupSession]
    ) -> None:
        account_id = self._account(conn)
        rows = [
            {
                "account_id": account_id,
                "room_id": session.room_id,
                "sender_key": session.sender_key,
                "session_id": session.id,
                "signing_key": session.ed25519,
                "pickle": session.pickle(self.pickle_key).decode(),
                "forwarding_chain": list(session.forwarding_chain or []),
            }
            for session in sessions
        ]
        self._upsert(
            conn,
            MEGOLM,
            rows,
            ["account_id", "room_id", "sender_key", "session_id"],
            ["pickle", "forwarding_chain"],
        )

    # -- devices and their trust ------------------------------------------------------------

    def load_device_keys(self) -> DeviceStore:
        store = DeviceStore()
        with self.engine.connect() as conn:
            account_id = self._find_account(conn)
            if account_id is None:
                return store
            rows = conn.execute(select(DEVICE).where(DEVICE.c.account_id == account_id)).all()
        for row in rows:
            store.add(
                OlmDevice(
                    row.user_id,
                    row.device_id,
                    dict(row.keys),
                    display_name=row.display_name,
                    deleted=row.deleted,
                    trust_state=TrustState(row.trust_state),
                )
            )
        return store

    def save_device_keys(self, device_keys: Mapping[str, Mapping[str, OlmDevice]]) -> None:
        devices = [d for per_user in device_keys.values() for d in per_user.values()]
        if not devices:
            return
        with self._tx() as conn:
            self._save_devices(conn, devices, with_trust=False)

    def _device_row(self, account_id: int, device: OlmDevice) -> dict[str, Any]:
        return {
            "account_id": account_id,
            "user_id": device.user_id,
            "device_id": device.id,
            "display_name": device.display_name or "",
            "deleted": bool(device.deleted),
            "keys": dict(device.keys),
            "trust_state": device.trust_state.value,
        }

    def _save_devices(
        self, conn: Connection, devices: Sequence[OlmDevice], *, with_trust: bool
    ) -> None:
        """Keys, name and deletion as nio has them now; the trust mark of a device already
        stored stays (it changes only through verify/blacklist/ignore), unless
        ``with_trust`` (an import)."""
        account_id = self._account(conn)
        rows = [self._device_row(account_id, device) for device in devices]
        columns = ["display_name", "deleted", "keys"] + (["trust_state"] if with_trust else [])
        self._upsert(conn, DEVICE, rows, ["account_id", "user_id", "device_id"], columns)

    def _trust(self, device: OlmDevice) -> TrustState:
        with self.engine.connect() as conn:
            account_id = self._find_account(conn)
            if account_id is None:
                return TrustState.unset
            state = conn.execute(
                select(DEVICE.c.trust_state).where(
                    DEVICE.c.account_id == account_id,
                    DEVICE.c.user_id == device.user_id,
                    DEVICE.c.device_id == device.id,
                )
            ).scalar_one_or_none()
        return TrustState.unset if state is None else TrustState(state)

    def _set_trust(self, devices: Sequence[OlmDevice], state: TrustState) -> None:
        """Mark the devices (stored first if nio had not saved them yet)."""
        with self._tx() as conn:
            account_id = self._account(conn)
            rows = [self._device_row(account_id, d) | {"trust_state": state.value} for d in devices]
            self._upsert(
                conn, DEVICE, rows, ["account_id", "user_id", "device_id"], ["trust_state"]
            )
        for device in devices:
            device.trust_state = state

    def _change(self, device: OlmDevice, state: TrustState, *, unless: TrustState) -> bool:
        if self._trust(device) == unless:
            return False
        self._set_trust([device], state)
        return True

    def _clear(self, device: OlmDevice, state: TrustState) -> bool:
        if self._trust(device) != state:
            return False
        self._set_trust([device], TrustState.unset)
        return True

    def verify_device(self, device: OlmDevice) -> bool:
        return self._change(device, TrustState.verified, unless=TrustState.verified)

    def unverify_device(self, device: OlmDevice) -> bool:
        return self._clear(device, TrustState.verified)

    def is_device_verified(self, device: OlmDevice) -> bool:
        return bool(self._trust(device) == TrustState.verified)

    def blacklist_device(self, device: OlmDevice) -> bool:
        return self._change(device, TrustState.blacklisted, unless=TrustState.blacklisted)

    def unblacklist_device(self, device: OlmDevice) -> bool:
        return self._clear(device, TrustState.blacklisted)

    def is_device_blacklisted(self, device: OlmDevice) -> bool:
        return bool(self._trust(device) == TrustState.blacklisted)

    def ignore_device(self, device: OlmDevice) -> bool:
        return self._change(device, TrustState.ignored, unless=TrustState.ignored)

    def unignore_device(self, device: OlmDevice) -> bool:
        return self._clear(device, TrustState.ignored)

    def ignore_devices(self, devices: list[OlmDevice]) -> None:
        if devices:
            self._set_trust(devices, TrustState.ignored)

    def is_device_ignored(self, device: OlmDevice) -> bool:
        return bool(self._trust(device) == TrustState.ignored)

    # -- encrypted rooms -------------------------------------------------------------------

    def load_encrypted_rooms(self) -> set[str]:
        with self.engine.connect() as conn:
            account_id = self._find_account(conn)
            if account_id is None:
                return set()
            query = select(ROOM.c.room_id).where(ROOM.c.account_id == account_id)
            return set(conn.execute(query).scalars())

    def save_encrypted_rooms(self, rooms: Iterable[str]) -> None:
        with self._tx() as conn:
            self._save_rooms(conn, rooms)

    def _save_rooms(self, conn: Connection, rooms: Iterable[str]) -> None:
        account_id = self._account(conn)
        rows = [{"account_id": account_id, "room_id": room_id} for room_id in sorted(rooms)]
        self._upsert(conn, ROOM, rows, ["account_id", "room_id"])

    def delete_encrypted_room(self, room: str) -> None:
        with self._tx() as conn:
            account_id = self._account(conn)
            conn.execute(
                delete(ROOM).where(ROOM.c.account_id == account_id, ROOM.c.room_id == room)
            )

    # -- outgoing key requests ---------------------------------------------------------------

    def load_outgoing_key_requests(self) -> dict[str, OutgoingKeyRequest]:
        with self.engine.connect() as conn:
            account_id = self._find_account(conn)
            if account_id is None:
                return {}
            rows = conn.execute(select(REQUEST).where(REQUEST.c.account_id == account_id)).all()
        return {
            row.request_id: OutgoingKeyRequest(
                row.request_id, row.session_id, row.room_id, row.algorithm
            )
            for row in rows
        }

    def add_outgoing_key_request(self, key_request: OutgoingKeyRequest) -> None:
        with self._tx() as conn:
            self._add_requests(conn, [key_request])

    def _add_requests(self, conn: Connection, requests: Iterable[OutgoingKeyRequest]) -> None:
        account_id = self._account(conn)
        rows = [
            {
                "account_id": account_id,
                "request_id": r.request_id,
                "session_id": r.session_id,
                "room_id": r.room_id,
                "algorithm": r.algorithm,
            }
            for r in requests
        ]
        self._upsert(conn, REQUEST, rows, ["account_id", "request_id"])

    def remove_outgoing_key_request(self, key_request: OutgoingKeyRequest) -> None:
        with self._tx() as conn:
            account_id = self._account(conn)
            conn.execute(
                delete(REQUEST).where(
                    REQUEST.c.account_id == account_id,
                    REQUEST.c.request_id == key_request.request_id,
                )
            )

    # -- sync token (only with AsyncClientConfig(store_sync_tokens=True)) ------------------

    def save_sync_token(self, token: str) -> None:
        with self._tx() as conn:
            account_id = self._account(conn)
            conn.execute(update(ACCOUNT).where(ACCOUNT.c.id == account_id).values(sync_token=token))

    def load_sync_token(self) -> str | None:
        with self.engine.connect() as conn:
            token: str | None = conn.execute(
                select(ACCOUNT.c.sync_token).where(
                    ACCOUNT.c.user_id == self.user_id, ACCOUNT.c.device_id == self.device_id
                )
            ).scalar_one_or_none()
        return token

    # -- moving over from nio's SQLite store -------------------------------------------------

    def import_sqlite(self, path: Path) -> bool:
        """Copy this device's state from nio's SQLite crypto store at ``path`` (the file the
        bot used before it ran on PostgreSQL), in one transaction; True if it did.

        Done only while the database has no account for the device: once an instance has
        written here, a file is stale and ignored. The imported file is renamed
        ``<name>.imported`` (kept, never read again).
        """
        if not path.is_file():
            return False
        old = SqliteStore(
            self.user_id, self.device_id, str(path.parent), self.pickle_key, path.name
        )
        try:
            account = old.load_account()
            if account is None:
                return False
            sessions = [(key, s) for key, ss in old.load_sessions().items() for s in ss]
            group_sessions = list(old.load_inbound_group_sessions())
            devices = list(old.load_device_keys())
            rooms = old.load_encrypted_rooms()
            requests = list(old.load_outgoing_key_requests().values())
            token = old.load_sync_token()
        finally:
            old.database.close()
        try:
            self._import(account, sessions, group_sessions, devices, rooms, requests, token)
        except SupersededError:
            return False  # another instance was quicker: its state stands
        # Out of the way: were the database ever emptied, a stale copy of the device
        # (one-time keys used since, old ratchets) must not be imported again.
        moved = path.with_name(path.name + IMPORTED_SUFFIX)
        try:
            path.rename(moved)
        except OSError as exc:
            log.error("%s nicht umbenannt (%s): bitte von Hand entfernen", path, exc.strerror)
            moved = path
        log.warning(
            "Krypto-Speicher aus %s in die Datenbank übernommen (%d Olm-, %d Megolm-Sitzungen, "
            "%d Geräte); die Datei (jetzt %s) wird nicht mehr benutzt",
            path,
            len(sessions),
            len(group_sessions),
            len(devices),
            moved.name,
        )
        return True

    def _import(
        self,
        account: OlmAccount,
        sessions: list[tuple[str, Session]],
        group_sessions: list[InboundGroupSession],
        devices: list[OlmDevice],
        rooms: set[str],
        requests: list[OutgoingKeyRequest],
        token: str | None,
    ) -> None:
        with self._tx() as conn:
            if self._find_account(conn) is not None:
                raise SupersededError(self._superseded())
            self._save_account(conn, account)
            self._save_sessions(conn, sessions)
            self._save_group_sessions(conn, group_sessions)
            self._save_devices(conn, devices, with_trust=True)
            self._save_rooms(conn, rooms)
            self._add_requests(conn, requests)
            if token is not None:
                conn.execute(
                    update(ACCOUNT).where(ACCOUNT.c.id == self._account_id).values(sync_token=token)
                )


def database_store(engine: Engine) -> type[DatabaseCryptoStore]:
    """A store class on ``engine`` that nio constructs like its own stores."""
    name = f"{engine.dialect.name.capitalize()}CryptoStore"
    return type(name, (DatabaseCryptoStore,), {"engine": engine})


def postgres_store(url: str) -> type[DatabaseCryptoStore]:
    """A store class on the PostgreSQL database at ``url`` (its own small pool)."""
    if make_url(url).get_backend_name() != "postgresql":
        raise ValueError(f"keine PostgreSQL-URL: {make_url(url).render_as_string()}")
    return database_store(make_engine(url))


def crypto_store_class(database_url: str | None) -> type[MatrixStore]:
    """The store for the bot's database: on PostgreSQL the database itself (a standby can
    take over), otherwise nio's SQLite file in ``store_path``."""
    if database_url and make_url(database_url).get_backend_name() == "postgresql":
        return postgres_store(database_url)
    return SqliteStore  # type: ignore[no-any-return]
