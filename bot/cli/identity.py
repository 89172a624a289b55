"""``fkbot identity show`` and ``reset``: the bot's cross-signing identity."""

from __future__ import annotations

import argparse
import asyncio
import sys

from bot.cli.common import load_settings, setup_logging
from bot.errors import BotError
from bot.matrix import load_credentials


def cmd_identity_show(args: argparse.Namespace) -> int:
    """What an admin compares out of band with what Element shows for the bot."""
    settings = load_settings(args.config)
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
    settings = load_settings(args.config)
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
        gateway = MatrixGateway(matrix, pickle_key=pickle_key, database_url=settings.database.url)
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
