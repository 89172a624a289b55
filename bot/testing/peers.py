"""Real matrix-nio clients that play caseworkers and moderators in tests, the demo and benchmarks.

A :class:`Participant` syncs in the background, decrypts what it receives and
records every message, so a test can send ``!fk ping`` and wait for the reply
to exactly that event. It trusts the devices of the room's members explicitly
(as a person who verified them would), never with a blanket switch.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from nio import (
    AsyncClientConfig,
    DownloadError,
    MatrixRoom,
    MegolmEvent,
    RoomCreateResponse,
    RoomEncryptedFile,
    RoomMessageFile,
    RoomMessageNotice,
    RoomMessageText,
    RoomRedactResponse,
    RoomSendResponse,
    SyncResponse,
    UnknownEvent,
)
from nio.api import RoomPreset
from nio.crypto.attachments import decrypt_attachment
from nio.store import MatrixStore, SqliteStore

from bot.identity import CrossSigningKeys
from bot.matrix import ScreeningClient
from bot.testing.synapse import RegisteredUser

log = logging.getLogger(__name__)


def _object(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _reply_target(content: dict[str, Any]) -> str | None:
    """``m.relates_to.m.in_reply_to.event_id`` if every step has the right type."""
    return _text(_object(_object(content.get("m.relates_to")).get("m.in_reply_to")).get("event_id"))


def _survives(
    callback: Callable[[Any, Any, Any], Awaitable[None]],
) -> Callable[[Any, Any, Any], Awaitable[None]]:
    """A peer's callback that fails on one event logs it and lets the sync go on."""

    @functools.wraps(callback)
    async def wrapper(self: Any, room: Any, event: Any) -> None:
        try:
            await callback(self, room, event)
        except Exception as exc:
            log.warning(
                "%s: Ereignis %s nicht verarbeitet (%s)",
                getattr(self, "user_id", "?"),
                getattr(event, "event_id", "?"),
                type(exc).__name__,
            )

    return wrapper


@dataclass(frozen=True)
class Seen:
    """A message as a room member saw it."""

    event_id: str
    room_id: str
    sender: str
    body: str
    html: str | None
    in_reply_to: str | None
    msgtype: str
    decrypted: bool
    raw: dict[str, Any]
    event_type: str = "m.room.message"

    @property
    def content(self) -> dict[str, Any]:
        content = self.raw.get("content")
        return content if isinstance(content, dict) else {}

    @property
    def relation(self) -> dict[str, Any]:
        relates = self.content.get("m.relates_to")
        return relates if isinstance(relates, dict) else {}

    @property
    def replaces(self) -> str | None:
        """The event this one edits (``m.replace``), if it is an edit."""
        if self.relation.get("rel_type") != "m.replace":
            return None
        target = self.relation.get("event_id")
        return target if isinstance(target, str) else None

    @property
    def references(self) -> str | None:
        """The event this one refers to (``m.reference``: a poll response or end)."""
        if self.relation.get("rel_type") != "m.reference":
            return None
        target = self.relation.get("event_id")
        return target if isinstance(target, str) else None

    @property
    def new_body(self) -> str | None:
        """An edit's replacement text (``m.new_content.body``)."""
        new = self.content.get("m.new_content")
        body = new.get("body") if isinstance(new, dict) else None
        return body if isinstance(body, str) else None


