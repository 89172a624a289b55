"""nio's crypto store in the database (bot.matrix.pgstore): every kind of state survives a
fresh store instance (a failover), pickles stay encrypted with the pickle key, several
devices share the database, and a device's SQLite crypto store is imported once.

Runs on both backends; the bot uses it on PostgreSQL (on SQLite nio keeps its own file).
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import vodozemac
from nio import AsyncClient, AsyncClientConfig
from nio.crypto import (
    InboundGroupSession,
    OlmAccount,
    OlmDevice,
    OutgoingKeyRequest,
    TrustState,
)
from nio.crypto.sessions import InboundSession, OutboundGroupSession, OutboundSession
from nio.store import SqliteStore
from sqlalchemy import Engine, select

from bot.config import MatrixConfig
from bot.matrix.gateway import MatrixGateway
from bot.matrix.pgstore import (
    DatabaseCryptoStore,
    SupersededError,
    crypto_store_class,
    database_store,
    postgres_store,
)
from storage.db import make_engine
from storage.models import (
    Base,
    CryptoAccount,
    CryptoDevice,
    CryptoMegolmSession,
    CryptoOlmSession,
)

BOT = "@fkbot:fk.test"
DEVICE = "FKBOT01"
KEY = "pickle-key-for-tests-only-0123456789abcdef"
ROOM = "!konferenz:fk.test"
BOB = "@bob:fk.test"


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    engine = make_engine(db_url)
    yield engine
    engine.dispose()


@pytest.fixture
def store_cls(engine: Engine) -> type[DatabaseCryptoStore]:
    return database_store(engine)


def _store(
    cls: type[DatabaseCryptoStore], device: str = DEVICE, key: str = KEY
) -> DatabaseCryptoStore:
    return cls(BOT, device, "", key, "")


def _peer() -> tuple[OlmAccount, str, str]:
    """Bob's account, Curve25519 key and one one-time key."""
    bob = OlmAccount()
    bob.generate_one_time_keys(1)
    (otk,) = bob.one_time_keys["curve25519"].values()
    return bob, bob.identity_keys["curve25519"], otk


def _device(device_id: str = "BOBDEV", **keys: str) -> OlmDevice:
    keys = keys or {"ed25519": "ed-" + device_id, "curve25519": "cu-" + device_id}
    return OlmDevice(BOB, device_id, keys, display_name="Bob")


# -- nothing stored yet ------------------------------------------------------------------


def test_an_empty_database_has_nothing_for_the_device(store_cls: type[DatabaseCryptoStore]) -> None:
    store = _store(store_cls)
    assert store.load_account() is None
    assert list(store.load_sessions()) == []
    assert list(store.load_inbound_group_sessions()) == []
    assert list(store.load_device_keys()) == []
    assert store.load_encrypted_rooms() == set()
    assert store.load_outgoing_key_requests() == {}
    assert store.load_sync_token() is None


# -- every kind round-trips through a fresh instance ----------------------------------------


def test_the_account_survives_with_its_keys_and_shared_flag(
    store_cls: type[DatabaseCryptoStore],
) -> None:
    account = OlmAccount()
    _store(store_cls).save_account(account)
    account.shared = True
    account.generate_one_time_keys(3)
    _store(store_cls).save_account(account)  # an update, not a second row

    loaded = _store(store_cls).load_account()
    assert loaded is not None
    assert loaded.identity_keys == account.identity_keys
    assert loaded.shared is True
    assert loaded.one_time_keys == account.one_time_keys
    assert loaded.sign("probe") == account.sign("probe")


