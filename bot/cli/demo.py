"""``fkbot demo``: the local demonstration with a throwaway homeserver."""

from __future__ import annotations

import argparse
import asyncio
import logging

from bot.cli.common import setup_logging


def cmd_demo(args: argparse.Namespace) -> int:
    setup_logging("WARNING")
    # nio warns about routine Olm session set-up; the transcript is what matters here.
    logging.getLogger("nio").setLevel(logging.ERROR)
    from bot.demo import run_demo

    code: int = asyncio.run(run_demo(keep=args.keep, workdir=args.workdir))
    return code
