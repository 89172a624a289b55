"""``fkbot audit verify`` and ``export``: the hash-chained audit log."""

from __future__ import annotations

import argparse
import json
import os
import sys
from datetime import UTC, datetime

from bot.cli.common import CLI_ACTOR, open_database, schema_outdated


def cmd_audit_verify(args: argparse.Namespace) -> int:
    from storage.audit import verify

    db = open_database(args, migrate=False)
    if schema_outdated(db, " (verify selbst verändert nichts)"):
        db.engine.dispose()
        return 2
    try:
        with db.uow() as uow:
            verdict = verify(uow.audit.stream(), uow.audit.head())
    finally:
        db.engine.dispose()
    if verdict.ok:
        print(f"Audit-Kette in Ordnung: {verdict.count} Einträge, Kopf {verdict.head_hash}")
        return 0
    where = f"bei Eintrag {verdict.broken_seq}" if verdict.broken_seq else "am Ende"
    print(
        f"Audit-Kette GEBROCHEN {where}: {verdict.problem}. "
        f"Die ersten {verdict.count} Einträge sind intakt.",
        file=sys.stderr,
    )
    return 1


def cmd_audit_export(args: argparse.Namespace) -> int:
    from storage.audit import exported

    os.umask(0o077)  # the export names staff and pseudonyms: readable by the bot's user only
    if args.fall is not None:
        from domain.errors import UserError
        from domain.pseudonym import Pseudonym

        try:
            args.fall = str(Pseudonym.convert(args.fall))
        except UserError as err:
            print(err.message, file=sys.stderr)
            return 2
    db = open_database(args)
    try:
        out = sys.stdout if args.out is None else args.out.open("x", encoding="utf-8")
    except OSError as exc:
        db.engine.dispose()
        if isinstance(exc, FileExistsError):
            print(
                f"Zieldatei {args.out} existiert bereits; sie wird nicht überschrieben.",
                file=sys.stderr,
            )
        else:
            print(
                f"Zieldatei {args.out} kann nicht angelegt werden: {exc.strerror}",
                file=sys.stderr,
            )
        return 2
    count = 0
    try:
        with db.uow() as uow:
            uow.audit.append(
                at=datetime.now(UTC),
                actor=CLI_ACTOR,
                institution=None,
                action="audit_exportiert",
                pseudonym=args.fall,
                room_id=args.room,
            )
            uow.commit()
            for entry in uow.audit.entries(args.fall, room_id=args.room):
                line = exported(entry)  # redacted entries as they are
                out.write(json.dumps(line, ensure_ascii=False, sort_keys=True) + "\n")
                count += 1
    finally:
        if out is not sys.stdout:
            out.close()
        db.engine.dispose()
    print(f"{count} Audit-Einträge exportiert", file=sys.stderr)
    return 0
