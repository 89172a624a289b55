"""A room is the boundary of a case: cases, requests and audit entries record their room.

Cases get the room of the command that created them:

1. the bot's own reply "Neuer Fall: <pseudonym>" in the outbox names the room exactly;
2. otherwise the inbox's ``fall neu`` command from the case's creator, received within
   a few seconds of the ``fall_angelegt`` audit entry, if all such commands came from
   one room.

A case with no such evidence, or with evidence for more than one room, is not guessed:
its ``room_id`` stays NULL, which keeps it apart (no room sees it) until an admin runs
``fkbot rooms assign``. Requests take their case's room. Placements of a request on a
session of another room (the defect this revision closes) are removed for sessions not
yet held, and the posted agenda is marked for an edit; placements in sessions already
held stay in their minutes and are reported. Audit entries are not touched (their
hashes stay valid); new entries record their room.

Every finding goes to ``fkbot db upgrade``'s report (``config.attributes["report"]``).

Revision ID: 0008_room_boundary
Revises: 0007_audit_redaction
Create Date: 2026-12-04
"""

from __future__ import annotations

import json
import re
from collections import defaultdict
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from alembic import context, op

revision = "0008_room_boundary"
down_revision = "0007_audit_redaction"
branch_labels = None
depends_on = None

MATCH_WINDOW = timedelta(seconds=10)
CREATED = re.compile(r"Neuer Fall: [*_`]*([A-Z]{2}-[0-9A-Z]+(?:-[0-9A-Z]+)*)")

case_t = sa.table("case_file", sa.column("pseudonym", sa.String), sa.column("room_id", sa.String))
request_t = sa.table(
    "conference_request",
    sa.column("id", sa.Integer),
    sa.column("case_pseudonym", sa.String),
    sa.column("room_id", sa.String),
)
audit_t = sa.table(
    "audit_entry",
    sa.column("actor", sa.String),
    sa.column("action", sa.String),
    sa.column("pseudonym", sa.String),
    sa.column("at", sa.DateTime(timezone=True)),
)
inbox_t = sa.table(
    "inbox_event",
    sa.column("room_id", sa.String),
    sa.column("sender", sa.String),
    sa.column("command", sa.String),
    sa.column("outcome", sa.String),
    sa.column("received_at", sa.DateTime(timezone=True)),
)
outbox_t = sa.table(
    "outbox_message",
    sa.column("id", sa.Integer),
    sa.column("room_id", sa.String),
    sa.column("event_type", sa.String),
    sa.column("content", sa.JSON),
)
placement_t = sa.table(
    "placement",
    sa.column("id", sa.Integer),
    sa.column("session_id", sa.Integer),
    sa.column("request_id", sa.Integer),
)
session_t = sa.table("session", sa.column("id", sa.Integer), sa.column("room_id", sa.String))
sitting_t = sa.table("sitting", sa.column("session_id", sa.Integer))
agenda_t = sa.table(
    "agenda",
    sa.column("session_id", sa.Integer),
    sa.column("revision", sa.Integer),
    sa.column("post_txn_id", sa.String),
    sa.column("dirty", sa.Boolean),
)


def _report(line: str) -> None:
    report = context.config.attributes.get("report")
    if isinstance(report, list):
        report.append(line)


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _outbox_rooms(conn: sa.Connection) -> dict[str, set[str]]:
    found: dict[str, set[str]] = defaultdict(set)
    rows = conn.execute(
        sa.select(outbox_t.c.room_id, outbox_t.c.content).where(
            outbox_t.c.event_type == "m.room.message"
        )
    )
    for room_id, content in rows:
        if isinstance(content, str):
            content = json.loads(content)
        body = content.get("body") if isinstance(content, dict) else None
        if isinstance(body, str):
            for match in CREATED.finditer(body):
                found[match.group(1)].add(room_id)
    return found


def _inbox_rooms(conn: sa.Connection) -> dict[str, set[str]]:
    created = conn.execute(
        sa.select(audit_t.c.pseudonym, audit_t.c.actor, audit_t.c.at).where(
            audit_t.c.action == "fall_angelegt"
        )
    ).all()
    commands: dict[str, list[tuple[datetime, str]]] = defaultdict(list)
    for room_id, sender, received_at in conn.execute(
        sa.select(inbox_t.c.room_id, inbox_t.c.sender, inbox_t.c.received_at).where(
            inbox_t.c.command == "fall neu", inbox_t.c.outcome == "ok"
        )
    ):
        commands[sender].append((_aware(received_at), room_id))
    found: dict[str, set[str]] = defaultdict(set)
    for pseudonym, actor, at in created:
        at = _aware(at)
        for received_at, room_id in commands.get(actor, []):
            if abs(received_at - at) <= MATCH_WINDOW:
                found[pseudonym].add(room_id)
    return found


