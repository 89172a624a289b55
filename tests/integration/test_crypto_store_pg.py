"""Failover with nio's crypto store in PostgreSQL (bot.matrix.pgstore), on a real Synapse.

A client whose crypto store is the database receives and decrypts a message in an
encrypted room; then it is dropped without logging out, as a crashed instance would be.
A new client on another (empty) store directory, with the same user, device and access
token and the same database (no new login, no new device), decrypts the old message from
the room's history with the stored room key, a new message whose room key arrives over
the stored Olm session, and its own reply is decrypted by the other member.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest
from nio import DevicesResponse, RoomMessagesResponse, RoomMessageText
from sqlalchemy import func, select

from bot.matrix.pgstore import DatabaseCryptoStore, database_store
from bot.testing.botrun import BotSetup, InProcessBot
from bot.testing.inroom import People, open_room
from bot.testing.peers import Participant
from bot.testing.synapse import SynapseServer
from storage.db import make_engine
from storage.models import CryptoAccount, CryptoMegolmSession

pytestmark = pytest.mark.synapse


def _store_on(url: str, engines: list[type[DatabaseCryptoStore]]) -> type[DatabaseCryptoStore]:
    """A store class with its own engine: each instance of the bot has its own pool."""
    cls = database_store(make_engine(url))
    engines.append(cls)
    return cls


@pytest.fixture
def stores() -> Iterator[list[type[DatabaseCryptoStore]]]:
    made: list[type[DatabaseCryptoStore]] = []
    yield made
    for cls in made:
        cls.dispose()


def _seen(who: Participant, event_id: str) -> bool:
    return any(s.event_id == event_id and s.decrypted for s in who.seen)


async def _devices(who: Participant) -> list[str]:
    response = await who.client.devices()
    assert isinstance(response, DevicesResponse), response
    return sorted(d.id for d in response.devices)


@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)
async def test_a_new_instance_keeps_decrypting_with_the_same_device(
    db_url: str,
    synapse_server: SynapseServer,
    people: People,
    tmp_path: Path,
    stores: list[type[DatabaseCryptoStore]],
) -> None:
    bot_user = synapse_server.register(f"pgbot-{secrets.token_hex(3)}")
    peer = await people.person("fachkraft")

    # -- the active instance ---------------------------------------------------------
    first = Participant(
        synapse_server.base_url,
        bot_user,
        tmp_path / "instanz-a",
        cross_signed=False,
        store=_store_on(db_url, stores),
    )
    await first.start()
    try:
        identity = dict(first.client.olm.account.identity_keys)
        room_id = await peer.create_encrypted_room("Übernahme", [bot_user.user_id])
        await first.join(room_id)
        await peer.wait_for_member(room_id, bot_user.user_id)
        before = await peer.send(room_id, "vor dem Wechsel")
        await first.wait_until(lambda: _seen(first, before), 30)
        devices = await _devices(first)
        assert devices == [bot_user.device_id]
    finally:
        # the instance dies: no logout, its HTTP session closed, its memory gone
        await first.stop()

    # -- the standby takes over: same device, same token, nothing on its disk ---------
    second = Participant(
        synapse_server.base_url,
        bot_user,
        tmp_path / "instanz-b",
        cross_signed=False,
        store=_store_on(db_url, stores),
    )
    await second.start()
    people.started.append(second)
    assert second.client.device_id == bot_user.device_id
    assert second.client.olm.account.identity_keys == identity
    assert not second.client.should_upload_keys
    assert await _devices(second) == devices  # no new device
    assert not list((tmp_path / "instanz-b").iterdir())  # crypto state only in the database

    # the old message, from the room's history, with the stored room key
    history = await second.client.room_messages(room_id, start=second.client.next_batch, limit=50)
    assert isinstance(history, RoomMessagesResponse), history
    (old,) = [e for e in history.chunk if e.event_id == before]
    assert isinstance(old, RoomMessageText), old
    assert old.body == "vor dem Wechsel"
    assert old.decrypted

    # a new message under a new room key, which reaches the device over the stored
    # Olm session (its one-time key was used up before the failover)
    peer.client.invalidate_outbound_session(room_id)
    after = await peer.send(room_id, "nach dem Wechsel")
    await second.wait_until(lambda: _seen(second, after), 30)
    assert not second.undecryptable

    # and the other member reads the new instance's encrypted reply
    reply = await second.send(room_id, "Antwort der neuen Instanz")
    await peer.wait_until(lambda: _seen(peer, reply), 30)
    (seen,) = [s for s in peer.seen if s.event_id == reply]
    assert seen.body == "Antwort der neuen Instanz"
    assert await _devices(second) == devices


@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)
async def test_the_bot_on_postgresql_keeps_its_device_in_the_database(
    db_url: str, people: People, bot_setup: BotSetup
) -> None:
    """The gateway picks the database store when the database is PostgreSQL: no
    crypto.db is written, and a new instance answers with the same device."""
    bot_setup.env["FKBOT_DATABASE__URL"] = db_url
    bot = InProcessBot(bot_setup)
    await bot.start()
    try:
        room = await open_room(people, bot)
        cw = room.caseworker
        reply = await cw.wait_reply(await cw.send(room.room_id, "!fk ping"))
        assert reply.decrypted
        device_id = bot.app.settings.matrix.device_id
        key = cw.client.device_store[bot_setup.user_id][device_id].ed25519
    finally:
        await bot.stop()
    assert not (bot_setup.workdir / "store" / "crypto.db").exists()
    engine = make_engine(db_url)
    with engine.connect() as conn:
        accounts = conn.execute(select(CryptoAccount.device_id)).scalars().all()
        room_keys = conn.execute(select(func.count()).select_from(CryptoMegolmSession)).scalar()
    engine.dispose()
    assert accounts == [device_id]
    assert room_keys  # the caseworker's room key, in the database

    again = InProcessBot(bot_setup)  # the next instance: memory gone, database kept
    await again.start()
    try:
        reply = await cw.wait_reply(await cw.send(room.room_id, "!fk ping"))
        assert reply.decrypted
        assert reply.body == "pong 🏓"
    finally:
        await again.stop()
    if cw.client.should_query_keys:
        await cw.client.keys_query()
    devices = cw.client.device_store.active_user_devices(bot_setup.user_id)
    assert [(d.id, d.ed25519) for d in devices] == [(device_id, key)]
    assert not (bot_setup.workdir / "store" / "crypto.db").exists()
