"""Agendas (posted, confirmed, edited) and availability polls.

Revision ID: 0005_agendas_polls
Revises: 0004_sessions
Create Date: 2026-11-22
"""

import sqlalchemy as sa
from alembic import op

revision = "0005_agendas_polls"
down_revision = "0004_sessions"
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "agenda",
        sa.Column("session_id", sa.Integer, sa.ForeignKey("session.id"), primary_key=True),
        sa.Column("room_id", sa.String(255), nullable=False),
        sa.Column("revision", sa.Integer, nullable=False),
        sa.Column("confirmed_revision", sa.Integer),
        sa.Column("confirmed_by", sa.String(255)),
        sa.Column("confirmed_at", TS),
        sa.Column("post_txn_id", sa.String(255), unique=True),
        sa.Column("posted_at", TS),
        sa.Column("published_hash", sa.String(64)),
        sa.Column("edits", sa.Integer, nullable=False),
        sa.Column("dirty", sa.Boolean, nullable=False),
        sa.Column("reconfirm_notice", sa.Boolean, nullable=False),
        sa.Column("refused_reactors", sa.JSON, nullable=False),
    )
    op.create_table(
        "poll",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("room_id", sa.String(255), nullable=False),
        sa.Column("request_id", sa.Integer, sa.ForeignKey("conference_request.id"), nullable=False),
        sa.Column("txn_id", sa.String(255), nullable=False, unique=True),
        sa.Column("slots", sa.JSON, nullable=False),
        sa.Column("duration_minutes", sa.Integer, nullable=False),
        sa.Column("max_selections", sa.Integer, nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("created_by", sa.String(255), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("closed_by", sa.String(255)),
        sa.Column("closed_at", TS),
        sa.Column("chosen", sa.String(8)),
        sa.Column("session_id", sa.Integer, sa.ForeignKey("session.id")),
    )
    op.create_index("ix_poll_request_id", "poll", ["request_id"])
    op.create_table(
        "poll_ballot",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("poll_id", sa.Integer, sa.ForeignKey("poll.id"), nullable=False),
        sa.Column("voter", sa.String(255), nullable=False),
        sa.Column("event_id", sa.String(255), nullable=False, unique=True),
        sa.Column("selections", sa.JSON, nullable=False),
        sa.Column("voted_at", TS, nullable=False),
    )
    op.create_index("ix_poll_ballot_poll_id", "poll_ballot", ["poll_id"])


def downgrade() -> None:
    for table in ("poll_ballot", "poll", "agenda"):
        op.drop_table(table)
