"""instance_state: the Matrix login and the cross-signing keys in the database (issue 16).

With PostgreSQL several ``fkbot run`` processes share one database and only one is
active; whichever takes over needs the login (device id, access token) and the
cross-signing keys without files from another host. Secrets are sealed with the
pickle key. SQLite keeps these as files in the store directory; the table stays empty.

Revision ID: 0014_instance_state
Revises: 0013_crypto_store
Create Date: 2026-12-04
"""

import sqlalchemy as sa
from alembic import op

revision = "0014_instance_state"
down_revision = "0013_crypto_store"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "instance_state",
        sa.Column("name", sa.String(64), primary_key=True),
        sa.Column("data", sa.JSON(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("instance_state")
