"""The bot's cross-signing identity, checked from outside with independent verification."""

from __future__ import annotations

import asyncio

import pytest

from bot.errors import BotError
from bot.identity import IDENTITY_FILE
from bot.testing.botrun import BotSetup, InProcessBot
from bot.testing.inroom import People
from bot.testing.keycheck import keys_query, only_public, signed_by

pytestmark = pytest.mark.synapse


async def test_bot_device_is_signed_by_its_self_signing_key_signed_by_its_master(
    people: People, bot_setup: BotSetup
) -> None:
    bot = InProcessBot(bot_setup)
    await bot.start()
    try:
        observer = await people.person("beobachterin")
        user, device = bot_setup.user_id, bot.app.settings.matrix.device_id
        query = keys_query(people.server.base_url, observer.user.access_token, user)
        master = query["master_keys"][user]
        ssk = query["self_signing_keys"][user]
        device_keys = query["device_keys"][user][device]
        assert master["usage"] == ["master"]
        assert ssk["usage"] == ["self_signing"]
        master_public, ssk_public = only_public(master), only_public(ssk)
        assert signed_by(ssk, user, master_public), "self-signing key signed by master"
        assert signed_by(device_keys, user, ssk_public), "device signed by self-signing key"
        assert not signed_by(device_keys, user, master_public)
        tampered = dict(device_keys, device_id="ANDERES")
        assert not signed_by(tampered, user, ssk_public), "the check can fail"
    finally:
        await bot.stop()


async def test_restart_keeps_the_master_key_and_the_device(
    people: People, bot_setup: BotSetup
) -> None:
    observer = await people.person("beobachter")
    user = bot_setup.user_id

    def master_and_devices() -> tuple[str, list[str]]:
        query = keys_query(people.server.base_url, observer.user.access_token, user)
        return only_public(query["master_keys"][user]), sorted(query["device_keys"][user])

    bot = InProcessBot(bot_setup)
    await bot.start()
    first = master_and_devices()
    await bot.stop()
    again = InProcessBot(bot_setup)
    await again.start()
    try:
        assert master_and_devices() == first
        assert first[1] == [bot.app.settings.matrix.device_id]
    finally:
        await again.stop()


async def test_a_lost_identity_is_not_silently_replaced(
    people: People, bot_setup: BotSetup
) -> None:
    bot = InProcessBot(bot_setup)
    await bot.start()
    await bot.stop()
    observer = await people.person("beobachter")
    before = keys_query(people.server.base_url, observer.user.access_token, bot_setup.user_id)
    (bot.app.settings.matrix.store_path / IDENTITY_FILE).unlink()

    again = InProcessBot(bot_setup)
    with pytest.raises(BotError, match="fkbot identity reset"):
        await again.start()
    after = keys_query(people.server.base_url, observer.user.access_token, bot_setup.user_id)
    assert after["master_keys"] == before["master_keys"]


async def test_identity_show_prints_the_fingerprint_the_server_has(
    people: People, bot_setup: BotSetup
) -> None:
    bot = InProcessBot(bot_setup)
    await bot.start()
    await bot.stop()
    observer = await people.person("beobachter")
    query = keys_query(people.server.base_url, observer.user.access_token, bot_setup.user_id)
    master = only_public(query["master_keys"][bot_setup.user_id])
    result = await asyncio.to_thread(bot_setup.cli, "identity", "show")
    assert result.returncode == 0, result.stderr
    shown = result.stdout.split("(Fingerabdruck): ")[1].strip()
    assert shown.replace(" ", "") == master
    assert bot.app.settings.matrix.device_id in result.stdout


async def test_identity_reset_replaces_a_lost_identity_on_purpose(
    people: People, bot_setup: BotSetup
) -> None:
    bot = InProcessBot(bot_setup)
    await bot.start()
    await bot.stop()
    observer = await people.person("beobachter")
    user, device = bot_setup.user_id, bot.app.settings.matrix.device_id
    old = only_public(
        keys_query(people.server.base_url, observer.user.access_token, user)["master_keys"][user]
    )
    (bot.app.settings.matrix.store_path / IDENTITY_FILE).unlink()

    unconfirmed = await asyncio.to_thread(bot_setup.cli, "identity", "reset")
    assert unconfirmed.returncode == 2
    assert "--yes" in unconfirmed.stderr
    done = await asyncio.to_thread(bot_setup.cli, "identity", "reset", "--yes")
    assert done.returncode == 0, done.stderr
    query = keys_query(people.server.base_url, observer.user.access_token, user)
    new = only_public(query["master_keys"][user])
    assert new != old
    assert done.stdout.split("(Fingerabdruck): ")[1].strip().replace(" ", "") == new
    ssk = only_public(query["self_signing_keys"][user])
    assert signed_by(query["self_signing_keys"][user], user, new)
    assert signed_by(query["device_keys"][user][device], user, ssk)

    again = InProcessBot(bot_setup)
    await again.start()  # starts normally with the new identity
    await again.stop()
