"""Conference outcomes: sittings, attendance, decisions, Lotse, tasks, reviews, carry-overs.

Revision ID: 0006_outcomes
Revises: 0005_agendas_polls
Create Date: 2026-11-22
"""

import sqlalchemy as sa
from alembic import op

revision = "0006_outcomes"
down_revision = "0005_agendas_polls"
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)


def _case() -> sa.Column:  # type: ignore[type-arg]
    return sa.Column(
        "case_pseudonym", sa.String(16), sa.ForeignKey("case_file.pseudonym"), nullable=False
    )


def _session() -> sa.Column:  # type: ignore[type-arg]
    return sa.Column("session_id", sa.Integer, sa.ForeignKey("session.id"), nullable=False)


def upgrade() -> None:
    op.create_table(
        "sitting",
        sa.Column("session_id", sa.Integer, sa.ForeignKey("session.id"), primary_key=True),
        sa.Column("room_id", sa.String(255), nullable=False),
        sa.Column("opened_at", TS, nullable=False),
        sa.Column("opened_by", sa.String(255), nullable=False),
        sa.Column("opening_txn_id", sa.String(255), nullable=False, unique=True),
        sa.Column("quorum", sa.Integer, nullable=False),
        sa.Column("closed_at", TS),
        sa.Column("closed_by", sa.String(255)),
        sa.Column("minutes_txn_id", sa.String(255), unique=True),
        sa.Column("minutes_hash", sa.String(64)),
        sa.Column("minutes_dirty", sa.Boolean, nullable=False),
        sa.Column("minutes_edits", sa.Integer, nullable=False),
        sa.Column("confirmed_by", sa.String(255)),
        sa.Column("confirmed_at", TS),
    )
    op.create_table(
        "attendance",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        _session(),
        sa.Column("institution", sa.String(64), nullable=False),
        sa.Column("user_id", sa.String(255), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("at", TS, nullable=False),
        sa.UniqueConstraint("session_id", "institution", "user_id"),
    )
    op.create_index("ix_attendance_session_id", "attendance", ["session_id"])
    op.create_table(
        "decision",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        _session(),
        _case(),
        sa.Column("text", sa.Text, nullable=False),
        sa.Column("recorded_by", sa.String(255), nullable=False),
        sa.Column("at", TS, nullable=False),
    )
    op.create_table(
        "navigator",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        _session(),
        _case(),
        sa.Column("user_id", sa.String(255), nullable=False),
        sa.Column("institution", sa.String(64), nullable=False),
        sa.Column("assigned_by", sa.String(255), nullable=False),
        sa.Column("at", TS, nullable=False),
        sa.Column("active", sa.Boolean, nullable=False),
    )
    op.create_table(
        "task",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        _session(),
        _case(),
        sa.Column("owner", sa.String(255), nullable=False),
        sa.Column("owner_institution", sa.String(64), nullable=False),
        sa.Column("text", sa.Text, nullable=False),
        sa.Column("due", sa.Date),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("created_by", sa.String(255), nullable=False),
        sa.Column("at", TS, nullable=False),
    )
    op.create_table(
        "review",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        _session(),
        sa.Column("room_id", sa.String(255), nullable=False),
        _case(),
        sa.Column("due", sa.Date, nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("created_by", sa.String(255), nullable=False),
        sa.Column("at", TS, nullable=False),
        sa.Column("closed_at", TS),
    )
    for table in ("decision", "navigator", "task", "review"):
        op.create_index(f"ix_{table}_session_id", table, ["session_id"])
        op.create_index(f"ix_{table}_case_pseudonym", table, ["case_pseudonym"])
    op.create_table(
        "case_reminder",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("review_id", sa.Integer, sa.ForeignKey("review.id"), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("offset_minutes", sa.Integer, nullable=False),
        sa.Column("due_at", TS, nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("sent_at", TS),
        sa.UniqueConstraint("review_id", "kind", "offset_minutes"),
    )
    op.create_index("ix_case_reminder_due", "case_reminder", ["state", "due_at"])
    op.create_table(
        "carryover",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("request_id", sa.Integer, sa.ForeignKey("conference_request.id"), nullable=False),
        _case(),
        sa.Column("from_session", sa.Integer, sa.ForeignKey("session.id"), nullable=False),
        sa.Column("to_session", sa.Integer, sa.ForeignKey("session.id")),
        sa.Column("reason", sa.String(200), nullable=False),
        sa.Column("by", sa.String(255), nullable=False),
        sa.Column("at", TS, nullable=False),
    )
    op.create_index("ix_carryover_request_id", "carryover", ["request_id"])
    op.create_index("ix_carryover_case_pseudonym", "carryover", ["case_pseudonym"])
    op.create_index("ix_carryover_from_session", "carryover", ["from_session"])


def downgrade() -> None:
    for table in (
        "carryover",
        "case_reminder",
        "review",
        "task",
        "navigator",
        "decision",
        "attendance",
        "sitting",
    ):
        op.drop_table(table)
