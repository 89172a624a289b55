"""``fkbot run``: the bot itself, until SIGINT or SIGTERM."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal

from bot.bugs import log_internal_error
from bot.cli.common import load_settings, setup_logging
from bot.errors import EXIT_FENCED, BotError, FencedError

log = logging.getLogger("bot")


def cmd_run(args: argparse.Namespace) -> int:
    os.umask(0o077)  # database, WAL and store files readable by the bot's user only
    settings = load_settings(args.config)
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
    except FencedError as exc:
        # Not a clean stop: the supervisor (Restart=on-failure) starts it again, and
        # the new process stands by until the lock is free.
        log.error("%s", exc)
        return EXIT_FENCED
    except BotError as exc:
        log.error("%s", exc)
        return 1
    except Exception as exc:
        ref = log_internal_error(exc, "Bot-Lauf")
        log.error("Bot beendet wegen eines internen Fehlers (Ref %s)", ref)
        return 1
    return 0
