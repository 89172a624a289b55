"""Requests to the homeserver and their failures as :mod:`bot.errors` exceptions.

Network errors become :class:`HomeserverUnavailable`, a refused token
:class:`AuthenticationError`. ``request_json`` reaches endpoints nio does not
wrap (or wraps lossily, like the cross-signing keys of ``/keys/query``).
"""

from __future__ import annotations

import json
from typing import Any

import aiohttp
from nio import AsyncClient

from bot.errors import AuthenticationError, HomeserverUnavailable


async def checked(request: Any, what: str) -> Any:
    try:
        return await request
    except (aiohttp.ClientError, TimeoutError) as exc:
        raise HomeserverUnavailable(f"{what}: {exc!r}") from exc


def raise_for(status: str | None, message: str) -> None:
    if status in ("M_UNKNOWN_TOKEN", "M_MISSING_TOKEN"):
        raise AuthenticationError(f"{status}: {message}")
    raise HomeserverUnavailable(f"{status}: {message}")


async def post_json(client: AsyncClient, path: str, body: dict[str, Any]) -> dict[str, Any]:
    status, result = await request_json(client, "POST", path, body)
    if status != 200:
        raise_for(result.get("errcode"), str(result.get("error", status)))
    return result


async def request_json(
    client: AsyncClient, method: str, path: str, body: dict[str, Any]
) -> tuple[int, dict[str, Any]]:
    headers = {
        "Authorization": f"Bearer {client.access_token}",
        "Content-Type": "application/json",
    }
    try:
        response = await client.send(method, path, json.dumps(body), headers)
        async with response:
            data = await response.json(content_type=None)
            return response.status, data if isinstance(data, dict) else {}
    except (aiohttp.ClientError, TimeoutError) as exc:
        raise HomeserverUnavailable(f"{path}: {exc!r}") from exc
