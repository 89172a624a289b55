"""nio's crypto store in the project's database (issue 16: failover on PostgreSQL).

The Olm account, Olm and Megolm sessions, known devices with their trust marks,
encrypted rooms and outgoing key requests of each Matrix device (user id, device id),
written by bot.matrix.pgstore; ``crypto_account.epoch`` fences out an instance that
another has taken the device over from. Pickles stay encrypted with the pickle key, as in nio's
SQLite store. Created on SQLite too (unused there: nio keeps its own crypto.db) so
that both backends have the same schema.

Revision ID: 0013_crypto_store
Revises: 0012_room_language
Create Date: 2026-12-04
"""

import sqlalchemy as sa
from alembic import op

revision = "0013_crypto_store"
down_revision = "0012_room_language"
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)


def _account_fk() -> sa.Column[int]:
    return sa.Column(
        "account_id",
        sa.Integer,
        sa.ForeignKey("crypto_account.id", ondelete="CASCADE"),
        primary_key=True,
    )


def upgrade() -> None:
    op.create_table(
        "crypto_account",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("user_id", sa.String(255), nullable=False),
        sa.Column("device_id", sa.String(255), nullable=False),
        sa.Column("pickle", sa.Text, nullable=False),
        sa.Column("shared", sa.Boolean, nullable=False),
        sa.Column("sync_token", sa.Text),
        sa.Column("epoch", sa.Integer, nullable=False),
        sa.UniqueConstraint("user_id", "device_id", name="uq_crypto_account_device"),
    )
    op.create_table(
        "crypto_olm_session",
        _account_fk(),
        sa.Column("session_id", sa.String(255), primary_key=True),
        sa.Column("sender_key", sa.String(255), nullable=False),
        sa.Column("pickle", sa.Text, nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("used_at", TS, nullable=False),
    )
    op.create_table(
        "crypto_megolm_session",
        _account_fk(),
        sa.Column("room_id", sa.String(255), primary_key=True),
        sa.Column("sender_key", sa.String(255), primary_key=True),
        sa.Column("session_id", sa.String(255), primary_key=True),
        sa.Column("signing_key", sa.String(255), nullable=False),
        sa.Column("pickle", sa.Text, nullable=False),
        sa.Column("forwarding_chain", sa.JSON, nullable=False),
    )
    op.create_table(
        "crypto_device",
        _account_fk(),
        sa.Column("user_id", sa.String(255), primary_key=True),
        sa.Column("device_id", sa.String(255), primary_key=True),
        sa.Column("display_name", sa.Text, nullable=False),
        sa.Column("deleted", sa.Boolean, nullable=False),
        sa.Column("keys", sa.JSON, nullable=False),
        sa.Column("trust_state", sa.Integer, nullable=False),
    )
    op.create_table(
        "crypto_encrypted_room",
        _account_fk(),
        sa.Column("room_id", sa.String(255), primary_key=True),
    )
    op.create_table(
        "crypto_key_request",
        _account_fk(),
        sa.Column("request_id", sa.String(255), primary_key=True),
        sa.Column("session_id", sa.String(255), nullable=False),
        sa.Column("room_id", sa.String(255), nullable=False),
        sa.Column("algorithm", sa.String(255), nullable=False),
    )


def downgrade() -> None:
    for table in (
        "crypto_key_request",
        "crypto_encrypted_room",
        "crypto_device",
        "crypto_megolm_session",
        "crypto_olm_session",
        "crypto_account",
    ):
        op.drop_table(table)
