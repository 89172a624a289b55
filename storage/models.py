"""Table definitions. Only ids, pseudonyms and what a command explicitly records."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    Boolean,
    Date,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    false,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from storage.states import (
    CaseState,
    DecryptionState,
    JobState,
    OutboxState,
    PollState,
    ReviewState,
    SessionState,
    TaskState,
)
from storage.types import UTCDateTime


class Base(DeclarativeBase):
    type_annotation_map: ClassVar[dict[Any, Any]] = {
        datetime: UTCDateTime(),
        date: Date(),
        dict[str, Any]: JSON(),
        list[str]: JSON(),
    }


class SyncCheckpoint(Base):
    """The sync token up to which every event has been durably handled (one row)."""

    __tablename__ = "sync_checkpoint"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    next_batch: Mapped[str] = mapped_column(String(255))
    updated_at: Mapped[datetime]


class KnownRoom(Base):
    """Rooms the bot has joined; history before the join is never treated as commands."""

    __tablename__ = "known_room"

    room_id: Mapped[str] = mapped_column(String(255), primary_key=True)
    first_seen_at: Mapped[datetime]
    # Set when the bot left or was removed; the room's data stays (subject to retention)
    # and is reachable again only if the bot re-joins this same room.
    left_at: Mapped[datetime | None]
    # Joined on an invitation marked ``is_direct``: a direct chat, never a conference circle.
    direct: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    # The language the room speaks (``sprache``); NULL: the bot's configured default.
    language: Mapped[str | None] = mapped_column(String(16))


class InboxEvent(Base):
    """A received command or reaction, deduplicated by event id."""

    __tablename__ = "inbox_event"

    event_id: Mapped[str] = mapped_column(String(255), primary_key=True)
    room_id: Mapped[str] = mapped_column(String(255))
    sender: Mapped[str] = mapped_column(String(255))
    kind: Mapped[str] = mapped_column(String(32))
    command: Mapped[str | None] = mapped_column(String(64))
    outcome: Mapped[str] = mapped_column(String(32))
    error_ref: Mapped[str | None] = mapped_column(String(32))
    origin_ts: Mapped[datetime]
    received_at: Mapped[datetime]


class OutboxMessage(Base):
    """A message that must reach the room exactly once.

    ``txn_id`` is derived from the triggering event, so a resend after a crash
    hits the homeserver's transaction-id deduplication and returns the original
    event instead of posting twice.
    """

    __tablename__ = "outbox_message"
    __table_args__ = (Index("ix_outbox_pending", "sent_at", "id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    txn_id: Mapped[str] = mapped_column(String(255), unique=True)
    room_id: Mapped[str] = mapped_column(String(255))
    event_type: Mapped[str] = mapped_column(String(64))
    content: Mapped[dict[str, Any]]
    requires_encryption: Mapped[bool] = mapped_column(Boolean)
    created_at: Mapped[datetime]
    sent_at: Mapped[datetime | None]
    remote_event_id: Mapped[str | None] = mapped_column(String(255))
    state: Mapped[str] = mapped_column(String(16), default=OutboxState.PENDING)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    not_before: Mapped[datetime | None]


class OutboxCase(Base):
    """A case pseudonym an outbox message carries (text or attachment), recorded when the
    message is written: retention finds a case's messages here."""

    __tablename__ = "outbox_case"

    outbox_id: Mapped[int] = mapped_column(
        ForeignKey("outbox_message.id", ondelete="CASCADE"), primary_key=True
    )
    pseudonym: Mapped[str] = mapped_column(String(16), primary_key=True, index=True)


class PendingDecryption(Base):
    """An event the bot could not decrypt yet: retried as keys arrive, answered once on timeout."""

    __tablename__ = "pending_decryption"

    event_id: Mapped[str] = mapped_column(String(255), primary_key=True)
    room_id: Mapped[str] = mapped_column(String(255))
    sender: Mapped[str] = mapped_column(String(255))
    session_id: Mapped[str] = mapped_column(String(255))
    source: Mapped[dict[str, Any]]
    first_seen_at: Mapped[datetime]
    state: Mapped[str] = mapped_column(String(16), default=DecryptionState.WAITING)
    resolved_at: Mapped[datetime | None]


