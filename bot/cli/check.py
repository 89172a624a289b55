"""``fkbot check``: configuration, stored login, homeserver and database, one line each."""

from __future__ import annotations

import argparse
import json
import urllib.error
import urllib.request

from sqlalchemy.exc import SQLAlchemyError

from bot.cli.common import cli_texts, load_settings
from bot.errors import BotError
from bot.instance import opened_login_store


def cmd_check(args: argparse.Namespace) -> int:
    """Validate the configuration and reach the homeserver; one line per check.

    Says what it really verified: it never logs in (that would create a device), so
    a password is only verified by the first start; a stored login is verified with
    whoami. Whatever stays unverified is named, and then "Alles in Ordnung" is not said.
    """
    t = cli_texts()
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

    report(True, t.gettext("Konfiguration %(path)s gültig", path=args.config))
    matrix = settings.matrix
    report(
        matrix.pickle_key is not None,
        t.gettext("Pickle-Schlüssel gesetzt")
        if matrix.pickle_key
        else t.gettext(
            "Pickle-Schlüssel fehlt (FKBOT_MATRIX__PICKLE_KEY oder matrix.pickle_key_file)"
        ),
    )
    try:
        # PostgreSQL: the login is in the database (read only here, nothing taken over).
        with opened_login_store(settings, import_files=False) as store:
            creds = store.load_credentials()
    except BotError as exc:
        report(False, exc.render(t))
        creds = None
        stored_login_unusable = True
    except SQLAlchemyError as exc:
        report(
            False,
            t.gettext(
                "Gespeicherte Anmeldung in der Datenbank nicht lesbar: %(error)s",
                error=type(exc).__name__,
            ),
        )
        creds = None
        stored_login_unusable = True
    else:
        stored_login_unusable = False
    if creds is None and not stored_login_unusable:
        if matrix.password is None:
            report(
                False,
                t.gettext(
                    "Passwort fehlt für die erste Anmeldung "
                    "(FKBOT_MATRIX__PASSWORD oder matrix.password_file)"
                ),
            )
        else:
            not_verified(
                t.gettext("Passwort"),
                t.gettext(
                    "Passwort gesetzt, aber NICHT geprüft: noch keine gespeicherte Anmeldung, "
                    "und check meldet sich nie an (das legte ein Gerät an). Geprüft wird es "
                    "beim ersten Start."
                ),
            )
    elif creds is not None:
        report(
            creds.user_id == matrix.user_id and creds.device_id == matrix.device_id,
            t.gettext(
                "Gespeicherte Anmeldung: %(user)s, Gerät %(device)s",
                user=creds.user_id,
                device=creds.device_id,
            ),
        )
    try:
        with urllib.request.urlopen(  # noqa: S310 - URL scheme validated by config
            f"{matrix.homeserver}/_matrix/client/versions", timeout=10
        ) as resp:
            versions = json.load(resp).get("versions", [])
        report(
            True,
            t.ngettext(
                "Homeserver %(url)s erreichbar (%(count)d API-Version)",
                "Homeserver %(url)s erreichbar (%(count)d API-Versionen)",
                len(versions),
                url=matrix.homeserver,
            ),
        )
    except (urllib.error.URLError, OSError, ValueError) as exc:
        reason = getattr(exc, "reason", exc)
        report(
            False,
            t.gettext(
                "Homeserver %(url)s nicht erreichbar: %(reason)s",
                url=matrix.homeserver,
                reason=reason,
            ),
        )
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
                t.gettext(
                    "Zugangstoken gültig für %(user)s (Gerät %(device)s), per whoami geprüft",
                    user=who.get("user_id"),
                    device=who.get("device_id"),
                ),
            )
        except (urllib.error.URLError, OSError, ValueError) as exc:
            report(
                False,
                t.gettext(
                    "Zugangstoken nicht bestätigt: %(reason)s",
                    reason=getattr(exc, "reason", exc),
                ),
            )
    try:
        from sqlalchemy import text

        from storage.db import current_revision, head_revision, make_engine

        engine = make_engine(settings.database.url)
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        current, head = current_revision(engine), head_revision(engine)
        report(
            True,
            t.gettext(
                "Datenbank erreichbar (Schema %(current)s, Code %(head)s)",
                current=current or t.gettext("leer"),
                head=head,
            ),
        )
        engine.dispose()
    except Exception as exc:
        report(
            False,
            t.gettext("Datenbank nicht erreichbar: %(error)s", error=type(exc).__name__),
        )
    if problems:
        print(t.ngettext("%(count)d Problem gefunden.", "%(count)d Probleme gefunden.", problems))
        return 1
    if unverified:
        print(
            t.gettext(
                "Keine Probleme gefunden, aber nicht geprüft: %(what)s.",
                what=", ".join(unverified),
            )
        )
        return 0
    print(t.gettext("Alles in Ordnung."))
    return 0
