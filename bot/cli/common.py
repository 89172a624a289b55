"""What every ``fkbot`` subcommand shares: configuration, logging, the database and its schema,
and the operator's language.

The command line speaks the language of the operator's locale (``LANG=en_GB.UTF-8`` →
English) if there is a catalog for it, German otherwise; logs stay German.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from bot.config import ConfigError, Settings, load_config
from bot.logfields import JsonFormatter, TextFormatter
from commands.i18n import Texts, locale_language, texts
from storage.uow import Database

CLI_ACTOR = "kommandozeile"


def cli_texts() -> Texts:
    """The texts of the operator's locale (LC_ALL, LC_MESSAGES, LANG, LANGUAGE)."""
    return texts(locale_language())


def setup_logging(level: str, json_format: bool = False) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if json_format else TextFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # nio logs decrypted event contents at DEBUG; keep it quiet whatever our level is.
    logging.getLogger("nio").setLevel(max(logging.WARNING, logging.getLevelName(level)))
    # nio's schema warnings quote the offending event content: never log them.
    logging.getLogger("nio.events.misc").setLevel(logging.ERROR)
    logging.getLogger("nio.responses").setLevel(logging.ERROR)
    logging.getLogger("aiohttp").setLevel(logging.WARNING)
    logging.getLogger("alembic").setLevel(logging.WARNING)
    logging.getLogger("peewee").setLevel(logging.WARNING)  # nio's store: SQL with parameters


def load_settings(path: Path) -> Settings:
    try:
        return load_config(path)
    except ConfigError as exc:
        print(exc.render(cli_texts()), file=sys.stderr)
        raise SystemExit(2) from None


def open_database(args: argparse.Namespace, *, migrate: bool = True) -> Database:
    """The configured database; ``migrate=False`` only reads (e.g. a restored copy)."""
    settings = load_settings(args.config)
    setup_logging(settings.logging.level)
    from storage.db import make_engine, upgrade

    engine = make_engine(settings.database.url)
    if migrate:
        upgrade(engine)
    return Database(engine)


def schema_outdated(db: Database, *, read_only_note: bool = False) -> bool:
    """True (and said on stderr) if the database is not at the newest revision: the
    reading commands never migrate a database they were pointed at."""
    from storage.db import current_revision, head_revision

    if current_revision(db.engine) == head_revision(db.engine):
        return False
    t = cli_texts()
    print(
        t.gettext(
            "Die Datenbank hat nicht das aktuelle Schema; erst `fkbot db upgrade` ausführen "
            "(verify selbst verändert nichts)."
        )
        if read_only_note
        else t.gettext(
            "Die Datenbank hat nicht das aktuelle Schema; erst `fkbot db upgrade` ausführen."
        ),
        file=sys.stderr,
    )
    return True
