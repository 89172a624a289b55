"""Engine creation and schema migrations (Alembic), for SQLite and PostgreSQL alike."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import Engine, create_engine, event, inspect, text
from sqlalchemy.engine import make_url

if TYPE_CHECKING:
    from alembic.config import Config

MIGRATIONS = Path(__file__).parent / "migrations"
# The newest revision. Alembic (with mako and pygments, ~12 MiB) is imported only when
# the database is not at it; tests/storage check that this names Alembic's head.
HEAD = "0014_instance_state"


def make_engine(url: str, *, echo: bool = False) -> Engine:
    """An engine with the settings durability needs on each backend."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        database = parsed.database
        if database and database != ":memory:":
            Path(database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, echo=echo, connect_args={"timeout": 30})

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
            # WAL + FULL: a committed transaction survives a crash or power loss,
            # which is what "durable before announced" needs.
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=FULL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA busy_timeout=30000")
            cursor.close()
            # Let SQLAlchemy, not pysqlite, decide where transactions begin, so
            # SAVEPOINTs (one per command) work as documented.
            dbapi_connection.isolation_level = None

        @event.listens_for(engine, "begin")
        def _sqlite_begin(conn: Any) -> None:
            conn.exec_driver_sql("BEGIN")

        return engine
    # A partitioned database must not freeze the event loop (and the SIGTERM handler)
    # for minutes: fail fast, the sync loop retries.
    given = parsed.query.get("options")
    given_text = given if isinstance(given, str) else " ".join(given or ())
    options = " ".join(filter(None, ["-c statement_timeout=30000", given_text]))
    return create_engine(
        parsed.difference_update_query(["options"]),
        echo=echo,
        pool_pre_ping=True,
        connect_args={"connect_timeout": 10, "options": options},
    )


def alembic_config(engine: Engine) -> Config:
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.attributes["engine"] = engine
    return cfg


def upgrade(engine: Engine) -> list[str]:
    """Bring the schema to the newest revision (idempotent); returns what the migrations
    found worth telling the operator (e.g. cases they could not assign to a room)."""
    if current_revision(engine) == HEAD:
        return []  # nothing to do, and no need to load Alembic for it
    from alembic import command

    cfg = alembic_config(engine)
    report: list[str] = []
    cfg.attributes["report"] = report
    command.upgrade(cfg, "head")
    return report


def current_revision(engine: Engine) -> str | None:
    """The database's revision, read with a plain query (None: not migrated yet)."""
    with engine.connect() as conn:
        if not inspect(conn).has_table("alembic_version"):
            return None
        rows = conn.execute(text("SELECT version_num FROM alembic_version")).scalars().all()
    return rows[0] if len(rows) == 1 else None


def head_revision(engine: Engine) -> str | None:
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(alembic_config(engine)).get_current_head()
