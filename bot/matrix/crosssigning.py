"""The bot's cross-signing identity on the homeserver: upload the keys, sign the device.

The keys themselves (create, seal, sign) live in :mod:`bot.identity`; this is the
glue to the endpoints nio does not offer.
"""

from __future__ import annotations

import logging
from typing import Any

from nio import AsyncClient

from bot.identity import (
    CrossSigningKeys,
    IdentityError,
    device_is_cross_signed,
    master_public_of,
)
from bot.matrix.credentials import LoginStore
from bot.matrix.transport import checked, post_json, request_json
from bot.trust import screen_keys_query
from commands.i18n import N_

log = logging.getLogger("bot.matrix")  # one logger for the whole edge


async def ensure_identity(
    client: AsyncClient, store: LoginStore, password: str | None
) -> CrossSigningKeys:
    """Create once, or reuse, the bot's cross-signing keys and sign this device with them.

    Never replaces a master key the server already has: a different one means
    the store was lost or swapped, and an admin must decide (``fkbot identity reset``).
    """
    own = client.user_id
    device_id = str(client.device_id)
    if client.should_upload_keys:
        await checked(client.keys_upload(), "Geräteschlüssel hochladen")
    local = store.load_identity()
    query = await query_keys_raw(client, [own])
    server_master = (query.get("master_keys") or {}).get(own)
    if local is None:
        if server_master is not None:
            raise IdentityError(
                N_(
                    "Der Homeserver kennt für den Bot schon einen Master-Schlüssel, der "
                    "lokale Speicher %(store)s aber nicht (Speicher verloren?). Nichts wird "
                    "ersetzt. Prüfen und dann bewusst: fkbot identity reset --config …"
                ),
                store=str(store),
            )
        local = CrossSigningKeys.generate()
        store.save_identity(local)  # durable before it is announced
        await _upload_cross_signing(client, local, password)
        log.info("Cross-Signing-Identität erstellt: %s", local.fingerprint())
    elif server_master is None:
        await _upload_cross_signing(client, local, password)
    elif master_public_of(server_master) != local.master_public:
        raise IdentityError(
            N_(
                "Der Master-Schlüssel auf dem Homeserver unterscheidet sich vom lokalen "
                "(%(fingerprint)s). Nichts wird ersetzt. Prüfen und dann bewusst: "
                "fkbot identity reset --config …"
            ),
            fingerprint=local.fingerprint(),
        )
    else:
        if device_is_cross_signed(query, own, device_id):
            return local
    query = await query_keys_raw(client, [own])
    if not device_is_cross_signed(query, own, device_id):
        device = query["device_keys"][own][device_id]
        body = {own: {device_id: local.sign_device(own, device)}}
        result = await post_json(client, "/_matrix/client/v3/keys/signatures/upload", body)
        if result.get("failures"):
            # Synapse reports refused signatures with HTTP 200 and a failures map.
            raise IdentityError(
                N_("Gerätesignatur abgelehnt: %(failures)s"), failures=result["failures"]
            )
        log.info("Gerät %s mit dem Self-Signing-Schlüssel signiert", device_id)
    return local


async def reset_identity(
    client: AsyncClient, store: LoginStore, password: str | None
) -> CrossSigningKeys:
    """Replace the bot's cross-signing keys on purpose (after a lost store).

    The new keys are stored before they are uploaded; the server asks for the
    password because keys already exist there.
    """
    if client.should_upload_keys:
        await checked(client.keys_upload(), "Geräteschlüssel hochladen")
    keys = CrossSigningKeys.generate()
    store.save_identity(keys)
    await _upload_cross_signing(client, keys, password)
    log.warning("Cross-Signing-Identität ersetzt: %s", keys.fingerprint())
    return await ensure_identity(client, store, password)


async def query_keys_raw(client: AsyncClient, user_ids: list[str]) -> dict[str, Any]:
    """/keys/query as the server sent it (nio drops the cross-signing keys), with
    whatever does not have the expected shape left out (:func:`screen_keys_query`)."""
    return screen_keys_query(
        await post_json(
            client, "/_matrix/client/v3/keys/query", {"device_keys": {u: [] for u in user_ids}}
        )
    )


async def _upload_cross_signing(
    client: AsyncClient, keys: CrossSigningKeys, password: str | None
) -> None:
    path = "/_matrix/client/v3/keys/device_signing/upload"
    body = keys.upload_body(client.user_id)
    status, result = await request_json(client, "POST", path, body)
    if status == 401 and "flows" in result:
        if password is None:
            raise IdentityError(
                N_(
                    "Der Homeserver verlangt zum Hochladen der Cross-Signing-Schlüssel das "
                    "Passwort (FKBOT_MATRIX__PASSWORD oder matrix.password_file)."
                )
            )
        body["auth"] = {
            "type": "m.login.password",
            "identifier": {"type": "m.id.user", "user": client.user_id},
            "password": password,
            "session": result.get("session"),
        }
        status, result = await request_json(client, "POST", path, body)
    if status != 200:
        raise IdentityError(
            N_("Cross-Signing-Schlüssel nicht angenommen (%(status)s: %(code)s)"),
            status=status,
            code=result.get("errcode"),
        )
