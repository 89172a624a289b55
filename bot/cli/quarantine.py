"""``fkbot quarantine``: events the Matrix edge set aside (ids and reason, no content)."""

from __future__ import annotations

import argparse

from bot.cli.common import cli_texts, open_database, schema_outdated
from storage.types import LOCAL_TZ


def cmd_quarantine(args: argparse.Namespace) -> int:
    """What the Matrix edge set aside: ids, room, type, sender, reason and when; no content."""
    t = cli_texts()
    db = open_database(args, migrate=False)
    try:
        if schema_outdated(db):
            return 2
        with db.uow() as uow:
            rows = uow.quarantine.recent(args.limit)
            total = uow.quarantine.count()
    finally:
        db.engine.dispose()
    if not rows:
        print(t.gettext("Keine Ereignisse in Quarantäne."))
        return 0
    for row in rows:
        local = row.quarantined_at.astimezone(LOCAL_TZ)
        when = t.day(local.date()) + local.strftime(" %H:%M:%S")
        print(
            t.gettext(
                "%(when)s  %(event)s  Raum %(room)s  Typ %(type)s  von %(sender)s  "
                "Grund: %(reason)s",
                when=when,
                event=row.event_id or t.gettext("(ohne Id)"),
                room=row.room_id or "-",
                type=row.event_type,
                sender=row.sender or "?",
                reason=row.reason,
            )
        )
    if total > len(rows):
        print(
            t.ngettext(
                "Die neuesten %(shown)d von %(count)d Ereignis in Quarantäne "
                "(nur Kennungen und Grund, nie der Inhalt).",
                "Die neuesten %(shown)d von %(count)d Ereignissen in Quarantäne "
                "(nur Kennungen und Grund, nie der Inhalt).",
                total,
                shown=len(rows),
            )
        )
    else:
        print(
            t.ngettext(
                "%(count)d Ereignis in Quarantäne (nur Kennungen und Grund, nie der Inhalt).",
                "%(count)d Ereignisse in Quarantäne (nur Kennungen und Grund, nie der Inhalt).",
                total,
            )
        )
    return 0