def _assign_cases(conn: sa.Connection) -> None:
    pseudonyms = list(conn.scalars(sa.select(case_t.c.pseudonym).order_by(case_t.c.pseudonym)))
    if not pseudonyms:
        return
    by_outbox, by_inbox = _outbox_rooms(conn), _inbox_rooms(conn)
    unassigned: list[str] = []
    by_room: dict[str, list[str]] = defaultdict(list)
    for pseudonym in pseudonyms:
        rooms = by_outbox.get(pseudonym) or by_inbox.get(pseudonym) or set()
        if len(rooms) == 1:
            by_room[next(iter(rooms))].append(pseudonym)
        else:
            unassigned.append(pseudonym)
    for room_id, members in by_room.items():
        for start in range(0, len(members), 500):
            conn.execute(
                case_t.update()
                .where(case_t.c.pseudonym.in_(members[start : start + 500]))
                .values(room_id=room_id)
            )
    assigned = len(pseudonyms) - len(unassigned)
    _report(f"{assigned} Fälle ihrem Raum zugeordnet ({len(by_room)} Räume).")
    if unassigned:
        _report(
            f"{len(unassigned)} Fälle ohne eindeutigen Raum, getrennt gehalten (in keinem Raum "
            "sichtbar), zuordnen mit `fkbot rooms assign <pseudonym> <raum>`: "
            + ", ".join(unassigned)
        )


def _split_placements(conn: sa.Connection) -> None:
    rows = conn.execute(
        sa.select(
            placement_t.c.id,
            placement_t.c.session_id,
            request_t.c.id,
            sitting_t.c.session_id,
        )
        .join(request_t, request_t.c.id == placement_t.c.request_id)
        .join(session_t, session_t.c.id == placement_t.c.session_id)
        .outerjoin(sitting_t, sitting_t.c.session_id == placement_t.c.session_id)
        .where(sa.or_(request_t.c.room_id.is_(None), request_t.c.room_id != session_t.c.room_id))
    ).all()
    removed = [(pid, sid, rid) for pid, sid, rid, held in rows if held is None]
    kept = [(sid, rid) for _pid, sid, rid, held in rows if held is not None]
    if removed:
        conn.execute(placement_t.delete().where(placement_t.c.id.in_([r[0] for r in removed])))
        sessions = sorted({sid for _pid, sid, _rid in removed})
        conn.execute(
            agenda_t.update()
            .where(agenda_t.c.session_id.in_(sessions))
            .values(
                revision=agenda_t.c.revision + 1,
                dirty=agenda_t.c.post_txn_id.is_not(None),
            )
        )
        _report(
            f"{len(removed)} Anfragen von Tagesordnungen eines fremden Raums genommen "
            "(Anfrage→Termin): "
            + ", ".join(f"#{rid}→#{sid}" for _pid, sid, rid in removed)
            + ". Gepostete Tagesordnungen werden beim nächsten Lauf korrigiert."
        )
    if kept:
        _report(
            f"{len(kept)} Anfragen standen auf Tagesordnungen bereits gehaltener Termine eines "
            "fremden Raums (im Protokoll belassen): "
            + ", ".join(f"#{rid}→#{sid}" for sid, rid in kept)
        )


def upgrade() -> None:
    with op.batch_alter_table("known_room") as batch:
        batch.add_column(sa.Column("left_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("direct", sa.Boolean, nullable=False, server_default=sa.false()))
    for table in ("case_file", "conference_request", "audit_entry"):
        with op.batch_alter_table(table) as batch:
            batch.add_column(sa.Column("room_id", sa.String(255), nullable=True))
            batch.create_index(f"ix_{table}_room_id", ["room_id"])
    conn = op.get_bind()
    _assign_cases(conn)
    conn.execute(
        request_t.update().values(
            room_id=sa.select(case_t.c.room_id)
            .where(case_t.c.pseudonym == request_t.c.case_pseudonym)
            .scalar_subquery()
        )
    )
    _split_placements(conn)


def downgrade() -> None:
    # Plain ALTER TABLE … DROP COLUMN (SQLite ≥ 3.35): a batch copy of case_file or
    # conference_request would trip the foreign keys that point at them.
    for table in ("audit_entry", "conference_request", "case_file"):
        op.drop_index(f"ix_{table}_room_id", table_name=table)
        op.drop_column(table, "room_id")
    op.drop_column("known_room", "direct")
    op.drop_column("known_room", "left_at")
