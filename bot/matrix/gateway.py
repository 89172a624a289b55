"""The Matrix gateway: login/restore, one sync at a time, decryption retries, rooms, sending.

It logs in once and restores that login ever after, runs one sync at a time
(the caller persists the checkpoint), and sends messages through one path that
applies the key-sharing policy. Conversion of the timeline lives in
:mod:`bot.matrix.convert`, the cross-signing glue in :mod:`bot.matrix.crosssigning`.
"""

from __future__ import annotations

import asyncio
import io
import logging
from collections.abc import Callable, Iterable, Mapping
from typing import Any, Protocol

import aiohttp
from nio import (
    AsyncClientConfig,
    Event,
    ForwardedRoomKeyEvent,
    JoinError,
    LocalProtocolError,
    LoginResponse,
    MegolmEvent,
    RoomCreateEvent,
    RoomKeyEvent,
    RoomLeaveResponse,
    RoomSendResponse,
    SyncError,
    SyncResponse,
    ToDeviceError,
    UploadResponse,
)
from nio.crypto import OlmDevice
from nio.exceptions import OlmTrustError, OlmUnverifiedDeviceError, SendRetryError

from bot.config import MatrixConfig
from bot.errors import (
    AuthenticationError,
    CredentialsError,
    HomeserverUnavailable,
    MatrixError,
    SendError,
)
from bot.events import Invite, RoomEvent, SyncBatch
from bot.identity import CrossSigningKeys
from bot.ids import EventId, RoomId, UserId
from bot.matrix import convert, crosssigning
from bot.matrix.credentials import Credentials, FileLoginStore, LoginStore
from bot.matrix.pgstore import crypto_store_class
from bot.matrix.screening import ScreeningClient
from bot.matrix.transport import checked, raise_for
from bot.shapes import additional_creators
from domain.text import N_

log = logging.getLogger("bot.matrix")  # one logger for the whole edge

SEND_TIMEOUT_SECONDS = 120
# Refusals that no retry can fix; everything else (5xx, rate limits) is transient.
PERMANENT_SEND_ERRORS = frozenset(
    {"M_FORBIDDEN", "M_NOT_FOUND", "M_TOO_LARGE", "M_BAD_JSON", "M_NOT_JSON", "M_UNKNOWN_TOKEN"}
)
CRYPTO_STORE_NAME = "crypto.db"


class KeySharingPolicy(Protocol):
    """Decides, right before each send, which member devices receive the room key.

    Implementations call :meth:`MatrixGateway.apply_trust` so that nio's outbound
    session is shared exactly with the devices they allow (see bot/keeper.py).
    """

    async def before_send(self, gateway: MatrixGateway, room_id: str) -> None: ...


class WithholdAll:
    """The safe default when no policy is configured: no device gets a key."""

    async def before_send(self, gateway: MatrixGateway, room_id: str) -> None:
        gateway.apply_trust(room_id, frozenset(), {})


