"""``fkbot audit verify`` and ``export``: the hash-chained audit log."""

from __future__ import annotations

import argparse
import json
import os
import sys
from datetime import UTC, datetime

from bot.cli.common import CLI_ACTOR, cli_texts, open_database, schema_outdated


def cmd_audit_verify(args: argparse.Namespace) -> int:
    from storage.audit import verify

    t = cli_texts()
    db = open_database(args, migrate=False)
    if schema_outdated(db, read_only_note=True):
        db.engine.dispose()
        return 2
    try:
        with db.uow() as uow:
            verdict = verify(uow.audit.stream(), uow.audit.head())
    finally:
        db.engine.dispose()
    if verdict.ok:
        print(
            t.ngettext(
                "Audit-Kette in Ordnung: %(count)d Eintrag, Kopf %(head)s",
                "Audit-Kette in Ordnung: %(count)d Einträge, Kopf %(head)s",
                verdict.count,
                head=verdict.head_hash,
            )
        )
        return 0
    broken = (
        t.gettext(
            "Audit-Kette GEBROCHEN bei Eintrag %(seq)s: %(problem)s.",
            seq=verdict.broken_seq,
            problem=verdict.problem,
        )
        if verdict.broken_seq
        else t.gettext("Audit-Kette GEBROCHEN am Ende: %(problem)s.", problem=verdict.problem)
    )
    intact = t.ngettext(
        "%(count)d Eintrag davor ist intakt.",
        "Die ersten %(count)d Einträge sind intakt.",
        verdict.count,
    )
    print(f"{broken} {intact}", file=sys.stderr)
    return 1


def cmd_audit_export(args: argparse.Namespace) -> int:
    from storage.audit import exported

    os.umask(0o077)  # the export names staff and pseudonyms: readable by the bot's user only
    t = cli_texts()
    if args.fall is not None:
        from domain.errors import UserError
        from domain.pseudonym import Pseudonym

        try:
            args.fall = str(Pseudonym.convert(args.fall))
        except UserError as err:
            print(err.render(t), file=sys.stderr)
            return 2
    db = open_database(args)
    try:
        out = sys.stdout if args.out is None else args.out.open("x", encoding="utf-8")
    except OSError as exc:
        db.engine.dispose()
        if isinstance(exc, FileExistsError):
            print(
                t.gettext(
                    "Zieldatei %(path)s existiert bereits; sie wird nicht überschrieben.",
                    path=args.out,
                ),
                file=sys.stderr,
            )
        else:
            print(
                t.gettext(
                    "Zieldatei %(path)s kann nicht angelegt werden: %(reason)s",
                    path=args.out,
                    reason=exc.strerror,
                ),
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
    print(
        t.ngettext(
            "%(count)d Audit-Eintrag exportiert", "%(count)d Audit-Einträge exportiert", count
        ),
        file=sys.stderr,
    )
    return 0
