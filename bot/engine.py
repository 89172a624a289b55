"""Turns sync batches into durable work: inbox, command results and outbox in one transaction.

For each batch, in one transaction: every new command event is recorded in the
inbox (deduplicated by event id), run, and its reply written to the outbox; the
sync checkpoint moves forward. Replaying a batch after a crash therefore changes
nothing, and a reply that is in the outbox is sent later, exactly once.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from bot.bugs import log_internal_error
from bot.clock import Clock
from bot.events import (
    OwnJoin,
    PollVote,
    Quarantined,
    Reaction,
    RoomEvent,
    SyncBatch,
    TextMessage,
    Undecryptable,
)
from bot.ids import EventId, RoomId, UserId, server_name
from bot.logfields import log_fields
from bot.metrics import Metrics
from bot.outbox import OutboxItem
from bot.txn import txn_id_for
from commands.circle import Circles
from commands.dispatch import Dispatcher, Outcome, invocation
from commands.framework import CommandContext, ReactionContext
from commands.i18n import GERMAN, N_, SOURCE_LANGUAGE, Texts, texts
from commands.reply import Doc, Reply, code
from domain.calendar import Calendar
from domain.errors import UserError
from domain.org import Organisation
from storage.models import InboxEvent, PendingDecryption, PollBallot, QuarantinedEvent
from storage.states import DecryptionState, PollState
from storage.uow import Database, UnitOfWork

log = logging.getLogger(__name__)

Decryptor = Callable[[dict[str, Any], RoomId], RoomEvent | None]

PENDING_MAX_AGE = timedelta(days=7)
# Tables every command writes; a change elsewhere may be work for the timed runner.
BOOKKEEPING_TABLES = frozenset(
    {
        "",
        "sync_checkpoint",
        "known_room",
        "inbox_event",
        "outbox_message",
        "pending_decryption",
        "audit_entry",
        "audit_head",
        "quarantined_event",
    }
)
# A sync without events (typically the echo of our own reply) need not be made
# durable at once: replaying it after a crash changes nothing. Saving it at most this
# often keeps the hot path to one commit per command.
IDLE_CHECKPOINT_INTERVAL = timedelta(seconds=30)


@dataclass
class IngestResult:
    commands: int = 0
    outbox: list[OutboxItem] = field(default_factory=list)
    # A command or reaction wrote something the timed runner acts on (an agenda, a
    # session, a reminder …): the runner should look now, not at its next wake-up.
    timed_work: bool = False

    @property
    def outbox_added(self) -> int:
        return len(self.outbox)

    key_requests: list[tuple[dict[str, Any], RoomId]] = field(default_factory=list)


def internal_error_reply(ref: str, t: Texts = GERMAN) -> Reply:
    """The room's only word about a bug: its reference number, in the room's language."""
    before, _, after = t.gettext(
        "❌ Interner Fehler (Ref %(ref)s). Es wurde nichts geändert. Bitte der "
        "Administration die Referenz nennen.",
        ref="\x00",
    ).partition("\x00")
    return Doc().para(before, code(ref), after).build()


# Matrix refuses events over 64 KiB (after encryption, which adds a third); every text
# the bot sends stays under this, whatever the data.
MAX_TEXT_BYTES = 32 * 1024
_CUT = N_("… gekürzt: zu lang für eine Nachricht. Bitte gezielter fragen (z. B. seite=).")
CUT_NOTE = "\n\n" + _CUT  # as German rooms read it


def cut_note(t: Texts = GERMAN) -> str:
    """What ends a text cut to fit one message, in the room's language."""
    return "\n\n" + t.gettext(_CUT)


def _bounded(reply: Reply, t: Texts = GERMAN) -> dict[str, str]:
    """Body and HTML; when together they would exceed the limit, the plain text alone
    (whole if it fits), else the plain text cut at a line and marked as cut (HTML
    cannot be cut safely, so it is left out)."""
    if len(reply.plain.encode()) + len(reply.html.encode()) <= MAX_TEXT_BYTES:
        return {
            "body": reply.plain,
            "format": "org.matrix.custom.html",
            "formatted_body": reply.html,
        }
    if len(reply.plain.encode()) <= MAX_TEXT_BYTES:
        return {"body": reply.plain}
    note = cut_note(t)
    budget = MAX_TEXT_BYTES - len(note.encode())
    cut = reply.plain.encode()[:budget].decode("utf-8", errors="ignore")
    cut = cut[: cut.rfind("\n")] if "\n" in cut else cut
    return {"body": cut + note}


