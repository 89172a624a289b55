"""``fkbot check``: configuration, stored login, homeserver and database, one line each."""

from __future__ import annotations

import argparse
import json
import urllib.error
import urllib.request

from sqlalchemy.exc import SQLAlchemyError

from bot.cli.common import load_settings
from bot.errors import BotError
from bot.instance import opened_login_store


def cmd_check(args: argparse.Namespace) -> int:
    """Validate the configuration and reach the homeserver; one line per check.

    Says what it really verified: it never logs in (that would create a device), so
    a password is only verified by the first start; a stored login is verified with
    whoami. Whatever stays unverified is named, and then "Alles in Ordnung" is not said.
    """
    settings = load_settings(args.config)
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
        # PostgreSQL: the login is in the database (read only here, nothing taken over).
        with opened_login_store(settings, import_files=False) as store:
            creds = store.load_credentials()
    except BotError as exc:
        report(False, str(exc))
        creds = None
        stored_login_unusable = True
    except SQLAlchemyError as exc:
        report(False, f"Gespeicherte Anmeldung in der Datenbank nicht lesbar: {type(exc).__name__}")
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
