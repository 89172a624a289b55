"""``fkbot db upgrade``: the database schema to the newest revision."""

from __future__ import annotations

import argparse

from bot.cli.common import cli_texts, load_settings, setup_logging
from storage.uow import Database


def cmd_db_upgrade(args: argparse.Namespace) -> int:
    settings = load_settings(args.config)
    setup_logging(settings.logging.level)
    from storage.db import current_revision, make_engine, upgrade
    from storage.rooms import unassigned

    engine = make_engine(settings.database.url)
    for line in upgrade(engine):
        print(line)
    with Database(engine).uow() as uow:
        apart = unassigned(uow.session)
    t = cli_texts()
    if apart:
        print(
            t.ngettext(
                "%(count)d Fall ohne Raum wird getrennt gehalten (in keinem Raum sichtbar): "
                "%(cases)s. Zuordnen mit `fkbot rooms assign <pseudonym> <raum>`.",
                "%(count)d Fälle ohne Raum werden getrennt gehalten (in keinem Raum sichtbar): "
                "%(cases)s. Zuordnen mit `fkbot rooms assign <pseudonym> <raum>`.",
                len(apart),
                cases=", ".join(apart),
            )
        )
    print(t.gettext("Datenbank auf Stand %(revision)s", revision=current_revision(engine)))
    engine.dispose()
    return 0
