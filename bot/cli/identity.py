"""``fkbot identity show`` and ``reset``: the bot's cross-signing identity."""

from __future__ import annotations

import argparse
import asyncio
import sys

from bot.activelock import ActiveLock
from bot.cli.common import cli_texts, load_settings, setup_logging
from bot.errors import BotError
from bot.instance import is_postgres, opened_login_store
from bot.matrix.credentials import LoginStore


def cmd_identity_show(args: argparse.Namespace) -> int:
    """What an admin compares out of band with what Element shows for the bot."""
    t = cli_texts()
    settings = load_settings(args.config)
    from bot.identity import IdentityError

    matrix = settings.matrix
    if matrix.pickle_key is None:
        print(t.gettext("Pickle-Schlüssel fehlt (FKBOT_MATRIX__PICKLE_KEY)."), file=sys.stderr)
        return 2
    try:
        with opened_login_store(settings, import_files=False) as store:
            creds = store.load_credentials()
            keys = store.load_identity()
    except (IdentityError, BotError) as exc:
        print(exc.render(t), file=sys.stderr)
        return 1
    print(t.gettext("Nutzer:  %(user)s", user=matrix.user_id))
    print(
        t.gettext("Gerät:   %(device)s", device=creds.device_id)
        if creds
        else t.gettext("Gerät:   %(device)s (noch nicht angemeldet)", device=matrix.device_id)
    )
    if keys is None:
        print(t.gettext("Master-Schlüssel: noch keiner (wird beim ersten Start erzeugt)"))
        return 1
    print(
        t.gettext(
            "Master-Schlüssel (Fingerabdruck): %(fingerprint)s", fingerprint=keys.fingerprint()
        )
    )
    return 0


def cmd_identity_reset(args: argparse.Namespace) -> int:
    """Replace the bot's master key: only after checking why the old one was lost."""
    t = cli_texts()
    settings = load_settings(args.config)
    setup_logging(settings.logging.level)
    if not args.yes:
        print(
            t.gettext(
                "Das ersetzt die Cross-Signing-Identität des Bots. Alle Räume sehen danach "
                "einen neuen Master-Schlüssel, der außerhalb von Matrix bestätigt werden muss."
            ),
            file=sys.stderr,
        )
        print(t.gettext("Wirklich? Dann mit --yes aufrufen."), file=sys.stderr)
        return 2
    matrix = settings.matrix
    if matrix.pickle_key is None or matrix.password is None:
        print(t.gettext("Pickle-Schlüssel und Passwort werden gebraucht."), file=sys.stderr)
        return 2
    from bot.matrix import MatrixGateway
    from bot.storelock import StoreLock

    pickle_key = matrix.pickle_key.get_secret_value()
    password = matrix.password.get_secret_value()

    async def reset(store: LoginStore) -> str:
        gateway = MatrixGateway(
            matrix,
            pickle_key=pickle_key,
            login_store=store,
            database_url=settings.database.url,
        )
        try:
            await gateway.open(None)
            keys = await gateway.reset_identity(password)
            return keys.fingerprint()
        finally:
            await gateway.close()

    try:
        with opened_login_store(settings) as store:
            if store.load_credentials() is None:
                print(
                    t.gettext("Keine gespeicherte Anmeldung: zuerst einmal fkbot run."),
                    file=sys.stderr,
                )
                return 2
            if is_postgres(settings.database.url):
                # No instance may be active meanwhile: take the bot's lock, or refuse.
                lock = ActiveLock(settings.database.url, matrix.user_id)
                if not lock.try_once():
                    print(
                        t.gettext(
                            "Eine Instanz des Bots ist aktiv (Datenbanksperre). Erst alle "
                            "Instanzen anhalten."
                        ),
                        file=sys.stderr,
                    )
                    return 1
                try:
                    fingerprint = asyncio.run(reset(store))
                finally:
                    lock.release()
            else:
                with StoreLock(matrix.store_path):
                    fingerprint = asyncio.run(reset(store))
    except BotError as exc:
        print(exc.render(t), file=sys.stderr)
        return 1
    print(
        t.gettext(
            "Neuer Master-Schlüssel (Fingerabdruck): %(fingerprint)s", fingerprint=fingerprint
        )
    )
    return 0
