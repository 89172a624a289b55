"""Table definitions. Only ids, pseudonyms and what a command explicitly records."""

from __future__ import annotations

from datetime import datetime
from typing import Any, ClassVar

from sqlalchemy import JSON, Boolean, Index, Integer, String, Text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from storage.types import UTCDateTime


class Base(DeclarativeBase):
    type_annotation_map: ClassVar[dict[Any, Any]] = {
        datetime: UTCDateTime(),
        dict[str, Any]: JSON(),
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
    state: Mapped[str] = mapped_column(String(16), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    not_before: Mapped[datetime | None]


class PendingDecryption(Base):
    """An event the bot could not decrypt yet: retried as keys arrive, answered once on timeout."""

    __tablename__ = "pending_decryption"

    event_id: Mapped[str] = mapped_column(String(255), primary_key=True)
    room_id: Mapped[str] = mapped_column(String(255))
    sender: Mapped[str] = mapped_column(String(255))
    session_id: Mapped[str] = mapped_column(String(255))
    source: Mapped[dict[str, Any]]
    first_seen_at: Mapped[datetime]
    state: Mapped[str] = mapped_column(String(16), default="waiting")
    resolved_at: Mapped[datetime | None]
