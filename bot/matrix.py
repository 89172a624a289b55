"""The Matrix edge: the only module that talks to ``nio.AsyncClient``.

It logs in once and restores that login ever after, runs one sync at a time
(the caller persists the checkpoint), fills timeline gaps, turns nio events into
the frozen dataclasses of :mod:`bot.events`, and sends messages through one path
that applies the key-sharing policy. nio's error responses become
:mod:`bot.errors` exceptions here and nowhere else.
"""

from __future__ import annotations

import asyncio
import io
import json
import logging
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

import aiohttp
from nio import (
    AsyncClient,
    AsyncClientConfig,
    BadEvent,
    Event,
    ForwardedRoomKeyEvent,
    InviteMemberEvent,
    JoinError,
    LocalProtocolError,
    LoginResponse,
    MatrixRoom,
    MegolmEvent,
    MessageDirection,
    ReactionEvent,
    RoomCreateEvent,
    RoomKeyEvent,
    RoomLeaveResponse,
    RoomMemberEvent,
    RoomMessagesError,
    RoomMessagesResponse,
    RoomMessageText,
    RoomSendResponse,
    SyncError,
    SyncResponse,
    ToDeviceError,
    UnknownBadEvent,
    UnknownEvent,
    UploadResponse,
)
from nio.crypto import OlmDevice
from nio.exceptions import OlmTrustError, OlmUnverifiedDeviceError, SendRetryError
from nio.store import SqliteStore

from bot.config import MatrixConfig
from bot.errors import (
    AuthenticationError,
    CredentialsError,
    HomeserverUnavailable,
    MatrixError,
    SendError,
)
from bot.events import (
    Invite,
    OwnJoin,
    PollVote,
    Quarantined,
    Reaction,
    RoomEvent,
    SyncBatch,
    TextMessage,
    Undecryptable,
)
from bot.identity import (
    CrossSigningKeys,
    IdentityError,
    device_is_cross_signed,
    master_public_of,
)
from bot.ids import EventId, RoomId, UserId
from bot.secretfiles import private_file_problem
from bot.shapes import additional_creators, check_event, quarantined, screen_messages, screen_sync
from bot.trust import screen_keys_query
from domain.polls import parse_response

log = logging.getLogger(__name__)

CREDENTIALS_FILE = "credentials.json"
SEND_TIMEOUT_SECONDS = 120
# Refusals that no retry can fix; everything else (5xx, rate limits) is transient.
PERMANENT_SEND_ERRORS = frozenset(
    {"M_FORBIDDEN", "M_NOT_FOUND", "M_TOO_LARGE", "M_BAD_JSON", "M_NOT_JSON", "M_UNKNOWN_TOKEN"}
)
CRYPTO_STORE_NAME = "crypto.db"
MAX_GAP_PAGES = 50
GAP_PAGE_SIZE = 100


@dataclass(frozen=True)
class Credentials:
    homeserver: str
    user_id: str
    device_id: str
    access_token: str


def load_credentials(store_path: Path) -> Credentials | None:
    """The stored login; refused if group or others could read the token (as ssh would)."""
    path = store_path / CREDENTIALS_FILE
    problem = private_file_problem(path)
    if problem is not None:
        raise CredentialsError(f"Gespeicherte Anmeldung: {problem}")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    return Credentials(**data)


def save_credentials(store_path: Path, creds: Credentials) -> None:
    """Atomically, readable only by the bot's user: the token is as good as the password."""
    store_path.mkdir(parents=True, exist_ok=True, mode=0o700)
    tmp = store_path / (CREDENTIALS_FILE + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        json.dump(creds.__dict__, fh)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, store_path / CREDENTIALS_FILE)


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


def _ts(event: Event) -> datetime:
    return datetime.fromtimestamp(event.server_timestamp / 1000, UTC)


CREATOR_POWER = 100  # room versions 12+: creators rank above every power level


def _refused(event: Event, room_id: str) -> Quarantined | None:
    """A quarantine record if the event (as nio parsed or decrypted it) does not fit."""
    source = getattr(event, "source", None)
    if isinstance(event, (BadEvent, UnknownBadEvent)):
        problem = check_event(source, room_id)
        return problem or quarantined(source, room_id, "von nio abgelehnt")
    return check_event(source, room_id)


