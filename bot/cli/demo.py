"""``fkbot demo``: the local demonstration with a throwaway homeserver, in the language
``--language`` names or else the operator's locale (``LANG=en_GB.UTF-8 fkbot demo``)."""

from __future__ import annotations

import argparse
import asyncio
import logging

from bot.cli.common import setup_logging
from commands.i18n import locale_language


def cmd_demo(args: argparse.Namespace) -> int:
    setup_logging("WARNING")
    # nio warns about routine Olm session set-up; the transcript is what matters here.
    logging.getLogger("nio").setLevel(logging.ERROR)
    from bot.demo import run_demo

    language = getattr(args, "language", None) or locale_language()
    code: int = asyncio.run(run_demo(keep=args.keep, workdir=args.workdir, language=language))
    return code
