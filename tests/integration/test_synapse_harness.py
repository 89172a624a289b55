"""The Synapse harness yields a real homeserver that nio clients can talk to and restart."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from nio import (
    AsyncClient,
    JoinResponse,
    LoginResponse,
    RoomCreateResponse,
    RoomMessageText,
    RoomSendResponse,
    SyncResponse,
    WhoamiResponse,
)

from bot.testing.synapse import SynapseServer

pytestmark = pytest.mark.synapse


@pytest.fixture
def synapse(tmp_path: Path) -> Iterator[SynapseServer]:
    with SynapseServer(tmp_path / "synapse") as server:
        yield server


async def _wait_for_message(client: AsyncClient, room_id: str, body: str) -> RoomMessageText:
    deadline = time.monotonic() + 20
    since: str | None = None
    while time.monotonic() < deadline:
        response = await client.sync(timeout=1000, since=since, full_state=since is None)
        assert isinstance(response, SyncResponse), response
        since = response.next_batch
        room = response.rooms.join.get(room_id)
        for event in room.timeline.events if room else []:
            if isinstance(event, RoomMessageText) and event.body == body:
                return event
    raise AssertionError(f"{client.user_id} never saw {body!r} in {room_id}")


async def test_two_users_exchange_a_message(synapse: SynapseServer) -> None:
    alice_account = synapse.register("alice", displayname="Alice")
    bob_account = synapse.register("bob")
    assert alice_account.user_id == "@alice:fk.test"
    assert synapse.base_url.startswith("http://127.0.0.1:")

    alice = AsyncClient(synapse.base_url, alice_account.user_id)
    bob = AsyncClient(synapse.base_url, bob_account.user_id)
    bob.access_token = bob_account.access_token
    bob.device_id = bob_account.device_id
    try:
        login = await alice.login(alice_account.password, device_name="harness-test")
        assert isinstance(login, LoginResponse), login

        created = await alice.room_create(name="Fallkonferenz", invite=[bob_account.user_id])
        assert isinstance(created, RoomCreateResponse), created
        joined = await bob.join(created.room_id)
        assert isinstance(joined, JoinResponse), joined

        sent = await alice.room_send(
            created.room_id, "m.room.message", {"msgtype": "m.text", "body": "Hallo Bob"}
        )
        assert isinstance(sent, RoomSendResponse), sent

        event = await _wait_for_message(bob, created.room_id, "Hallo Bob")
        assert event.sender == alice_account.user_id
        assert event.event_id == sent.event_id
    finally:
        await alice.close()
        await bob.close()


async def test_restart_keeps_port_and_users(synapse: SynapseServer) -> None:
    account = synapse.register("carol", "geheim")
    url_before = synapse.base_url

    synapse.stop()
    assert not synapse.running
    synapse.start()
    assert synapse.base_url == url_before

    client = AsyncClient(synapse.base_url, account.user_id)
    try:
        login = await client.login("geheim")
        assert isinstance(login, LoginResponse), login
        # The token issued before the restart is still valid, too.
        client.access_token = account.access_token
        whoami = await client.whoami()
        assert isinstance(whoami, WhoamiResponse), whoami
        assert whoami.user_id == account.user_id
    finally:
        await client.close()
