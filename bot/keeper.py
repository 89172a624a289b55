"""The key-sharing policy at work: before each send, decide and apply who gets room keys.

Runs in the bot's process between the outbox sender and the Matrix edge. For the
room it is about to send to it (1) takes the joined members, (2) fetches their
keys with a raw ``/keys/query`` (cached until membership or a device list
changes), (3) asks :func:`bot.trust.decide`, (4) stores new pins and changed
identities and queues the moderators' notices in the outbox — one transaction,
txn ids derived from (room, user, key/device) so each notice is posted once —
and (5) marks the devices in nio's trust store.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from bot.clock import Clock
from bot.engine import notice_content
from bot.identity import fingerprint
from bot.outbox import OutboxItem
from bot.trust import Decision, Pin, SharingMode, decide
from bot.txn import txn_id_for
from commands.framework import command_word
from commands.i18n import SOURCE_LANGUAGE, Texts, texts
from commands.reply import Doc, b, code
from domain.org import Organisation, Role
from storage.uow import Database, UnitOfWork

if TYPE_CHECKING:
    from bot.matrix import MatrixGateway

log = logging.getLogger(__name__)


@dataclass
class _Cached:
    members: tuple[str, ...]
    version: int
    keys_query: dict[str, Any]


class TrustKeeper:
    def __init__(
        self,
        db: Database,
        clock: Clock,
        *,
        mode: SharingMode,
        own_user: str,
        allowed_homeservers: tuple[str, ...],
        pinned_devices: Mapping[str, tuple[str, ...]],
        org: Organisation,
        prefix: str,
        submit: Callable[[list[OutboxItem]], None] = lambda items: None,
        language: str = SOURCE_LANGUAGE,
    ) -> None:
        self._db = db
        self._language = language  # of rooms that chose none
        self._clock = clock
        self._mode = mode
        self._own = own_user
        self._allowed = allowed_homeservers
        self._pinned = pinned_devices
        self._org = org
        self._prefix = prefix
        self.submit = submit
        self._cache: dict[str, _Cached] = {}
        self._decisions: dict[str, tuple[_Cached, dict[str, Pin], Decision]] = {}

    async def before_send(self, gateway: MatrixGateway, room_id: str) -> None:
        members = tuple(gateway.joined_members(room_id))
        cached = self._cache.get(room_id)
        if (
            cached is None
            or cached.members != members
            or cached.version != gateway.device_list_version
        ):
            version = gateway.device_list_version
            query = await gateway.query_keys_raw([m for m in members if m != self._own])
            cached = _Cached(members, version, query)
            self._cache[room_id] = cached
            self._decisions.pop(room_id, None)
        with self._db.uow() as uow:
            rows = uow.pins.for_users(cached.members)
            pins = {u: Pin(u, r.master_key, r.seen_key) for u, r in rows.items()}
        remembered = self._decisions.get(room_id)
        if remembered is not None and remembered[0] is cached and remembered[1] == pins:
            decision = remembered[2]  # nothing changed: no signature checks, no writes
        else:
            decision = self._decide(gateway, room_id, cached, pins)
            self._decisions[room_id] = (cached, pins, decision)
        gateway.apply_trust(room_id, decision.share, decision.device_keys)

    def _decide(
        self, gateway: MatrixGateway, room_id: str, cached: _Cached, pins: dict[str, Pin]
    ) -> Decision:
        decision = decide(
            self._mode,
            cached.members,
            cached.keys_query,
            pins,
            own_user=self._own,
            allowed_homeservers=self._allowed,
            pinned_devices=self._pinned,
        )
        if not (decision.new_pins or decision.unconfirmed or decision.unsigned):
            return decision
        now = self._clock.now()
        items: list[OutboxItem] = []
        with self._db.uow() as uow:
            for user, master in decision.new_pins.items():
                uow.pins.pin(user, master, now)
                log.info("Identität von %s beim ersten Kontakt festgehalten", user)
            moderators = self._moderators(gateway, room_id, cached.members)
            t = texts(uow.sync.room_language(room_id) or self._language)
            for user, master in decision.unconfirmed.items():
                if user in decision.changed:
                    uow.pins.saw(user, master, now)
                    log.warning("Identität von %s hat sich geändert; keine Schlüssel mehr", user)
                    uow.audit.append(
                        at=now,
                        actor=self._own,
                        institution=None,
                        action="identitaet_geaendert",
                        detail={"nutzer": user, "neu": master},
                    )
                # Told once per room: every room the member shares learns why.
                text = _changed_text(user, master, self._prefix, t)
                key = f"identity:{user}:{master}"
                items += self._notice(uow, room_id, key, moderators, text, t)
            for user, device in sorted(decision.unsigned):
                text = _unsigned_text(user, device, t)
                key = f"unsigned:{user}:{device}"
                items += self._notice(uow, room_id, key, moderators, text, t)
            uow.commit()
        if items:
            self.submit(items)
        return decision

    def _moderators(
        self, gateway: MatrixGateway, room_id: str, members: tuple[str, ...]
    ) -> list[str]:
        return [
            m
            for m in members
            if self._org.member(m, gateway.power_level(room_id, m)).has(Role.MODERATION)
        ]

    def _notice(
        self,
        uow: UnitOfWork,
        room_id: str,
        key: str,
        moderators: list[str],
        doc: Doc,
        t: Texts,
    ) -> list[OutboxItem]:
        txn_id = txn_id_for(f"{room_id}\x00{key}", "trust")
        if uow.outbox.exists(txn_id):
            return []
        if moderators:
            doc.para(t.gettext("An die Moderation: %(users)s", users=", ".join(moderators)))
        row = uow.outbox.add(
            txn_id=txn_id,
            room_id=room_id,
            event_type="m.room.message",
            content=notice_content(doc.build(), mentions=moderators, t=t),
            requires_encryption=False,
            now=self._clock.now(),
        )
        return [OutboxItem.of(row)]


def _changed_text(user: str, master: str, prefix: str, t: Texts) -> Doc:
    confirm = command_word("identität bestätigen", t)
    return (
        Doc()
        .para(
            "⚠️ ",
            b(t.gettext("Sicherheitshinweis:")),
            " ",
            t.gettext(
                "Die Identität (Master-Schlüssel) von %(user)s hat sich geändert.", user=user
            ),
        )
        .para(
            t.gettext(
                "Ich teile keine Raumschlüssel mehr mit ihren bzw. seinen Geräten, bis eine "
                "Admin-Person den neuen Schlüssel auf anderem Weg (Telefon, persönlich) "
                "geprüft und bestätigt hat: "
            ),
            code(f"{prefix} {confirm} {user}"),
        )
        .para(t.gettext("Neuer Fingerabdruck: "), code(fingerprint(master)))
    )


def _unsigned_text(user: str, device: str, t: Texts) -> Doc:
    return Doc().para(
        t.gettext(
            "ℹ️ %(user)s nutzt ein Gerät (%(device)s), das nicht mit der eigenen Identität "
            "verifiziert ist (Cross-Signing). Es erhält keine Raumschlüssel und kann meine "
            "Nachrichten nicht lesen, bis es verifiziert ist (in Element: Gerät bestätigen).",
            user=user,
            device=device,
        )
    )