class Participant:
    """A person's client. By default it has its own cross-signing identity and signs its
    device with it, as Element does at first login; ``cross_signed=False`` plays an
    old or careless client."""

    def __init__(
        self,
        base_url: str,
        user: RegisteredUser,
        store_dir: Path,
        *,
        cross_signed: bool = True,
        store: type[MatrixStore] = SqliteStore,
    ) -> None:
        self.user = user
        self.cross_signed = cross_signed
        self.identity: CrossSigningKeys | None = None
        store_dir.mkdir(parents=True, exist_ok=True)
        # Screened like the bot's own client: shapes nio's parser trips on are set aside.
        self.client = ScreeningClient(
            base_url,
            user.user_id,
            device_id=user.device_id,
            store_path=str(store_dir),
            config=AsyncClientConfig(store=store, encryption_enabled=True, store_sync_tokens=True),
        )
        self.seen: list[Seen] = []
        # Events other than messages that tests look at (polls), decrypted where they were
        # encrypted; ``seen`` stays messages only (text, notices, files; edits included).
        self.events: list[Seen] = []
        self.undecryptable: list[str] = []
        self._changed = asyncio.Condition()
        self._task: asyncio.Task[None] | None = None

    @property
    def user_id(self) -> str:
        return self.user.user_id

    async def start(self) -> None:
        self.client.restore_login(self.user.user_id, self.user.device_id, self.user.access_token)
        self.client.add_event_callback(self._on_message, (RoomMessageText, RoomMessageNotice))
        self.client.add_event_callback(self._on_file, (RoomEncryptedFile, RoomMessageFile))
        self.client.add_event_callback(self._on_other, (UnknownEvent,))
        self.client.add_event_callback(self._on_undecryptable, (MegolmEvent,))
        self.client.add_response_callback(self._on_sync, SyncResponse)
        await self.client.sync(timeout=0, full_state=True)
        if self.client.should_upload_keys:
            await self.client.keys_upload()
        if self.cross_signed:
            await self.cross_sign()
        self._task = asyncio.create_task(self._sync_loop(), name=f"sync {self.user_id}")

    async def cross_sign(self, keys: CrossSigningKeys | None = None) -> CrossSigningKeys:
        """Upload a (new) cross-signing identity and sign this device with it."""
        keys = keys or CrossSigningKeys.generate()
        uid, device_id = self.user_id, self.user.device_id
        body = keys.upload_body(uid)
        path = "/_matrix/client/v3/keys/device_signing/upload"
        status, result = await self._post(path, body)
        if status == 401:
            body["auth"] = {
                "type": "m.login.password",
                "identifier": {"type": "m.id.user", "user": uid},
                "password": self.user.password,
                "session": result.get("session"),
            }
            status, result = await self._post(path, body)
        if status != 200:
            raise RuntimeError(f"cross-signing upload failed: {status} {result}")
        _, query = await self._post(
            "/_matrix/client/v3/keys/query", {"device_keys": {uid: [device_id]}}
        )
        device = query["device_keys"][uid][device_id]
        signed = {uid: {device_id: keys.sign_device(uid, device)}}
        status, result = await self._post("/_matrix/client/v3/keys/signatures/upload", signed)
        if status != 200 or result.get("failures"):
            raise RuntimeError(f"device signature refused: {status} {result}")
        self.identity = keys
        return keys

    async def _post(self, path: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        headers = {
            "Authorization": f"Bearer {self.user.access_token}",
            "Content-Type": "application/json",
        }
        response = await self.client.send("POST", path, json.dumps(body), headers)
        async with response:
            data = await response.json(content_type=None)
        return response.status, data if isinstance(data, dict) else {}

    # Synapse's default of 10 events per room and sync would silently drop replies
    # in a busy room; the peers must see everything the bot sends.
    SYNC_FILTER: ClassVar[dict[str, Any]] = {"room": {"timeline": {"limit": 500}}}

    async def _sync_loop(self) -> None:
        """Runs until stopped: a sync that fails is logged and retried, never silently lost."""
        while True:
            try:
                await self.client.sync_forever(
                    timeout=1000, full_state=True, sync_filter=self.SYNC_FILTER
                )
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("%s: Sync fehlgeschlagen (%r); neuer Versuch", self.user_id, exc)
                await asyncio.sleep(0.5)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
        await self.client.close()

    @_survives
    async def _on_message(
        self, room: MatrixRoom, event: RoomMessageText | RoomMessageNotice
    ) -> None:
        content = _object(event.source.get("content"))
        seen = Seen(
            event_id=event.event_id,
            room_id=room.room_id,
            sender=event.sender,
            body=event.body,
            html=getattr(event, "formatted_body", None),
            in_reply_to=_reply_target(content),
            msgtype=_text(content.get("msgtype")) or "",
            decrypted=bool(getattr(event, "decrypted", False)),
            raw=event.source,
        )
        async with self._changed:
            self.seen.append(seen)
            self._changed.notify_all()

    @_survives
    async def _on_file(self, room: MatrixRoom, event: RoomEncryptedFile | RoomMessageFile) -> None:
        content = _object(event.source.get("content"))
        seen = Seen(
            event_id=event.event_id,
            room_id=room.room_id,
            sender=event.sender,
            body=event.body,
            html=None,
            in_reply_to=_reply_target(content),
            msgtype=_text(content.get("msgtype")) or "",
            decrypted=bool(getattr(event, "decrypted", False)),
            raw=event.source,
        )
        async with self._changed:
            self.seen.append(seen)
            self._changed.notify_all()

    @_survives
    async def _on_other(self, room: MatrixRoom, event: UnknownEvent) -> None:
        content = _object(event.source.get("content"))
        seen = Seen(
            event_id=event.event_id,
            room_id=room.room_id,
            sender=event.sender,
            body=_text(content.get("body")) or "",
            html=None,
            in_reply_to=_reply_target(content),
            msgtype="",
            decrypted=bool(getattr(event, "decrypted", False)),
            raw=event.source,
            event_type=event.type,
        )
        async with self._changed:
            self.events.append(seen)
            self._changed.notify_all()

    async def _on_sync(self, _response: SyncResponse) -> None:
        for record in self.client.quarantined:
            log.info(
                "%s: Ereignis %s beiseitegelegt: %s", self.user_id, record.event_id, record.reason
            )
        self.client.quarantined.clear()

    @_survives
    async def _on_undecryptable(self, room: MatrixRoom, event: MegolmEvent) -> None:
        self.undecryptable.append(event.event_id)

    # -- rooms -------------------------------------------------------------------

    async def create_encrypted_room(self, name: str, invite: list[str]) -> str:
        response = await self.client.room_create(
            name=name,
            invite=invite,
            preset=RoomPreset.private_chat,
            initial_state=[
                {
                    "type": "m.room.encryption",
                    "state_key": "",
                    "content": {"algorithm": "m.megolm.v1.aes-sha2"},
                }
            ],
        )
        if not isinstance(response, RoomCreateResponse):
            raise RuntimeError(f"room_create failed: {response}")
        return str(response.room_id)

    async def create_plain_room(self, name: str, invite: list[str]) -> str:
        response = await self.client.room_create(
            name=name, invite=invite, preset=RoomPreset.private_chat
        )
        if not isinstance(response, RoomCreateResponse):
            raise RuntimeError(f"room_create failed: {response}")
        return str(response.room_id)

    async def invite(self, room_id: str, user_id: str) -> None:
        await self.client.room_invite(room_id, user_id)

    async def join(self, room_id: str) -> None:
        await self.client.join(room_id)
        await self.wait_until(lambda: room_id in self.client.rooms, 20)

    async def wait_for_member(self, room_id: str, user_id: str, timeout: float = 30) -> None:
        """Until ``user_id`` has joined ``room_id`` as this client sees it."""

        def joined() -> bool:
            room = self.client.rooms.get(room_id)
            return bool(room and user_id in room.users and user_id not in room.invited_users)

        await self.wait_until(joined, timeout)

    async def wait_until(self, predicate: Any, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while not predicate():
            if time.monotonic() > deadline:
                raise TimeoutError("condition not met in time")
            await asyncio.sleep(0.05)

    # -- messages -----------------------------------------------------------------

    def trust_room(self, room_id: str) -> None:
        """Mark every member device trusted, as someone who verified them would."""
        room = self.client.rooms.get(room_id)
        if room is None:
            return
        for user_id in room.users:
            for device in self.client.device_store.active_user_devices(user_id):
                if not device.verified and not device.blacklisted:
                    self.client.verify_device(device)

    async def send(self, room_id: str, body: str, *, txn_id: str | None = None) -> str:
        room = self.client.rooms[room_id]
        if not room.members_synced:
            await self.client.joined_members(room_id)
        if self.client.should_query_keys:
            await self.client.keys_query()
        self.trust_room(room_id)
        response = await self.client.room_send(
            room_id, "m.room.message", {"msgtype": "m.text", "body": body}, tx_id=txn_id
        )
        if not isinstance(response, RoomSendResponse):
            raise RuntimeError(f"send failed: {response}")
        return str(response.event_id)

    async def send_event(self, room_id: str, event_type: str, content: dict[str, Any]) -> str:
        """Any room event (encrypted in an encrypted room), e.g. a poll response."""
        room = self.client.rooms[room_id]
        if not room.members_synced:
            await self.client.joined_members(room_id)
        if self.client.should_query_keys:
            await self.client.keys_query()
        self.trust_room(room_id)
        response = await self.client.room_send(room_id, event_type, content)
        if not isinstance(response, RoomSendResponse):
            raise RuntimeError(f"send of {event_type} failed: {response}")
        return str(response.event_id)

    async def redact(self, room_id: str, event_id: str) -> str:
        """Take an event back (e.g. a reaction, as clicking it again in Element does)."""
        response = await self.client.room_redact(room_id, event_id)
        if not isinstance(response, RoomRedactResponse):
            raise RuntimeError(f"redaction failed: {response}")
        return str(response.event_id)

    async def download_file(self, file: dict[str, Any]) -> bytes:
        """Download an encrypted attachment (an ``EncryptedFile`` object) and decrypt it."""
        response = await self.client.download(file["url"])
        if isinstance(response, DownloadError):
            raise RuntimeError(f"download failed: {response}")
        data = response.body
        if not isinstance(data, bytes):
            raise RuntimeError("download was not kept in memory")
        plain: bytes = decrypt_attachment(
            data, file["key"]["k"], file["hashes"]["sha256"], file["iv"]
        )
        return plain

    async def react(self, room_id: str, event_id: str, key: str) -> str:
        response = await self.client.room_send(
            room_id,
            "m.reaction",
            {"m.relates_to": {"rel_type": "m.annotation", "event_id": event_id, "key": key}},
        )
        if not isinstance(response, RoomSendResponse):
            raise RuntimeError(f"reaction failed: {response}")
        return str(response.event_id)

    def replies_to(self, event_id: str) -> list[Seen]:
        return [m for m in self.seen if m.in_reply_to == event_id]

    def edits_of(self, event_id: str) -> list[Seen]:
        """``m.replace`` edits of ``event_id``, in the order they arrived."""
        return [m for m in self.seen if m.replaces == event_id]

    async def wait_reply(self, event_id: str, timeout: float = 30) -> Seen:
        deadline = time.monotonic() + timeout
        async with self._changed:
            while True:
                replies = self.replies_to(event_id)
                if replies:
                    return replies[0]
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError(f"no reply to {event_id} within {timeout} s")
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._changed.wait(), remaining)

    async def wait_replies(self, event_ids: list[str], timeout: float = 60) -> dict[str, Seen]:
        deadline = time.monotonic() + timeout
        for event_id in event_ids:
            await self.wait_reply(event_id, max(0.1, deadline - time.monotonic()))
        return {e: self.replies_to(e)[0] for e in event_ids}
