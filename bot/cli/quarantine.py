"""``fkbot quarantine``: events the Matrix edge set aside (ids and reason, no content)."""

from __future__ import annotations

import argparse

from bot.cli.common import open_database, schema_outdated


def cmd_quarantine(args: argparse.Namespace) -> int:
    """What the Matrix edge set aside: ids, room, type, sender, reason and when; no content."""

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
        print("Keine Ereignisse in Quarantäne.")
        return 0
    from storage.types import LOCAL_TZ

    berlin = LOCAL_TZ
    for row in rows:
        when = row.quarantined_at.astimezone(berlin).strftime("%d.%m.%Y %H:%M:%S")
        print(
            f"{when}  {row.event_id or '(ohne Id)'}  Raum {row.room_id or '-'}  "
            f"Typ {row.event_type}  von {row.sender or '?'}  Grund: {row.reason}"
        )
    shown = f"die neuesten {len(rows)} von {total}" if total > len(rows) else f"{total}"
    print(f"{shown} Ereignis(se) in Quarantäne (nur Kennungen und Grund, nie der Inhalt).")
    return 0
