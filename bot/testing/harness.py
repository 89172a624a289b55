"""A room with the bot in it, driven through the real engine and the real timed runner.

The one engine harness of the unit and storage tests: commands and reactions go through
``Engine.ingest`` with a real database (SQLite and PostgreSQL), a configured
organisation and the Hessen holiday calendar; timed work goes through
``ReminderRunner.run_due`` on the same database and clock. What the bot says is read
from the outbox; ``ack`` plays the homeserver acknowledging a message, so later edits
and replies can point at its event id.
"""

from __future__ import annotations

import itertools
import re
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import func, select

from bot.clock import FakeClock
from bot.engine import Engine
from bot.events import Reaction, SyncBatch, TextMessage
from bot.ids import EventId, RoomId, UserId
from bot.metrics import Metrics
from bot.reminders import ReminderRunner
from bot.txn import txn_id_for
from commands.circle import Circles
from commands.core import build_registry
from commands.dispatch import Dispatcher
from commands.framework import CommandRegistry
from domain.calendar import Calendar
from domain.dates import LOCAL_TZ
from domain.org import Assignment, Institution, InstitutionType, Organisation, Role
from domain.pseudonym import ALPHABET
from storage.audit import verify
from storage.models import (
    Agenda,
    AuditEntry,
    CaseFile,
    ConferenceRequest,
    Consent,
    InboxEvent,
    OutboxMessage,
    Placement,
    Reminder,
    Revocation,
    Schutzauftrag,
    SessionSeries,
)
from storage.models import Session as SessionRow
from storage.uow import Database

ROOM = RoomId("!praeventionsteam:fk.test")
PREFIX = "!fk"

JA1 = UserId("@anna.jugendamt:fk.test")  # Jugendamt, fachkraft
JA2 = UserId("@ben.jugendamt:fk.test")  # Jugendamt, fachkraft
JC = UserId("@carla.jobcenter:fk.test")  # Jobcenter, fachkraft
AA = UserId("@dirk.agentur:fk.test")  # Agentur, fachkraft
MOD = UserId("@mona.moderation:fk.test")  # Jugendamt, moderation only
ADMIN = UserId("@adam.admin:fk.test")  # Träger, admin only
NOBODY = UserId("@nora.niemand:fk.test")  # allow-listed server, no institution
USERS = (JA1, JA2, JC, AA, MOD, ADMIN, NOBODY)


def _institution(key: str, name: str, kind: InstitutionType) -> tuple[str, Institution]:
    return key, Institution(key, name, kind)


def _user(user: UserId, institution: str, *roles: Role) -> tuple[str, Assignment]:
    return user, Assignment(user, institution, frozenset(roles))


ORG = Organisation(
    institutions=dict(
        [
            _institution("jugendamt", "Jugendamt Wetteraukreis", InstitutionType.JUGENDAMT),
            _institution("jobcenter", "Jobcenter Wetteraukreis", InstitutionType.JOBCENTER),
            _institution("agentur", "Agentur für Arbeit Gießen", InstitutionType.AGENTUR),
            _institution("traeger-xyz", "Träger XYZ", InstitutionType.TRAEGER),
        ]
    ),
    users=dict(
        [
            _user(JA1, "jugendamt", Role.FACHKRAFT),
            _user(JA2, "jugendamt", Role.FACHKRAFT),
            _user(JC, "jobcenter", Role.FACHKRAFT),
            _user(AA, "agentur", Role.FACHKRAFT),
            _user(MOD, "jugendamt", Role.MODERATION),
            _user(ADMIN, "traeger-xyz", Role.ADMIN),
        ]
    ),
    topics=("Ausbildung", "Familie", "Kinderschutz"),
    schutzauftrag_reasons=("kw-gefaehrdung", "gewalt"),
    moderation_power_level=50,
)
JUGENDAMT, JOBCENTER, AGENTUR = (
    ORG.institutions[k].name for k in ("jugendamt", "jobcenter", "agentur")
)

