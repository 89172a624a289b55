"""known_room.language: the language a room speaks (issue 15).

NULL is the bot's configured default (``[bot] language``, German unless set), so
every existing room keeps speaking it; ``sprache <de|en>`` sets a room's own.

Revision ID: 0012_room_language
Revises: 0011_outbox_cases
Create Date: 2026-12-04
"""

import sqlalchemy as sa
from alembic import op

revision = "0012_room_language"
down_revision = "0011_outbox_cases"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("known_room", sa.Column("language", sa.String(16), nullable=True))


def downgrade() -> None:
    op.drop_column("known_room", "language")  # plain DROP COLUMN, as in 0008
