"""The alarm clock of the timed work: APScheduler fires :class:`ReminderRunner` chunks.

The runner (``bot/reminders.py``) reads from the database what is due and does it in
bounded chunks; this timer only decides *when* to look: at the next due time, once a
minute as a safety net, and after commands that changed timed state. Between two
chunks the event loop has its turn, so commands are answered while a backlog drains.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta

from apscheduler.schedulers.asyncio import AsyncIOScheduler

from bot.clock import Clock
from bot.reminders import ReminderRunner


class ReminderTimer:
    """APScheduler as the alarm clock: jobs carry no data, the runner reads the database."""

    JOB = "erinnerungen"

    def __init__(self, runner: ReminderRunner, clock: Clock) -> None:
        self._runner = runner
        self._clock = clock
        self._scheduler = AsyncIOScheduler(timezone="UTC")

    def start(self) -> None:
        self._scheduler.add_job(self._job, "interval", minutes=1, id="sicherheitsnetz")
        self._scheduler.start()
        self.fire()

    async def _job(self) -> None:
        # A coroutine, so APScheduler runs it on the event loop: a plain function would
        # run in its thread pool, beside the loop's own fire() and the outbox queue.
        self.fire()

    def fire(self) -> None:
        """One chunk of due work; if more is due, the next chunk after the event loop has
        had its turn (commands are answered in between), then re-arm."""
        try:
            self._runner.run_chunk()
        except BaseException:
            self.rearm()
            raise
        if not self._runner.more:
            self.rearm()
            return
        try:
            asyncio.get_running_loop().call_soon(self.fire)
        except RuntimeError:  # no loop (a script or test calling fire directly): go on
            self.fire()

    def rearm(self) -> None:
        """Wake at the next due reminder (after a command changed the calendar, too)."""
        due = self._runner.next_due()
        if due is None:
            if self._scheduler.get_job(self.JOB):
                self._scheduler.remove_job(self.JOB)
            return
        when = max(due, self._clock.now() + timedelta(seconds=1))
        self._scheduler.add_job(
            self._job, "date", run_date=when, id=self.JOB, replace_existing=True
        )

    def stop(self) -> None:
        if self._scheduler.running:
            self._scheduler.shutdown(wait=False)