# The replies the harness reads, in German and in English rooms.
NEW_CASE = re.compile(
    r"(?:Neuer Fall|New case): (FK-[" + ALPHABET + r"]{4}-[" + ALPHABET + r"]{2})\b"
)
NEW_REQUEST = re.compile(r"📨 (?:Anfrage|Request) #(\d+) (?:für|for) ")
NEW_SESSION = re.compile(r"📅 (?:Termin angelegt|Meeting created): #(\d+) ")
TABLES: tuple[type[Any], ...] = (
    CaseFile,
    Consent,
    Revocation,
    ConferenceRequest,
    Schutzauftrag,
    SessionSeries,
    SessionRow,
    Placement,
    AuditEntry,
)
PLACEMENT_ACTIONS = ("agenda_eingeplant", "agenda_entfernt")

_ids = itertools.count(1)
_batches = itertools.count(1)


def bot_engine(
    db: Database,
    clock: FakeClock,
    *,
    registry: CommandRegistry | None = None,
    prefix: str = PREFIX,
    org: Organisation | None = ORG,
    calendar: Calendar | None = None,
    circles: Circles | None = None,
    metrics: Metrics | None = None,
    undecryptable_timeout: timedelta = timedelta(seconds=60),
) -> Engine:
    """The engine as the bot builds it: homeserver ``fk.test`` allow-listed, encryption
    required. ``org=None`` (no organisation) and ``calendar=None`` (the engine's default
    calendar) are the engine's own defaults."""
    return Engine(
        db,
        Dispatcher(registry or build_registry(), prefix, 4000),
        clock,
        allowed_homeservers=("fk.test",),
        require_encryption=True,
        undecryptable_timeout=undecryptable_timeout,
        org=org,
        calendar=calendar,
        circles=circles,
        metrics=metrics,
    )


