"""Reminders: the database says what is due, a timer says when to look.

:meth:`ReminderRunner.run_due` takes every open reminder whose time has come, in
one transaction: it writes the message to the outbox (txn id derived from the
reminder id, so a crash between commit and send cannot post twice) and marks the
reminder sent. If several reminders of one session are overdue — the bot was down
— only the most recent one is sent, with a visible "verspätet (fällig seit …)";
the others are marked ``übersprungen``. A reminder for a session that has already
begun is ``hinfällig``. APScheduler (:class:`ReminderTimer`) only fires the runner:
at the next due time and once a minute as a safety net; its jobs carry no data.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, timedelta

from apscheduler.schedulers.asyncio import AsyncIOScheduler

from bot.clock import Clock
from bot.engine import notice_content
from bot.outbox import OutboxItem
from bot.txn import txn_id_for
from commands.casework import institution_name_in
from commands.dates import LOCAL_TZ
from commands.org import Organisation
from commands.reply import Doc, b
from commands.sessions import when_text
from storage.models import Reminder, Session
from storage.uow import Database, UnitOfWork

log = logging.getLogger(__name__)

LATE_AFTER = timedelta(minutes=5)  # later than this: the message says so


def _ahead(minutes: int) -> str:
    if minutes % (7 * 24 * 60) == 0:
        weeks = minutes // (7 * 24 * 60)
        return "1 Woche" if weeks == 1 else f"{weeks} Wochen"
    if minutes % (24 * 60) == 0:
        days = minutes // (24 * 60)
        return "1 Tag" if days == 1 else f"{days} Tagen"
    if minutes % 60 == 0:
        hours = minutes // 60
        return "1 Stunde" if hours == 1 else f"{hours} Stunden"
    return f"{minutes} Minuten"


class ReminderRunner:
    def __init__(
        self,
        db: Database,
        clock: Clock,
        org: Organisation,
        submit: Callable[[list[OutboxItem]], None] = lambda items: None,
    ) -> None:
        self._db = db
        self._clock = clock
        self._org = org
        self.submit = submit

    def run_due(self) -> int:
        """Send what is due; returns how many reminders were posted."""
        now = self._clock.now()
        items: list[OutboxItem] = []
        with self._db.uow() as uow:
            by_session: dict[int, list[Reminder]] = {}
            for row in uow.sessions.due_reminders(now):
                by_session.setdefault(row.session_id, []).append(row)
            for session_id, rows in by_session.items():
                session = uow.sessions.get(session_id)
                if session is None or session.state != "geplant" or session.starts_at <= now:
                    for row in rows:
                        row.state = "hinfällig"
                    continue
                rows.sort(key=lambda r: r.due_at)
                *missed, latest = rows
                for row in missed:
                    row.state = "übersprungen"  # one catch-up, not a burst
                items.append(self._send(uow, session, latest, now))
            uow.commit()
        if items:
            log.info("%d Erinnerung(en) fällig", len(items))
            self.submit(items)
        return len(items)

    def next_due(self) -> datetime | None:
        with self._db.uow() as uow:
            return uow.sessions.next_reminder_at()

    def _send(self, uow: UnitOfWork, session: Session, row: Reminder, now: datetime) -> OutboxItem:
        participants = sorted(
            {k for _, request in uow.sessions.agenda(session.id) for k in request.participants}
        )
        doc = Doc().para(
            "⏰ ",
            b("Erinnerung:"),
            f" {session.name} (Termin #{session.id}) am {when_text(session.starts_at)} – "
            f"in {_ahead(row.offset_minutes)}.",
        )
        count = len(uow.sessions.placements(session.id))
        doc.para(f"{count} Fall/Fälle auf der Tagesordnung (!fk agenda {session.id}).")
        if participants:
            doc.para(
                "Beteiligte Institutionen: ",
                ", ".join(institution_name_in(self._org, k) for k in participants),
            )
        if now - row.due_at > LATE_AFTER:
            since = row.due_at.astimezone(LOCAL_TZ)
            doc.para(f"(verspätet – fällig seit {since:%d.%m.%Y %H:%M} Uhr)")
        message = uow.outbox.add(
            txn_id=txn_id_for(f"reminder:{row.id}", "reminder"),
            room_id=session.room_id,
            event_type="m.room.message",
            content=notice_content(doc.build(), mentions=[]),
            requires_encryption=False,
            now=now,
        )
        row.state, row.sent_at = "gesendet", now
        return OutboxItem.of(message)


class ReminderTimer:
    """APScheduler as the alarm clock: jobs carry no data, the runner reads the database."""

    JOB = "erinnerungen"

    def __init__(self, runner: ReminderRunner, clock: Clock) -> None:
        self._runner = runner
        self._clock = clock
        self._scheduler = AsyncIOScheduler(timezone="UTC")

    def start(self) -> None:
        self._scheduler.add_job(self.fire, "interval", minutes=1, id="sicherheitsnetz")
        self._scheduler.start()
        self.fire()

    def fire(self) -> None:
        try:
            self._runner.run_due()
        finally:
            self.rearm()

    def rearm(self) -> None:
        """Wake at the next due reminder (after a command changed the calendar, too)."""
        due = self._runner.next_due()
        if due is None:
            if self._scheduler.get_job(self.JOB):
                self._scheduler.remove_job(self.JOB)
            return
        when = max(due, self._clock.now() + timedelta(seconds=1))
        self._scheduler.add_job(
            self.fire, "date", run_date=when, id=self.JOB, replace_existing=True
        )

    def stop(self) -> None:
        if self._scheduler.running:
            self._scheduler.shutdown(wait=False)
