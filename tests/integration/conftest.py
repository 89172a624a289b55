"""Integration fixtures: one real Synapse per test session, real bots, real nio clients."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from bot.testing.botrun import BotSetup, InProcessBot, prepare_bot
from bot.testing.peers import Participant
from bot.testing.synapse import SynapseServer


@pytest.fixture(scope="session")
def synapse_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SynapseServer]:
    with SynapseServer(tmp_path_factory.mktemp("synapse"), log_level="WARNING") as server:
        yield server


@dataclass
class People:
    server: SynapseServer
    workdir: Path
    started: list[Participant]

    async def person(self, name: str) -> Participant:
        user = self.server.register(f"{name}-{secrets.token_hex(3)}", displayname=name)
        participant = Participant(self.server.base_url, user, self.workdir / user.localpart)
        await participant.start()
        self.started.append(participant)
        return participant


@pytest.fixture
async def people(synapse_server: SynapseServer, tmp_path: Path) -> AsyncIterator[People]:
    crowd = People(synapse_server, tmp_path / "people", [])
    yield crowd
    for participant in crowd.started:
        await participant.stop()


@pytest.fixture
def bot_setup(synapse_server: SynapseServer, tmp_path: Path) -> BotSetup:
    return prepare_bot(synapse_server, tmp_path / "bot")


@dataclass
class AgencyRoom:
    room_id: str
    caseworker: Participant
    bot: InProcessBot


async def open_room(people: People, bot: InProcessBot, *, encrypted: bool = True) -> AgencyRoom:
    caseworker = await people.person("fallmanagerin")
    bot_user = bot.setup.user_id
    if encrypted:
        room_id = await caseworker.create_encrypted_room("Fallkonferenz", [bot_user])
    else:
        room_id = await caseworker.create_plain_room("Fallkonferenz", [bot_user])
    await caseworker.wait_for_member(room_id, bot_user)
    return AgencyRoom(room_id, caseworker, bot)


@pytest.fixture
async def agency_room(people: People, bot_setup: BotSetup) -> AsyncIterator[AgencyRoom]:
    bot = InProcessBot(bot_setup)
    await bot.start()
    try:
        yield await open_room(people, bot)
    finally:
        await bot.stop()
