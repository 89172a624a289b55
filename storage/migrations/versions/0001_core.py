"""Bot core: sync checkpoint, known rooms, inbox, outbox, pending decryptions.

Revision ID: 0001_core
Revises:
Create Date: 2026-11-21
"""

import sqlalchemy as sa
from alembic import op

revision = "0001_core"
down_revision = None
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "sync_checkpoint",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("next_batch", sa.String(255), nullable=False),
        sa.Column("updated_at", TS, nullable=False),
    )
    op.create_table(
        "known_room",
        sa.Column("room_id", sa.String(255), primary_key=True),
        sa.Column("first_seen_at", TS, nullable=False),
    )
    op.create_table(
        "inbox_event",
        sa.Column("event_id", sa.String(255), primary_key=True),
        sa.Column("room_id", sa.String(255), nullable=False),
        sa.Column("sender", sa.String(255), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("command", sa.String(64)),
        sa.Column("outcome", sa.String(32), nullable=False),
        sa.Column("error_ref", sa.String(32)),
        sa.Column("origin_ts", TS, nullable=False),
        sa.Column("received_at", TS, nullable=False),
    )
    op.create_table(
        "outbox_message",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("txn_id", sa.String(255), nullable=False, unique=True),
        sa.Column("room_id", sa.String(255), nullable=False),
        sa.Column("event_type", sa.String(64), nullable=False),
        sa.Column("content", sa.JSON, nullable=False),
        sa.Column("requires_encryption", sa.Boolean, nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("sent_at", TS),
        sa.Column("remote_event_id", sa.String(255)),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("last_error", sa.Text),
        sa.Column("not_before", TS),
    )
    op.create_index("ix_outbox_pending", "outbox_message", ["sent_at", "id"])
    op.create_table(
        "pending_decryption",
        sa.Column("event_id", sa.String(255), primary_key=True),
        sa.Column("room_id", sa.String(255), nullable=False),
        sa.Column("sender", sa.String(255), nullable=False),
        sa.Column("session_id", sa.String(255), nullable=False),
        sa.Column("source", sa.JSON, nullable=False),
        sa.Column("first_seen_at", TS, nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("resolved_at", TS),
    )


def downgrade() -> None:
    for table in (
        "pending_decryption",
        "outbox_message",
        "inbox_event",
        "known_room",
        "sync_checkpoint",
    ):
        op.drop_table(table)