def test_an_olm_session_survives_and_still_encrypts_for_its_peer(
    store_cls: type[DatabaseCryptoStore],
) -> None:
    ours = OlmAccount()
    _store(store_cls).save_account(ours)
    bob, bob_curve, otk = _peer()
    session = OutboundSession(ours, bob_curve, otk)
    session.use_time = session.creation_time + timedelta(minutes=5)
    _store(store_cls).save_session(bob_curve, session)
    _store(store_cls).save_session(bob_curve, session)  # saved again after use: one row

    sessions = _store(store_cls).load_sessions()
    loaded = sessions.get(bob_curve)
    assert loaded is not None
    assert len(sessions[bob_curve]) == 1
    assert loaded.id == session.id
    assert abs(loaded.creation_time - session.creation_time) < timedelta(milliseconds=1)
    assert abs(loaded.use_time - session.use_time) < timedelta(milliseconds=1)
    message = loaded.encrypt("nach dem Wechsel")
    inbound = InboundSession(bob, message, ours.identity_keys["curve25519"])
    assert inbound.decrypt(message) == "nach dem Wechsel"


def test_a_megolm_session_survives_and_decrypts_the_room(
    store_cls: type[DatabaseCryptoStore],
) -> None:
    _store(store_cls).save_account(OlmAccount())
    outbound = OutboundGroupSession()
    outbound.shared = True
    inbound = InboundGroupSession(
        outbound.session_key, "alice-ed25519", "alice-curve", ROOM, forwarding_chain=["fwd-1"]
    )
    before = outbound.encrypt("vorher")
    _store(store_cls).save_inbound_group_session(inbound)
    _store(store_cls).save_inbound_group_session(inbound)  # saved again: one row
    after = outbound.encrypt("nachher")

    (loaded,) = list(_store(store_cls).load_inbound_group_sessions())
    assert (loaded.id, loaded.room_id, loaded.sender_key, loaded.ed25519) == (
        outbound.id,
        ROOM,
        "alice-curve",
        "alice-ed25519",
    )
    assert loaded.forwarding_chain == ["fwd-1"]
    assert loaded.decrypt(before)[0] == "vorher"
    assert loaded.decrypt(after)[0] == "nachher"


def test_devices_survive_with_their_trust_marks(store_cls: type[DatabaseCryptoStore]) -> None:
    store = _store(store_cls)
    store.save_account(OlmAccount())
    verified, blacklisted, ignored, plain = (
        _device(d) for d in ("VERIFIED", "BLACK", "IGNORED", "PLAIN")
    )
    everyone = {BOB: {d.id: d for d in (verified, blacklisted, ignored, plain)}}
    store.save_device_keys(everyone)
    assert store.verify_device(verified) is True
    assert store.verify_device(verified) is False  # already
    assert store.blacklist_device(blacklisted) is True
    store.ignore_devices([ignored])
    assert verified.trust_state == TrustState.verified
    # nio saves the keys again on every key query: the marks stay
    verified.display_name = "Bob (neu)"
    store.save_device_keys(everyone)

    fresh = _store(store_cls)
    loaded = {d.id: d for d in fresh.load_device_keys()}
    assert {d: loaded[d].trust_state for d in loaded} == {
        "VERIFIED": TrustState.verified,
        "BLACK": TrustState.blacklisted,
        "IGNORED": TrustState.ignored,
        "PLAIN": TrustState.unset,
    }
    assert loaded["VERIFIED"].display_name == "Bob (neu)"
    assert loaded["PLAIN"].keys == {"ed25519": "ed-PLAIN", "curve25519": "cu-PLAIN"}
    assert fresh.is_device_verified(verified)
    assert fresh.is_device_blacklisted(blacklisted)
    assert fresh.is_device_ignored(ignored)
    assert not fresh.is_device_verified(plain)

    assert fresh.unverify_device(verified) is True
    assert fresh.unverify_device(verified) is False
    assert fresh.unblacklist_device(blacklisted) is True
    assert fresh.unignore_device(ignored) is True
    assert fresh.ignore_device(plain) is True
    assert verified.trust_state == TrustState.unset
    assert {d.id: d.trust_state for d in _store(store_cls).load_device_keys()} == {
        "VERIFIED": TrustState.unset,
        "BLACK": TrustState.unset,
        "IGNORED": TrustState.unset,
        "PLAIN": TrustState.ignored,
    }


