"""The speed floor: the smallest encrypted matrix-nio bot that answers ``!fk ping``.

It exists only to be measured next to the real bot (see ``bench/latency.py``): no
database, no outbox, no trust policy. It logs in once (later starts restore the
saved login), joins every room it is invited to, skips the history of its first
sync, and answers each ``!fk ping`` from someone else with an ``m.notice``
"pong 🏓" as a rich reply, sent inline from the sync callback.

Trusting every device with ``ignore_unverified_devices=True`` is acceptable here
and nowhere else: the floor is a yardstick, not a product.

    python bench/echo_floor.py --homeserver URL --user @u:hs --password PW --store DIR
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import os
import signal
import sys
from pathlib import Path
from typing import Any

from nio import (
    AsyncClient,
    AsyncClientConfig,
    InviteMemberEvent,
    LoginResponse,
    MatrixRoom,
    RoomMessageText,
    SyncResponse,
)
from nio.store import SqliteStore

log = logging.getLogger("echo_floor")

CREDENTIALS_FILE = "credentials.json"
PING = "!fk ping"
PONG = "pong 🏓"
# Same shape as the real bot's filter: the default timeline limit (10) would drop
# commands under a burst, and a floor that loses commands measures nothing.
SYNC_FILTER: dict[str, Any] = {
    "room": {"timeline": {"limit": 100}, "state": {"lazy_load_members": False}},
    "presence": {"not_types": ["*"]},
}


def pong_content(event_id: str, sender: str) -> dict[str, Any]:
    """The same content the real bot sends for ``ping``, so both pay for the same bytes."""
    return {
        "msgtype": "m.notice",
        "body": PONG,
        "format": "org.matrix.custom.html",
        "formatted_body": f"<p>{PONG}</p>",
        "m.relates_to": {"m.in_reply_to": {"event_id": event_id}},
        "m.mentions": {"user_ids": [sender]},
    }


def _load_credentials(store: Path) -> dict[str, str] | None:
    try:
        data: dict[str, str] = json.loads((store / CREDENTIALS_FILE).read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    return data


def _save_credentials(store: Path, data: dict[str, str]) -> None:
    path = store / CREDENTIALS_FILE
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        json.dump(data, fh)


class EchoFloor:
    def __init__(self, homeserver: str, user_id: str, store: Path) -> None:
        self.store = store
        self.client = AsyncClient(
            homeserver,
            user_id,
            store_path=str(store),
            config=AsyncClientConfig(
                store=SqliteStore, encryption_enabled=True, store_sync_tokens=False
            ),
        )
        self.answered = 0

    async def login(self, password: str) -> None:
        """Log in once; every later start restores that device (a new device loses keys)."""
        creds = _load_credentials(self.store)
        if creds is not None:
            self.client.restore_login(creds["user_id"], creds["device_id"], creds["access_token"])
            return
        response = await self.client.login(password, device_name="echo-floor")
        if not isinstance(response, LoginResponse):
            raise RuntimeError(f"login failed: {response}")
        _save_credentials(
            self.store,
            {
                "user_id": response.user_id,
                "device_id": response.device_id,
                "access_token": response.access_token,
            },
        )

    async def on_invite(self, room: MatrixRoom, event: InviteMemberEvent) -> None:
        if event.state_key == self.client.user_id and event.membership == "invite":
            await self.client.join(room.room_id)

    async def on_message(self, room: MatrixRoom, event: RoomMessageText) -> None:
        if event.sender == self.client.user_id or not event.body.startswith(PING):
            return
        try:
            await self.client.room_send(
                room.room_id,
                "m.room.message",
                pong_content(event.event_id, event.sender),
                ignore_unverified_devices=True,
            )
        except Exception:
            # An exception escaping a callback would end sync_forever, i.e. the floor.
            log.exception("reply to %s failed", event.event_id)
            return
        self.answered += 1

    async def run(self, stop: asyncio.Event) -> None:
        client = self.client
        # Invites pending at start are joined; messages of the first sync are history.
        client.add_event_callback(self.on_invite, InviteMemberEvent)
        first = await client.sync(timeout=0, full_state=True, sync_filter=SYNC_FILTER)
        if not isinstance(first, SyncResponse):
            raise RuntimeError(f"first sync failed: {first}")
        if client.should_upload_keys:
            await client.keys_upload()
        client.add_event_callback(self.on_message, RoomMessageText)
        log.warning("echo floor ready as %s (device %s)", client.user_id, client.device_id)
        syncing = asyncio.create_task(
            client.sync_forever(timeout=30000, sync_filter=SYNC_FILTER), name="sync"
        )
        stopping = asyncio.create_task(stop.wait(), name="stop")
        try:
            done, _ = await asyncio.wait({syncing, stopping}, return_when=asyncio.FIRST_COMPLETED)
            if syncing in done:
                syncing.result()  # raises what ended the sync loop
                raise RuntimeError("sync loop ended")
        finally:
            for task in (syncing, stopping):
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            log.warning("echo floor stopping after %d replies", self.answered)


async def amain(args: argparse.Namespace) -> int:
    floor = EchoFloor(args.homeserver, args.user, Path(args.store))
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        await floor.login(args.password)
        await floor.run(stop)
    finally:
        await floor.client.close()
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--homeserver", required=True)
    parser.add_argument("--user", required=True, help="full user id, e.g. @echo:fk.test")
    parser.add_argument("--password", required=True)
    parser.add_argument("--store", required=True, help="directory for credentials + crypto store")
    parser.add_argument("--log-level", default="WARNING")
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=args.log_level,
        stream=sys.stderr,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    logging.getLogger("nio").setLevel(logging.WARNING)
    Path(args.store).mkdir(parents=True, exist_ok=True, mode=0o700)
    return asyncio.run(amain(args))


if __name__ == "__main__":
    raise SystemExit(main())
