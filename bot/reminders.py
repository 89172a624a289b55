"""Timed work: the database says what is due, a timer says when to look.

:meth:`ReminderRunner.run_due` takes every open ``reminder`` row whose time has
come, in one transaction: it writes the message to the outbox (txn id derived from
the row id, so a crash between commit and send cannot post twice) and marks the row
done. Row kinds: ``termin`` (reminders before a session), ``tagesordnung`` (post the
agenda N working days before), ``bestätigung`` (tell moderation the agenda is still
unconfirmed), ``beginn`` (the consent gate once more at the start). If several rows
of one kind and session are overdue — the bot was down — only the most recent one
is sent, with a visible "verspätet (fällig seit …)"; the others are marked
``übersprungen``. A reminder for a session that has already begun is ``hinfällig``.
The same run edits posted agendas that changed (``m.replace``). The timer
(:class:`bot.timer.ReminderTimer`) only fires the runner: at the next due time, once a
minute as a safety net and after commands; its jobs carry no data.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any, ClassVar

from bot.clock import Clock
from bot.engine import notice_content
from bot.metrics import Metrics
from bot.outbox import OutboxItem
from bot.txn import txn_id_for
from commands.agenda import content_hash, render
from commands.casework import GateFacts, institution_name_in, reevaluate
from commands.circle import Circles
from commands.i18n import GERMAN, SOURCE_LANGUAGE, Texts, texts
from commands.protokoll import collect, render_minutes
from commands.reply import Doc, Reply, b, code, fill, holes
from commands.sessions import command_text, when_text
from commands.sitting import recheck_agenda
from domain.calendar import Calendar
from domain.dates import LOCAL_TZ, local_date
from domain.org import Organisation, Role
from domain.planning import materialize, replan
from domain.work import SYSTEM_ACTOR, Work
from storage.models import CaseReminder, Reminder, Session
from storage.retention import plan_purge, purge
from storage.states import JobState, ReviewState, SessionState
from storage.uow import Database, UnitOfWork

log = logging.getLogger(__name__)

LATE_AFTER = timedelta(minutes=5)
# Due jobs (a session's reminder kind) per chunk: after a long outage thousands are due;
# in chunks, commands are answered in between.
CHUNK_JOBS = 200
PURGE_CHUNK = (
    100  # cases purged per chunk of the daily pass (each: a dozen deletes and an audit entry)
)
EMPTY_AGENDA_RETRY = timedelta(
    hours=1
)  # an empty agenda is looked at again this often  # later than this: the message says so


def _ahead(minutes: int, t: Texts) -> str:
    if minutes % (7 * 24 * 60) == 0:
        weeks = minutes // (7 * 24 * 60)
        return t.ngettext("%(count)d Woche", "%(count)d Wochen", weeks)
    if minutes % (24 * 60) == 0:
        return _days(minutes // (24 * 60), t)
    if minutes % 60 == 0:
        return _hours(minutes // 60, t)
    return _minutes(minutes, t)


# "in 2 Tagen": the German forms are the dative that follows "in".
def _days(days: int, t: Texts) -> str:
    return t.ngettext("%(count)d Tag", "%(count)d Tagen", days)


def _hours(hours: int, t: Texts) -> str:
    return t.ngettext("%(count)d Stunde", "%(count)d Stunden", hours)


def _minutes(minutes: int, t: Texts) -> str:
    return t.ngettext("%(count)d Minute", "%(count)d Minuten", minutes)


def _remaining(session: Session, row: Reminder, now: datetime, t: Texts) -> str:
    """How long until the start, as the reminder says it: its nominal distance when sent
    on time, the true one when it is late (a late "in 10 Minuten" would be untrue)."""
    if now - row.due_at <= LATE_AFTER:
        return _ahead(row.offset_minutes, t)
    minutes = max(1, int((session.starts_at - now).total_seconds() // 60))
    if minutes >= 2 * 24 * 60:
        return _days(minutes // (24 * 60), t)
    if minutes >= 120:
        return _hours(minutes // 60, t)
    return _minutes(minutes, t)


Moderators = Callable[[str], list[str]]


@dataclass(frozen=True)
class Retention:
    closed_days: int
    revoked_grace_days: int
    quarantine_days: int = 90


class ReminderRunner:
    """Runs what the database says is due: reminders, agenda posts, checks, agenda edits."""

    def __init__(
        self,
        db: Database,
        clock: Clock,
        org: Organisation,
        submit: Callable[[list[OutboxItem]], None] = lambda items: None,
        *,
        moderators: Moderators | None = None,
        prefix: str = "!fk",
        calendar: Calendar | None = None,
        circles: Circles | None = None,
        retention: Retention | None = None,
        metrics: Metrics | None = None,
        language: str = SOURCE_LANGUAGE,
    ) -> None:
        self._db = db
        self._clock = clock
        self._language = language  # of rooms that chose none
        self._org = org
        self.submit = submit
        self._moderators = moderators or (lambda _room: configured_moderators(org))
        self._prefix = prefix
        self._calendar = calendar or Calendar()
        self._circles = circles or Circles()
        self._metrics = metrics
        self._daily_on: date | None = None  # the Berlin day the daily pass last ran
        self._daily_for: date | None = None  # the day the rooms below are for
        self._daily_rooms: list[str] | None = None  # rooms whose daily pass is still to run
        self._daily_counts = [0, 0, 0]  # placed, removed, purged by today's pass so far
        self._daily_since: date | None = None  # the day before today's pass, if it ran here
        self.more = False  # run_chunk left due work for the next chunk
        self._retention = retention

    def run_due(self) -> int:
        """Do everything that is due, chunk after chunk; returns how many messages were
        queued. The timer uses :meth:`run_chunk` instead, to let commands in between."""
        total = self.run_chunk()
        while self.more:
            total += self.run_chunk()
        return total

    def run_chunk(self) -> int:
        """One bounded piece of timed work in one short transaction: the daily pass of
        one room, or the retention purge, or up to ``CHUNK_JOBS`` due jobs with the
        agenda and minutes edits. ``more`` says whether anything due is left."""
        now = self._clock.now()
        today = local_date(now)
        if self._daily_on != today:
            if self._daily_rooms is None or self._daily_for != today:
                with self._db.uow() as uow:
                    self._daily_rooms = list(uow.sync.live_case_rooms())
                self._daily_for, self._daily_counts = today, [0, 0, 0]
                self._daily_since = self._daily_on
            if self._daily_rooms:
                self._daily_room(self._daily_rooms.pop(0), now, self._daily_since)
            elif not self._purge_chunk(now):
                self._daily_done(now)
                self._daily_on, self._daily_rooms = today, None
            self.more = True
            return 0
        items: list[OutboxItem] = []
        with self._db.uow() as uow:
            groups: dict[tuple[int, str], list[Reminder]] = {}
            for row in uow.sessions.due_reminders(now):
                groups.setdefault((row.session_id, row.kind), []).append(row)
            due = list(groups.items())
            self.more = len(due) > CHUNK_JOBS
            for (session_id, kind), rows in due[:CHUNK_JOBS]:
                rows.sort(key=lambda r: r.due_at)
                *missed, latest = rows
                for row in missed:
                    row.state = JobState.SKIPPED  # one catch-up, not a burst
                session = uow.sessions.get(session_id)
                job = self._jobs.get(kind)
                if session is None or job is None:
                    latest.state = JobState.OBSOLETE
                    continue
                items += job(self, uow, session, latest, now)
            if not self.more:
                items += self._review_jobs(uow, now)
                items += self._edit_agendas(uow, now)
                items += self._edit_minutes(uow, now)
            uow.commit()
        if items:
            log.info("%d zeitgesteuerte Nachricht(en)", len(items))
            self.submit(items)
        return len(items)

    def _daily_room(self, room_id: str, now: datetime, since: date | None) -> None:
        """The daily pass of one room, in a transaction of its own: the calendar moves on,
        open requests are checked against today's consents (one that expired makes its
        request wait again, audited), placements follow; agendas that change are edited
        by a later chunk.

        Incremental: commands re-plan what they change, so after a pass on ``since``
        only the cases whose consent facts begin, end or are revoked between ``since``
        and today can change, unless new sessions came into the horizon (then the whole
        room is placed again). The first pass after a start checks everything."""
        with self._db.uow() as uow:
            uow.in_room(room_id)  # a room's requests are placed only in its own sessions
            work = Work(
                uow=uow,
                actor=SYSTEM_ACTOR,
                institution=None,
                now=now,
                calendar=self._circles.policy(room_id).calendar or self._calendar,
            )
            today = local_date(now)
            changed = (
                None
                if since is None or materialize(work)
                else uow.cases.with_dated_facts(since - timedelta(days=1), today)
            )
            if changed is None:
                requests = uow.cases.open_requests()
            else:
                requests = uow.cases.open_requests_of(changed)
            facts = GateFacts(uow, {r.case_pseudonym for r in requests})  # three queries
            reevaluate(work, requests, facts)
            plan = replan(work, changed, facts=facts)  # materialises the horizon first
            uow.commit()
        self._daily_counts[0] += len(plan.placed)
        self._daily_counts[1] += len(plan.removed)

    def _purge_chunk(self, now: datetime) -> bool:
        """After every room: up to ``PURGE_CHUNK`` cases whose retention period is over
        are purged (audited) in one transaction; True if a full chunk went, so more may
        be due (a year's backlog is worked off chunk by chunk, commands in between)."""
        if self._retention is None:
            return False
        with self._db.uow() as uow:
            plan = plan_purge(
                uow,
                now,
                closed_days=self._retention.closed_days,
                revoked_grace_days=self._retention.revoked_grace_days,
                limit=PURGE_CHUNK,
            )
            purged = purge(uow, plan, now, actor=SYSTEM_ACTOR)
            uow.commit()
        self._daily_counts[2] += purged
        return len(plan) == PURGE_CHUNK and purged > 0

    def _daily_done(self, now: datetime) -> None:
        """The end of the daily pass: expired quarantine records go; the day is logged."""
        if self._retention is not None:
            with self._db.uow() as uow:
                forgotten = uow.quarantine.prune(
                    now - timedelta(days=self._retention.quarantine_days)
                )
                uow.commit()
            if forgotten:
                log.info("%d Quarantäne-Einträge nach Ablauf gelöscht", forgotten)
        log.info(
            "Tageslauf: %d eingeplant, %d von Tagesordnungen genommen, %d Fälle gelöscht",
            *self._daily_counts,
        )

    def _texts(self, uow: UnitOfWork, room_id: str) -> Texts:
        """The texts of the room a timed message goes to: it speaks the room's language."""
        return texts(uow.sync.room_language(room_id) or self._language)

    def next_due(self) -> datetime | None:
        with self._db.uow() as uow:
            due = [uow.sessions.next_reminder_at(), uow.outcomes.next_case_reminder_at()]
        return min((d for d in due if d is not None), default=None)

    # -- jobs, one per reminder kind ---------------------------------------------------

    def _remind(
        self, uow: UnitOfWork, session: Session, row: Reminder, now: datetime
    ) -> list[OutboxItem]:
        if not _ahead_of(session, now):
            row.state = JobState.OBSOLETE
            return []
        participants = sorted(
            {k for _, request in uow.sessions.agenda(session.id) for k in request.participants}
        )
        t = self._texts(uow, session.room_id)
        text = t.gettext(
            "⏰ %(title)s %(name)s (Termin #%(id)s) am %(when)s – in %(remaining)s.",
            name=session.name,
            id=session.id,
            when=when_text(session.starts_at, t),
            remaining=_remaining(session, row, now, t),
            **holes("title"),
        )
        doc = Doc().para(*fill(text, title=b(t.gettext("Erinnerung:"))))
        count = len(uow.sessions.placements(session.id))
        command = command_text(t, self._prefix, "agenda", session.id)
        doc.para(
            t.ngettext(
                "%(count)d Fall auf der Tagesordnung (%(command)s).",
                "%(count)d Fälle auf der Tagesordnung (%(command)s).",
                count,
                command=command,
            )
        )
        if participants:
            doc.para(
                t.gettext(
                    "Beteiligte Institutionen: %(institutions)s",
                    institutions=", ".join(institution_name_in(self._org, k) for k in participants),
                )
            )
        _late(doc, row, now, t)
        row.state, row.sent_at = JobState.SENT, now
        if self._metrics is not None:
            self._metrics.reminder(late=now - row.due_at > LATE_AFTER)
        return [
            self._post(
                uow,
                session.room_id,
                f"reminder:{row.id}",
                "reminder",
                notice_content(doc.build(), mentions=[]),
                now,
                reply_to=self._agenda_event(uow, session.id),
            )
        ]

    def _post_agenda(
        self, uow: UnitOfWork, session: Session, row: Reminder, now: datetime
    ) -> list[OutboxItem]:
        row.state, row.sent_at = JobState.SENT, now
        if not _ahead_of(session, now):
            row.state = JobState.OBSOLETE
            return []
        agenda = uow.agendas.ensure(session.id, session.room_id)
        if agenda.post_txn_id is not None:
            return []  # posted before (a moved session): changes arrive as edits
        if not uow.sessions.placements(session.id):
            # Nothing to confirm yet: look again in an hour rather than post an empty list.
            later = now + EMPTY_AGENDA_RETRY
            row.state, row.sent_at = (
                (JobState.OPEN, None)
                if later < session.starts_at
                else (
                    JobState.OBSOLETE,
                    None,
                )
            )
            row.due_at = later
            return []
        reply = render(
            uow, self._org, session, agenda, self._prefix, now, self._texts(uow, session.room_id)
        )
        moderators = self._moderators(session.room_id)
        item = self._post(
            uow,
            session.room_id,
            f"agenda:{session.id}",
            "agenda",
            notice_content(reply, mentions=moderators),
            now,
        )
        agenda.post_txn_id, agenda.posted_at = item.txn_id, now
        agenda.published_hash, agenda.dirty = content_hash(reply), False
        uow.audit.append(
            at=now,
            actor=SYSTEM_ACTOR,
            institution=None,
            action="agenda_gesendet",
            detail={"termin": session.id, "fassung": agenda.revision},
        )
        return [item]

    def _confirm_reminder(
        self, uow: UnitOfWork, session: Session, row: Reminder, now: datetime
    ) -> list[OutboxItem]:
        agenda = uow.agendas.get(session.id)
        if (
            not _ahead_of(session, now)
            or not uow.sessions.placements(session.id)
            or (agenda is not None and agenda.confirmed)
        ):
            row.state = JobState.OBSOLETE
            return []
        t = self._texts(uow, session.room_id)
        text = t.gettext(
            "⏳ %(title)s %(name)s (Termin #%(id)s) am %(when)s. Bitte prüfen und bestätigen: "
            "✅ auf die Tagesordnung oder %(command)s.",
            name=session.name,
            id=session.id,
            when=when_text(session.starts_at, t),
            **holes("title", "command"),
        )
        confirm = code(command_text(t, self._prefix, "agenda bestätigen", session.id))
        title = b(t.gettext("Tagesordnung nicht bestätigt:"))
        doc = Doc().para(*fill(text, title=title, command=confirm))
        _late(doc, row, now, t)
        row.state, row.sent_at = JobState.SENT, now
        return [
            self._to_moderation(
                uow,
                session.room_id,
                f"confirm:{row.id}",
                "reminder",
                doc,
                now,
                t,
                reply_to=self._agenda_event(uow, session.id),
            )
        ]

    def _start_check(
        self, uow: UnitOfWork, session: Session, row: Reminder, now: datetime
    ) -> list[OutboxItem]:
        """At the start, the consent gate once more: a case it no longer covers comes off."""
        if session.state != SessionState.PLANNED or now >= session.ends_at:
            row.state = JobState.OBSOLETE
            return []
        row.state, row.sent_at = JobState.SENT, now
        removed = recheck_agenda(uow, session, now, actor=SYSTEM_ACTOR)
        if not removed:
            return []
        t = self._texts(uow, session.room_id)
        text = t.gettext(
            "🔎 %(title)s Termin #%(id)s – die Einwilligung deckt diese Fälle heute nicht mehr, "
            "sie sind von der Tagesordnung genommen und werden nicht besprochen: %(cases)s.",
            id=session.id,
            cases=", ".join(removed),
            **holes("title"),
        )
        doc = Doc().para(*fill(text, title=b(t.gettext("Prüfung zu Sitzungsbeginn:"))))
        return [
            self._to_moderation(
                uow,
                session.room_id,
                f"start:{row.id}",
                "agenda",
                doc,
                now,
                t,
                reply_to=self._agenda_event(uow, session.id),
            )
        ]

    def _minutes_reminder(
        self, uow: UnitOfWork, session: Session, row: Reminder, now: datetime
    ) -> list[OutboxItem]:
        sitting = uow.outcomes.sitting(session.id)
        if sitting is None or sitting.confirmed_at is not None:
            row.state = JobState.OBSOLETE
            return []
        t = self._texts(uow, session.room_id)
        text = t.gettext(
            "📝 %(title)s %(name)s (Termin #%(id)s) vom %(when)s. Bitte prüfen und bestätigen: "
            "✅ auf das Protokoll oder %(command)s.",
            name=session.name,
            id=session.id,
            when=when_text(session.starts_at, t),
            **holes("title", "command"),
        )
        confirm = code(command_text(t, self._prefix, "protokoll bestätigen", session.id))
        title = b(t.gettext("Protokoll nicht bestätigt:"))
        doc = Doc().para(*fill(text, title=title, command=confirm))
        _late(doc, row, now, t)
        row.state, row.sent_at = JobState.SENT, now
        return [
            self._to_moderation(
                uow,
                session.room_id,
                f"minutes:{row.id}",
                "reminder",
                doc,
                now,
                t,
                reply_to=uow.outcomes.minutes_event(sitting),
            )
        ]

    def _review_jobs(self, uow: UnitOfWork, now: datetime) -> list[OutboxItem]:
        """Wiedervorlage: remind the Lotse before, tell moderation when nothing came back."""
        items: list[OutboxItem] = []
        groups: dict[tuple[int, str], list[CaseReminder]] = {}
        for row in uow.outcomes.due_case_reminders(now):
            groups.setdefault((row.review_id, row.kind), []).append(row)
        for (review_id, kind), rows in groups.items():
            *missed, latest = sorted(rows, key=lambda r: r.due_at)
            for row in missed:
                row.state = JobState.SKIPPED
            review = uow.outcomes.review(review_id)
            if review is None or review.state not in (ReviewState.OPEN, ReviewState.OVERDUE):
                latest.state = JobState.OBSOLETE
                continue
            navigator = uow.outcomes.active_navigator(review.case_pseudonym)
            lotse = [navigator.user_id] if navigator else []
            t = self._texts(uow, review.room_id)
            if kind == "überfällig":
                review.state = ReviewState.OVERDUE
                mentions = self._moderators(review.room_id)
                text = t.gettext(
                    "⚠️ %(title)s %(case)s – fällig am %(day)s, es wurde nichts zurückgemeldet.",
                    case=review.case_pseudonym,
                    day=t.day(review.due),
                    **holes("title"),
                )
                doc = Doc().para(*fill(text, title=b(t.gettext("Wiedervorlage überfällig:"))))
                if navigator:
                    doc.para(t.gettext("Lotse: %(user)s", user=navigator.user_id))
                doc.para(
                    t.gettext("An die Moderation: %(users)s", users=", ".join(mentions) or "–")
                )
                mentions = list(dict.fromkeys(mentions + lotse))
            else:
                mentions = lotse
                days = (review.due - local_date(now)).days
                values = {"case": review.case_pseudonym, "day": t.day(review.due)}
                if days > 1:
                    text = t.ngettext(
                        "⏰ %(title)s %(case)s am %(day)s (in %(count)d Tag).",
                        "⏰ %(title)s %(case)s am %(day)s (in %(count)d Tagen).",
                        days,
                        **values,
                        **holes("title"),
                    )
                elif days == 1:
                    text = t.gettext(
                        "⏰ %(title)s %(case)s am %(day)s (morgen).", **values, **holes("title")
                    )
                else:
                    text = t.gettext(
                        "⏰ %(title)s %(case)s am %(day)s.", **values, **holes("title")
                    )
                doc = Doc().para(*fill(text, title=b(t.gettext("Wiedervorlage:"))))
                done = code(
                    command_text(t, self._prefix, "wiedervorlage erledigt", review.case_pseudonym)
                )
                if navigator:
                    back = t.gettext(
                        "%(user)s, bitte zurückmelden: %(command)s",
                        user=navigator.user_id,
                        **holes("command"),
                    )
                else:
                    back = t.gettext("bitte zurückmelden: %(command)s", **holes("command"))
                doc.para(*fill(back, command=done))
            _late(doc, latest, now, t)
            latest.state, latest.sent_at = JobState.SENT, now
            items.append(
                self._post(
                    uow,
                    review.room_id,
                    f"review:{latest.id}",
                    "agenda",
                    notice_content(doc.build(), mentions=mentions),
                    now,
                )
            )
        return items

    def _edit_minutes(self, uow: UnitOfWork, now: datetime) -> list[OutboxItem]:
        items: list[OutboxItem] = []
        for sitting in uow.outcomes.dirty_minutes():
            original = uow.outcomes.minutes_event(sitting)
            session = uow.sessions.get(sitting.session_id)
            if original is None or session is None:
                continue
            reply = render_minutes(
                collect(uow, self._org, session, sitting),
                self._prefix,
                self._texts(uow, session.room_id),
            )
            digest = content_hash(reply)
            if digest != sitting.minutes_hash:
                sitting.minutes_edits += 1
                items.append(
                    self._post(
                        uow,
                        session.room_id,
                        f"minutes:{session.id}:{sitting.minutes_edits}",
                        "agenda-edit",
                        edit_content(reply, original),
                        now,
                    )
                )
                sitting.minutes_hash = digest
            sitting.minutes_dirty = False
        return items

    _jobs: ClassVar[dict[str, Job]] = {
        "termin": _remind,
        "tagesordnung": _post_agenda,
        "bestätigung": _confirm_reminder,
        "beginn": _start_check,
        "protokoll": _minutes_reminder,
    }

    # -- edits of posted agendas --------------------------------------------------------

    def _edit_agendas(self, uow: UnitOfWork, now: datetime) -> list[OutboxItem]:
        items: list[OutboxItem] = []
        for agenda in uow.agendas.dirty():
            original = uow.agendas.posted_event(agenda)
            session = uow.sessions.get(agenda.session_id)
            if original is None or session is None:
                continue  # not acknowledged yet: the next run edits it
            t = self._texts(uow, session.room_id)
            reply = render(uow, self._org, session, agenda, self._prefix, now, t)
            digest = content_hash(reply)
            if digest != agenda.published_hash:
                agenda.edits += 1
                items.append(
                    self._post(
                        uow,
                        session.room_id,
                        f"agenda:{session.id}:{agenda.edits}",
                        "agenda-edit",
                        edit_content(reply, original),
                        now,
                    )
                )
                agenda.published_hash = digest
            if (
                agenda.reconfirm_notice
                and session.state == SessionState.PLANNED
                and session.starts_at > now
            ):
                text = t.gettext(
                    "🔓 %(title)s Termin #%(id)s (Fassung %(revision)s). Die Bestätigung ist "
                    "aufgehoben – bitte neu prüfen und bestätigen: ✅ oder %(command)s.",
                    id=session.id,
                    revision=agenda.revision,
                    **holes("title", "command"),
                )
                confirm = code(command_text(t, self._prefix, "agenda bestätigen", session.id))
                title = b(t.gettext("Tagesordnung geändert:"))
                doc = Doc().para(*fill(text, title=title, command=confirm))
                items.append(
                    self._to_moderation(
                        uow,
                        session.room_id,
                        f"unlock:{session.id}:{agenda.revision}",
                        "agenda",
                        doc,
                        now,
                        t,
                        reply_to=original,
                    )
                )
            agenda.dirty, agenda.reconfirm_notice = False, False
        return items

    # -- helpers ------------------------------------------------------------------------

    def _to_moderation(
        self,
        uow: UnitOfWork,
        room_id: str,
        key: str,
        purpose: str,
        doc: Doc,
        now: datetime,
        t: Texts = GERMAN,
        *,
        reply_to: str | None = None,
        also: tuple[str, ...] = (),
    ) -> OutboxItem:
        """A notice that names and mentions the room's moderators (and ``also``)."""
        moderators = self._moderators(room_id)
        if moderators:
            doc.para(t.gettext("An die Moderation: %(users)s", users=", ".join(moderators)))
        mentions = list(dict.fromkeys([*moderators, *also]))
        content = notice_content(doc.build(), mentions=mentions)
        return self._post(uow, room_id, key, purpose, content, now, reply_to=reply_to)

    def _agenda_event(self, uow: UnitOfWork, session_id: int) -> str | None:
        agenda = uow.agendas.get(session_id)
        return uow.agendas.posted_event(agenda) if agenda is not None else None

    def _post(
        self,
        uow: UnitOfWork,
        room_id: str,
        key: str,
        purpose: str,
        content: dict[str, Any],
        now: datetime,
        *,
        reply_to: str | None = None,
    ) -> OutboxItem:
        if reply_to is not None:
            content = {**content, "m.relates_to": {"m.in_reply_to": {"event_id": reply_to}}}
        message = uow.outbox.add(
            txn_id=txn_id_for(key, purpose),
            room_id=room_id,
            event_type="m.room.message",
            content=content,
            requires_encryption=purpose != "reminder",
            now=now,
        )
        return OutboxItem.of(message)


Job = Callable[[ReminderRunner, UnitOfWork, Session, Reminder, datetime], list[OutboxItem]]


def configured_moderators(org: Organisation) -> list[str]:
    """Users the configuration gives moderation (power-level moderators need the room)."""
    return sorted(
        a.subject for a in org.users.values() if org.member(a.subject).has(Role.MODERATION)
    )


def edit_content(reply: Reply, original: str) -> dict[str, Any]:
    """An ``m.replace`` edit with the fallback clients without edit support show."""
    new = {
        "msgtype": "m.notice",
        "body": reply.plain,
        "format": "org.matrix.custom.html",
        "formatted_body": reply.html,
        "m.mentions": {},
    }
    return {
        "msgtype": "m.notice",
        "body": "* " + reply.plain,
        "format": "org.matrix.custom.html",
        "formatted_body": "* " + reply.html,
        "m.new_content": new,
        "m.relates_to": {"rel_type": "m.replace", "event_id": original},
        "m.mentions": {},
    }


def _ahead_of(session: Session, now: datetime) -> bool:
    return session.state == SessionState.PLANNED and session.starts_at > now


def _late(doc: Doc, row: Reminder | CaseReminder, now: datetime, t: Texts) -> None:
    if now - row.due_at > LATE_AFTER:
        since = row.due_at.astimezone(LOCAL_TZ)
        doc.para(
            t.gettext(
                "(verspätet – fällig seit %(day)s %(time)s Uhr)",
                day=t.day(since.date()),
                time=t.time(since),
            )
        )