def _power_level(room: MatrixRoom | None, user_id: str, creators: frozenset[str]) -> int:
    if room is None:
        return 0
    if user_id in creators and _creators_are_privileged(room.room_version):
        return CREATOR_POWER
    return int(room.power_levels.get_user_level(user_id))


def _creators_are_privileged(room_version: str) -> bool:
    """From room version 12 on, creators are not listed in m.room.power_levels."""
    return room_version.isdigit() and int(room_version) >= 12


class ScreeningClient(AsyncClient):  # type: ignore[misc]  # nio has no type stubs
    """nio's client, but sync and ``/messages`` answers are screened before nio parses them.

    A room member chooses every event's content; nio's parser and room state must
    not see shapes that make them raise (bot/shapes.py). What is removed is kept in
    ``quarantined`` until the gateway collects it.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.quarantined: list[Quarantined] = []

    async def create_matrix_response(
        self,
        response_class: type,
        transport_response: aiohttp.ClientResponse,
        data: tuple[Any, ...] | None = None,
        save_to: os.PathLike[str] | None = None,
    ) -> Any:
        screened = response_class in (SyncResponse, RoomMessagesResponse)
        if not screened or transport_response.status != 200:
            return await super().create_matrix_response(
                response_class, transport_response, data, save_to
            )
        parsed = await self.parse_body(transport_response)
        parser: Any = response_class
        if response_class is SyncResponse:
            screen_sync(parsed, self.quarantined.append)
        else:
            room_id = str(data[0]) if data else ""
            screen_messages(parsed, room_id, self.quarantined.append)
        try:
            response = parser.from_dict(parsed, *(data or ()))
        except Exception:
            if response_class is not SyncResponse:
                raise
            # A shape the screen does not know yet: give up only the rooms nio trips on.
            self._drop_unparsable_rooms(parsed)
            response = parser.from_dict(parsed, *(data or ()))
        response.transport_response = transport_response
        return response

    def _drop_unparsable_rooms(self, parsed: dict[str, Any]) -> None:
        rooms = parsed.get("rooms")
        if not isinstance(rooms, dict):
            return
        for section, by_room in rooms.items():
            if not isinstance(by_room, dict):
                continue
            for room_id in list(by_room):
                alone = {"next_batch": "", "rooms": {section: {room_id: by_room[room_id]}}}
                try:
                    SyncResponse.from_dict(alone)
                except Exception as exc:
                    del by_room[room_id]
                    self.quarantined.append(
                        quarantined({}, room_id, f"Sync: {type(exc).__name__}", event_type="room")
                    )


class MatrixGateway:
    def __init__(
        self,
        config: MatrixConfig,
        *,
        pickle_key: str,
        policy: KeySharingPolicy | None = None,
    ) -> None:
        self._config = config
        self._policy: KeySharingPolicy = policy or WithholdAll()
        # Bumped whenever a sync reports changed device lists: cached /keys/query
        # answers older than this are stale.
        self.device_list_version = 0
        # Room creators per room (from m.room.create): privileged in room version 12+.
        self._creators: dict[str, frozenset[str]] = {}
        client_config = AsyncClientConfig(
            store=SqliteStore,
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
        creds = load_credentials(store)
        if creds is not None:
            if creds.user_id != self._config.user_id or creds.device_id != self._config.device_id:
                raise CredentialsError(
                    f"Gespeicherte Anmeldung ({creds.user_id}, Gerät {creds.device_id}) passt "
                    f"nicht zur Konfiguration ({self._config.user_id}, Gerät "
                    f"{self._config.device_id}). Speicher {store} prüfen."
                )
            self.client.restore_login(creds.user_id, creds.device_id, creds.access_token)
            log.info("Anmeldung wiederhergestellt (Gerät %s)", creds.device_id)
            return
        if password is None:
            raise CredentialsError(
                "Erster Start: kein Passwort konfiguriert (FKBOT_MATRIX__PASSWORD oder "
                "matrix.password_file)."
            )
        try:
            response = await self.client.login(password, device_name=self._config.device_name)
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise HomeserverUnavailable(f"Homeserver nicht erreichbar: {exc}") from exc
        if not isinstance(response, LoginResponse):
            raise AuthenticationError(f"Anmeldung abgelehnt: {response.message}")
        save_credentials(
            store,
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

    # -- cross-signing identity ----------------------------------------------------

    async def ensure_identity(self, pickle_key: str, password: str | None) -> CrossSigningKeys:
        """Create once, or reuse, the bot's cross-signing keys and sign this device with them.

        Never replaces a master key the server already has: a different one means
        the store was lost or swapped, and an admin must decide (``fkbot identity reset``).
        """
        own = self.client.user_id
        if self.client.should_upload_keys:
            await self._checked(self.client.keys_upload(), "Geräteschlüssel hochladen")
        store = self._config.store_path
        local = CrossSigningKeys.load(store, pickle_key)
        query = await self.query_keys_raw([own])
        server_master = (query.get("master_keys") or {}).get(own)
        if local is None:
            if server_master is not None:
                raise IdentityError(
                    "Der Homeserver kennt für den Bot schon einen Master-Schlüssel, der "
                    f"lokale Speicher {store} aber nicht (Speicher verloren?). Nichts wird "
                    "ersetzt. Prüfen und dann bewusst: fkbot identity reset --config …"
                )
            local = CrossSigningKeys.generate()
            local.save(store, pickle_key)  # durable before it is announced
            await self._upload_cross_signing(local, password)
            log.info("Cross-Signing-Identität erstellt: %s", local.fingerprint())
        elif server_master is None:
            await self._upload_cross_signing(local, password)
        elif master_public_of(server_master) != local.master_public:
            raise IdentityError(
                "Der Master-Schlüssel auf dem Homeserver unterscheidet sich vom lokalen "
                f"({local.fingerprint()}). Nichts wird ersetzt. Prüfen und dann bewusst: "
                "fkbot identity reset --config …"
            )
        else:
            if device_is_cross_signed(query, own, self.device_id):
                return local
        query = await self.query_keys_raw([own])
        if not device_is_cross_signed(query, own, self.device_id):
            device = query["device_keys"][own][self.device_id]
            body = {own: {self.device_id: local.sign_device(own, device)}}
            result = await self._post_json("/_matrix/client/v3/keys/signatures/upload", body)
            if result.get("failures"):
                # Synapse reports refused signatures with HTTP 200 and a failures map.
                raise IdentityError(f"Gerätesignatur abgelehnt: {result['failures']}")
            log.info("Gerät %s mit dem Self-Signing-Schlüssel signiert", self.device_id)
        return local

    async def reset_identity(self, pickle_key: str, password: str | None) -> CrossSigningKeys:
        """Replace the bot's cross-signing keys on purpose (after a lost store).

        The new keys are stored before they are uploaded; the server asks for the
        password because keys already exist there.
        """
        if self.client.should_upload_keys:
            await self._checked(self.client.keys_upload(), "Geräteschlüssel hochladen")
        keys = CrossSigningKeys.generate()
        keys.save(self._config.store_path, pickle_key)
        await self._upload_cross_signing(keys, password)
        log.warning("Cross-Signing-Identität ersetzt: %s", keys.fingerprint())
        return await self.ensure_identity(pickle_key, password)

    async def query_keys_raw(self, user_ids: list[str]) -> dict[str, Any]:
        """/keys/query as the server sent it (nio drops the cross-signing keys), with
        whatever does not have the expected shape left out (:func:`screen_keys_query`)."""
        return screen_keys_query(
            await self._post_json(
                "/_matrix/client/v3/keys/query", {"device_keys": {u: [] for u in user_ids}}
            )
        )

    async def _upload_cross_signing(self, keys: CrossSigningKeys, password: str | None) -> None:
        path = "/_matrix/client/v3/keys/device_signing/upload"
        body = keys.upload_body(self.client.user_id)
        status, result = await self._request_json("POST", path, body)
        if status == 401 and "flows" in result:
            if password is None:
                raise IdentityError(
                    "Der Homeserver verlangt zum Hochladen der Cross-Signing-Schlüssel das "
                    "Passwort (FKBOT_MATRIX__PASSWORD oder matrix.password_file)."
                )
            body["auth"] = {
                "type": "m.login.password",
                "identifier": {"type": "m.id.user", "user": self.client.user_id},
                "password": password,
                "session": result.get("session"),
            }
            status, result = await self._request_json("POST", path, body)
        if status != 200:
            raise IdentityError(
                f"Cross-Signing-Schlüssel nicht angenommen ({status}: {result.get('errcode')})"
            )

    async def _post_json(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        status, result = await self._request_json("POST", path, body)
        if status != 200:
            self._raise_for(result.get("errcode"), str(result.get("error", status)))
        return result

    async def _request_json(
        self, method: str, path: str, body: dict[str, Any]
    ) -> tuple[int, dict[str, Any]]:
        headers = {
            "Authorization": f"Bearer {self.client.access_token}",
            "Content-Type": "application/json",
        }
        try:
            response = await self.client.send(method, path, json.dumps(body), headers)
            async with response:
                data = await response.json(content_type=None)
                return response.status, data if isinstance(data, dict) else {}
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise HomeserverUnavailable(f"{path}: {exc!r}") from exc

    async def _checked(self, request: Any, what: str) -> Any:
        try:
            return await request
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise HomeserverUnavailable(f"{what}: {exc!r}") from exc

    # -- sync ----------------------------------------------------------------

    async def sync(
        self,
        since: str | None,
        *,
        full_state: bool,
        timeout_ms: int,
        known_rooms: frozenset[str] = frozenset(),
    ) -> SyncBatch:
        response = await self._checked(
            self.client.sync(
                timeout=timeout_ms,
                sync_filter=self._sync_filter,
                since=since,
                full_state=full_state,
            ),
            "Sync fehlgeschlagen",
        )
        if isinstance(response, SyncError):
            self._raise_for(response.status_code, response.message)
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
                and (room_id in known_rooms or not self._joins_in(timeline))
            ):
                gap = await self._fill_gap(room_id, info.timeline.prev_batch, since)
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

    def _joins_in(self, timeline: list[Event]) -> bool:
        """Our own join is in this timeline: nothing before it will be executed anyway,
        so a newly joined room's older history need not be paged in."""
        own = self.client.user_id
        return any(
            isinstance(e, RoomMemberEvent) and e.state_key == own and e.membership == "join"
            for e in timeline
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

    async def _fill_gap(self, room_id: str, prev_batch: str, since: str) -> list[Event]:
        """Page back from the limited timeline's start to our last checkpoint."""
        collected: list[Event] = []
        start = prev_batch
        for _ in range(MAX_GAP_PAGES):
            response = await self._checked(
                self.client.room_messages(
                    room_id,
                    start=start,
                    end=since,
                    direction=MessageDirection.back,
                    limit=GAP_PAGE_SIZE,
                ),
                "/messages fehlgeschlagen",
            )
            if isinstance(response, RoomMessagesError):
                if response.status_code == "M_FORBIDDEN":
                    log.error("Lücke in %s nicht ladbar (kein Zugriff mehr?)", room_id)
                    break
                self._raise_for(response.status_code, response.message)
            collected.extend(response.chunk)
            if not response.chunk or not response.end or response.end == start:
                break
            start = response.end
        else:
            log.error(
                "Lücke in %s größer als %d Seiten; älteste Ereignisse fehlen",
                room_id,
                MAX_GAP_PAGES,
            )
        collected.reverse()
        return collected

    def _convert_guarded(self, room_id: str, event: Event) -> list[RoomEvent]:
        """One event converted; whatever goes wrong sets this event aside, not the batch."""
        try:
            return list(self._convert(room_id, [event]))
        except Exception as exc:
            # The type only: a traceback or message could quote the content.
            log.error(
                "Ereignis %s nicht umwandelbar (%s)",
                getattr(event, "event_id", "?"),
                type(exc).__name__,
            )
            source = getattr(event, "source", None)
            return [quarantined(source, room_id, f"Umwandlung: {type(exc).__name__}")]

    def _convert(self, room_id: str, timeline: list[Event]) -> Iterable[RoomEvent]:
        rid = RoomId(room_id)
        own = self.client.user_id
        room = self.client.rooms.get(room_id)
        encrypted = bool(room and room.encrypted)
        for event in timeline:
            # Every event, decrypted ones too, must fit its shape before it is read.
            refused = _refused(event, room_id)
            if refused is not None:
                yield refused
                continue
            if isinstance(event, RoomMemberEvent):
                previous = event.prev_content if isinstance(event.prev_content, dict) else {}
                if (
                    event.state_key == own
                    and event.membership == "join"
                    and previous.get("membership") != "join"
                ):
                    yield OwnJoin(
                        EventId(event.event_id), rid, direct=previous.get("is_direct") is True
                    )
                continue
            if event.sender == own:
                continue
            if isinstance(event, RoomMessageText):
                relates = event.source.get("content", {}).get("m.relates_to") or {}
                if relates.get("rel_type") == "m.replace":
                    continue  # an edit is not a new command
                yield TextMessage(
                    event_id=EventId(event.event_id),
                    room_id=rid,
                    sender=UserId(event.sender),
                    body=event.body,
                    origin_ts=_ts(event),
                    room_encrypted=encrypted,
                    was_encrypted=bool(getattr(event, "decrypted", False)),
                    power_level=self.power_level(rid, event.sender),
                )
            elif isinstance(event, ReactionEvent):
                yield Reaction(
                    event_id=EventId(event.event_id),
                    room_id=rid,
                    sender=UserId(event.sender),
                    relates_to=EventId(event.reacts_to),
                    key=event.key,
                    origin_ts=_ts(event),
                    room_encrypted=encrypted,
                    power_level=self.power_level(rid, event.sender),
                )
            elif isinstance(event, MegolmEvent):
                yield Undecryptable(
                    event_id=EventId(event.event_id),
                    room_id=rid,
                    sender=UserId(event.sender),
                    session_id=event.session_id,
                    origin_ts=_ts(event),
                    source=event.source,
                )
            elif isinstance(event, UnknownEvent):
                vote = parse_response(event.type, event.source.get("content") or {})
                if vote is None:
                    log.debug("Ereignis %s (%s) ignoriert", event.event_id, event.type)
                    continue
                yield PollVote(
                    event_id=EventId(event.event_id),
                    room_id=rid,
                    sender=UserId(event.sender),
                    poll_event_id=EventId(vote.poll_event_id),
                    selections=vote.selections,
                    origin_ts=_ts(event),
                )

    def _invites(self, response: SyncResponse) -> Iterable[Invite]:
        own = self.client.user_id
        for room_id, info in response.rooms.invite.items():
            inviter = None
            for event in info.invite_state:
                if (
                    isinstance(event, InviteMemberEvent)
                    and event.state_key == own
                    and event.membership == "invite"
                ):
                    inviter = event.sender
            if inviter:
                yield Invite(RoomId(room_id), UserId(inviter))

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
        response = await self._checked(self.client.join(room_id), "Beitritt")
        if isinstance(response, JoinError):
            raise MatrixError(f"Beitritt zu {room_id} fehlgeschlagen: {response.message}")

    async def decline(self, room_id: RoomId) -> None:
        response = await self._checked(self.client.room_leave(room_id), "Ablehnen")
        if not isinstance(response, RoomLeaveResponse):
            raise MatrixError(f"Ablehnen von {room_id} fehlgeschlagen: {response.message}")

    # -- sending -----------------------------------------------------------------

    async def send(
        self, room_id: RoomId, event_type: str, content: dict[str, Any], txn_id: str
    ) -> EventId:
        """The one sending path. A retry with the same ``txn_id`` never posts twice."""
        for attempt in (1, 2):
            await self._policy.before_send(self, room_id)
            try:
                response = await asyncio.wait_for(
                    self.client.room_send(room_id, event_type, content, tx_id=txn_id),
                    SEND_TIMEOUT_SECONDS,
                )
            except (OlmUnverifiedDeviceError, OlmTrustError) as exc:
                if attempt == 2:
                    raise SendError(f"Schlüsselverteilung verweigert: {exc}") from exc
                if self.client.should_query_keys:
                    await self._checked(self.client.keys_query(), "Schlüsselabfrage")
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
        return _power_level(self.client.rooms.get(room_id), user_id, creators)

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

    def _raise_for(self, status: str | None, message: str) -> None:
        if status in ("M_UNKNOWN_TOKEN", "M_MISSING_TOKEN"):
            raise AuthenticationError(f"{status}: {message}")
        raise HomeserverUnavailable(f"{status}: {message}")