def test_a_device_nio_had_not_saved_yet_can_be_marked(
    store_cls: type[DatabaseCryptoStore],
) -> None:
    store = _store(store_cls)
    store.save_account(OlmAccount())
    stranger = _device("NEU")
    assert store.blacklist_device(stranger) is True
    (loaded,) = list(_store(store_cls).load_device_keys())
    assert (loaded.id, loaded.trust_state) == ("NEU", TrustState.blacklisted)


def test_rooms_key_requests_and_sync_token_survive(store_cls: type[DatabaseCryptoStore]) -> None:
    store = _store(store_cls)
    store.save_account(OlmAccount())
    store.save_encrypted_rooms({ROOM, "!zwei:fk.test"})
    store.save_encrypted_rooms({ROOM})  # again: nothing doubles
    first = OutgoingKeyRequest("req-1", "sess-1", ROOM, "m.megolm.v1.aes-sha2")
    second = OutgoingKeyRequest("req-2", "sess-2", ROOM, "m.megolm.v1.aes-sha2")
    store.add_outgoing_key_request(first)
    store.add_outgoing_key_request(first)
    store.add_outgoing_key_request(second)
    store.save_sync_token("s1_2_3")
    store.save_sync_token("s4_5_6")

    fresh = _store(store_cls)
    assert fresh.load_encrypted_rooms() == {ROOM, "!zwei:fk.test"}
    assert fresh.load_outgoing_key_requests() == {"req-1": first, "req-2": second}
    assert fresh.load_sync_token() == "s4_5_6"

    fresh.delete_encrypted_room("!zwei:fk.test")
    fresh.remove_outgoing_key_request(first)
    again = _store(store_cls)
    assert again.load_encrypted_rooms() == {ROOM}
    assert again.load_outgoing_key_requests() == {"req-2": second}


def test_two_devices_share_the_database_without_seeing_each_other(
    store_cls: type[DatabaseCryptoStore],
) -> None:
    one, two = OlmAccount(), OlmAccount()
    _store(store_cls, "EINS").save_account(one)
    _store(store_cls, "ZWEI").save_account(two)
    _store(store_cls, "EINS").save_encrypted_rooms({ROOM})
    outbound = OutboundGroupSession()
    # the same room key reaches both devices: each keeps its own copy
    for device in ("EINS", "ZWEI"):
        _store(store_cls, device).save_inbound_group_session(
            InboundGroupSession(outbound.session_key, "ed", "curve", ROOM)
        )
    _store(store_cls, "ZWEI").verify_device(_device())

    first, second = _store(store_cls, "EINS"), _store(store_cls, "ZWEI")
    assert first.load_account().identity_keys == one.identity_keys  # type: ignore[union-attr]
    assert second.load_account().identity_keys == two.identity_keys  # type: ignore[union-attr]
    assert first.load_encrypted_rooms() == {ROOM}
    assert second.load_encrypted_rooms() == set()
    assert len(list(first.load_inbound_group_sessions())) == 1
    assert len(list(second.load_inbound_group_sessions())) == 1
    assert list(first.load_device_keys()) == []
    assert not first.is_device_verified(_device())
    assert second.is_device_verified(_device())


