"""Quarantine: events the Matrix edge set aside because their shape did not fit.

Ids, room, type, sender and the reason only; never the content.

Revision ID: 0009_quarantine
Revises: 0008_room_boundary
Create Date: 2026-12-03
"""

import sqlalchemy as sa
from alembic import op

revision = "0009_quarantine"
down_revision = "0008_room_boundary"
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "quarantined_event",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("event_id", sa.String(255), unique=True),
        sa.Column("room_id", sa.String(255)),
        sa.Column("event_type", sa.String(255), nullable=False),
        sa.Column("sender", sa.String(255)),
        sa.Column("reason", sa.String(300), nullable=False),
        sa.Column("quarantined_at", TS, nullable=False),
    )
    op.create_index("ix_quarantined_event_at", "quarantined_event", ["quarantined_at"])


def downgrade() -> None:
    op.drop_index("ix_quarantined_event_at", table_name="quarantined_event")
    op.drop_table("quarantined_event")
