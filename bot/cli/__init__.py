"""The ``fkbot`` command line: the argument parser and ``main``; one module per subcommand group."""

from __future__ import annotations

import argparse
from pathlib import Path

from bot.cli.audit import cmd_audit_export, cmd_audit_verify
from bot.cli.check import cmd_check
from bot.cli.common import CLI_ACTOR, cli_texts, open_database
from bot.cli.db import cmd_db_upgrade
from bot.cli.demo import cmd_demo
from bot.cli.export import cmd_export_minutes
from bot.cli.identity import cmd_identity_reset, cmd_identity_show
from bot.cli.purge import cmd_purge
from bot.cli.quarantine import cmd_quarantine
from bot.cli.rooms import add_parser as add_rooms
from bot.cli.run import cmd_run
from commands.i18n import languages

__all__ = ["CLI_ACTOR", "build_parser", "main"]


def build_parser() -> argparse.ArgumentParser:
    t = cli_texts()  # the operator's locale: English help for en_GB.UTF-8
    parser = argparse.ArgumentParser(
        prog="fkbot", description=t.gettext("Fallkonferenz-Bot für Matrix")
    )
    sub = parser.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", help=t.gettext("den Bot starten"))
    run.add_argument("--config", type=Path, required=True)
    run.set_defaults(func=cmd_run)

    check = sub.add_parser("check", help=t.gettext("Konfiguration und Homeserver prüfen"))
    check.add_argument("--config", type=Path, required=True)
    check.set_defaults(func=cmd_check)

    demo = sub.add_parser("demo", help=t.gettext("lokale Vorführung mit Wegwerf-Homeserver"))
    demo.add_argument("--workdir", type=Path, default=None, help=t.gettext("Arbeitsverzeichnis"))
    demo.add_argument("--keep", action="store_true", help=t.gettext("Arbeitsverzeichnis behalten"))
    demo.add_argument(
        "--language",
        choices=languages(),
        default=None,
        help=t.gettext("Sprache des Raums und der Befehle (Vorgabe: die der Kommandozeile)"),
    )
    demo.set_defaults(func=cmd_demo)

    identity = sub.add_parser("identity", help=t.gettext("Cross-Signing-Identität des Bots"))
    identity_sub = identity.add_subparsers(dest="identity_command", required=True)
    show = identity_sub.add_parser(
        "show", help=t.gettext("Nutzer, Gerät und Master-Fingerabdruck zeigen")
    )
    show.add_argument("--config", type=Path, required=True)
    show.set_defaults(func=cmd_identity_show)
    reset = identity_sub.add_parser(
        "reset", help=t.gettext("Identität bewusst ersetzen (nach verlorenem Speicher)")
    )
    reset.add_argument("--config", type=Path, required=True)
    reset.add_argument("--yes", action="store_true", help=t.gettext("wirklich ersetzen"))
    reset.set_defaults(func=cmd_identity_reset)

    audit = sub.add_parser("audit", help=t.gettext("Audit-Kette prüfen und exportieren"))
    audit_sub = audit.add_subparsers(dest="audit_command", required=True)
    verify = audit_sub.add_parser(
        "verify", help=t.gettext("Hash-Kette prüfen; nennt den ersten Bruch")
    )
    verify.add_argument("--config", type=Path, required=True)
    verify.set_defaults(func=cmd_audit_verify)
    export = audit_sub.add_parser(
        "export", help=t.gettext("Audit-Einträge als JSON-Zeilen ausgeben")
    )
    export.add_argument("--config", type=Path, required=True)
    export.add_argument("--out", type=Path, help=t.gettext("Zieldatei (darf nicht existieren)"))
    export.add_argument("--fall", help=t.gettext("nur Einträge zu diesem Pseudonym"))
    export.add_argument("--room", help=t.gettext("nur Einträge dieses Raums (Raum-ID)"))
    export.set_defaults(func=cmd_audit_export)

    purge = sub.add_parser("purge", help=t.gettext("Fälle nach Ablauf der Löschfrist löschen"))
    purge.add_argument("--config", type=Path, required=True)
    purge.add_argument(
        "--dry-run", action="store_true", help=t.gettext("nur anzeigen, nichts löschen")
    )
    purge.set_defaults(func=cmd_purge)

    quarantine = sub.add_parser(
        "quarantine",
        help=t.gettext("Ereignisse zeigen, die der Bot wegen ihrer Form beiseitegelegt hat"),
    )
    quarantine.add_argument("--config", type=Path, required=True)
    quarantine.add_argument(
        "--limit", type=int, default=100, help=t.gettext("höchstens so viele (neueste)")
    )
    quarantine.set_defaults(func=cmd_quarantine)

    export_cmd = sub.add_parser("export", help=t.gettext("Protokolle exportieren"))
    export_sub = export_cmd.add_subparsers(dest="what", required=True)
    minutes = export_sub.add_parser(
        "protokoll", help=t.gettext("Protokoll eines Termins als Markdown, PDF und JSON schreiben")
    )
    minutes.add_argument("--config", type=Path, required=True)
    minutes.add_argument("--termin", type=int, required=True, help=t.gettext("Nummer des Termins"))
    minutes.add_argument("--out", type=Path, default=Path("."), help=t.gettext("Zielverzeichnis"))
    minutes.add_argument("--format", choices=("alle", "md", "pdf", "json"), default="alle")
    minutes.add_argument(
        "--room", help=t.gettext("nur wenn der Termin zu diesem Raum gehört (Raum-ID)")
    )
    minutes.set_defaults(func=cmd_export_minutes)

    db = sub.add_parser("db", help=t.gettext("Datenbank verwalten"))
    db_sub = db.add_subparsers(dest="db_command", required=True)
    db_up = db_sub.add_parser("upgrade", help=t.gettext("Schema auf den neuesten Stand bringen"))
    db_up.add_argument("--config", type=Path, required=True)
    db_up.set_defaults(func=cmd_db_upgrade)

    add_rooms(sub, open_database)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    result: int = args.func(args)
    return result
