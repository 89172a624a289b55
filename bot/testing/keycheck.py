"""Reading a user's published keys back from a real homeserver and checking their signatures
independently of the bot's own code (canonical JSON, Ed25519 via PyNaCl)."""

from __future__ import annotations

import base64
import json
import urllib.request
from typing import Any

from canonicaljson import encode_canonical_json
from nacl.exceptions import BadSignatureError
from nacl.signing import VerifyKey


def keys_query(base_url: str, token: str, user_id: str) -> dict[str, Any]:
    """The homeserver's ``/keys/query`` answer for ``user_id``."""
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
    """Unpadded base64, as Matrix writes keys and signatures."""
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
    """The one Ed25519 public key of a cross-signing key object (its id is the key)."""
    ((key_id, public),) = key_object["keys"].items()
    assert key_id == f"ed25519:{public}"
    return str(public)
