"""The ``fkbot`` command line: run, check, demo, identity, audit, purge, export, quarantine, db."""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import signal
import sys
import urllib.error
import urllib.request
from datetime import UTC, datetime
from pathlib import Path

from bot.bugs import log_internal_error
from bot.config import ConfigError, Settings, load_config
from bot.errors import BotError
from bot.logfields import JsonFormatter, TextFormatter
from bot.matrix import load_credentials
from storage.uow import Database

log = logging.getLogger("bot")
CLI_ACTOR = "kommandozeile"


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


def _load(path: Path) -> Settings:
    try:
        return load_config(path)
    except ConfigError as exc:
        print(str(exc), file=sys.stderr)
        raise SystemExit(2) from None


def cmd_run(args: argparse.Namespace) -> int:
    os.umask(0o077)  # database, WAL and store files readable by the bot's user only
    settings = _load(args.config)
    setup_logging(settings.logging.level, settings.logging.json_format)
    from bot.app import App
    from bot.faults import CrashPoints

    app = App(settings, crash=CrashPoints.from_env())

    async def main() -> None:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, app.stop)
        await app.run()

    try:
        asyncio.run(main())
    except BotError as exc:
        log.error("%s", exc)
        return 1
    except Exception as exc:
        ref = log_internal_error(exc, "Bot-Lauf")
        log.error("Bot beendet wegen eines internen Fehlers (Ref %s)", ref)
        return 1
    return 0


def cmd_db_upgrade(args: argparse.Namespace) -> int:
    settings = _load(args.config)
    setup_logging(settings.logging.level)
    from storage.db import current_revision, make_engine, upgrade
    from storage.rooms import unassigned
    from storage.uow import Database

    engine = make_engine(settings.database.url)
    for line in upgrade(engine):
        print(line)
    with Database(engine).uow() as uow:
        apart = unassigned(uow.session)
    if apart:
        print(
            f"{len(apart)} Fälle ohne Raum werden getrennt gehalten (in keinem Raum sichtbar): "
            + ", ".join(apart)
            + ". Zuordnen mit `fkbot rooms assign <pseudonym> <raum>`."
        )
    print(f"Datenbank auf Stand {current_revision(engine)}")
    engine.dispose()
    return 0


def _database(args: argparse.Namespace, *, migrate: bool = True) -> Database:
    """The configured database; ``migrate=False`` only reads (e.g. a restored copy)."""
    settings = _load(args.config)
    setup_logging(settings.logging.level)
    from storage.db import make_engine, upgrade

    engine = make_engine(settings.database.url)
    if migrate:
        upgrade(engine)
    return Database(engine)


def _schema_outdated(db: Database, note: str = "") -> bool:
    """True (and said on stderr) if the database is not at the newest revision: the
    reading commands never migrate a database they were pointed at."""
    from storage.db import current_revision, head_revision

    if current_revision(db.engine) == head_revision(db.engine):
        return False
    print(
        f"Die Datenbank hat nicht das aktuelle Schema; erst `fkbot db upgrade` ausführen{note}.",
        file=sys.stderr,
    )
    return True


def cmd_audit_verify(args: argparse.Namespace) -> int:
    from storage.audit import verify

    db = _database(args, migrate=False)
    if _schema_outdated(db, " (verify selbst verändert nichts)"):
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
        from commands.errors import UserError
        from commands.pseudonym import Pseudonym

        try:
            args.fall = str(Pseudonym.convert(args.fall))
        except UserError as err:
            print(err.message, file=sys.stderr)
            return 2
    db = _database(args)
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


def cmd_purge(args: argparse.Namespace) -> int:
    """Löschfristen: list (``--dry-run``) or delete the cases whose period is over."""
    from storage.retention import plan_purge, purge_cases

    retention = _load(args.config).retention
    db = _database(args, migrate=False)
    if _schema_outdated(db):
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


