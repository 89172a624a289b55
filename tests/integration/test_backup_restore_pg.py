"""The PostgreSQL backup drill: ``pg_dump`` of the running bot, the machine lost, a new host.

On PostgreSQL everything the bot needs is in its database: the data, inbox, outbox,
sync checkpoint and timed jobs, the login and the cross-signing keys
(``instance_state``, sealed with the pickle key) and nio's crypto store (``crypto_*``).
The procedure of docs/OPERATIONS.md is tested as an operator would run it:

1. ``fkbot run`` on database A answers in an encrypted room;
2. ``pg_dump -Fc`` of A is taken *while the bot runs and answers a burst of commands*;
   one of their replies is held between its send and ``mark_sent`` (a share lock on its
   outbox row) so the dump certainly has a reply the room already has; after the dump a
   case is created (``fall neu``: the dump knows nothing of it);
3. once A has caught up, the process is killed (kill -9) and its host is gone: store
   directory and database A are never used again; a command is sent while no bot runs;
4. a fresh database B gets the dump (``pg_restore``), and ``fkbot run`` starts on B on
   a new host: an empty store directory, the same configuration (password, pickle key).

Asserted: no new login (the log says the login was restored, the access token is the
old one, the bot has still one device with the same identity key); every command is
answered exactly once as the caseworker's client sees the room (the work B redoes from
the dump — the held reply and any other reply pending in it, the case created after the
dump — goes out with the same transaction ids from the same device and token, and
Synapse answers with the event ids of A's sends); the command sent while the bot was
down is answered; a new message after the restore is decrypted by the bot, finds the
case created after the dump under the pseudonym the room was told, and its reply is
decrypted by the client.

Not covered, and the limit of any restore: Megolm sessions the bot received *after* the
dump are not in it (here the caseworker's session started before the dump and goes on).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import secrets
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, func, select, text
from sqlalchemy.engine import URL, make_url

from bot.instance import DatabaseLoginStore
from bot.matrix.credentials import Credentials
from bot.testing.botrun import BotSetup, SubprocessBot, prepare_bot
from bot.testing.inroom import PSEUDONYM, People
from bot.testing.peers import Participant
from bot.txn import txn_id_for
from storage.db import make_engine
from storage.models import OutboxMessage
from storage.states import OutboxState

pytestmark = [pytest.mark.synapse, pytest.mark.postgres]

PG_ADMIN_URL = os.environ.get(
    "FKBOT_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
BURST = 6  # commands in flight while pg_dump runs


def _libpq(url: URL) -> str:
    """The URL as pg_dump/pg_restore take it (``-d``): no SQLAlchemy driver name."""
    return url.set(drivername="postgresql").render_as_string(hide_password=False)


@pytest.fixture
def two_databases() -> Iterator[tuple[URL, URL]]:
    """Databases A (the lost machine's) and B (the restore's), empty, dropped afterwards."""
    admin_url = make_url(PG_ADMIN_URL)
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text("SELECT 1"))
    except Exception as exc:
        admin.dispose()
        if os.environ.get("CI"):
            pytest.fail(f"PostgreSQL unter {PG_ADMIN_URL} nicht erreichbar: {exc!r}")
        pytest.skip(f"PostgreSQL unter {PG_ADMIN_URL} nicht erreichbar")
    tag = secrets.token_hex(4)
    names = (f"fkbot_drill_a_{tag}", f"fkbot_drill_b_{tag}")
    with admin.connect() as conn:
        for name in names:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield admin_url.set(database=names[0]), admin_url.set(database=names[1])
    finally:
        with admin.connect() as conn:
            for name in names:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


class HeldReply:
    """A reply of the running bot held between its send and its bookkeeping.

    A second connection to A takes a share lock on the first outbox row above ``floor``
    that is still ``pending``: the bot has committed the reply and sends it, but its
    ``mark_sent`` waits for the lock. A dump taken meanwhile has the row pending although
    the room has the message — the case of a machine lost right after a send.
    """

    SQL = text(
        "SELECT txn_id FROM outbox_message WHERE id > :floor AND state = 'pending' "
        "ORDER BY id LIMIT 1 FOR SHARE SKIP LOCKED"
    )

    def __init__(self, url: URL, floor: int) -> None:
        self._engine = create_engine(url)
        self._conn = self._engine.connect()
        self._floor = floor
        self.txn_id: str | None = None
        self._stop = False

    def take(self, timeout: float) -> str:
        """Poll until a pending row is locked (the transaction stays open); its txn id."""
        deadline = time.monotonic() + timeout
        while not self._stop and time.monotonic() < deadline:
            found = self._conn.execute(self.SQL, {"floor": self._floor}).scalar_one_or_none()
            if found is not None:
                self.txn_id = str(found)
                return self.txn_id
            self._conn.rollback()
            time.sleep(0.001)
        raise TimeoutError("no pending reply caught")

    def stop(self) -> None:
        self._stop = True

    def release(self) -> None:
        self._conn.rollback()
        self._conn.close()
        self._engine.dispose()


def _top_outbox_id(url: URL) -> int:
    engine = make_engine(url.render_as_string(hide_password=False))
    try:
        with engine.connect() as conn:
            return int(conn.execute(select(func.max(OutboxMessage.id))).scalar_one() or 0)
    finally:
        engine.dispose()


def _run(*argv: str) -> None:
    done = subprocess.run(argv, capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, f"{argv[0]}: {done.stderr}"


def _login(url: URL, setup: BotSetup) -> Credentials | None:
    engine = make_engine(url.render_as_string(hide_password=False))
    try:
        key = setup.env["FKBOT_MATRIX__PICKLE_KEY"]
        return DatabaseLoginStore(engine, key).load_credentials()
    finally:
        engine.dispose()


def _unfinished_replies(url: URL) -> int:
    """Outbox rows the restored database still has to send (or to confirm as sent)."""
    engine = make_engine(url.render_as_string(hide_password=False))
    try:
        with engine.connect() as conn:
            return int(
                conn.execute(
                    select(func.count())
                    .select_from(OutboxMessage)
                    .where(OutboxMessage.state != OutboxState.SENT)
                ).scalar_one()
            )
    finally:
        engine.dispose()


def _sent_replies(url: URL) -> dict[str, str | None]:
    """txn id → the event id the homeserver returned, for every outbox row."""
    engine = make_engine(url.render_as_string(hide_password=False))
    try:
        with engine.connect() as conn:
            rows = conn.execute(select(OutboxMessage.txn_id, OutboxMessage.remote_event_id))
            return {row.txn_id: row.remote_event_id for row in rows}
    finally:
        engine.dispose()


def _new_host(setup: BotSetup, workdir: Path, lost: URL, database: URL) -> BotSetup:
    """The same configuration on another machine: its own (empty) store directory, the
    restored database; password and pickle key as before (the operator's secrets)."""
    workdir.mkdir()
    old = f"url = {json.dumps(lost.render_as_string(hide_password=False))}"
    config = setup.config_path.read_text(encoding="utf-8")
    assert old in config
    path = workdir / "config.toml"
    path.write_text(
        config.replace(old, f"url = {json.dumps(database.render_as_string(hide_password=False))}"),
        encoding="utf-8",
    )
    path.chmod(0o600)
    return BotSetup(workdir, path, setup.user_id, dict(setup.env), dict(setup.matrix_overrides))


async def _bot_devices(cw: Participant, user_id: str) -> dict[str, str]:
    """The bot's devices as the client learns them from the homeserver: id → ed25519."""
    cw.client.users_for_key_query.add(user_id)
    await cw.client.keys_query()
    return {d.id: d.ed25519 for d in cw.client.device_store.active_user_devices(user_id)}


async def _wait_log(bot: SubprocessBot, needle: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while needle not in bot.log_text():
        if bot.process is not None and bot.process.poll() is not None:
            raise RuntimeError(f"bot exited:\n{bot.log_text()[-3000:]}")
        if time.monotonic() > deadline:
            raise TimeoutError(f"{needle!r} not in the log:\n{bot.log_text()[-3000:]}")
        await asyncio.sleep(0.1)


async def test_pg_dump_of_the_running_bot_restored_on_a_new_host_answers_everything_once(
    people: People,
    two_databases: tuple[URL, URL],
    tmp_path: Path,
    record_property: pytest.RecordProperty,
) -> None:
    url_a, url_b = two_databases
    setup = prepare_bot(
        people.server, tmp_path / "host-a", database_url=url_a.render_as_string(hide_password=False)
    )
    old = SubprocessBot(setup, "a")
    new: SubprocessBot | None = None
    dump = tmp_path / "fkbot.dump"
    old.start()
    try:
        cw = await people.person("fallmanagerin")
        room_id = await cw.create_encrypted_room("Fallkonferenz", [setup.user_id])
        await cw.wait_for_member(room_id, setup.user_id, 60)
        before = await cw.send(room_id, "!fk fall neu")
        case = PSEUDONYM.search((await cw.wait_reply(before, 60)).body)
        assert case is not None
        devices = await _bot_devices(cw, setup.user_id)
        assert len(devices) == 1, devices
        login = _login(url_a, setup)
        assert login is not None
        assert login.device_id in devices

        # The backup, taken while the bot is busy: a burst of commands is on its way in
        # (and out) while pg_dump runs; whatever the dump catches half done is redone.
        # One of its replies is held sent-but-not-marked while the dump is taken.
        hold = HeldReply(url_a, await asyncio.to_thread(_top_outbox_id, url_a))
        taking = asyncio.create_task(asyncio.to_thread(hold.take, 60))
        try:
            burst = [await cw.send(room_id, "!fk ping") for _ in range(BURST)]
            held = await taking
            await asyncio.to_thread(_run, "pg_dump", "-Fc", "-f", str(dump), "-d", _libpq(url_a))
        finally:
            hold.stop()
            with contextlib.suppress(Exception):
                await taking
            hold.release()
        # A new case after the dump: A creates it and says its pseudonym; B will run the
        # command again from the dump's checkpoint (same pseudonym, from the event id).
        after_dump = await cw.send(room_id, "!fk fall neu")
        replies = await cw.wait_replies([*burst, after_dump], 60)
        later = PSEUDONYM.search(replies[after_dump].body)
        assert later is not None
        assert later.group(0) != case.group(0)
        # A sent the held reply before the dump and recorded it after: the room has it.
        assert held in {txn_id_for(e, "reply") for e in burst}
        sent_by_a = _sent_replies(url_a)[held]
        assert sent_by_a is not None

        old.kill()  # the machine is lost: nothing of host A is used from here on
        assert old.process is not None
        assert old.process.returncode == -9
        while_down = await cw.send(room_id, "!fk fall neu")

        await asyncio.to_thread(
            _run, "pg_restore", "--no-owner", "--exit-on-error", "-d", _libpq(url_b), str(dump)
        )
        in_dump = _sent_replies(url_b)
        assert held in in_dump
        assert in_dump[held] is None  # the dump has it unsent: B sends it again
        assert txn_id_for(after_dump, "reply") not in in_dump  # the dump never saw it
        pending = _unfinished_replies(url_b)
        record_property("outbox_rows_unfinished_in_dump", pending)
        host_b = _new_host(setup, tmp_path / "host-b", url_a, url_b)
        assert not (host_b.workdir / "store").exists()
        started = time.monotonic()
        new = SubprocessBot(host_b, "b")
        new.start()
        await _wait_log(new, "Anmeldung wiederhergestellt")

        answer = await cw.wait_reply(while_down, 90)
        record_property("restore_to_first_answer_seconds", round(time.monotonic() - started, 1))
        second = PSEUDONYM.search(answer.body)
        assert second is not None, answer.body
        assert second.group(0) not in (case.group(0), later.group(0))
        # A new message after the restore: B decrypts it and answers from its database,
        # which has the case A announced after the dump under the pseudonym the room saw.
        fresh = await cw.send(room_id, f"!fk status {later.group(0)}")
        status = await cw.wait_reply(fresh, 60)
        assert status.body.startswith(f"Fall {later.group(0)}"), status.body
        assert status.decrypted
        # A barrier, then time for a duplicate to arrive right behind the first reply.
        marker = await cw.send(room_id, "!fk ping")
        await cw.wait_reply(marker, 60)
        await asyncio.sleep(2.0)

        counts = {e: len(cw.replies_to(e)) for e in [before, *burst, after_dump]}
        counts |= {e: len(cw.replies_to(e)) for e in [while_down, fresh, marker]}
        assert set(counts.values()) == {1}, counts
        seen = [r for e in counts for r in cw.replies_to(e)]
        assert all(r.decrypted and r.sender == setup.user_id for r in seen)
        assert cw.undecryptable == []

        # No new login: the same device with the same keys and the same access token.
        log = new.log_text()
        assert "Erstmals angemeldet" not in log, log[-3000:]
        assert await _bot_devices(cw, setup.user_id) == devices
        assert _login(url_b, setup) == login
        assert host_b.settings().matrix.device_id == login.device_id
        # What B redid — the command answered after the dump, replies the dump caught
        # unsent — was sent again with the old transaction id, and Synapse answered with
        # the event id of A's send: the event the client saw.
        sent = _sent_replies(url_b)
        for event_id in [before, *burst, after_dump, while_down, fresh]:
            [reply] = cw.replies_to(event_id)
            assert sent[txn_id_for(event_id, "reply")] == reply.event_id, event_id
        assert sent[held] == sent_by_a  # B's resend was A's event, deduplicated
        print(f"\nrestore drill: {pending} outbox rows unfinished in the dump")
    finally:
        old.kill()
        if new is not None:
            new.kill()
