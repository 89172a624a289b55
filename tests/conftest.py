"""Shared fixtures: databases on both backends, a clock, the command registry."""

from __future__ import annotations

import logging
import os
import secrets
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import settings
from sqlalchemy import Engine, create_engine, event, text

from bot.clock import FakeClock
from bot.testing.configs import cli_config
from storage.db import make_engine, upgrade
from storage.uow import Database

# Hypothesis' per-example deadline (200 ms) is a timed assertion: on a busy 2-core CI
# machine it fails tests that are correct. Speed is the benchmarks' business.
settings.register_profile("fkbot", deadline=None)
settings.load_profile("fkbot")

PG_ADMIN_URL = os.environ.get(
    "FKBOT_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)


def _postgres_available() -> str | None:
    try:
        engine = create_engine(PG_ADMIN_URL, connect_args={"connect_timeout": 3})
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        engine.dispose()
    except Exception as exc:
        return f"PostgreSQL unter {PG_ADMIN_URL} nicht erreichbar: {type(exc).__name__}"
    return None


@pytest.fixture(autouse=True)
def _command_line_in_german(monkeypatch: pytest.MonkeyPatch) -> None:
    """``fkbot`` speaks the operator's locale (commands/i18n.py locale_language): the
    tests read German whatever the machine's LANG is, unless a test sets one itself."""
    for name in ("LC_ALL", "LC_MESSAGES", "LANGUAGE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("LANG", "C.UTF-8")


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One SQLite file migrated by Alembic; each test gets a copy (migrating costs more)."""
    path = tmp_path_factory.mktemp("template") / "fk.sqlite3"
    engine = make_engine(f"sqlite:///{path}")
    upgrade(engine)
    engine.dispose()  # checkpoints the WAL: the file alone is the database
    return path


@pytest.fixture(scope="session")
def postgres_migration() -> list[tuple[str, Any]]:
    """The statements a real Alembic upgrade runs on an empty PostgreSQL schema.

    Replaying them into a fresh schema builds exactly what the migrations build, in a
    fraction of the time; the migration tests themselves still run Alembic.
    """
    if _postgres_available():
        return []
    schema = f"t_{secrets.token_hex(6)}"
    admin = create_engine(PG_ADMIN_URL)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    engine = make_engine(PG_ADMIN_URL + f"?options=-csearch_path%3D{schema}")
    statements: list[tuple[str, Any]] = []

    def record(_conn: Any, _cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        if not statement.lstrip().upper().startswith(("SELECT", "SHOW")):
            statements.append((statement, parameters))

    event.listen(engine, "before_cursor_execute", record)
    upgrade(engine)
    engine.dispose()
    with admin.begin() as conn:
        conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
    admin.dispose()
    return statements


def _replay(engine: Engine, statements: list[tuple[str, Any]]) -> None:
    with engine.begin() as conn:
        for statement, parameters in statements:
            conn.exec_driver_sql(statement, parameters or ())


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(
    request: pytest.FixtureRequest,
    tmp_path: Path,
    sqlite_template: Path,
    postgres_migration: list[tuple[str, Any]],
) -> Iterator[str]:
    """A freshly migrated database URL: an SQLite file, or a PostgreSQL schema of its own."""
    if request.param == "sqlite":
        target = tmp_path / "fk.sqlite3"
        shutil.copyfile(sqlite_template, target)
        yield f"sqlite:///{target}"
        return
    reason = _postgres_available()
    if reason:
        if os.environ.get("CI"):
            pytest.fail(reason)
        pytest.skip(reason)
    schema = f"t_{secrets.token_hex(6)}"
    admin = create_engine(PG_ADMIN_URL)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    url = PG_ADMIN_URL + f"?options=-csearch_path%3D{schema}"
    engine = make_engine(url)
    _replay(engine, postgres_migration)
    engine.dispose()
    yield url
    with admin.begin() as conn:
        conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
    admin.dispose()


@pytest.fixture
def database(db_url: str) -> Iterator[Database]:
    engine = make_engine(db_url)
    yield Database(engine)
    engine.dispose()


@pytest.fixture
def sqlite_database(tmp_path: Path, sqlite_template: Path) -> Iterator[Database]:
    target = tmp_path / "unit.sqlite3"
    shutil.copyfile(sqlite_template, target)
    engine = make_engine(f"sqlite:///{target}")
    yield Database(engine)
    engine.dispose()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


# -- the operator's command line -------------------------------------------------------------


@pytest.fixture
def isolated(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    """No FKBOT_* variable leaks in, the working directory is the test's own, and the
    CLI's logging set-up is undone afterwards. Opt in: ``pytest.mark.usefixtures``."""
    for name in list(os.environ):
        if name.upper().startswith("FKBOT_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    """Where the CLI's configuration (``config``) puts its SQLite database."""
    return tmp_path / "var" / "fk.sqlite3"


@pytest.fixture
def config(tmp_path: Path, db_path: Path) -> Path:
    """A configuration file for the CLI, its database at ``db_path`` (not yet created)."""
    return cli_config(tmp_path / "etc" / "fkbot.toml", f"sqlite:///{db_path}")


@pytest.fixture
def cli_database(db_path: Path) -> Iterator[Database]:
    """The database ``config`` names, created and migrated."""
    engine = make_engine(f"sqlite:///{db_path}")
    upgrade(engine)
    yield Database(engine)
    engine.dispose()


# -- a shifted clock for the whole process ------------------------------------------------
# FKBOT_TEST_NOW=2026-03-29T03:30:00+02:00 runs the tests as if that were now (see
# tests/unit/test_shifted_clock.py): nothing in the suite may depend on today's date.
_TRAVEL: Any = None


def pytest_configure(config: pytest.Config) -> None:
    global _TRAVEL
    shifted = os.environ.get("FKBOT_TEST_NOW")
    if shifted:
        from datetime import datetime

        import time_machine

        _TRAVEL = time_machine.travel(datetime.fromisoformat(shifted), tick=True)
        _TRAVEL.start()


def pytest_unconfigure(config: pytest.Config) -> None:
    if _TRAVEL is not None:
        _TRAVEL.stop()
