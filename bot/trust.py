"""Who gets the bot's room keys: the key-sharing policy as a pure decision.

Input: the room's joined members, the raw ``/keys/query`` answer for them, the
stored master-key pins, the allow-listed homeservers and (for ``pinned-devices``)
the configured device list. Output: which devices get keys, which are withheld,
which pins are new (trust on first use), whose identity changed, and which devices
fail the cross-signing check. No nio, no database: the caller applies the
decision to nio's device trust store and persists pins and notices.

Modes (``matrix.key_sharing``):

* ``cross-signed`` (default): a device gets keys if its owner is on an allow-listed
  homeserver, the device is signed by the owner's self-signing key, that key by the
  owner's master key (all signatures verified here), and the master key is the one
  pinned on first sight. A changed master key withholds every device of that user
  until an admin accepts the new key.
* ``pinned-devices``: exactly the configured ``@user:server`` → device ids.
* ``all-members``: every device of every joined member — test rooms only.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import Any

from bot.identity import device_is_cross_signed, master_public_of

Device = tuple[str, str]  # (user id, device id)


class SharingMode(StrEnum):
    CROSS_SIGNED = "cross-signed"
    PINNED_DEVICES = "pinned-devices"
    ALL_MEMBERS = "all-members"


@dataclass(frozen=True)
class Pin:
    """The master key trusted for a user, and a different one seen since (if any)."""

    user_id: str
    master_key: str
    seen_key: str | None = None


@dataclass(frozen=True)
class Decision:
    share: frozenset[Device] = frozenset()
    new_pins: Mapping[str, str] = field(default_factory=dict)  # user → master key (TOFU)
    changed: Mapping[str, str] = field(default_factory=dict)  # user → new, not yet accepted key
    unsigned: frozenset[Device] = frozenset()  # devices that fail the cross-signing check
    # user → master key that differs from the pin, every time (``changed``: first time only)
    unconfirmed: Mapping[str, str] = field(default_factory=dict)
    # the Ed25519 key each shared device had in the checked answer; nio's copy must match
    device_keys: Mapping[Device, str] = field(default_factory=dict)

    def shares_with(self, user_id: str, device_id: str) -> bool:
        return (user_id, device_id) in self.share


def _strings(value: Any) -> bool:
    return isinstance(value, dict) and all(
        isinstance(k, str) and isinstance(v, str) for k, v in value.items()
    )


def _key_object(value: Any) -> bool:
    """A device or cross-signing key object in the shape the checks read."""
    if not isinstance(value, dict) or not _strings(value.get("keys", {})):
        return False
    signatures = value.get("signatures", {})
    return isinstance(signatures, dict) and all(
        isinstance(k, str) and _strings(v) for k, v in signatures.items()
    )


def screen_keys_query(raw: Any) -> dict[str, Any]:
    """A server's /keys/query answer with everything of the wrong shape left out.

    The answer is untrusted input like any event: a device or key object that does not
    have the shape the trust checks read is dropped, so it is simply not trusted — it
    can neither stop the bot nor be shared with by accident.
    """
    if not isinstance(raw, dict):
        return {}
    screened: dict[str, Any] = {}
    devices = raw.get("device_keys")
    if isinstance(devices, dict):
        screened["device_keys"] = {
            user: {d: obj for d, obj in per_user.items() if isinstance(d, str) and _key_object(obj)}
            for user, per_user in devices.items()
            if isinstance(user, str) and isinstance(per_user, dict)
        }
    for section in ("master_keys", "self_signing_keys", "user_signing_keys"):
        keys = raw.get(section)
        if isinstance(keys, dict):
            screened[section] = {
                user: obj
                for user, obj in keys.items()
                if isinstance(user, str)
                and _key_object(obj)
                and isinstance(obj.get("usage", []), list)
            }
    return screened


def _devices(keys_query: Mapping[str, Any], user_id: str) -> list[str]:
    return sorted((keys_query.get("device_keys") or {}).get(user_id) or {})


def _is_listed_as(keys_query: Mapping[str, Any], user_id: str, device_id: str) -> bool:
    """The signed device object names the user and device it is listed under.

    Otherwise a server could list a verified device's signed keys under a device id of
    its own (the spec requires clients to check this for every /keys/query answer).
    """
    device = ((keys_query.get("device_keys") or {}).get(user_id) or {}).get(device_id)
    return (
        isinstance(device, Mapping)
        and device.get("user_id") == user_id
        and device.get("device_id") == device_id
    )


def _ed25519(keys_query: Mapping[str, Any], user_id: str, device_id: str) -> str:
    device = ((keys_query.get("device_keys") or {}).get(user_id) or {}).get(device_id) or {}
    return str((device.get("keys") or {}).get(f"ed25519:{device_id}", ""))


def _with_keys(decision: Decision, keys_query: Mapping[str, Any]) -> Decision:
    keys = {(u, d): _ed25519(keys_query, u, d) for u, d in decision.share}
    return replace(decision, device_keys=keys)


def _server(user_id: str) -> str:
    return user_id.partition(":")[2].lower()


def decide(
    mode: SharingMode,
    members: Iterable[str],
    keys_query: Mapping[str, Any],
    pins: Mapping[str, Pin],
    *,
    own_user: str,
    allowed_homeservers: Iterable[str],
    pinned_devices: Mapping[str, Iterable[str]] | None = None,
) -> Decision:
    allowed = frozenset(s.lower() for s in allowed_homeservers)
    others = sorted(set(members) - {own_user})
    if mode is SharingMode.ALL_MEMBERS:
        everyone = frozenset((u, d) for u in others for d in _devices(keys_query, u))
        return _with_keys(Decision(share=everyone), keys_query)
    if mode is SharingMode.PINNED_DEVICES:
        listed = {(u, d) for u, ds in (pinned_devices or {}).items() for d in ds}
        chosen = frozenset(
            (u, d)
            for u in others
            if _server(u) in allowed
            for d in _devices(keys_query, u)
            if (u, d) in listed and _is_listed_as(keys_query, u, d)
        )
        return _with_keys(Decision(share=chosen), keys_query)
    share: set[Device] = set()
    unsigned: set[Device] = set()
    new_pins: dict[str, str] = {}
    changed: dict[str, str] = {}
    unconfirmed: dict[str, str] = {}
    for user in others:
        if _server(user) not in allowed:
            continue
        devices = _devices(keys_query, user)
        master_object = (keys_query.get("master_keys") or {}).get(user)
        try:
            master = master_public_of(master_object) if master_object else None
        except ValueError:
            master = None
        if master is None:
            unsigned.update((user, d) for d in devices)
            continue
        pin = pins.get(user)
        if pin is None:
            new_pins[user] = master
        elif pin.master_key != master:
            unconfirmed[user] = master
            if pin.seen_key != master:
                changed[user] = master
            continue  # withheld until an admin accepts the new identity
        for device in devices:
            if _is_listed_as(keys_query, user, device) and device_is_cross_signed(
                dict(keys_query), user, device
            ):
                share.add((user, device))
            else:
                unsigned.add((user, device))
    decision = Decision(frozenset(share), new_pins, changed, frozenset(unsigned), unconfirmed)
    return _with_keys(decision, keys_query)