def reply_content(
    reply: Reply, *, in_reply_to: EventId, mention: UserId, t: Texts = GERMAN
) -> dict[str, Any]:
    return {
        "msgtype": "m.notice" if reply.notice else "m.text",
        **_bounded(reply, t),
        "m.relates_to": {"m.in_reply_to": {"event_id": in_reply_to}},
        "m.mentions": {"user_ids": list(dict.fromkeys([mention, *reply.mentions]))},
    }


def notice_content(reply: Reply, *, mentions: list[str], t: Texts = GERMAN) -> dict[str, Any]:
    """A message of the bot's own (not a reply), mentioning ``mentions``; ``t`` is the
    room's language (for the note on a text cut to fit)."""
    return {
        "msgtype": "m.notice",
        **_bounded(reply, t),
        "m.mentions": {"user_ids": mentions},
    }


class Engine:
    def __init__(
        self,
        db: Database,
        dispatcher: Dispatcher,
        clock: Clock,
        *,
        allowed_homeservers: tuple[str, ...],
        require_encryption: bool,
        undecryptable_timeout: timedelta,
        org: Organisation | None = None,
        calendar: Calendar | None = None,
        circles: Circles | None = None,
        metrics: Metrics | None = None,
        language: str = SOURCE_LANGUAGE,
    ) -> None:
        self._db = db
        self._dispatcher = dispatcher
        self._language = language  # of rooms that chose none
        self._clock = clock
        self._allowed = frozenset(allowed_homeservers)
        self._require_encryption = require_encryption
        self._undecryptable_timeout = undecryptable_timeout
        self._org = org or Organisation()
        self._calendar = calendar or Calendar()
        self._circles = circles or Circles()
        self._metrics = metrics
        # Caches of what only this process writes (the store lock makes it the only
        # writer); they save several queries per sync on the hot path.
        self._checkpoint: str | None = None
        self._known: set[str] | None = None
        self._direct: set[str] = set()
        # The rooms' own languages (None: the default), read once per room: every command
        # needs its room's texts. Dropped after a batch that wrote known_room.
        self._languages: dict[str, str | None] = {}
        self._pending_possible = True  # scan once at start
        self._saved_at: datetime | None = None

    def _load(self) -> set[str]:
        if self._known is None:
            with self._db.uow() as uow:
                self._checkpoint = uow.sync.checkpoint()
                self._known = set(uow.sync.known_rooms())
                self._direct = uow.sync.direct_rooms()
        return self._known

    def checkpoint(self) -> str | None:
        """The sync token up to which everything is durably handled."""
        self._load()
        return self._checkpoint

    def known_rooms(self) -> frozenset[str]:
        return frozenset(self._load())

    def is_allowed(self, user_id: str) -> bool:
        return server_name(user_id).lower() in self._allowed

    # -- batches ---------------------------------------------------------------

    def ingest(self, batch: SyncBatch) -> IngestResult:
        result = IngestResult()
        now = self._clock.now()
        known = self._load()
        first_start = self._checkpoint is None
        new_rooms = [r for r in batch.joined_rooms if r not in known]
        if (
            not batch.events
            and not new_rooms
            and not batch.left_rooms
            and not first_start
            and self._saved_at is not None
            and now - self._saved_at < IDLE_CHECKPOINT_INTERVAL
        ):
            self._checkpoint = batch.next_batch
            return result
        with self._db.uow() as uow:
            live: set[RoomId] = set() if first_start else {RoomId(r) for r in known}
            # Events before our own (re)join were sent while the bot was not there.
            rejoined = {e.room_id for e in batch.events if isinstance(e, OwnJoin)}
            live -= rejoined
            direct = {e.room_id for e in batch.events if isinstance(e, OwnJoin) and e.direct}
            for room_id in new_rooms:
                uow.sync.add_room(room_id, now, direct=room_id in direct)
            for room_id in rejoined:
                uow.sync.joined(room_id)  # a room's data is reachable again on re-join
            for room_id in direct:
                uow.sync.add_room(room_id, now, direct=True)
            self._direct.update(direct)
            for event in batch.events:
                if isinstance(event, Quarantined):
                    self._quarantine(uow, event)  # in any room, before or after our join
                    continue
                if isinstance(event, OwnJoin):
                    if not first_start:
                        live.add(event.room_id)
                    continue
                if event.room_id in live:
                    self._handle(uow, event, result)
            uow.in_room(None)
            for room_id in batch.left_rooms:
                uow.sync.left(room_id, now)
                log.info("Raum %s verlassen; seine Daten bleiben, bis der Bot zurückkehrt", room_id)
            uow.sync.save_checkpoint(batch.next_batch, now)
            uow.commit()
            result.timed_work = bool(uow.touched - BOOKKEEPING_TABLES)
            if "known_room" in uow.touched:
                self._languages.clear()
        known.update(new_rooms)
        self._checkpoint = batch.next_batch
        self._saved_at = now
        if first_start:
            log.info("Erster Start: Verlauf von %d Räumen übersprungen", len(batch.joined_rooms))
        return result

    def _handle(self, uow: UnitOfWork, event: RoomEvent, result: IngestResult) -> None:
        if isinstance(event, Quarantined):
            self._quarantine(uow, event)  # e.g. a late-decrypted event that does not fit
            return
        if isinstance(event, OwnJoin) or not self.is_allowed(event.sender):
            return  # strangers get silence
        # A room is the boundary of everything about a case: from here on the unit of
        # work sees only this room's cases, sessions, agendas and polls.
        uow.in_room(event.room_id)
        if isinstance(event, TextMessage):
            self._command(uow, event, result)
        elif isinstance(event, Undecryptable):
            self._undecryptable(uow, event, result)
        elif isinstance(event, Reaction):
            self._reaction(uow, event, result)
        elif isinstance(event, PollVote):
            self._vote(uow, event, result)

    def _quarantine(self, uow: UnitOfWork, event: Quarantined) -> None:
        """Set aside, durably with the checkpoint: ids, type, sender, reason, never content."""
        added = uow.quarantine.add(
            QuarantinedEvent(
                event_id=event.event_id,
                room_id=event.room_id,
                event_type=event.event_type,
                sender=event.sender,
                reason=event.reason,
                quarantined_at=self._clock.now(),
            )
        )
        if added and self._metrics is not None:
            self._metrics.quarantined.inc()
        if added:
            log.warning(
                "Ereignis %s in %s (Typ %s, von %s) in Quarantäne: %s",
                event.event_id or "ohne Id",
                event.room_id or "-",
                event.event_type,
                event.sender or "?",
                event.reason,
            )

    def _command(self, uow: UnitOfWork, msg: TextMessage, result: IngestResult) -> None:
        if invocation(msg.body, self._dispatcher.prefix) is None or uow.inbox.seen(msg.event_id):
            return
        started = time.perf_counter()
        ctx = CommandContext(**self._context_fields(uow, msg))
        error_ref: str | None = None
        try:
            with uow.savepoint() as savepoint:
                outcome = self._dispatcher.run(
                    ctx,
                    msg.body,
                    room_encrypted=msg.room_encrypted and msg.was_encrypted,
                    require_encryption=self._require_encryption,
                )
                if outcome.kind != "ok":
                    savepoint.discard()  # a refused command leaves nothing behind
        except Exception as exc:
            error_ref = log_internal_error(exc, f"Ereignis {msg.event_id}")
            outcome = Outcome(
                internal_error_reply(error_ref, ctx.t),
                self._dispatcher.command_name(msg.body),
                "internal_error",
            )
        if outcome.kind == "ok" and error_ref is None:
            result.outbox.extend(OutboxItem.of(row) for row in ctx.posts)
        self._record(uow, msg, "command", outcome.command, outcome.kind, error_ref)
        log.info(
            "Befehl %s von Ereignis %s: %s",
            outcome.command or "?",
            msg.event_id,
            outcome.kind,
            extra=log_fields(
                event_id=msg.event_id,
                room_id=msg.room_id,
                command=outcome.command,
                outcome=outcome.kind,
                ref=error_ref,
            ),
        )
        if self._metrics is not None:
            self._metrics.command(outcome.kind, time.perf_counter() - started)
        self._enqueue_reply(
            result,
            uow,
            msg.room_id,
            msg.event_id,
            msg.sender,
            outcome.reply,
            "reply",
            requires_encryption=outcome.case_data,
            t=ctx.t,
        )
        result.commands += 1

    def _reaction(self, uow: UnitOfWork, reaction: Reaction, result: IngestResult) -> None:
        """Reactions arrive unencrypted even in encrypted rooms; handled like commands."""
        handlers = self._dispatcher.registry.reaction_handlers(reaction.key)
        if not handlers or uow.inbox.seen(reaction.event_id):
            return
        if self._require_encryption and not reaction.room_encrypted:
            return  # its reply could not be sent there, so it must not change anything
        ctx = ReactionContext(
            **self._context_fields(uow, reaction),
            relates_to=reaction.relates_to,
            key=reaction.key,
        )
        for spec in handlers:
            error_ref: str | None = None
            try:
                with uow.savepoint():
                    reply = spec.handler(ctx)
            except UserError as err:  # rolled back; said like a command's mistake
                reply = self._dispatcher.render_error(err, None, ctx.t)
            except Exception as exc:
                error_ref = log_internal_error(exc, f"Reaktion {reaction.event_id}")
                reply = internal_error_reply(error_ref, ctx.t)
            if reply is None:
                continue
            outcome = "internal_error" if error_ref else "ok"
            self._record(uow, reaction, "reaction", None, outcome, error_ref)
            self._enqueue_reply(
                result,
                uow,
                reaction.room_id,
                reaction.relates_to,
                reaction.sender,
                reply,
                f"reaction:{reaction.event_id}",
                requires_encryption=True,
                t=ctx.t,
            )
            return  # the first handler that answers owns the reaction

    def _vote(self, uow: UnitOfWork, vote: PollVote, result: IngestResult) -> None:
        """A poll response: counted silently if it answers one of our open polls."""
        if uow.inbox.seen(vote.event_id):
            return
        poll = uow.polls.by_event(vote.poll_event_id)
        if poll is None:
            return  # someone else's poll
        counted = poll.state == PollState.OPEN and uow.polls.add_ballot(
            PollBallot(
                poll_id=poll.id,
                voter=vote.sender,
                event_id=vote.event_id,
                selections=list(vote.selections),
                voted_at=vote.origin_ts,
            )
        )
        self._record(uow, vote, "vote", None, "ok" if counted else "ignored", None)
        log.info("Stimme %s zu Umfrage %s: %s", vote.event_id, poll.id, counted)

    def _room_language(self, uow: UnitOfWork, room_id: str) -> str | None:
        if "known_room" in uow.touched:  # e.g. `sprache` earlier in this batch: ask
            return uow.sync.room_language(room_id)
        if room_id not in self._languages:
            self._languages[room_id] = uow.sync.room_language(room_id)
        return self._languages[room_id]

    def _context_fields(self, uow: UnitOfWork, event: TextMessage | Reaction) -> dict[str, Any]:
        policy = self._circles.policy(event.room_id)
        return {
            "room_id": event.room_id,
            "sender": event.sender,
            "event_id": event.event_id,
            "now": self._clock.now(),
            "sent_at": event.origin_ts,
            "uow": uow,
            "registry": self._dispatcher.registry,
            "prefix": self._dispatcher.prefix,
            "member": policy.member(self._org, event.sender, event.power_level),
            "org": self._org,
            "calendar": policy.calendar or self._calendar,
            "room_direct": event.room_id in self._direct,
            "t": texts(self._room_language(uow, event.room_id) or self._language),
        }

    def _record(
        self,
        uow: UnitOfWork,
        event: TextMessage | Reaction | PollVote,
        kind: str,
        command: str | None,
        outcome: str,
        error_ref: str | None,
    ) -> None:
        """The inbox row that makes this event handled, exactly once."""
        uow.inbox.add(
            InboxEvent(
                event_id=event.event_id,
                room_id=event.room_id,
                sender=event.sender,
                kind=kind,
                command=command,
                outcome=outcome,
                error_ref=error_ref,
                origin_ts=event.origin_ts,
                received_at=self._clock.now(),
            )
        )

    def _enqueue_reply(
        self,
        result: IngestResult,
        uow: UnitOfWork,
        room_id: RoomId,
        event_id: EventId,
        sender: UserId,
        reply: Reply,
        purpose: str,
        *,
        requires_encryption: bool = False,
        t: Texts = GERMAN,
    ) -> None:
        row = uow.outbox.add(
            txn_id=txn_id_for(event_id, purpose),
            room_id=room_id,
            event_type="m.room.message",
            content=reply_content(reply, in_reply_to=event_id, mention=sender, t=t),
            requires_encryption=requires_encryption,
            now=self._clock.now(),
        )
        result.outbox.append(OutboxItem.of(row))

    # -- undecryptable events ----------------------------------------------------

    def _undecryptable(self, uow: UnitOfWork, event: Undecryptable, result: IngestResult) -> None:
        if uow.inbox.seen(event.event_id):
            return
        added = uow.pending.add_if_new(
            PendingDecryption(
                event_id=event.event_id,
                room_id=event.room_id,
                sender=event.sender,
                session_id=event.session_id,
                source=event.source,
                first_seen_at=self._clock.now(),
                state=DecryptionState.WAITING,
            )
        )
        if added:
            self._pending_possible = True
            log.warning("Ereignis %s nicht entschlüsselbar; Schlüssel angefragt", event.event_id)
            result.key_requests.append((event.source, event.room_id))

    def process_pending(self, decrypt: Decryptor) -> IngestResult:
        """Retry undecryptable events; tell the sender once per key session after the timeout."""
        result = IngestResult()
        if not self._pending_possible:
            return result
        now = self._clock.now()
        with self._db.uow() as uow:
            rows = uow.pending.waiting()
            self._pending_possible = bool(rows)
            notified = {
                (r.room_id, r.session_id) for r in rows if r.state == DecryptionState.NOTIFIED
            }
            for row in rows:
                event = decrypt(row.source, RoomId(row.room_id))
                if event is not None:
                    late = row.state == DecryptionState.NOTIFIED
                    row.state = DecryptionState.DECRYPTED
                    row.resolved_at = now
                    row.source = {}  # ciphertext no longer needed once resolved
                    if late:
                        # The sender was asked to send it again; running it now would
                        # run it twice.
                        log.info("Ereignis %s spät entschlüsselt, nicht ausgeführt", row.event_id)
                        continue
                    log.info("Ereignis %s nachträglich entschlüsselt", row.event_id)
                    self._handle(uow, event, result)
                    continue
                if row.state == DecryptionState.NOTIFIED:
                    if now - row.first_seen_at > PENDING_MAX_AGE:
                        row.state = DecryptionState.EXPIRED
                        row.resolved_at = now
                        row.source = {}
                    continue
                if now - row.first_seen_at < self._undecryptable_timeout:
                    continue
                row.state = DecryptionState.NOTIFIED
                session = (row.room_id, row.session_id)
                if session in notified:
                    continue  # one notice per key session, not one per message
                notified.add(session)
                t = texts(self._room_language(uow, row.room_id) or self._language)
                self._enqueue_reply(
                    result,
                    uow,
                    RoomId(row.room_id),
                    EventId(row.event_id),
                    UserId(row.sender),
                    Reply.text(
                        t.gettext(
                            "🔒 Ich konnte diese Nachricht nicht entschlüsseln: mir fehlt der "
                            "Raumschlüssel. Bitte prüfe, ob dein Gerät verifiziert ist, und "
                            "sende den Befehl dann erneut."
                        )
                    ),
                    "undecryptable",
                    t=t,
                )
            uow.commit()
            if "known_room" in uow.touched:
                self._languages.clear()
        return result
