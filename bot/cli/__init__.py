"""The ``fkbot`` command line: the argument parser and ``main``; one module per subcommand group."""

from __future__ import annotations

import argparse
from pathlib import Path

from bot.cli.audit import cmd_audit_export, cmd_audit_verify
from bot.cli.check import cmd_check
from bot.cli.common import CLI_ACTOR, open_database
from bot.cli.db import cmd_db_upgrade
from bot.cli.demo import cmd_demo
from bot.cli.export import cmd_export_minutes
from bot.cli.identity import cmd_identity_reset, cmd_identity_show
from bot.cli.purge import cmd_purge
from bot.cli.quarantine import cmd_quarantine
from bot.cli.rooms import add_parser as add_rooms
from bot.cli.run import cmd_run

__all__ = ["CLI_ACTOR", "build_parser", "main"]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="fkbot", description="Fallkonferenz-Bot für Matrix")
    sub = parser.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", help="den Bot starten")
    run.add_argument("--config", type=Path, required=True)
    run.set_defaults(func=cmd_run)

    check = sub.add_parser("check", help="Konfiguration und Homeserver prüfen")
    check.add_argument("--config", type=Path, required=True)
    check.set_defaults(func=cmd_check)

    demo = sub.add_parser("demo", help="lokale Vorführung mit Wegwerf-Homeserver")
    demo.add_argument("--workdir", type=Path, default=None, help="Arbeitsverzeichnis")
    demo.add_argument("--keep", action="store_true", help="Arbeitsverzeichnis behalten")
    demo.set_defaults(func=cmd_demo)

    identity = sub.add_parser("identity", help="Cross-Signing-Identität des Bots")
    identity_sub = identity.add_subparsers(dest="identity_command", required=True)
    show = identity_sub.add_parser("show", help="Nutzer, Gerät und Master-Fingerabdruck zeigen")
    show.add_argument("--config", type=Path, required=True)
    show.set_defaults(func=cmd_identity_show)
    reset = identity_sub.add_parser(
        "reset", help="Identität bewusst ersetzen (nach verlorenem Speicher)"
    )
    reset.add_argument("--config", type=Path, required=True)
    reset.add_argument("--yes", action="store_true", help="wirklich ersetzen")
    reset.set_defaults(func=cmd_identity_reset)

    audit = sub.add_parser("audit", help="Audit-Kette prüfen und exportieren")
    audit_sub = audit.add_subparsers(dest="audit_command", required=True)
    verify = audit_sub.add_parser("verify", help="Hash-Kette prüfen; nennt den ersten Bruch")
    verify.add_argument("--config", type=Path, required=True)
    verify.set_defaults(func=cmd_audit_verify)
    export = audit_sub.add_parser("export", help="Audit-Einträge als JSON-Zeilen ausgeben")
    export.add_argument("--config", type=Path, required=True)
    export.add_argument("--out", type=Path, help="Zieldatei (darf nicht existieren)")
    export.add_argument("--fall", help="nur Einträge zu diesem Pseudonym")
    export.add_argument("--room", help="nur Einträge dieses Raums (Raum-ID)")
    export.set_defaults(func=cmd_audit_export)

    purge = sub.add_parser("purge", help="Fälle nach Ablauf der Löschfrist löschen")
    purge.add_argument("--config", type=Path, required=True)
    purge.add_argument("--dry-run", action="store_true", help="nur anzeigen, nichts löschen")
    purge.set_defaults(func=cmd_purge)

    quarantine = sub.add_parser(
        "quarantine", help="Ereignisse zeigen, die der Bot wegen ihrer Form beiseitegelegt hat"
    )
    quarantine.add_argument("--config", type=Path, required=True)
    quarantine.add_argument("--limit", type=int, default=100, help="höchstens so viele (neueste)")
    quarantine.set_defaults(func=cmd_quarantine)

    export_cmd = sub.add_parser("export", help="Protokolle exportieren")
    export_sub = export_cmd.add_subparsers(dest="what", required=True)
    minutes = export_sub.add_parser(
        "protokoll", help="Protokoll eines Termins als Markdown, PDF und JSON schreiben"
    )
    minutes.add_argument("--config", type=Path, required=True)
    minutes.add_argument("--termin", type=int, required=True, help="Nummer des Termins")
    minutes.add_argument("--out", type=Path, default=Path("."), help="Zielverzeichnis")
    minutes.add_argument("--format", choices=("alle", "md", "pdf", "json"), default="alle")
    minutes.add_argument("--room", help="nur wenn der Termin zu diesem Raum gehört (Raum-ID)")
    minutes.set_defaults(func=cmd_export_minutes)

    db = sub.add_parser("db", help="Datenbank verwalten")
    db_sub = db.add_subparsers(dest="db_command", required=True)
    db_up = db_sub.add_parser("upgrade", help="Schema auf den neuesten Stand bringen")
    db_up.add_argument("--config", type=Path, required=True)
    db_up.set_defaults(func=cmd_db_upgrade)

    add_rooms(sub, open_database)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    result: int = args.func(args)
    return result