class Room:
    """An encrypted room with the bot in it, in Hessen: say something, read the reply.

    ``org``, ``registry`` and ``calendar`` vary the bot (defaults: ``ORG``, every
    command, the Hessen calendar); ``engine`` replaces it altogether (see
    ``bot_engine``).
    """

    def __init__(
        self,
        db: Database,
        clock: FakeClock,
        calendar: Calendar | None = None,
        *,
        room_id: RoomId = ROOM,
        engine: Engine | None = None,
        org: Organisation = ORG,
        registry: CommandRegistry | None = None,
        circles: Circles | None = None,
        metrics: Metrics | None = None,
    ) -> None:
        self.db = db
        self.clock = clock
        self.room_id = room_id
        self.org = org
        self.calendar = calendar or Calendar(land="HE")
        self.engine = engine or bot_engine(
            db,
            clock,
            registry=registry,
            org=org,
            calendar=self.calendar,
            circles=circles,
            metrics=metrics,
        )
        self._batches = _batches
        self.engine.ingest(self._batch())  # the room becomes known (first start: history skipped)

    def other_room(self, room_id: str) -> Room:
        """A second room with the same bot (engine, database, clock)."""
        return Room(
            self.db,
            self.clock,
            self.calendar,
            room_id=RoomId(room_id),
            engine=self.engine,
            org=self.org,
        )

    def _batch(self, *events: TextMessage | Reaction) -> SyncBatch:
        return SyncBatch(
            next_batch=f"s{next(self._batches)}",
            since=None,
            events=events,
            invites=(),
            joined_rooms=(self.room_id,),
            keys_arrived=False,
        )

    def message(
        self,
        sender: UserId,
        body: str,
        *,
        power_level: int = 0,
        encrypted: bool = True,
        advance: timedelta = timedelta(seconds=1),
    ) -> TextMessage:
        """A message with the body as written, ``advance`` after the last one."""
        self.clock.advance(advance)
        return TextMessage(
            event_id=EventId(f"$termin{next(_ids)}"),
            room_id=self.room_id,
            sender=sender,
            body=body,
            origin_ts=self.clock.now(),
            room_encrypted=encrypted,
            was_encrypted=encrypted,
            power_level=power_level,
        )

    def say(
        self,
        sender: UserId,
        command: str,
        *,
        power_level: int = 0,
        encrypted: bool = True,
        raw: bool = False,
        advance: timedelta = timedelta(seconds=1),
    ) -> str:
        """Send ``!fk <command>`` (``raw``: ``command`` is the whole body) and return the
        plain body of the bot's reply."""
        message = self.message(
            sender,
            command if raw else f"{PREFIX} {command}",
            power_level=power_level,
            encrypted=encrypted,
            advance=advance,
        )
        assert self.engine.ingest(self._batch(message)).commands == 1
        return self.reply_to(message)

    def say_all(self, sender: UserId, commands: list[str], *, power_level: int = 0) -> list[str]:
        """Several ``!fk`` commands in one sync batch; one reply each."""
        messages = [
            self.message(sender, f"{PREFIX} {c}", power_level=power_level) for c in commands
        ]
        assert self.engine.ingest(self._batch(*messages)).commands == len(messages)
        return [self.reply_to(m) for m in messages]

    def reply_to(self, message: TextMessage) -> str:
        """The plain body of the bot's reply to ``message``."""
        with self.db.uow() as uow:
            row = uow.session.scalars(
                select(OutboxMessage).where(
                    OutboxMessage.txn_id == txn_id_for(message.event_id, "reply")
                )
            ).one()
            body = row.content["body"]
            assert isinstance(body, str)
            return body

    def mod(self, command: str) -> str:
        return self.say(MOD, command)

    def react(
        self,
        sender: UserId,
        target_event_id: str,
        key: str = "✅",
        power_level: int = 0,
        *,
        event_id: str | None = None,
    ) -> list[str]:
        """React to ``target_event_id``; the bodies of the outbox rows that caused."""
        self.clock.advance(timedelta(seconds=1))
        reaction = Reaction(
            event_id=EventId(event_id or f"$reaktion{next(_ids)}"),
            room_id=self.room_id,
            sender=sender,
            relates_to=EventId(target_event_id),
            key=key,
            origin_ts=self.clock.now(),
            power_level=power_level,
        )
        before = self.last_outbox_id()
        self.engine.ingest(self._batch(reaction))
        return [str(row.content["body"]) for row in self.outbox_after(before)]

    def adhoc(self, when: str) -> int:
        """A single session via ``termin neu``; its number."""
        reply = self.mod(f"termin neu {when}")
        match = NEW_SESSION.search(reply)
        assert match is not None, reply
        return int(match.group(1))

    def new_case(self, sender: UserId = JA1) -> str:
        reply = self.say(sender, "fall neu")
        match = NEW_CASE.search(reply)
        assert match is not None, reply
        return match.group(1)

    def consent(
        self,
        pseudonym: str,
        recipients: str,
        *,
        sender: UserId = JA1,
        grantor: str = "sorgeberechtigte",
        given: str = "20.11.2026",
        doc: str = "EW-17",
        extra: str = "",
    ) -> str:
        return self.say(
            sender,
            f"einwilligung {pseudonym} von={grantor} an={recipients} "
            f"form=schriftlich datum={given} dok={doc} {extra}".strip(),
        )

    def ask_for_conference(
        self,
        pseudonym: str,
        participants: str = "jugendamt",
        *,
        sender: UserId = JC,
        topic: str = "Ausbildung",
        urgency: str = "regulär",
        extra: str = "",
    ) -> str:
        """``anfrage …``: the bot's reply, whatever it says."""
        return self.say(
            sender,
            f"anfrage {pseudonym} thema={topic} dringlichkeit={urgency} "
            f"teilnehmer={participants} {extra}".strip(),
        )

    def request(
        self,
        pseudonym: str,
        participants: str = "jugendamt",
        *,
        sender: UserId = JC,
        topic: str = "Ausbildung",
        urgency: str = "regulär",
        extra: str = "",
    ) -> tuple[int, str]:
        """``anfrage …`` that must be accepted: the request's number and the reply."""
        reply = self.ask_for_conference(
            pseudonym, participants, sender=sender, topic=topic, urgency=urgency, extra=extra
        )
        match = NEW_REQUEST.search(reply)
        assert match is not None, reply
        return int(match.group(1)), reply

    def ready_case(self, *, consent_extra: str = "", **request: Any) -> tuple[str, int, str]:
        """A case whose consent covers every institution, and a request for it."""
        pseudonym = self.new_case()
        self.consent(pseudonym, "jugendamt,jobcenter,agentur", extra=consent_extra)
        request_id, reply = self.request(pseudonym, **request)
        assert "bereit für die Planung" in reply or "ready for scheduling" in reply, reply
        return pseudonym, request_id, reply

    # -- timed work and the homeserver

    @property
    def runner(self) -> ReminderRunner:
        """A fresh runner on the room's database, clock and calendar (as after a restart)."""
        return ReminderRunner(self.db, self.clock, self.org, prefix=PREFIX, calendar=self.calendar)

    def run_rows(self, runner: ReminderRunner | None = None) -> list[OutboxMessage]:
        """Let the runner do what is due; the outbox rows it wrote."""
        before = self.last_outbox_id()
        queued = (runner or self.runner).run_due()
        rows = self.outbox_after(before)
        assert queued == len(rows), (queued, rows)
        return rows

    def run(self, runner: ReminderRunner | None = None) -> list[dict[str, Any]]:
        """Let the runner do what is due; the contents of the messages it queued."""
        return [row.content for row in self.run_rows(runner)]

    def ack(self, message: str | OutboxMessage, event_id: str) -> str:
        """The homeserver acknowledged the outbox row (by txn id or row) as ``event_id``."""
        txn_id = message if isinstance(message, str) else message.txn_id
        with self.db.uow() as uow:
            row = uow.session.scalars(
                select(OutboxMessage).where(OutboxMessage.txn_id == txn_id)
            ).one()
            uow.outbox.mark_sent(row.id, event_id, self.clock.now())
            uow.commit()
        return event_id

    def last_outbox_id(self) -> int:
        with self.db.uow() as uow:
            return int(uow.session.scalar(select(func.max(OutboxMessage.id))) or 0)

    def outbox_after(self, message_id: int) -> list[OutboxMessage]:
        with self.db.uow() as uow:
            return list(
                uow.session.scalars(
                    select(OutboxMessage)
                    .where(OutboxMessage.id > message_id)
                    .order_by(OutboxMessage.id)
                )
            )

    def outbox(self) -> list[OutboxMessage]:
        return self.outbox_after(0)

    # -- what the database holds

    def counts(self) -> dict[str, int]:
        with self.db.uow() as uow:
            return {
                t.__tablename__: int(uow.session.scalar(select(func.count()).select_from(t)) or 0)
                for t in TABLES
            }

    def case(self, pseudonym: str) -> CaseFile | None:
        with self.db.uow() as uow:
            return uow.cases.get(pseudonym)

    def consents(self, pseudonym: str) -> list[Consent]:
        with self.db.uow() as uow:
            return list(uow.cases.consents(pseudonym))

    def requests(self, pseudonym: str) -> list[ConferenceRequest]:
        with self.db.uow() as uow:
            return list(uow.cases.requests(pseudonym))

    def schutzauftraege(self, pseudonym: str) -> list[Schutzauftrag]:
        with self.db.uow() as uow:
            return list(uow.cases.schutzauftraege(pseudonym))

    def sessions(self) -> list[SessionRow]:
        with self.db.uow() as uow:
            return list(
                uow.session.scalars(
                    select(SessionRow).order_by(SessionRow.starts_at, SessionRow.id)
                )
            )

    def session(self, session_id: int) -> SessionRow:
        with self.db.uow() as uow:
            row = uow.sessions.get(session_id)
            assert row is not None
            return row

    def agenda(self, session_id: int) -> Agenda | None:
        """The stored agenda row of a session (None before it was posted or confirmed)."""
        with self.db.uow() as uow:
            return uow.agendas.get(session_id)

    def reminders(self, session_id: int, kind: str | None = None) -> list[Reminder]:
        with self.db.uow() as uow:
            query = select(Reminder).where(Reminder.session_id == session_id)
            if kind is not None:
                query = query.where(Reminder.kind == kind)
            return list(uow.session.scalars(query.order_by(Reminder.due_at, Reminder.id)))

    def placements(self) -> dict[int, int]:
        """Request id → session id."""
        with self.db.uow() as uow:
            return {p.request_id: p.session_id for p in uow.session.scalars(select(Placement))}

    def agenda_ids(self, session_id: int) -> list[int]:
        with self.db.uow() as uow:
            return [r.id for _, r in uow.sessions.agenda(session_id)]

    def snapshot(self) -> tuple[object, ...]:
        """Everything a refused command must leave as it was."""
        sessions = [(s.id, s.starts_at, s.ends_at, s.state, s.sequence) for s in self.sessions()]
        return self.counts(), self.actions(), sessions, self.placements()

    def audit(self, pseudonym: str | None = None) -> list[AuditEntry]:
        with self.db.uow() as uow:
            return list(uow.audit.entries(pseudonym))

    def actions(self, pseudonym: str | None = None) -> list[str]:
        return [e.action for e in self.audit(pseudonym)]

    def placement_audit(self, pseudonym: str | None = None) -> list[tuple[str, int, int]]:
        return [
            (e.action, e.detail["anfrage"], e.detail["termin"])
            for e in self.audit(pseudonym)
            if e.action in PLACEMENT_ACTIONS
        ]

    def last_inbox_outcome(self) -> str:
        with self.db.uow() as uow:
            row = uow.session.scalars(
                select(InboxEvent).order_by(InboxEvent.received_at.desc())
            ).first()
            assert row is not None
            return row.outcome

    def audit_verdict_ok(self) -> bool:
        """The hash chain verifies and holds at least one entry."""
        with self.db.uow() as uow:
            verdict = verify(uow.audit.entries(), uow.audit.head())
            return verdict.ok and verdict.count > 0

    def check_placements_audited(self) -> None:
        """Replaying agenda_eingeplant/agenda_entfernt gives exactly the placement table."""
        expected: dict[int, int] = {}
        for action, request_id, session_id in self.placement_audit():
            if action == "agenda_eingeplant":
                assert request_id not in expected, (request_id, expected)
                expected[request_id] = session_id
            else:
                assert expected.pop(request_id) == session_id
        assert expected == self.placements()
        with self.db.uow() as uow:
            verdict = verify(uow.audit.entries(), uow.audit.head())
            assert verdict.ok


# -- small helpers ---------------------------------------------------------------------------


def local(moment: datetime) -> tuple[date, time]:
    berlin = moment.astimezone(LOCAL_TZ)
    return berlin.date(), berlin.time()


def utc(day: str, clock_time: str) -> datetime:
    """``utc("09.12.2026", "09:00")`` – an instant written in UTC."""
    d, m, y = (int(x) for x in day.split("."))
    h, mi = (int(x) for x in clock_time.split(":"))
    return datetime(y, m, d, h, mi, tzinfo=UTC)


def d(text: str) -> date:
    day, month, year = (int(x) for x in text.split("."))
    return date(year, month, day)


def items_after(reply: str, header: str) -> list[str]:
    """The bullet items of the list that directly follows the paragraph containing ``header``."""
    blocks = reply.split("\n\n")
    for index, block in enumerate(blocks):
        if header in block and not block.startswith("• "):
            following = blocks[index + 1] if index + 1 < len(blocks) else ""
            assert following.startswith("• "), f"no list after {header!r} in:\n{reply}"
            return [line.removeprefix("• ") for line in following.split("\n")]
    raise AssertionError(f"{header!r} not in:\n{reply}")