def test_an_instance_taken_over_can_no_longer_write(
    store_cls: type[DatabaseCryptoStore],
) -> None:
    """A zombie (the old active instance, cut off but still running) must not overwrite
    the new instance's ratchets and one-time keys with its stale ones."""
    account = OlmAccount()
    old = _store(store_cls)
    old.save_account(account)
    old.save_encrypted_rooms({ROOM})
    new = _store(store_cls)  # the standby takes over
    _, bob_curve, otk = _peer()
    session = OutboundSession(account, bob_curve, otk)
    writes = [
        lambda: old.save_account(account),
        lambda: old.save_session(bob_curve, session),
        lambda: old.save_inbound_group_session(
            InboundGroupSession(OutboundGroupSession().session_key, "ed", "curve", ROOM)
        ),
        lambda: old.save_device_keys({BOB: {"BOBDEV": _device()}}),
        lambda: old.verify_device(_device()),
        lambda: old.ignore_devices([_device()]),
        lambda: old.save_encrypted_rooms({"!zwei:fk.test"}),
        lambda: old.delete_encrypted_room(ROOM),
        lambda: old.add_outgoing_key_request(OutgoingKeyRequest("r", "s", ROOM, "m")),
        lambda: old.remove_outgoing_key_request(OutgoingKeyRequest("r", "s", ROOM, "m")),
        lambda: old.save_sync_token("alt"),
    ]
    for write in writes:
        with pytest.raises(SupersededError):
            write()
    # reads still work, and the new instance writes as before
    assert old.load_encrypted_rooms() == {ROOM}
    new.save_session(bob_curve, session)
    new.save_encrypted_rooms({"!zwei:fk.test"})
    assert _store(store_cls).load_encrypted_rooms() == {ROOM, "!zwei:fk.test"}
    assert list(_store(store_cls).load_device_keys()) == []


def test_two_instances_creating_the_device_at_once_cannot_both_win(
    store_cls: type[DatabaseCryptoStore],
) -> None:
    first, second = _store(store_cls), _store(store_cls)
    winner = OlmAccount()
    first.save_account(winner)
    with pytest.raises(SupersededError):
        second.save_account(OlmAccount())
    loaded = _store(store_cls).load_account()
    assert loaded is not None
    assert loaded.identity_keys == winner.identity_keys


def test_a_write_before_the_account_is_refused(store_cls: type[DatabaseCryptoStore]) -> None:
    with pytest.raises(LookupError):
        _store(store_cls).save_encrypted_rooms({ROOM})


# -- the pickles stay encrypted ------------------------------------------------------------


def _pickles(engine: Engine) -> dict[str, list[str]]:
    with engine.connect() as conn:
        return {
            model.__tablename__: list(conn.execute(select(model.pickle)).scalars())  # type: ignore[attr-defined]
            for model in (CryptoAccount, CryptoOlmSession, CryptoMegolmSession)
        }


def test_pickles_are_encrypted_with_the_pickle_key(
    store_cls: type[DatabaseCryptoStore], engine: Engine
) -> None:
    account = OlmAccount()
    store = _store(store_cls)
    store.save_account(account)
    _, bob_curve, otk = _peer()
    store.save_session(bob_curve, OutboundSession(account, bob_curve, otk))
    outbound = OutboundGroupSession()
    store.save_inbound_group_session(InboundGroupSession(outbound.session_key, "ed", "curve", ROOM))
    exported = InboundGroupSession(outbound.session_key, "ed", "curve", ROOM).export_session(0)

    pickles = _pickles(engine)
    assert all(len(rows) == 1 for rows in pickles.values()), pickles
    everything = " ".join(p for rows in pickles.values() for p in rows)
    # the room key itself (as nio would export it) is nowhere in clear
    assert outbound.session_key not in everything
    assert exported not in everything
    # each pickle opens with the configured key and with no other
    (account_pickle,) = pickles["crypto_account"]
    (olm_pickle,) = pickles["crypto_olm_session"]
    (megolm_pickle,) = pickles["crypto_megolm_session"]
    for wrong in ("", "a-different-pickle-key-0123456789abcdef"):
        with pytest.raises((vodozemac.PickleException, vodozemac.LibolmPickleException)):
            OlmAccount.from_pickle(account_pickle.encode(), wrong)
        with pytest.raises((vodozemac.PickleException, vodozemac.LibolmPickleException)):
            InboundGroupSession.from_pickle(megolm_pickle.encode(), "ed", "curve", ROOM, wrong)
    assert OlmAccount.from_pickle(account_pickle.encode(), KEY).identity_keys == (
        account.identity_keys
    )
    assert olm_pickle != account_pickle

    # a store opened with the wrong key cannot load the account
    with pytest.raises((vodozemac.PickleException, vodozemac.LibolmPickleException)):
        _store(store_cls, key="a-different-pickle-key-0123456789abcdef").load_account()


