"""Pinned master keys of room members (trust on first use).

Revision ID: 0003_identity_pins
Revises: 0002_cases
Create Date: 2026-11-21
"""

import sqlalchemy as sa
from alembic import op

revision = "0003_identity_pins"
down_revision = "0002_cases"
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "identity_pin",
        sa.Column("user_id", sa.String(255), primary_key=True),
        sa.Column("master_key", sa.String(64), nullable=False),
        sa.Column("pinned_at", TS, nullable=False),
        sa.Column("seen_key", sa.String(64)),
        sa.Column("seen_at", TS),
    )


def downgrade() -> None:
    op.drop_table("identity_pin")
