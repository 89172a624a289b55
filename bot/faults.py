"""Test-only fault injection: prove exactly-once by killing the process at chosen points.

``FKBOT_CRASH_AT=<point>`` makes the process SIGKILL itself (the same as
``kill -9``) the first time it passes ``<point>`` with work in hand. Unset, every
check is a dictionary lookup and nothing else.
"""

from __future__ import annotations

import logging
import os
import signal

log = logging.getLogger(__name__)

POINTS = ("after_sync_before_commit", "after_commit_before_send", "after_send_before_mark")


class CrashPoints:
    def __init__(self, point: str | None = None) -> None:
        if point is not None and point not in POINTS:
            raise ValueError(f"unknown crash point {point!r}; known: {', '.join(POINTS)}")
        self.point = point

    @classmethod
    def from_env(cls) -> CrashPoints:
        return cls(os.environ.get("FKBOT_CRASH_AT") or None)

    def hit(self, point: str) -> None:
        if point == self.point:
            log.warning("FKBOT_CRASH_AT=%s: kill -9", point)
            logging.shutdown()
            os.kill(os.getpid(), signal.SIGKILL)