def cmd_export_minutes(args: argparse.Namespace) -> int:
    """``fkbot export protokoll``: the minutes of a held session as Markdown, PDF and JSON."""
    from commands.export import file_name, to_json, to_markdown, to_pdf
    from commands.protokoll import collect

    settings = _load(args.config)
    db = _database(args, migrate=False)
    try:
        if _schema_outdated(db):
            return 2
        with db.uow() as uow:
            if args.room is not None:
                uow.in_room(args.room)  # a session of another room reads as unknown
            sitting = uow.outcomes.sitting(args.termin)
            session = uow.sessions.get(args.termin)
            if sitting is None or session is None or sitting.closed_at is None:
                print(
                    f"Zu Termin #{args.termin} gibt es kein Protokoll (Sitzung nicht beendet "
                    "oder unbekannt).",
                    file=sys.stderr,
                )
                return 2
            minutes = collect(uow, settings.agency.organisation(), session, sitting)
            renderings = {
                "md": to_markdown(minutes).encode(),
                "pdf": to_pdf(minutes),
                "json": to_json(minutes).encode(),
            }
            wanted = list(renderings) if args.format == "alle" else [args.format]
            os.umask(0o077)  # minutes name staff and pseudonyms: the bot's user only
            args.out.mkdir(parents=True, exist_ok=True)
            written = []
            for ext in wanted:
                target = args.out / file_name(minutes, ext)
                try:
                    with target.open("xb") as handle:
                        handle.write(renderings[ext])
                except FileExistsError:
                    print(f"{target} existiert bereits; nicht überschrieben.", file=sys.stderr)
                    return 2
                written.append(target)
            uow.audit.append(
                at=datetime.now(UTC),
                actor=CLI_ACTOR,
                institution=None,
                action="protokoll_exportiert",
                detail={"termin": args.termin, "formate": wanted},
                room_id=session.room_id,
            )
            uow.commit()
    finally:
        db.engine.dispose()
    for target in written:
        print(target)
    return 0


def cmd_quarantine(args: argparse.Namespace) -> int:
    """What the Matrix edge set aside: ids, room, type, sender, reason and when; no content."""

    db = _database(args, migrate=False)
    try:
        if _schema_outdated(db):
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


def _cases(count: int) -> str:
    return "1 Fall" if count == 1 else f"{count} Fälle"


def cmd_check(args: argparse.Namespace) -> int:
    """Validate the configuration and reach the homeserver; one line per check.

    Says what it really verified: it never logs in (that would create a device), so
    a password is only verified by the first start; a stored login is verified with
    whoami. Whatever stays unverified is named, and then "Alles in Ordnung" is not said.
    """
    settings = _load(args.config)
    problems = 0
    unverified: list[str] = []

    def report(ok: bool, text: str) -> None:
        nonlocal problems
        print(("✓ " if ok else "✗ ") + text)
        problems += 0 if ok else 1

    def not_verified(what: str, text: str) -> None:
        print("? " + text)
        unverified.append(what)

    report(True, f"Konfiguration {args.config} gültig")
    matrix = settings.matrix
    report(
        matrix.pickle_key is not None,
        "Pickle-Schlüssel gesetzt"
        if matrix.pickle_key
        else "Pickle-Schlüssel fehlt (FKBOT_MATRIX__PICKLE_KEY oder matrix.pickle_key_file)",
    )
    try:
        creds = load_credentials(matrix.store_path)
    except BotError as exc:
        report(False, str(exc))
        creds = None
        stored_login_unusable = True
    else:
        stored_login_unusable = False
    if creds is None and not stored_login_unusable:
        if matrix.password is None:
            report(
                False,
                "Passwort fehlt für die erste Anmeldung "
                "(FKBOT_MATRIX__PASSWORD oder matrix.password_file)",
            )
        else:
            not_verified(
                "Passwort",
                "Passwort gesetzt, aber NICHT geprüft: noch keine gespeicherte Anmeldung, und "
                "check meldet sich nie an (das legte ein Gerät an). Geprüft wird es beim "
                "ersten Start.",
            )
    elif creds is not None:
        report(
            creds.user_id == matrix.user_id and creds.device_id == matrix.device_id,
            f"Gespeicherte Anmeldung: {creds.user_id}, Gerät {creds.device_id}",
        )
    try:
        with urllib.request.urlopen(  # noqa: S310 - URL scheme validated by config
            f"{matrix.homeserver}/_matrix/client/versions", timeout=10
        ) as resp:
            versions = json.load(resp).get("versions", [])
        report(True, f"Homeserver {matrix.homeserver} erreichbar ({len(versions)} API-Versionen)")
    except (urllib.error.URLError, OSError, ValueError) as exc:
        reason = getattr(exc, "reason", exc)
        report(False, f"Homeserver {matrix.homeserver} nicht erreichbar: {reason}")
    if creds is not None:
        request = urllib.request.Request(  # noqa: S310
            f"{matrix.homeserver}/_matrix/client/v3/account/whoami",
            headers={"Authorization": f"Bearer {creds.access_token}"},
        )
        try:
            with urllib.request.urlopen(request, timeout=10) as resp:  # noqa: S310
                who = json.load(resp)
            report(
                who.get("user_id") == creds.user_id and who.get("device_id") == creds.device_id,
                f"Zugangstoken gültig für {who.get('user_id')} (Gerät {who.get('device_id')}), "
                "per whoami geprüft",
            )
        except (urllib.error.URLError, OSError, ValueError) as exc:
            report(False, f"Zugangstoken nicht bestätigt: {getattr(exc, 'reason', exc)}")
    try:
        from sqlalchemy import text

        from storage.db import current_revision, head_revision, make_engine

        engine = make_engine(settings.database.url)
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        current, head = current_revision(engine), head_revision(engine)
        report(True, f"Datenbank erreichbar (Schema {current or 'leer'}, Code {head})")
        engine.dispose()
    except Exception as exc:
        report(False, f"Datenbank nicht erreichbar: {type(exc).__name__}")
    if problems:
        print(f"{problems} Problem(e) gefunden.")
        return 1
    if unverified:
        print(f"Keine Probleme gefunden, aber nicht geprüft: {', '.join(unverified)}.")
        return 0
    print("Alles in Ordnung.")
    return 0


