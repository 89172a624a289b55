"""The bot's cross-signing identity: master, self-signing and user-signing Ed25519 keys.

matrix-nio has no cross-signing. Clients that exclude devices not signed by their
owner (Element since 2026, matrix-js-sdk's OnlySignedDevicesIsolationMode) neither
share keys with an unsigned bot device nor trust its messages. This module makes
the keys, signs with canonical JSON exactly as the spec defines it (signedjson),
keeps the private seeds encrypted with the store's pickle key, and verifies a
device ← self-signing ← master chain independently of any server claim.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import nacl.exceptions
import nacl.hash
import nacl.secret
import nacl.utils
from signedjson.key import (
    decode_signing_key_base64,
    decode_verify_key_base64,
    encode_signing_key_base64,
    encode_verify_key_base64,
    generate_signing_key,
    get_verify_key,
)
from signedjson.sign import SignatureVerifyException, sign_json, verify_signed_json
from signedjson.types import SigningKey

from bot.errors import BotError
from bot.secretfiles import private_file_problem
from commands.i18n import N_
from domain.text import Msg

IDENTITY_FILE = "cross_signing.json"
ROLES = ("master", "self_signing", "user_signing")


class IdentityError(BotError):
    """The identity cannot be used as it is; the message says what to do (``str()`` in
    German for the logs, :meth:`render` in the operator's language)."""


def _public(key: SigningKey) -> str:
    return str(encode_verify_key_base64(get_verify_key(key)))


def _named(seed_b64: str) -> SigningKey:
    """A signing key whose 'version' is its public key, so its key id is ed25519:<public>."""
    key = decode_signing_key_base64("ed25519", "tmp", seed_b64)
    key.version = _public(key)
    return key


@dataclass(frozen=True)
class CrossSigningKeys:
    master: SigningKey
    self_signing: SigningKey
    user_signing: SigningKey

    @classmethod
    def generate(cls) -> CrossSigningKeys:
        fresh = [generate_signing_key("tmp") for _ in ROLES]
        return cls(*(_named(encode_signing_key_base64(k)) for k in fresh))

    @property
    def master_public(self) -> str:
        return _public(self.master)

    def fingerprint(self) -> str:
        return fingerprint(self.master_public)

    def _key_object(self, user_id: str, usage: str, key: SigningKey) -> dict[str, Any]:
        public = _public(key)
        return {"user_id": user_id, "usage": [usage], "keys": {f"ed25519:{public}": public}}

    def upload_body(self, user_id: str) -> dict[str, Any]:
        """Body of POST /keys/device_signing/upload: sub-keys signed by the master key."""
        master = self._key_object(user_id, "master", self.master)
        self_signing = sign_json(
            self._key_object(user_id, "self_signing", self.self_signing), user_id, self.master
        )
        user_signing = sign_json(
            self._key_object(user_id, "user_signing", self.user_signing), user_id, self.master
        )
        return {
            "master_key": master,
            "self_signing_key": self_signing,
            "user_signing_key": user_signing,
        }

    def sign_device(self, user_id: str, device_keys: dict[str, Any]) -> dict[str, Any]:
        """Sign the server's copy of our device keys (without signatures and unsigned)."""
        bare = {k: v for k, v in device_keys.items() if k not in ("signatures", "unsigned")}
        return dict(sign_json(bare, user_id, self.self_signing))

    # -- persistence ---------------------------------------------------------------

    def sealed(self, pickle_key: str) -> dict[str, Any]:
        """The keys as stored: the seeds encrypted with a key derived from the pickle key."""
        seeds = {role: encode_signing_key_base64(getattr(self, role)) for role in ROLES}
        box = nacl.secret.SecretBox(_derive(pickle_key))
        sealed = box.encrypt(json.dumps(seeds).encode())
        return {"version": 1, "master_public": self.master_public, "sealed": sealed.hex()}

    @classmethod
    def unsealed(cls, data: dict[str, Any], pickle_key: str, where: str) -> CrossSigningKeys:
        """The keys from what :meth:`sealed` gave; ``where`` names the place in errors."""
        box = nacl.secret.SecretBox(_derive(pickle_key))
        try:
            seeds = json.loads(box.decrypt(bytes.fromhex(data["sealed"])))
        except nacl.exceptions.CryptoError:
            raise IdentityError(
                N_("%(path)s lässt sich mit dem konfigurierten Pickle-Schlüssel nicht öffnen."),
                path=where,
            ) from None
        keys = cls(*(_named(seeds[role]) for role in ROLES))
        if keys.master_public != data["master_public"]:
            raise IdentityError(
                N_("%(path)s ist beschädigt (Master-Schlüssel passt nicht)."), path=where
            )
        return keys

    def save(self, store_path: Path, pickle_key: str) -> None:
        """Encrypted with a key derived from the pickle key; written atomically, mode 0600."""
        data = self.sealed(pickle_key)
        store_path.mkdir(parents=True, exist_ok=True, mode=0o700)
        tmp = store_path / (IDENTITY_FILE + ".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(data, fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, store_path / IDENTITY_FILE)

    @classmethod
    def load(cls, store_path: Path, pickle_key: str) -> CrossSigningKeys | None:
        path = store_path / IDENTITY_FILE
        problem = private_file_problem(path)
        if problem is not None:
            raise IdentityError(Msg("Cross-Signing-Schlüssel: %(problem)s", problem=problem))
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return None
        return cls.unsealed(data, pickle_key, str(path))


def seal(pickle_key: str, purpose: bytes, secret: str) -> str:
    """``secret`` encrypted (hex) with a key derived from the pickle key for ``purpose``."""
    box = nacl.secret.SecretBox(_derive(pickle_key, purpose))
    return bytes(box.encrypt(secret.encode())).hex()


def unseal(pickle_key: str, purpose: bytes, sealed: str) -> str | None:
    """What :func:`seal` sealed; None if this pickle key (or purpose) does not open it."""
    box = nacl.secret.SecretBox(_derive(pickle_key, purpose))
    try:
        return bytes(box.decrypt(bytes.fromhex(sealed))).decode()
    except (nacl.exceptions.CryptoError, ValueError):
        return None


def _derive(pickle_key: str, purpose: bytes = b"fallkonferenz-bot cross-signing seeds") -> bytes:
    """A 32-byte key for this purpose only, derived from the (high-entropy) pickle key."""
    return bytes(
        nacl.hash.blake2b(
            purpose,
            key=hashlib.sha256(pickle_key.encode()).digest(),
            digest_size=nacl.secret.SecretBox.KEY_SIZE,
            encoder=nacl.encoding.RawEncoder,
        )
    )


# -- verification ------------------------------------------------------------------


def fingerprint(master_key: str) -> str:
    """A master key as Element shows it: base64 in groups of four."""
    return " ".join(master_key[i : i + 4] for i in range(0, len(master_key), 4))


def master_public_of(key_object: dict[str, Any]) -> str:
    return _only_key(key_object)[1]


def _only_key(key_object: dict[str, Any]) -> tuple[str, str]:
    keys = key_object.get("keys") or {}
    if len(keys) != 1:
        raise ValueError("a cross-signing key object has exactly one key")
    ((key_id, public),) = keys.items()
    if key_id != f"ed25519:{public}":
        raise ValueError("key id does not match its public key")
    return key_id, public


def _signed_by(obj: dict[str, Any], user_id: str, key_id: str, public: str) -> bool:
    if key_id not in (obj.get("signatures") or {}).get(user_id, {}):
        return False
    verify_key = decode_verify_key_base64("ed25519", key_id.split(":", 1)[1], public)
    try:
        verify_signed_json(obj, user_id, verify_key)
    except SignatureVerifyException:
        return False
    return True


def device_is_cross_signed(keys_query: dict[str, Any], user_id: str, device_id: str) -> bool:
    """Check device ← self-signing ← master in a raw /keys/query response, signatures and all.

    Trusts nothing the server says about validity: every signature is verified here.
    """
    try:
        master = keys_query["master_keys"][user_id]
        self_signing = keys_query["self_signing_keys"][user_id]
        device = keys_query["device_keys"][user_id][device_id]
        if "master" not in master.get("usage", []) or master.get("user_id") != user_id:
            return False
        if "self_signing" not in self_signing.get("usage", []):
            return False
        master_id, master_public = _only_key(master)
        ssk_id, ssk_public = _only_key(self_signing)
    except (KeyError, ValueError, TypeError):
        return False
    return _signed_by(self_signing, user_id, master_id, master_public) and _signed_by(
        device, user_id, ssk_id, ssk_public
    )
