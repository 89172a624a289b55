"""Cross-signing keys as a homeserver hands them out, built from real keys.

``Person`` holds a member's real cross-signing keys (``CrossSigningKeys``) and device
objects self-signed with a real device key and, where the owner verified them, signed by
the owner's self-signing key; ``keys_query`` builds the raw ``/keys/query`` answer for
some people. Used by the key-sharing tests (the pure policy and the TrustKeeper).
"""

from __future__ import annotations

import base64
import copy
import os
from dataclasses import dataclass, field
from typing import Any

from signedjson.key import encode_verify_key_base64, generate_signing_key, get_verify_key
from signedjson.sign import sign_json

from bot.identity import CrossSigningKeys

ALGORITHMS = ["m.olm.v1.curve25519-aes-sha2", "m.megolm.v1.aes-sha2"]


def curve25519_key() -> str:
    """A random Curve25519 public key, unpadded base64 (its value is never checked)."""
    return base64.b64encode(os.urandom(32)).decode().rstrip("=")


def device_object(user_id: str, device_id: str) -> dict[str, Any]:
    """A device's keys as its client uploads them: self-signed with its own Ed25519 key."""
    key = generate_signing_key(device_id)
    bare = {
        "user_id": user_id,
        "device_id": device_id,
        "algorithms": list(ALGORITHMS),
        "keys": {
            f"ed25519:{device_id}": encode_verify_key_base64(get_verify_key(key)),
            f"curve25519:{device_id}": curve25519_key(),
        },
    }
    return dict(sign_json(bare, user_id, key))


def cross_sign(
    device: dict[str, Any], owner: str, keys: CrossSigningKeys, *, as_user: str | None = None
) -> None:
    """Add a self-signing key's signature the way the server merges an uploaded one."""
    signed_for = as_user or owner
    signature = keys.sign_device(signed_for, device)["signatures"][signed_for]
    device.setdefault("signatures", {}).setdefault(owner, {}).update(signature)


@dataclass
class Person:
    user_id: str
    keys: CrossSigningKeys = field(default_factory=CrossSigningKeys.generate)
    devices: dict[str, dict[str, Any]] = field(default_factory=dict)
    publishes_master: bool = True

    @property
    def master(self) -> str:
        return self.keys.master_public

    def device(self, device_id: str, *, cross_signed: bool = True) -> dict[str, Any]:
        obj = device_object(self.user_id, device_id)
        if cross_signed:
            cross_sign(obj, self.user_id, self.keys)
        # The server adds this after signing; it is not covered by any signature.
        obj["unsigned"] = {"device_display_name": f"Element ({device_id})"}
        self.devices[device_id] = obj
        return obj

    def new_identity(self, keys: CrossSigningKeys | None = None) -> None:
        """Reset cross-signing (e.g. a lost recovery key): new keys, devices re-verified."""
        self.keys = keys or CrossSigningKeys.generate()
        for obj in self.devices.values():
            obj["signatures"] = {
                self.user_id: {
                    k: v
                    for k, v in obj["signatures"][self.user_id].items()
                    if k.split(":", 1)[1] == obj["device_id"]
                }
            }
            cross_sign(obj, self.user_id, self.keys)


def keys_query(*people: Person) -> dict[str, Any]:
    """The raw /keys/query answer for ``people``, as a homeserver sends it."""
    answer: dict[str, Any] = {
        "failures": {},
        "device_keys": {},
        "master_keys": {},
        "self_signing_keys": {},
    }
    for person in people:
        answer["device_keys"][person.user_id] = copy.deepcopy(person.devices)
        if person.publishes_master:
            body = person.keys.upload_body(person.user_id)
            answer["master_keys"][person.user_id] = body["master_key"]
            answer["self_signing_keys"][person.user_id] = body["self_signing_key"]
    return answer
