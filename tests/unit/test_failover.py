"""Active/standby on PostgreSQL without a homeserver: the lock, the fence, the stored login.

The real take-over (two ``fkbot run`` processes, a real Synapse) is in
tests/integration/test_failover.py; here the pieces are checked one by one against the
PostgreSQL server, with a homeserver address nobody listens on.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest
from pydantic import SecretStr
from sqlalchemy import Engine, create_engine, select, text

from bot.activelock import APPLICATION_NAME, ActiveLock, LockLost, lock_key
from bot.app import App
from bot.config import DatabaseConfig, FailoverConfig, HealthConfig, MatrixConfig, Settings
from bot.errors import CredentialsError, FencedError
from bot.identity import CrossSigningKeys, IdentityError
from bot.instance import DatabaseLoginStore
from bot.matrix.credentials import Credentials, FileLoginStore
from bot.testing.scrape import get as _get
from storage.db import make_engine
from storage.models import InstanceState

pytestmark = pytest.mark.postgres
PG = pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    engine = make_engine(db_url)
    yield engine
    engine.dispose()


def bot_user() -> str:
    # Advisory locks are per database, not per schema: every test its own bot.
    return f"@fkbot-{secrets.token_hex(4)}:fk.test"


def terminate_lock_holder(db_url: str, key: int) -> int:
    """pg_terminate_backend on the session holding the advisory lock ``key``; its pid."""
    admin = create_engine(db_url)
    try:
        with admin.begin() as conn:
            pid = conn.execute(
                text(
                    "SELECT a.pid FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid "
                    "WHERE l.locktype = 'advisory' AND l.granted "
                    "AND ((l.classid::bigint << 32) | l.objid::bigint) = :key "
                    "AND a.application_name LIKE :app"
                ),
                {"key": key, "app": f"{APPLICATION_NAME}%"},
            ).scalar_one()
            conn.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
        return int(pid)
    finally:
        admin.dispose()


def test_the_lock_key_is_a_stable_signed_64_bit_hash_of_the_user_id() -> None:
    key = lock_key("@fallbot:fk.test")
    assert key == lock_key("@FallBot:FK.test")
    assert -(2**63) <= key < 2**63
    assert key == 6489954756555662850  # the same on every host and version, forever
    assert lock_key("@other:fk.test") != key


@PG
async def test_one_holds_the_lock_the_other_stands_by_until_it_is_released(db_url: str) -> None:
    user = bot_user()
    first = ActiveLock(db_url, user, retry_seconds=0.2)
    second = ActiveLock(db_url, user, retry_seconds=0.2)
    stopping = asyncio.Event()
    try:
        assert await first.acquire(stopping)
        attempts: list[bool] = []
        standby = asyncio.create_task(second.acquire(stopping, attempts.append))
        await asyncio.sleep(1.0)
        assert not standby.done(), "a second instance must not get the lock"
        assert attempts, "the standby tried"
        assert all(attempts), "the standby reaches the database"
        await first.check()  # the holder's connection answers
        first.release()
        assert await asyncio.wait_for(standby, 5)
        assert second.held
    finally:
        stopping.set()
        first.release()
        second.release()


@PG
async def test_a_terminated_lock_connection_is_noticed_and_frees_the_lock(db_url: str) -> None:
    user = bot_user()
    holder = ActiveLock(db_url, user, check_seconds=0.2, check_timeout_seconds=1)
    other = ActiveLock(db_url, user, retry_seconds=0.2)
    stopping = asyncio.Event()
    try:
        assert await holder.acquire(stopping)
        watch = asyncio.create_task(holder.watch())
        await asyncio.sleep(0.5)
        assert not watch.done()
        terminate_lock_holder(db_url, holder.key)
        lost = await asyncio.wait_for(watch, 3)
        assert isinstance(lost, LockLost)
        assert not holder.held
        assert await asyncio.wait_for(other.acquire(stopping), 3)
    finally:
        stopping.set()
        holder.release()
        other.release()


@PG
def test_the_login_lives_in_the_database_with_the_token_sealed(
    engine: Engine, tmp_path: Path
) -> None:
    key = secrets.token_urlsafe(32)
    store = DatabaseLoginStore(engine, key)
    assert store.load_credentials() is None
    assert store.load_identity() is None
    creds = Credentials("http://hs.test", "@bot:fk.test", "FKBOTDEV", "syt_secret_token_123")
    store.save_credentials(creds)
    keys = CrossSigningKeys.generate()
    store.save_identity(keys)
    assert store.load_credentials() == creds
    loaded = store.load_identity()
    assert loaded is not None
    assert loaded.master_public == keys.master_public
    # What another host reads: the same, from the database alone.
    assert DatabaseLoginStore(engine, key).load_credentials() == creds
    with engine.connect() as conn:
        raw = json.dumps([r.data for r in conn.execute(select(InstanceState))])
    assert "syt_secret_token_123" not in raw
    assert "FKBOTDEV" in raw  # the device id is no secret
    seeds = keys.sealed(key)
    assert seeds["sealed"] not in raw  # fresh nonce each time; nothing in the clear
    wrong = DatabaseLoginStore(engine, secrets.token_urlsafe(32))
    with pytest.raises(CredentialsError, match="Pickle-Schlüssel"):
        wrong.load_credentials()
    with pytest.raises(IdentityError, match="Pickle-Schlüssel"):
        wrong.load_identity()
    # re-saving replaces
    newer = Credentials("http://hs.test", "@bot:fk.test", "FKBOTDEV", "syt_newer")
    store.save_credentials(newer)
    assert store.load_credentials() == newer


@PG
def test_a_store_directory_from_before_is_taken_over_once(engine: Engine, tmp_path: Path) -> None:
    key = secrets.token_urlsafe(32)
    files = FileLoginStore(tmp_path / "store", key)
    creds = Credentials("http://hs.test", "@bot:fk.test", "FKBOTDEV", "syt_from_file")
    files.save_credentials(creds)
    keys = CrossSigningKeys.generate()
    files.save_identity(keys)
    store = DatabaseLoginStore(engine, key, tmp_path / "store")
    assert store.load_credentials() == creds
    assert store.load_identity() is not None
    (tmp_path / "store" / "credentials.json").unlink()
    (tmp_path / "store" / "cross_signing.json").unlink()
    # now from the database alone (another host has no files at all)
    alone = DatabaseLoginStore(engine, key)
    assert alone.load_credentials() == creds
    identity = alone.load_identity()
    assert identity is not None
    assert identity.master_public == keys.master_public


def _settings(db_url: str, user: str, store: Path, pickle_key: str) -> Settings:
    return Settings(
        matrix=MatrixConfig(
            homeserver="http://127.0.0.1:9",  # nobody listens: the bot backs off
            user_id=user,
            device_id="FKBOTTEST",
            allowed_homeservers=("fk.test",),
            pickle_key=SecretStr(pickle_key),
            store_path=store,
            reconnect_max_seconds=1,
        ),
        database=DatabaseConfig(url=db_url),
        health=HealthConfig(listen="127.0.0.1:0"),
        failover=FailoverConfig(retry_seconds=0.2, check_seconds=0.2, check_timeout_seconds=0.5),
    )


async def _until(condition: object, timeout: float) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not condition():  # type: ignore[operator]
        if asyncio.get_running_loop().time() > deadline:
            raise TimeoutError
        await asyncio.sleep(0.05)


@PG
async def test_the_active_app_fences_itself_and_the_standby_takes_over(
    db_url: str, engine: Engine, tmp_path: Path
) -> None:
    user = bot_user()
    key = secrets.token_urlsafe(32)
    # A login made earlier by whichever instance was active first.
    DatabaseLoginStore(engine, key).save_credentials(
        Credentials("http://127.0.0.1:9", user, "FKBOTTEST", "syt_token")
    )
    first = App(_settings(db_url, user, tmp_path / "a", key))
    second = App(_settings(db_url, user, tmp_path / "b", key))
    run_first = asyncio.create_task(first.run())
    await _until(lambda: first.metrics.role == "active", 15)
    run_second = asyncio.create_task(second.run())
    try:
        await _until(lambda: second.metrics.role == "standby", 10)
        assert second.health is not None
        assert second.health.port
        status, body = await _get(second.health.port, "/readyz")
        assert (status, body.split(":")[0]) == (200, "standby")
        status, metrics = await _get(second.health.port, "/metrics")
        assert "fkbot_active 0.0" in metrics
        assert "fkbot_standby 1.0" in metrics
        assert first.health is not None
        assert first.health.port
        _, metrics = await _get(first.health.port, "/metrics")
        assert "fkbot_active 1.0" in metrics
        assert "fkbot_standby 0.0" in metrics

        assert first.lock is not None
        terminate_lock_holder(db_url, first.lock.key)
        with pytest.raises(FencedError):
            await asyncio.wait_for(run_first, 5)
        assert first.fenced
        assert first.metrics.role == "fenced"
        await _until(lambda: second.metrics.role == "active", 15)
        assert not second.fenced
    finally:
        for app, task in ((first, run_first), (second, run_second)):
            app.stop()
            with contextlib.suppress(Exception, asyncio.CancelledError):
                await asyncio.wait_for(task, 15)


@PG
async def test_a_lock_lost_in_the_fence_window_never_opens_the_crypto_store(
    db_url: str, engine: Engine, tmp_path: Path
) -> None:
    user = bot_user()
    key = secrets.token_urlsafe(32)
    settings = _settings(db_url, user, tmp_path / "a", key).model_copy(
        update={"failover": FailoverConfig(check_seconds=2, check_timeout_seconds=0.5)}
    )
    app = App(settings)
    run = asyncio.create_task(app.run())
    try:
        await _until(lambda: app.lock is not None and app.lock.held, 15)
        assert app.lock is not None
        terminate_lock_holder(db_url, app.lock.key)  # within the 3 s window
        with pytest.raises(FencedError, match="vor dem Start"):
            await asyncio.wait_for(run, 10)
        assert app.gateway is None, "the crypto store must not have been opened"
        assert app.metrics.role == "fenced"
        assert not (tmp_path / "a" / "crypto.db").exists()
    finally:
        app.stop()
        if not run.done():
            run.cancel()
