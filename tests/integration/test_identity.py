"""The bot's cross-signing identity, checked from outside with independent verification."""

from __future__ import annotations

import asyncio
import base64
import json
import urllib.request
from typing import Any

import pytest
from canonicaljson import encode_canonical_json
from nacl.exceptions import BadSignatureError
from nacl.signing import VerifyKey

from bot.errors import BotError
from bot.identity import IDENTITY_FILE
from bot.testing.botrun import BotSetup, InProcessBot
from tests.integration.conftest import People

pytestmark = pytest.mark.synapse


def keys_query(base_url: str, token: str, user_id: str) -> dict[str, Any]:
    request = urllib.request.Request(  # noqa: S310 - loopback test server
        f"{base_url}/_matrix/client/v3/keys/query",
        data=json.dumps({"device_keys": {user_id: []}}).encode(),
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=10) as resp:  # noqa: S310
        result: dict[str, Any] = json.load(resp)
        return result


def b64decode(text: str) -> bytes:
    return base64.b64decode(text + "=" * (-len(text) % 4))


def signed_by(obj: dict[str, Any], user_id: str, public: str) -> bool:
    """Verify the spec's way: canonical JSON without signatures/unsigned, Ed25519."""
    signature = obj.get("signatures", {}).get(user_id, {}).get(f"ed25519:{public}")
    if signature is None:
        return False
    payload = encode_canonical_json(
        {k: v for k, v in obj.items() if k not in ("signatures", "unsigned")}
    )
    try:
        VerifyKey(b64decode(public)).verify(payload, b64decode(signature))
    except BadSignatureError:
        return False
    return True


def only_public(key_object: dict[str, Any]) -> str:
    ((key_id, public),) = key_object["keys"].items()
    assert key_id == f"ed25519:{public}"
    return str(public)


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
