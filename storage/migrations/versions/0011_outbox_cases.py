"""outbox_case: which case pseudonyms each outbox message carries.

Retention used to decode every message of the outbox (text, iCalendar and PDF
attachments) for every case it deleted; now the pseudonyms are recorded once, when a
message is written, and retention reads them by index. Existing messages are read here
once, in batches, with the same reader the bot uses (``storage.outbox_text``).

Revision ID: 0011_outbox_cases
Revises: 0010_scale_indexes
Create Date: 2026-12-04
"""

import sqlalchemy as sa
from alembic import op

from storage.outbox_text import pseudonyms_in

revision = "0011_outbox_cases"
down_revision = "0010_scale_indexes"
branch_labels = None
depends_on = None

BATCH = 500


def upgrade() -> None:
    outbox_case = op.create_table(
        "outbox_case",
        sa.Column(
            "outbox_id",
            sa.Integer,
            sa.ForeignKey("outbox_message.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("pseudonym", sa.String(16), primary_key=True),
    )
    op.create_index("ix_outbox_case_pseudonym", "outbox_case", ["pseudonym"])
    bind = op.get_bind()
    outbox = sa.table("outbox_message", sa.column("id", sa.Integer), sa.column("content", sa.JSON))
    last = 0
    while True:
        rows = bind.execute(
            sa.select(outbox.c.id, outbox.c.content)
            .where(outbox.c.id > last)
            .order_by(outbox.c.id)
            .limit(BATCH)
        ).all()
        if not rows:
            break
        found = [
            {"outbox_id": row.id, "pseudonym": p}
            for row in rows
            for p in sorted(pseudonyms_in(row.content or {}))
        ]
        if found:
            bind.execute(sa.insert(outbox_case), found)
        last = rows[-1].id


def downgrade() -> None:
    op.drop_index("ix_outbox_case_pseudonym", table_name="outbox_case")
    op.drop_table("outbox_case")
