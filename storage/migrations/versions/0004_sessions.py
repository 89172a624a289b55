"""Session series, sessions, placements and reminders.

Revision ID: 0004_sessions
Revises: 0003_identity_pins
Create Date: 2026-11-21
"""

import sqlalchemy as sa
from alembic import op

revision = "0004_sessions"
down_revision = "0003_identity_pins"
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "session_series",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("room_id", sa.String(255), nullable=False),
        sa.Column("name", sa.String(80), nullable=False),
        sa.Column("rule", sa.String(200), nullable=False),
        sa.Column("first_day", sa.Date, nullable=False),
        sa.Column("start_time", sa.String(5), nullable=False),
        sa.Column("duration_minutes", sa.Integer, nullable=False),
        sa.Column("capacity", sa.Integer, nullable=False),
        sa.Column("slot_minutes", sa.Integer, nullable=False),
        sa.Column("holiday_rule", sa.String(16), nullable=False),
        sa.Column("active", sa.Boolean, nullable=False),
        sa.Column("created_by", sa.String(255), nullable=False),
        sa.Column("created_at", TS, nullable=False),
    )
    op.create_table(
        "session",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("series_id", sa.Integer, sa.ForeignKey("session_series.id")),
        sa.Column("room_id", sa.String(255), nullable=False),
        sa.Column("original_day", sa.Date),
        sa.Column("name", sa.String(80), nullable=False),
        sa.Column("starts_at", TS, nullable=False),
        sa.Column("ends_at", TS, nullable=False),
        sa.Column("capacity", sa.Integer, nullable=False),
        sa.Column("slot_minutes", sa.Integer, nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("sequence", sa.Integer, nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("updated_at", TS, nullable=False),
        sa.UniqueConstraint("series_id", "original_day"),
    )
    op.create_index("ix_session_starts_at", "session", ["starts_at"])
    op.create_table(
        "placement",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("session_id", sa.Integer, sa.ForeignKey("session.id"), nullable=False),
        sa.Column(
            "request_id",
            sa.Integer,
            sa.ForeignKey("conference_request.id"),
            nullable=False,
            unique=True,
        ),
        sa.Column("position", sa.Integer, nullable=False),
        sa.Column("placed_at", TS, nullable=False),
    )
    op.create_index("ix_placement_session_id", "placement", ["session_id"])
    op.create_table(
        "reminder",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("session_id", sa.Integer, sa.ForeignKey("session.id"), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("offset_minutes", sa.Integer, nullable=False),
        sa.Column("due_at", TS, nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("sent_at", TS),
        sa.UniqueConstraint("session_id", "kind", "offset_minutes"),
    )
    op.create_index("ix_reminder_due", "reminder", ["state", "due_at"])


def downgrade() -> None:
    for table in ("reminder", "placement", "session", "session_series"):
        op.drop_table(table)
