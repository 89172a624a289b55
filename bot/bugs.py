"""Bugs are logged under a reference number, with type and stack, never with their message.

Exception messages can carry user input or SQL parameters (SQLAlchemy appends the
statement's parameters); the stack and the type are enough to find the bug, and the
reference ties the log line to what the room or the operator was told.
"""

from __future__ import annotations

import logging
import secrets
import traceback

log = logging.getLogger("bot.bugs")


def log_internal_error(exc: BaseException, where: str) -> str:
    ref = secrets.token_hex(4).upper()
    frames = traceback.extract_tb(exc.__traceback__)
    stack = "\n".join(f"  {f.filename}:{f.lineno} in {f.name}" for f in frames)
    log.error("Interner Fehler Ref %s bei %s: %s\n%s", ref, where, type(exc).__name__, stack)
    return ref