def test_no_other_column_holds_a_pickle(
    store_cls: type[DatabaseCryptoStore], engine: Engine
) -> None:
    """What the SQLite store keeps in clear is all that is in clear here."""
    crypto_tables = [t for t in Base.metadata.sorted_tables if t.name.startswith("crypto_")]
    assert {c.name for t in crypto_tables for c in t.c if c.name == "pickle"} == {"pickle"}
    assert {t.name for t in crypto_tables if "pickle" in t.c} == {
        "crypto_account",
        "crypto_olm_session",
        "crypto_megolm_session",
    }
    assert "pickle" not in CryptoDevice.__table__.c


# -- nio itself on the store -------------------------------------------------------------


def _client(store: type[Any], path: Path) -> AsyncClient:
    config = AsyncClientConfig(store=store, encryption_enabled=True, pickle_key=KEY)
    client = AsyncClient("http://127.0.0.1:1", BOT, DEVICE, str(path), config=config)
    client.restore_login(BOT, DEVICE, "token")
    return client


def test_a_second_nio_client_finds_the_same_device(
    store_cls: type[DatabaseCryptoStore], tmp_path: Path
) -> None:
    first = _client(store_cls, tmp_path / "a")
    keys = first.olm.account.identity_keys
    first.olm.account.shared = True
    first.olm.save_account()
    first.store.save_encrypted_rooms({ROOM})
    asyncio.run(first.close())

    second = _client(store_cls, tmp_path / "b")  # another machine: nothing on its disk
    assert second.olm.account.identity_keys == keys
    assert not second.should_upload_keys  # no new device keys to publish
    assert second.encrypted_rooms == {ROOM}
    asyncio.run(second.close())


# -- one-time import from nio's SQLite store -------------------------------------------------


def test_an_sqlite_crypto_store_is_imported_once(
    store_cls: type[DatabaseCryptoStore], tmp_path: Path
) -> None:
    old = SqliteStore(BOT, DEVICE, str(tmp_path), KEY, "crypto.db")
    account = OlmAccount()
    account.shared = True
    old.save_account(account)
    _, bob_curve, otk = _peer()
    session = OutboundSession(account, bob_curve, otk)
    old.save_session(bob_curve, session)
    outbound = OutboundGroupSession()
    old.save_inbound_group_session(
        InboundGroupSession(outbound.session_key, "ed", "curve", ROOM, ["fwd"])
    )
    trusted, other = _device("TRUSTED"), _device("OTHER")
    old.save_device_keys({BOB: {"TRUSTED": trusted, "OTHER": other}})
    old.verify_device(trusted)
    old.save_encrypted_rooms({ROOM})
    request = OutgoingKeyRequest("req", "sess", ROOM, "m.megolm.v1.aes-sha2")
    old.add_outgoing_key_request(request)
    old.save_sync_token("s9")
    old.database.close()

    store = store_cls(BOT, DEVICE, str(tmp_path), KEY, "crypto.db")
    loaded = store.load_account()
    assert loaded is not None
    assert loaded.identity_keys == account.identity_keys
    assert loaded.shared is True
    assert [s.id for s in store.load_sessions()[bob_curve]] == [session.id]
    (group,) = list(store.load_inbound_group_sessions())
    assert (group.id, group.forwarding_chain) == (outbound.id, ["fwd"])
    assert {d.id: d.trust_state for d in store.load_device_keys()} == {
        "TRUSTED": TrustState.verified,
        "OTHER": TrustState.unset,
    }
    assert store.load_encrypted_rooms() == {ROOM}
    assert store.load_outgoing_key_requests() == {"req": request}
    assert store.load_sync_token() == "s9"

    # the file is set aside (kept); later changes live in the database only
    assert not (tmp_path / "crypto.db").exists()
    assert (tmp_path / "crypto.db.imported").is_file()
    store.save_encrypted_rooms({"!neu:fk.test"})
    again = store_cls(BOT, DEVICE, str(tmp_path), KEY, "crypto.db")
    assert again.load_encrypted_rooms() == {ROOM, "!neu:fk.test"}