class MatrixGateway:
    def __init__(
        self,
        config: MatrixConfig,
        *,
        pickle_key: str,
        policy: KeySharingPolicy | None = None,
        login_store: LoginStore | None = None,
        may_send: Callable[[], bool] = lambda: True,
        database_url: str | None = None,
    ) -> None:
        self._config = config
        # False once the instance is fenced (PostgreSQL failover): nothing more is sent.
        self._may_send = may_send
        # The login and the cross-signing keys: files in the store directory, or the
        # database when instances on several hosts share it (bot/instance.py).
        self.login_store: LoginStore = login_store or FileLoginStore(config.store_path, pickle_key)
        self._policy: KeySharingPolicy = policy or WithholdAll()
        # Bumped whenever a sync reports changed device lists: cached /keys/query
        # answers older than this are stale.
        self.device_list_version = 0
        # Room creators per room (from m.room.create): privileged in room version 12+.
        self._creators: dict[str, frozenset[str]] = {}
        # On PostgreSQL the crypto store lives in the database (a standby takes over the
        # device); on SQLite it is nio's file store_path/crypto.db (bot/matrix/pgstore.py).
        self._crypto_store = crypto_store_class(database_url)
        client_config = AsyncClientConfig(
            store=self._crypto_store,
            store_name=CRYPTO_STORE_NAME,
            store_sync_tokens=False,
            encryption_enabled=True,
            pickle_key=pickle_key,
            # We back off ourselves (see App); nio's own retry loop would hide outages.
            max_timeouts=0,
            request_timeout=config.sync_timeout_seconds + 30,
        )
        self.client = ScreeningClient(
            config.homeserver,
            config.user_id,
            device_id=config.device_id,
            store_path=str(config.store_path),
            config=client_config,
        )
        self._keys_arrived = False
        self.client.add_to_device_callback(self._on_room_key, (RoomKeyEvent, ForwardedRoomKeyEvent))
        self._sync_filter = {
            "room": {
                "timeline": {"limit": config.timeline_limit},
                "state": {"lazy_load_members": False},
            },
            "presence": {"not_types": ["*"]},
        }

    @property
    def user_id(self) -> UserId:
        return UserId(self.client.user_id)

    @property
    def device_id(self) -> str:
        return str(self.client.device_id)

    # -- login ---------------------------------------------------------------

    async def open(self, password: str | None) -> None:
        """Restore the stored login, or log in once with the configured device id."""
        store = self._config.store_path
        store.mkdir(parents=True, exist_ok=True, mode=0o700)
        creds = self.login_store.load_credentials()
        if creds is not None:
            if creds.user_id != self._config.user_id or creds.device_id != self._config.device_id:
                raise CredentialsError(
                    N_(
                        "Gespeicherte Anmeldung (%(user)s, Gerät %(device)s) passt nicht zur "
                        "Konfiguration (%(configured_user)s, Gerät %(configured_device)s). "
                        "Anmeldung in %(where)s prüfen."
                    ),
                    user=creds.user_id,
                    device=creds.device_id,
                    configured_user=self._config.user_id,
                    configured_device=self._config.device_id,
                    where=self.login_store.where,
                )
            self.client.restore_login(creds.user_id, creds.device_id, creds.access_token)
            log.info("Anmeldung wiederhergestellt (Gerät %s)", creds.device_id)
            return
        if password is None:
            raise CredentialsError(
                N_(
                    "Erster Start: kein Passwort konfiguriert (FKBOT_MATRIX__PASSWORD oder "
                    "matrix.password_file)."
                )
            )
        try:
            response = await self.client.login(password, device_name=self._config.device_name)
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise HomeserverUnavailable(
                N_("Homeserver nicht erreichbar: %(error)s"), error=str(exc)
            ) from exc
        if not isinstance(response, LoginResponse):
            raise AuthenticationError(
                N_("Anmeldung abgelehnt: %(reason)s"), reason=response.message
            )
        self.login_store.save_credentials(
            Credentials(
                homeserver=self._config.homeserver,
                user_id=response.user_id,
                device_id=response.device_id,
                access_token=response.access_token,
            ),
        )
        log.info("Erstmals angemeldet (Gerät %s)", response.device_id)

    async def close(self) -> None:
        """Close the HTTP session. Never logs out: that would destroy the device."""
        await self.client.close()
        dispose = getattr(self._crypto_store, "dispose", None)
        if dispose is not None:
            dispose()  # the database crypto store's own connection pool

    # -- cross-signing identity (bot/matrix/crosssigning.py) ----------------------

    async def ensure_identity(self, password: str | None) -> CrossSigningKeys:
        """Create once, or reuse, the bot's cross-signing keys and sign this device with them."""
        return await crosssigning.ensure_identity(self.client, self.login_store, password)

    async def reset_identity(self, password: str | None) -> CrossSigningKeys:
        """Replace the bot's cross-signing keys on purpose (after a lost store)."""
        return await crosssigning.reset_identity(self.client, self.login_store, password)

    async def query_keys_raw(self, user_ids: list[str]) -> dict[str, Any]:
        """/keys/query as the server sent it, screened (see bot/matrix/crosssigning.py)."""
        return await crosssigning.query_keys_raw(self.client, user_ids)

    # -- sync ----------------------------------------------------------------

    async def sync(
        self,
        since: str | None,
        *,
        full_state: bool,
        timeout_ms: int,
        known_rooms: frozenset[str] = frozenset(),
    ) -> SyncBatch:
        response = await checked(
            self.client.sync(
                timeout=timeout_ms,
                sync_filter=self._sync_filter,
                since=since,
                full_state=full_state,
            ),
            "Sync fehlgeschlagen",
        )
        if isinstance(response, SyncError):
            raise_for(response.status_code, response.message)
        assert isinstance(response, SyncResponse)
        if response.device_list.changed or response.device_list.left:
            self.device_list_version += 1
        await self._maintain_keys()
        events: list[RoomEvent] = []
        for room_id, info in response.rooms.join.items():
            for state_event in [*info.state, *info.timeline.events]:
                if isinstance(state_event, RoomCreateEvent):
                    extra = additional_creators(state_event.source.get("content"))
                    self._creators[room_id] = frozenset({state_event.sender, *extra})
            timeline = list(info.timeline.events)
            if (
                info.timeline.limited
                and since is not None
                and info.timeline.prev_batch
                and (room_id in known_rooms or not convert.joins_in(timeline, self.client.user_id))
            ):
                gap = await convert.fill_gap(self.client, room_id, info.timeline.prev_batch, since)
                log.info("Lücke in %s gefüllt: %d Ereignisse", room_id, len(gap))
                timeline = gap + timeline
            for event in timeline:
                events.extend(self._convert_guarded(room_id, event))
        invites = tuple(self._invites(response))
        events.extend(self.client.quarantined)
        self.client.quarantined.clear()
        arrived, self._keys_arrived = self._keys_arrived, False
        return SyncBatch(
            next_batch=response.next_batch,
            since=since,
            events=tuple(events),
            invites=invites,
            joined_rooms=tuple(RoomId(r) for r in response.rooms.join),
            keys_arrived=arrived,
            left_rooms=tuple(RoomId(r) for r in response.rooms.leave),
        )

    async def _maintain_keys(self) -> None:
        """What nio's sync_forever does between syncs: keep one-time keys and device lists fresh."""
        try:
            await self.client.send_to_device_messages()
            if self.client.should_upload_keys:
                await self.client.keys_upload()
            if self.client.should_query_keys:
                await self.client.keys_query()
            if self.client.should_claim_keys:
                await self.client.keys_claim(self.client.get_users_for_key_claiming())
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise HomeserverUnavailable(f"Schlüsselabgleich fehlgeschlagen: {exc!r}") from exc

    def _convert_guarded(self, room_id: str, event: Event) -> list[RoomEvent]:
        """One event converted; whatever goes wrong sets this event aside, not the batch."""
        return convert.convert_guarded(self.client, room_id, event, self.power_level)

    def _invites(self, response: SyncResponse) -> Iterable[Invite]:
        return convert.invites(self.client, response)

    # -- decryption ------------------------------------------------------------

    def _on_room_key(self, _event: Any) -> None:
        self._keys_arrived = True

    def try_decrypt(self, source: dict[str, Any], room_id: RoomId) -> RoomEvent | None:
        """Decrypt a stored undecryptable event, if its room key has arrived since."""
        event = MegolmEvent.from_dict(source)
        if not isinstance(event, MegolmEvent):
            return None
        event.room_id = room_id
        try:
            decrypted = self.client.decrypt_event(event)
        except Exception:
            return None
        if isinstance(decrypted, MegolmEvent):
            return None
        decrypted.decrypted = True
        converted = self._convert_guarded(room_id, decrypted)
        return converted[0] if converted else None

    async def request_room_key(self, source: dict[str, Any], room_id: RoomId) -> None:
        event = MegolmEvent.from_dict(source)
        if not isinstance(event, MegolmEvent):
            return
        event.room_id = room_id
        # nio's request_room_key asks only our own devices; the sender's device has the key.
        message = event.as_key_request(
            event.sender, self.device_id, request_id=event.session_id, device_id=event.device_id
        )
        try:
            response = await self.client.to_device(message)
        except (aiohttp.ClientError, TimeoutError) as exc:
            log.warning("Schlüsselanfrage nicht gesendet: %r", exc)
            return
        if isinstance(response, ToDeviceError):
            log.warning("Schlüsselanfrage abgelehnt: %s", response.message)

    # -- rooms -----------------------------------------------------------------

    def room_is_encrypted(self, room_id: RoomId) -> bool:
        room = self.client.rooms.get(room_id)
        return bool(room and room.encrypted)

    def is_joined(self, room_id: RoomId) -> bool:
        return room_id in self.client.rooms

    async def join(self, room_id: RoomId) -> None:
        response = await checked(self.client.join(room_id), "Beitritt")
        if isinstance(response, JoinError):
            raise MatrixError(
                N_("Beitritt zu %(room)s fehlgeschlagen: %(reason)s"),
                room=room_id,
                reason=response.message,
            )

    async def decline(self, room_id: RoomId) -> None:
        response = await checked(self.client.room_leave(room_id), "Ablehnen")
        if not isinstance(response, RoomLeaveResponse):
            raise MatrixError(
                N_("Ablehnen von %(room)s fehlgeschlagen: %(reason)s"),
                room=room_id,
                reason=response.message,
            )

    # -- sending -----------------------------------------------------------------

    async def send(
        self, room_id: RoomId, event_type: str, content: dict[str, Any], txn_id: str
    ) -> EventId:
        """The one sending path. A retry with the same ``txn_id`` never posts twice."""
        for attempt in (1, 2):
            await self._policy.before_send(self, room_id)
            if not self._may_send():
                raise asyncio.CancelledError("fenced: this instance no longer sends")
            try:
                response = await asyncio.wait_for(
                    self.client.room_send(room_id, event_type, content, tx_id=txn_id),
                    SEND_TIMEOUT_SECONDS,
                )
            except (OlmUnverifiedDeviceError, OlmTrustError) as exc:
                if attempt == 2:
                    raise SendError(f"Schlüsselverteilung verweigert: {exc}") from exc
                if self.client.should_query_keys:
                    await checked(self.client.keys_query(), "Schlüsselabfrage")
                continue
            except (SendRetryError, LocalProtocolError) as exc:
                raise SendError(str(exc)) from exc
            except (aiohttp.ClientError, TimeoutError) as exc:
                self._release_sharing(room_id)
                raise HomeserverUnavailable(f"Senden fehlgeschlagen: {exc!r}") from exc
            if isinstance(response, RoomSendResponse):
                return EventId(response.event_id)
            raise SendError(
                f"{response.status_code}: {response.message}",
                permanent=response.status_code in PERMANENT_SEND_ERRORS,
            )
        raise SendError("unreachable")

    async def upload(
        self, data: bytes, mimetype: str, filename: str, *, encrypt: bool
    ) -> dict[str, Any]:
        """Upload a file to the media repository; encrypted, its keys come back with it."""
        try:
            response, keys = await asyncio.wait_for(
                self.client.upload(
                    io.BytesIO(data),
                    content_type=mimetype,
                    filename=filename,
                    encrypt=encrypt,
                    filesize=len(data),
                ),
                SEND_TIMEOUT_SECONDS,
            )
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise HomeserverUnavailable(f"Hochladen fehlgeschlagen: {exc!r}") from exc
        if not isinstance(response, UploadResponse):
            raise SendError(f"Hochladen abgelehnt: {response.message}", permanent=False)
        if not encrypt:
            return {"url": response.content_uri}
        assert keys is not None
        return {"file": {**keys, "url": response.content_uri}}

    def set_policy(self, policy: KeySharingPolicy) -> None:
        self._policy = policy

    def joined_members(self, room_id: str) -> list[str]:
        room = self.client.rooms.get(room_id)
        if room is None:
            return []
        return sorted(u for u in room.users if u not in room.invited_users)

    def power_level(self, room_id: str, user_id: str) -> int:
        creators = self._creators.get(room_id, frozenset())
        return convert.power_level(self.client.rooms.get(room_id), user_id, creators)

    def apply_trust(
        self,
        room_id: str,
        share: frozenset[tuple[str, str]],
        device_keys: Mapping[tuple[str, str], str] | None = None,
    ) -> None:
        """Mark every device of the room's members in nio's trust store: verified if in
        ``share`` (and, where ``device_keys`` names its Ed25519 key, only if nio holds
        that same key), blacklisted otherwise. Never ``ignore_unverified_devices``."""
        room = self.client.rooms.get(room_id)
        if room is None:
            return
        for user_id in room.users:
            devices: Iterable[OlmDevice] = self.client.device_store.active_user_devices(user_id)
            for device in devices:
                expected = (device_keys or {}).get((user_id, device.id))
                if (user_id, device.id) in share and expected in (None, device.ed25519):
                    if device.blacklisted:
                        self.client.unblacklist_device(device)
                    if not device.verified:
                        self.client.verify_device(device)
                elif not device.blacklisted:
                    # One trust state per device in nio: this also drops "verified", and
                    # nio rotates every outbound session the device already had.
                    self.client.blacklist_device(device)

    def _release_sharing(self, room_id: str) -> None:
        """nio 0.26 leaves its 'sharing in progress' marker behind when key sharing dies
        on a network error; every later send to the room would wait for it forever."""
        pending = self.client.sharing_session.pop(room_id, None)
        if pending is not None:
            pending.set()
