"""``fkbot purge``: deleting cases whose Löschfrist (retention period) is over."""

from __future__ import annotations

import argparse
from datetime import UTC, datetime

from bot.cli.common import CLI_ACTOR, load_settings, open_database, schema_outdated


def cmd_purge(args: argparse.Namespace) -> int:
    """Löschfristen: list (``--dry-run``) or delete the cases whose period is over."""
    from storage.retention import plan_purge, purge_cases

    retention = load_settings(args.config).retention
    db = open_database(args, migrate=False)
    if schema_outdated(db):
        db.engine.dispose()
        return 2
    now = datetime.now(UTC)
    try:
        with db.uow() as uow:
            plan = plan_purge(
                uow,
                now,
                closed_days=retention.closed_days,
                revoked_grace_days=retention.revoked_grace_days,
            )
            done = {} if args.dry_run else purge_cases(uow, plan, now, actor=CLI_ACTOR)
            if not args.dry_run:
                uow.commit()
    finally:
        db.engine.dispose()
    if not plan:
        print("Keine Fälle mit abgelaufener Löschfrist.")
        return 0
    for candidate in plan:
        rows = candidate.rows if args.dry_run else done.get(candidate.pseudonym)
        if rows is None:
            print(f"{candidate.pseudonym}: {candidate.reason} – übersprungen (nicht mehr fällig)")
            continue
        counts = ", ".join(f"{table} {count}" for table, count in rows.items())
        print(f"{candidate.pseudonym}: {candidate.reason} – {counts}")
    if args.dry_run:
        print(f"Probelauf: {_cases(len(plan))} zu löschen; nichts wurde verändert.")
    else:
        print(f"{_cases(len(done))} gelöscht; die Audit-Einträge dazu sind geschwärzt.")
    return 0


def _cases(count: int) -> str:
    return "1 Fall" if count == 1 else f"{count} Fälle"