def cmd_identity_show(args: argparse.Namespace) -> int:
    """What an admin compares out of band with what Element shows for the bot."""
    settings = _load(args.config)
    from bot.identity import CrossSigningKeys, IdentityError

    matrix = settings.matrix
    if matrix.pickle_key is None:
        print("Pickle-Schlüssel fehlt (FKBOT_MATRIX__PICKLE_KEY).", file=sys.stderr)
        return 2
    creds = load_credentials(matrix.store_path)
    try:
        keys = CrossSigningKeys.load(matrix.store_path, matrix.pickle_key.get_secret_value())
    except IdentityError as exc:
        print(str(exc), file=sys.stderr)
        return 1
    print(f"Nutzer:  {matrix.user_id}")
    print(
        f"Gerät:   {creds.device_id if creds else matrix.device_id}"
        + ("" if creds else " (noch nicht angemeldet)")
    )
    if keys is None:
        print("Master-Schlüssel: noch keiner (wird beim ersten Start erzeugt)")
        return 1
    print(f"Master-Schlüssel (Fingerabdruck): {keys.fingerprint()}")
    return 0


def cmd_identity_reset(args: argparse.Namespace) -> int:
    """Replace the bot's master key: only after checking why the old one was lost."""
    settings = _load(args.config)
    setup_logging(settings.logging.level)
    if not args.yes:
        print(
            "Das ersetzt die Cross-Signing-Identität des Bots. Alle Räume sehen danach einen "
            "neuen Master-Schlüssel, der außerhalb von Matrix bestätigt werden muss.\n"
            "Wirklich? Dann mit --yes aufrufen.",
            file=sys.stderr,
        )
        return 2
    matrix = settings.matrix
    if matrix.pickle_key is None or matrix.password is None:
        print("Pickle-Schlüssel und Passwort werden gebraucht.", file=sys.stderr)
        return 2
    if load_credentials(matrix.store_path) is None:
        print("Keine gespeicherte Anmeldung: zuerst einmal fkbot run.", file=sys.stderr)
        return 2
    from bot.matrix import MatrixGateway
    from bot.storelock import StoreLock

    pickle_key = matrix.pickle_key.get_secret_value()
    password = matrix.password.get_secret_value()

    async def reset() -> str:
        gateway = MatrixGateway(matrix, pickle_key=pickle_key)
        try:
            await gateway.open(None)
            keys = await gateway.reset_identity(pickle_key, password)
            return keys.fingerprint()
        finally:
            await gateway.close()

    try:
        with StoreLock(matrix.store_path):
            fingerprint = asyncio.run(reset())
    except BotError as exc:
        print(str(exc), file=sys.stderr)
        return 1
    print(f"Neuer Master-Schlüssel (Fingerabdruck): {fingerprint}")
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    setup_logging("WARNING")
    # nio warns about routine Olm session set-up; the transcript is what matters here.
    logging.getLogger("nio").setLevel(logging.ERROR)
    from bot.demo import run_demo

    code: int = asyncio.run(run_demo(keep=args.keep, workdir=args.workdir))
    return code


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

    from bot.cli_rooms import add_parser as add_rooms

    add_rooms(sub, _database)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    result: int = args.func(args)
    return result