def test_a_stale_sqlite_file_is_ignored_once_the_database_has_the_device(
    store_cls: type[DatabaseCryptoStore], tmp_path: Path
) -> None:
    current = OlmAccount()
    _store(store_cls).save_account(current)
    old = SqliteStore(BOT, DEVICE, str(tmp_path), KEY, "crypto.db")
    old.save_account(OlmAccount())
    old.database.close()

    store = store_cls(BOT, DEVICE, str(tmp_path), KEY, "crypto.db")
    loaded = store.load_account()
    assert loaded is not None
    assert loaded.identity_keys == current.identity_keys
    assert (tmp_path / "crypto.db").is_file()  # not touched


def test_without_an_sqlite_file_nothing_is_imported(
    store_cls: type[DatabaseCryptoStore], tmp_path: Path
) -> None:
    store = store_cls(BOT, DEVICE, str(tmp_path), KEY, "crypto.db")
    assert store.load_account() is None
    assert not (tmp_path / "crypto.db").exists()  # no empty SQLite file left behind


# -- which store the gateway uses -----------------------------------------------------------


def test_the_gateway_keeps_crypto_state_in_postgresql_only_there(tmp_path: Path) -> None:
    assert crypto_store_class(None) is SqliteStore
    assert crypto_store_class(f"sqlite:///{tmp_path / 'fk.sqlite3'}") is SqliteStore
    pg = crypto_store_class("postgresql+psycopg://fk@db.invalid/fk")
    assert issubclass(pg, DatabaseCryptoStore)
    pg.dispose()  # type: ignore[attr-defined]
    with pytest.raises(ValueError, match="PostgreSQL"):
        postgres_store(f"sqlite:///{tmp_path / 'fk.sqlite3'}")

    config = MatrixConfig(
        homeserver="http://127.0.0.1:1",
        user_id=BOT,
        device_id=DEVICE,
        store_path=tmp_path / "store",
        allowed_homeservers=("fk.test",),
    )
    on_pg = MatrixGateway(
        config, pickle_key=KEY, database_url="postgresql+psycopg://fk@db.invalid/fk"
    )
    assert issubclass(on_pg.client.config.store, DatabaseCryptoStore)
    asyncio.run(on_pg.close())
    on_sqlite = MatrixGateway(
        config, pickle_key=KEY, database_url=f"sqlite:///{tmp_path / 'fk.sqlite3'}"
    )
    assert on_sqlite.client.config.store is SqliteStore
    asyncio.run(on_sqlite.close())
    assert MatrixGateway(config, pickle_key=KEY).client.config.store is SqliteStore


def test_naive_times_come_back_as_nio_gave_them(store_cls: type[DatabaseCryptoStore]) -> None:
    """nio's session times are naive local time; the database keeps them as UTC."""
    ours = OlmAccount()
    _store(store_cls).save_account(ours)
    _, bob_curve, otk = _peer()
    session = OutboundSession(ours, bob_curve, otk)
    session.creation_time = datetime(2027, 3, 28, 1, 30)  # before the DST change in Berlin
    session.use_time = datetime(2027, 3, 28, 4, 30)  # after it
    _store(store_cls).save_session(bob_curve, session)
    loaded = _store(store_cls).load_sessions().get(bob_curve)
    assert loaded is not None
    assert (loaded.creation_time, loaded.use_time) == (session.creation_time, session.use_time)
