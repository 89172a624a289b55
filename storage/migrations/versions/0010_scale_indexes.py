"""Indexes for a whole Land's data: the daily pass, retention and a room's open requests.

- consent.given_on / consent.expires_on and revocation.effective_on: the incremental
  daily pass looks for consent facts that begin, end or take effect between two days;
- case_file (state, closed_at): retention finds closed cases past their period;
- conference_request (room_id, state, id): a room's open requests in order, and their
  count, without reading the others.

Revision ID: 0010_scale_indexes
Revises: 0009_quarantine
Create Date: 2026-12-04
"""

from alembic import op

revision = "0010_scale_indexes"
down_revision = "0009_quarantine"
branch_labels = None
depends_on = None

INDEXES = (
    ("ix_consent_given_on", "consent", ["given_on"]),
    ("ix_consent_expires_on", "consent", ["expires_on"]),
    ("ix_revocation_effective_on", "revocation", ["effective_on"]),
    ("ix_case_file_state_closed_at", "case_file", ["state", "closed_at"]),
    ("ix_conference_request_room_state", "conference_request", ["room_id", "state", "id"]),
)


def upgrade() -> None:
    for name, table, columns in INDEXES:
        op.create_index(name, table, columns)


def downgrade() -> None:
    for name, table, _ in reversed(INDEXES):
        op.drop_index(name, table_name=table)
