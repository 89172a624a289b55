"""Integration fixtures: one real Synapse per test session, real bots, real nio clients."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from bot.testing.botrun import BotSetup, InProcessBot, prepare_bot
from bot.testing.inroom import AgencyRoom, People, open_room
from bot.testing.synapse import SynapseServer


@pytest.fixture(scope="session")
def synapse_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SynapseServer]:
    with SynapseServer(tmp_path_factory.mktemp("synapse"), log_level="WARNING") as server:
        yield server


@pytest.fixture
async def people(synapse_server: SynapseServer, tmp_path: Path) -> AsyncIterator[People]:
    crowd = People(synapse_server, tmp_path / "people", [])
    yield crowd
    for participant in crowd.started:
        await participant.stop()


@pytest.fixture
def bot_setup(synapse_server: SynapseServer, tmp_path: Path) -> BotSetup:
    return prepare_bot(synapse_server, tmp_path / "bot")


@pytest.fixture
async def agency_room(people: People, bot_setup: BotSetup) -> AsyncIterator[AgencyRoom]:
    bot = InProcessBot(bot_setup)
    await bot.start()
    try:
        yield await open_room(people, bot)
    finally:
        await bot.stop()
