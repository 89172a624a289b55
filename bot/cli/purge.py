"""``fkbot purge``: deleting cases whose Löschfrist (retention period) is over."""

from __future__ import annotations

import argparse
from datetime import UTC, datetime

from bot.cli.common import CLI_ACTOR, cli_texts, load_settings, open_database, schema_outdated


def cmd_purge(args: argparse.Namespace) -> int:
    """Löschfristen: list (``--dry-run``) or delete the cases whose period is over."""
    from storage.retention import plan_purge, purge_cases

    t = cli_texts()
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
        print(t.gettext("Keine Fälle mit abgelaufener Löschfrist."))
        return 0
    for candidate in plan:
        rows = candidate.rows if args.dry_run else done.get(candidate.pseudonym)
        if rows is None:
            print(
                t.gettext(
                    "%(pseudonym)s: %(reason)s – übersprungen (nicht mehr fällig)",
                    pseudonym=candidate.pseudonym,
                    reason=candidate.reason,
                )
            )
            continue
        counts = ", ".join(f"{table} {count}" for table, count in rows.items())
        reason = candidate.reason.render(t)
        print(f"{candidate.pseudonym}: {reason} – {counts}")
    if args.dry_run:
        print(
            t.ngettext(
                "Probelauf: %(count)d Fall zu löschen; nichts wurde verändert.",
                "Probelauf: %(count)d Fälle zu löschen; nichts wurde verändert.",
                len(plan),
            )
        )
    else:
        print(
            t.ngettext(
                "%(count)d Fall gelöscht; die Audit-Einträge dazu sind geschwärzt.",
                "%(count)d Fälle gelöscht; die Audit-Einträge dazu sind geschwärzt.",
                len(done),
            )
        )
    return 0
