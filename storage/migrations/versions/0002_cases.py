"""Cases, consent, revocations, conference requests, Schutzauftrag, audit chain, roles.

Revision ID: 0002_cases
Revises: 0001_core
Create Date: 2026-11-21
"""

import sqlalchemy as sa
from alembic import op

revision = "0002_cases"
down_revision = "0001_core"
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)


def _case_fk() -> sa.Column:  # type: ignore[type-arg]
    return sa.Column(
        "case_pseudonym", sa.String(16), sa.ForeignKey("case_file.pseudonym"), nullable=False
    )


def upgrade() -> None:
    op.create_table(
        "case_file",
        sa.Column("pseudonym", sa.String(16), primary_key=True),
        sa.Column("owner_institution", sa.String(64), nullable=False),
        sa.Column("created_by", sa.String(255), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("closed_at", TS),
    )
    op.create_table(
        "consent",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        _case_fk(),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("grantor", sa.String(32), nullable=False),
        sa.Column("purpose", sa.String(32), nullable=False),
        sa.Column("recipients", sa.JSON, nullable=False),
        sa.Column("form", sa.String(16), nullable=False),
        sa.Column("given_on", sa.Date, nullable=False),
        sa.Column("expires_on", sa.Date),
        sa.Column("document_ref", sa.String(64), nullable=False),
        sa.Column("recorded_by", sa.String(255), nullable=False),
        sa.Column("recorded_institution", sa.String(64), nullable=False),
        sa.Column("recorded_at", TS, nullable=False),
        sa.UniqueConstraint("case_pseudonym", "version"),
    )
    op.create_index("ix_consent_case_pseudonym", "consent", ["case_pseudonym"])
    op.create_table(
        "revocation",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        _case_fk(),
        sa.Column("institutions", sa.JSON),
        sa.Column("effective_on", sa.Date, nullable=False),
        sa.Column("recorded_by", sa.String(255), nullable=False),
        sa.Column("recorded_institution", sa.String(64), nullable=False),
        sa.Column("recorded_at", TS, nullable=False),
    )
    op.create_index("ix_revocation_case_pseudonym", "revocation", ["case_pseudonym"])
    op.create_table(
        "conference_request",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        _case_fk(),
        sa.Column("requested_by", sa.String(255), nullable=False),
        sa.Column("requesting_institution", sa.String(64), nullable=False),
        sa.Column("topic", sa.String(64), nullable=False),
        sa.Column("urgency", sa.String(16), nullable=False),
        sa.Column("participants", sa.JSON, nullable=False),
        sa.Column("latest_date", sa.Date),
        sa.Column("entrusted", sa.Boolean, nullable=False),
        sa.Column("state", sa.String(24), nullable=False),
        sa.Column("basis", sa.String(32)),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("updated_at", TS, nullable=False),
    )
    op.create_index(
        "ix_conference_request_case_pseudonym", "conference_request", ["case_pseudonym"]
    )
    op.create_index("ix_conference_request_state", "conference_request", ["state"])
    op.create_table(
        "schutzauftrag",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        _case_fk(),
        sa.Column("reason_code", sa.String(64), nullable=False),
        sa.Column("legal_basis", sa.String(64), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("opened_by", sa.String(255), nullable=False),
        sa.Column("opened_institution", sa.String(64), nullable=False),
        sa.Column("opened_at", TS, nullable=False),
        sa.Column("confirmed_by", sa.String(255)),
        sa.Column("confirmed_at", TS),
    )
    op.create_index("ix_schutzauftrag_case_pseudonym", "schutzauftrag", ["case_pseudonym"])
    op.create_table(
        "audit_entry",
        sa.Column("seq", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("at", TS, nullable=False),
        sa.Column("actor", sa.String(255), nullable=False),
        sa.Column("institution", sa.String(64)),
        sa.Column("action", sa.String(48), nullable=False),
        sa.Column("pseudonym", sa.String(16)),
        sa.Column("detail", sa.JSON, nullable=False),
        sa.Column("prev_hash", sa.String(64), nullable=False),
        sa.Column("hash", sa.String(64), nullable=False),
    )
    op.create_index("ix_audit_entry_pseudonym", "audit_entry", ["pseudonym"])
    op.create_table(
        "audit_head",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("seq", sa.Integer, nullable=False),
        sa.Column("hash", sa.String(64), nullable=False),
    )
    op.create_table(
        "role_snapshot",
        sa.Column("subject", sa.String(255), primary_key=True),
        sa.Column("institution", sa.String(64), nullable=False),
        sa.Column("roles", sa.String(128), nullable=False),
    )


def downgrade() -> None:
    for table in (
        "role_snapshot",
        "audit_head",
        "audit_entry",
        "schutzauftrag",
        "conference_request",
        "revocation",
        "consent",
        "case_file",
    ):
        op.drop_table(table)