# -- cases, consent, requests (issue 4) ----------------------------------------------


class CaseFile(Base):
    """A case, known only by its pseudonym; the real file stays with the institution.

    ``room_id`` is the conference circle the case belongs to: the room where it was
    registered. Everything about the case is visible and changeable only there. NULL
    means a case from before rooms were boundaries that the migration could not assign:
    kept apart, visible in no room, until ``fkbot rooms assign``.
    """

    __tablename__ = "case_file"
    __table_args__ = (Index("ix_case_file_state_closed_at", "state", "closed_at"),)  # retention

    pseudonym: Mapped[str] = mapped_column(String(16), primary_key=True)
    room_id: Mapped[str | None] = mapped_column(String(255), index=True)
    owner_institution: Mapped[str] = mapped_column(String(64))
    created_by: Mapped[str] = mapped_column(String(255))
    created_at: Mapped[datetime]
    state: Mapped[str] = mapped_column(String(16), default=CaseState.OPEN)
    closed_at: Mapped[datetime | None]


class Consent(Base):
    """One consent record; versioned per case and never changed after it is written."""

    __tablename__ = "consent"
    __table_args__ = (
        UniqueConstraint("case_pseudonym", "version"),
        # the daily pass: consents that begin or end between two days
        Index("ix_consent_given_on", "given_on"),
        Index("ix_consent_expires_on", "expires_on"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    case_pseudonym: Mapped[str] = mapped_column(ForeignKey("case_file.pseudonym"), index=True)
    version: Mapped[int] = mapped_column(Integer)
    grantor: Mapped[str] = mapped_column(String(32))
    purpose: Mapped[str] = mapped_column(String(32))
    recipients: Mapped[list[str]]
    form: Mapped[str] = mapped_column(String(16))
    given_on: Mapped[date]
    expires_on: Mapped[date | None]
    document_ref: Mapped[str] = mapped_column(String(64))
    recorded_by: Mapped[str] = mapped_column(String(255))
    recorded_institution: Mapped[str] = mapped_column(String(64))
    recorded_at: Mapped[datetime]


class Revocation(Base):
    """A revocation for some (``institutions``) or all (None) institutions, from its day on."""

    __tablename__ = "revocation"
    __table_args__ = (Index("ix_revocation_effective_on", "effective_on"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    case_pseudonym: Mapped[str] = mapped_column(ForeignKey("case_file.pseudonym"), index=True)
    institutions: Mapped[list[str] | None] = mapped_column(JSON)
    effective_on: Mapped[date]
    recorded_by: Mapped[str] = mapped_column(String(255))
    recorded_institution: Mapped[str] = mapped_column(String(64))
    recorded_at: Mapped[datetime]


class ConferenceRequest(Base):
    """A request to discuss a case; ``state`` follows the consent gate."""

    __tablename__ = "conference_request"
    # a room's open requests in order (anfragen, replan), and their count (übersicht)
    __table_args__ = (Index("ix_conference_request_room_state", "room_id", "state", "id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    room_id: Mapped[str | None] = mapped_column(String(255), index=True)  # = its case's room
    case_pseudonym: Mapped[str] = mapped_column(ForeignKey("case_file.pseudonym"), index=True)
    requested_by: Mapped[str] = mapped_column(String(255))
    requesting_institution: Mapped[str] = mapped_column(String(64))
    topic: Mapped[str] = mapped_column(String(64))
    urgency: Mapped[str] = mapped_column(String(16))
    participants: Mapped[list[str]]
    latest_date: Mapped[date | None]
    entrusted: Mapped[bool] = mapped_column(Boolean, default=False)
    state: Mapped[str] = mapped_column(String(24), index=True)
    basis: Mapped[str | None] = mapped_column(String(32))
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class Schutzauftrag(Base):
    """The § 8a SGB VIII path: opened by one Jugendamt professional, confirmed by another."""

    __tablename__ = "schutzauftrag"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    case_pseudonym: Mapped[str] = mapped_column(ForeignKey("case_file.pseudonym"), index=True)
    reason_code: Mapped[str] = mapped_column(String(64))
    legal_basis: Mapped[str] = mapped_column(String(64))
    state: Mapped[str] = mapped_column(String(16))
    opened_by: Mapped[str] = mapped_column(String(255))
    opened_institution: Mapped[str] = mapped_column(String(64))
    opened_at: Mapped[datetime]
    confirmed_by: Mapped[str | None] = mapped_column(String(255))
    confirmed_at: Mapped[datetime | None]


class AuditEntry(Base):
    """One link of the hash chain: who did what to which pseudonym, never free text."""

    __tablename__ = "audit_entry"

    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    at: Mapped[datetime]
    # The room the action happened in (hashed with the frame when set); NULL for entries
    # from before rooms were recorded and for actions of the operator on no room.
    room_id: Mapped[str | None] = mapped_column(String(255), index=True)
    actor: Mapped[str] = mapped_column(String(255))
    institution: Mapped[str | None] = mapped_column(String(64))
    action: Mapped[str] = mapped_column(String(48))
    pseudonym: Mapped[str | None] = mapped_column(String(16), index=True)
    detail: Mapped[dict[str, Any]]
    # SHA-256 of {institution, detail}: the chain covers this, so both can be redacted.
    payload_hash: Mapped[str] = mapped_column(String(64))
    redacted_at: Mapped[datetime | None]  # set when the case's data was purged
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))


class AuditHead(Base):
    """The chain's last link, written with it: a deleted tail shows as a mismatch."""

    __tablename__ = "audit_head"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    seq: Mapped[int] = mapped_column(Integer)
    hash: Mapped[str] = mapped_column(String(64))


class RoleSnapshot(Base):
    """The configured roles last seen at start; a difference is audited as a role change."""

    __tablename__ = "role_snapshot"

    subject: Mapped[str] = mapped_column(String(255), primary_key=True)
    institution: Mapped[str] = mapped_column(String(64))
    roles: Mapped[str] = mapped_column(String(128))


# -- trusted identity (issue 3) ---------------------------------------------------------


class IdentityPin(Base):
    """A member's master key, pinned on first sight; a different key waits for an admin."""

    __tablename__ = "identity_pin"

    user_id: Mapped[str] = mapped_column(String(255), primary_key=True)
    master_key: Mapped[str] = mapped_column(String(64))
    pinned_at: Mapped[datetime]
    seen_key: Mapped[str | None] = mapped_column(String(64))
    seen_at: Mapped[datetime | None]


# -- sessions and placement (issue 5) -------------------------------------------------


class SessionSeries(Base):
    """A recurring session: an RRULE in Europe/Berlin wall-clock time."""

    __tablename__ = "session_series"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    room_id: Mapped[str] = mapped_column(String(255))
    name: Mapped[str] = mapped_column(String(80))
    rule: Mapped[str] = mapped_column(String(200))
    first_day: Mapped[date]
    start_time: Mapped[str] = mapped_column(String(5))  # "HH:MM", local
    duration_minutes: Mapped[int] = mapped_column(Integer)
    capacity: Mapped[int] = mapped_column(Integer)
    slot_minutes: Mapped[int] = mapped_column(Integer)
    holiday_rule: Mapped[str] = mapped_column(String(16))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_by: Mapped[str] = mapped_column(String(255))
    created_at: Mapped[datetime]


class Session(Base):
    """One session (Termin): an occurrence of a series or an ad-hoc conference."""

    __tablename__ = "session"
    __table_args__ = (UniqueConstraint("series_id", "original_day"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    series_id: Mapped[int | None] = mapped_column(ForeignKey("session_series.id"))
    room_id: Mapped[str] = mapped_column(String(255))
    original_day: Mapped[date | None]  # the rule's date; a moved occurrence keeps it
    name: Mapped[str] = mapped_column(String(80))
    starts_at: Mapped[datetime] = mapped_column(index=True)
    ends_at: Mapped[datetime]
    capacity: Mapped[int] = mapped_column(Integer)
    slot_minutes: Mapped[int] = mapped_column(Integer)
    state: Mapped[str] = mapped_column(String(16), default=SessionState.PLANNED)
    sequence: Mapped[int] = mapped_column(Integer, default=0)  # iCalendar SEQUENCE
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class Placement(Base):
    """A request on a session's agenda, in order."""

    __tablename__ = "placement"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    session_id: Mapped[int] = mapped_column(ForeignKey("session.id"), index=True)
    request_id: Mapped[int] = mapped_column(ForeignKey("conference_request.id"), unique=True)
    position: Mapped[int] = mapped_column(Integer)
    placed_at: Mapped[datetime]


class Reminder(Base):
    """A reminder that falls due at ``due_at``; sent exactly once through the outbox."""

    __tablename__ = "reminder"
    __table_args__ = (
        UniqueConstraint("session_id", "kind", "offset_minutes"),
        Index("ix_reminder_due", "state", "due_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    session_id: Mapped[int] = mapped_column(ForeignKey("session.id"))
    kind: Mapped[str] = mapped_column(String(16))  # "termin"
    offset_minutes: Mapped[int] = mapped_column(Integer)
    due_at: Mapped[datetime]
    state: Mapped[str] = mapped_column(String(16), default=JobState.OPEN)
    sent_at: Mapped[datetime | None]


class Agenda(Base):
    """The agenda (Tagesordnung) of one session: its revision, confirmation and posted message.

    ``revision`` grows with every change of the session or its items; the agenda is
    confirmed (locked) while ``confirmed_revision == revision``. ``post_txn_id`` names
    the outbox row of the posted message; ``dirty`` asks for an edit of it.
    """

    __tablename__ = "agenda"

    session_id: Mapped[int] = mapped_column(ForeignKey("session.id"), primary_key=True)
    room_id: Mapped[str] = mapped_column(String(255))
    revision: Mapped[int] = mapped_column(Integer, default=0)
    confirmed_revision: Mapped[int | None] = mapped_column(Integer)
    confirmed_by: Mapped[str | None] = mapped_column(String(255))
    confirmed_at: Mapped[datetime | None]
    post_txn_id: Mapped[str | None] = mapped_column(String(255), unique=True)
    posted_at: Mapped[datetime | None]
    published_hash: Mapped[str | None] = mapped_column(String(64))
    edits: Mapped[int] = mapped_column(Integer, default=0)
    dirty: Mapped[bool] = mapped_column(Boolean, default=False)
    reconfirm_notice: Mapped[bool] = mapped_column(Boolean, default=False)
    refused_reactors: Mapped[list[str]] = mapped_column(default=list)

    @property
    def confirmed(self) -> bool:
        return self.confirmed_revision is not None and self.confirmed_revision == self.revision


class Poll(Base):
    """An availability poll (MSC3381) for an urgent request's ad-hoc conference."""

    __tablename__ = "poll"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    room_id: Mapped[str] = mapped_column(String(255))
    request_id: Mapped[int] = mapped_column(ForeignKey("conference_request.id"), index=True)
    txn_id: Mapped[str] = mapped_column(String(255), unique=True)
    slots: Mapped[list[str]]  # ISO 8601 UTC start times; answer id = position + 1
    duration_minutes: Mapped[int] = mapped_column(Integer)
    max_selections: Mapped[int] = mapped_column(Integer)
    state: Mapped[str] = mapped_column(String(16), default=PollState.OPEN)
    created_by: Mapped[str] = mapped_column(String(255))
    created_at: Mapped[datetime]
    closed_by: Mapped[str | None] = mapped_column(String(255))
    closed_at: Mapped[datetime | None]
    chosen: Mapped[str | None] = mapped_column(String(8))
    session_id: Mapped[int | None] = mapped_column(ForeignKey("session.id"))


class PollBallot(Base):
    """One vote event (poll response or text command); the latest per voter counts."""

    __tablename__ = "poll_ballot"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    poll_id: Mapped[int] = mapped_column(ForeignKey("poll.id"), index=True)
    voter: Mapped[str] = mapped_column(String(255))
    event_id: Mapped[str] = mapped_column(String(255), unique=True)
    selections: Mapped[list[str]]
    voted_at: Mapped[datetime]


class Sitting(Base):
    """A session as it is held (Sitzung): opened, attended, closed, its minutes confirmed.

    ``opening_txn_id`` and ``minutes_txn_id`` name the outbox rows of the opening
    message (✋ reactions mark attendance) and of the posted minutes (✅ confirms).
    """

    __tablename__ = "sitting"

    session_id: Mapped[int] = mapped_column(ForeignKey("session.id"), primary_key=True)
    room_id: Mapped[str] = mapped_column(String(255))
    opened_at: Mapped[datetime]
    opened_by: Mapped[str] = mapped_column(String(255))
    opening_txn_id: Mapped[str] = mapped_column(String(255), unique=True)
    quorum: Mapped[int] = mapped_column(Integer)
    closed_at: Mapped[datetime | None]
    closed_by: Mapped[str | None] = mapped_column(String(255))
    minutes_txn_id: Mapped[str | None] = mapped_column(String(255), unique=True)
    minutes_hash: Mapped[str | None] = mapped_column(String(64))
    minutes_dirty: Mapped[bool] = mapped_column(Boolean, default=False)
    minutes_edits: Mapped[int] = mapped_column(Integer, default=0)
    confirmed_by: Mapped[str | None] = mapped_column(String(255))
    confirmed_at: Mapped[datetime | None]


class Attendance(Base):
    """Who was there (``anwesend``) or sent apologies (``entschuldigt``) for an institution."""

    __tablename__ = "attendance"
    __table_args__ = (UniqueConstraint("session_id", "institution", "user_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    session_id: Mapped[int] = mapped_column(ForeignKey("session.id"), index=True)
    institution: Mapped[str] = mapped_column(String(64))
    user_id: Mapped[str] = mapped_column(String(255))
    kind: Mapped[str] = mapped_column(String(16))
    at: Mapped[datetime]


class Decision(Base):
    """A Beschluss about a case in a session; text passed the personal-data guard."""

    __tablename__ = "decision"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    session_id: Mapped[int] = mapped_column(ForeignKey("session.id"), index=True)
    case_pseudonym: Mapped[str] = mapped_column(ForeignKey("case_file.pseudonym"), index=True)
    text: Mapped[str] = mapped_column(Text)
    recorded_by: Mapped[str] = mapped_column(String(255))
    at: Mapped[datetime]


class Navigator(Base):
    """The Lotse of a case: one professional of a participating institution."""

    __tablename__ = "navigator"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    session_id: Mapped[int] = mapped_column(ForeignKey("session.id"), index=True)
    case_pseudonym: Mapped[str] = mapped_column(ForeignKey("case_file.pseudonym"), index=True)
    user_id: Mapped[str] = mapped_column(String(255))
    institution: Mapped[str] = mapped_column(String(64))
    assigned_by: Mapped[str] = mapped_column(String(255))
    at: Mapped[datetime]
    active: Mapped[bool] = mapped_column(Boolean, default=True)


class Task(Base):
    """A next step with an owner and an optional due date."""

    __tablename__ = "task"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    session_id: Mapped[int] = mapped_column(ForeignKey("session.id"), index=True)
    case_pseudonym: Mapped[str] = mapped_column(ForeignKey("case_file.pseudonym"), index=True)
    owner: Mapped[str] = mapped_column(String(255))
    owner_institution: Mapped[str] = mapped_column(String(64))
    text: Mapped[str] = mapped_column(Text)
    due: Mapped[date | None]
    state: Mapped[str] = mapped_column(String(16), default=TaskState.OPEN)
    created_by: Mapped[str] = mapped_column(String(255))
    at: Mapped[datetime]


class Review(Base):
    """A Wiedervorlage: the Lotse reports back by ``due``; reminders and an overdue notice."""

    __tablename__ = "review"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    session_id: Mapped[int] = mapped_column(ForeignKey("session.id"), index=True)
    room_id: Mapped[str] = mapped_column(String(255))
    case_pseudonym: Mapped[str] = mapped_column(ForeignKey("case_file.pseudonym"), index=True)
    due: Mapped[date]
    state: Mapped[str] = mapped_column(String(16), default=ReviewState.OPEN)
    created_by: Mapped[str] = mapped_column(String(255))
    at: Mapped[datetime]
    closed_at: Mapped[datetime | None]


class CaseReminder(Base):
    """A timed job about a case rather than a session: Wiedervorlage reminder or overdue."""

    __tablename__ = "case_reminder"
    __table_args__ = (
        UniqueConstraint("review_id", "kind", "offset_minutes"),
        Index("ix_case_reminder_due", "state", "due_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    review_id: Mapped[int] = mapped_column(ForeignKey("review.id"))
    kind: Mapped[str] = mapped_column(String(16))  # "wiedervorlage" | "überfällig"
    offset_minutes: Mapped[int] = mapped_column(Integer)
    due_at: Mapped[datetime]
    state: Mapped[str] = mapped_column(String(16), default=JobState.OPEN)
    sent_at: Mapped[datetime | None]


class Carryover(Base):
    """An agenda item carried to a later session (vertagt, or not handled)."""

    __tablename__ = "carryover"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    request_id: Mapped[int] = mapped_column(ForeignKey("conference_request.id"), index=True)
    case_pseudonym: Mapped[str] = mapped_column(ForeignKey("case_file.pseudonym"), index=True)
    from_session: Mapped[int] = mapped_column(ForeignKey("session.id"), index=True)
    to_session: Mapped[int | None] = mapped_column(ForeignKey("session.id"))
    reason: Mapped[str] = mapped_column(String(200))
    by: Mapped[str] = mapped_column(String(255))
    at: Mapped[datetime]


# -- quarantine (issue 12) -------------------------------------------------------------


class QuarantinedEvent(Base):
    """An event the Matrix edge refused because its shape did not fit: never its content.

    ``event_id`` is None for what carries no id (invite state, to-device events, a
    whole room the parser could not read); such rows are not deduplicated.
    """

    __tablename__ = "quarantined_event"
    __table_args__ = (Index("ix_quarantined_event_at", "quarantined_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    event_id: Mapped[str | None] = mapped_column(String(255), unique=True)
    room_id: Mapped[str | None] = mapped_column(String(255))
    event_type: Mapped[str] = mapped_column(String(255))
    sender: Mapped[str | None] = mapped_column(String(255))
    reason: Mapped[str] = mapped_column(String(300))
    quarantined_at: Mapped[datetime]


class InstanceState(Base):
    """What any instance needs to take over, on PostgreSQL: the Matrix login and the
    cross-signing keys (``name`` = ``login`` / ``cross_signing``). Secrets in ``data``
    are sealed with a key derived from the pickle key, never stored in the clear.
    With SQLite these stay files in the store directory."""

    __tablename__ = "instance_state"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    data: Mapped[dict[str, Any]]
    updated_at: Mapped[datetime]


# -- nio's crypto store on the project's database (issue 16) -------------------------------
# The Olm account, Olm and Megolm sessions, known devices with their trust marks, encrypted
# rooms and outgoing key requests of one Matrix device, so that a standby instance takes
# over without a new login or device. Every pickle is vodozemac's, encrypted with the
# configured pickle key exactly as in nio's SQLite store; nothing else here is secret.
# Written and read only by bot.matrix.pgstore.


class CryptoAccount(Base):
    """One Matrix device's Olm account (several bot accounts may share the database)."""

    __tablename__ = "crypto_account"
    __table_args__ = (UniqueConstraint("user_id", "device_id", name="uq_crypto_account_device"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    user_id: Mapped[str] = mapped_column(String(255))
    device_id: Mapped[str] = mapped_column(String(255))
    pickle: Mapped[str] = mapped_column(Text)
    shared: Mapped[bool] = mapped_column(Boolean)
    sync_token: Mapped[str | None] = mapped_column(Text)
    # Bumped by each instance that takes the device over; a write by an instance whose
    # epoch is older fails (a fencing token: no stale ratchet overwrites a newer one).
    epoch: Mapped[int] = mapped_column(Integer)


class CryptoOlmSession(Base):
    """An Olm session with another device, by that device's Curve25519 key."""

    __tablename__ = "crypto_olm_session"

    account_id: Mapped[int] = mapped_column(
        ForeignKey("crypto_account.id", ondelete="CASCADE"), primary_key=True
    )
    session_id: Mapped[str] = mapped_column(String(255), primary_key=True)
    sender_key: Mapped[str] = mapped_column(String(255))
    pickle: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime]
    used_at: Mapped[datetime]


class CryptoMegolmSession(Base):
    """An inbound Megolm session (a room key), keyed as nio keys it in memory."""

    __tablename__ = "crypto_megolm_session"

    account_id: Mapped[int] = mapped_column(
        ForeignKey("crypto_account.id", ondelete="CASCADE"), primary_key=True
    )
    room_id: Mapped[str] = mapped_column(String(255), primary_key=True)
    sender_key: Mapped[str] = mapped_column(String(255), primary_key=True)
    session_id: Mapped[str] = mapped_column(String(255), primary_key=True)
    signing_key: Mapped[str] = mapped_column(String(255))
    pickle: Mapped[str] = mapped_column(Text)
    forwarding_chain: Mapped[list[str]]


class CryptoDevice(Base):
    """A device the account knows, its public keys and the trust mark nio keeps for it."""

    __tablename__ = "crypto_device"

    account_id: Mapped[int] = mapped_column(
        ForeignKey("crypto_account.id", ondelete="CASCADE"), primary_key=True
    )
    user_id: Mapped[str] = mapped_column(String(255), primary_key=True)
    device_id: Mapped[str] = mapped_column(String(255), primary_key=True)
    display_name: Mapped[str] = mapped_column(Text)
    deleted: Mapped[bool] = mapped_column(Boolean)
    keys: Mapped[dict[str, Any]]
    # nio's TrustState: 0 unset, 1 verified, 2 blacklisted, 3 ignored
    trust_state: Mapped[int] = mapped_column(Integer)


class CryptoEncryptedRoom(Base):
    """A room nio knows to be encrypted."""

    __tablename__ = "crypto_encrypted_room"

    account_id: Mapped[int] = mapped_column(
        ForeignKey("crypto_account.id", ondelete="CASCADE"), primary_key=True
    )
    room_id: Mapped[str] = mapped_column(String(255), primary_key=True)


class CryptoKeyRequest(Base):
    """A room key request this device sent and has not seen answered yet."""

    __tablename__ = "crypto_key_request"

    account_id: Mapped[int] = mapped_column(
        ForeignKey("crypto_account.id", ondelete="CASCADE"), primary_key=True
    )
    request_id: Mapped[str] = mapped_column(String(255), primary_key=True)
    session_id: Mapped[str] = mapped_column(String(255))
    room_id: Mapped[str] = mapped_column(String(255))
    algorithm: Mapped[str] = mapped_column(String(255))
