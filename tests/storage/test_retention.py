"""Löschfristen on SQLite and PostgreSQL: which cases are due, and that a purge leaves nothing.

A case is built with a row in every table that can hold case data, next to a second
case that must survive untouched. After the purge every table's every column is
scanned for the pseudonym — including the text inside base64 attachments — so a
table that holds case data but is not covered makes these tests fail.
"""

from __future__ import annotations

import base64
import binascii
import io
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from pypdf import PdfReader
from reportlab.lib.styles import getSampleStyleSheet
from reportlab.platypus import Paragraph, SimpleDocTemplate
from sqlalchemy import event, select

from bot.cli import CLI_ACTOR, main
from bot.testing.seed import seed_cases
from commands.agenda import attachment_content
from commands.casework import consent_facts, revocation_facts
from commands.ical import CalendarEntry, render_ics
from domain.gate import Reason, consent_gate
from storage.audit import DELETION_ACTION, verify
from storage.db import make_engine, upgrade
from storage.models import (
    Attendance,
    Base,
    Carryover,
    CaseFile,
    CaseReminder,
    ConferenceRequest,
    Consent,
    Decision,
    IdentityPin,
    InboxEvent,
    KnownRoom,
    Navigator,
    PendingDecryption,
    Poll,
    PollBallot,
    Reminder,
    Review,
    Revocation,
    RoleSnapshot,
    Schutzauftrag,
    Session,
    Sitting,
    Task,
)
from storage.retention import (
    OUTBOX_DELETED,
    OUTBOX_EMPTIED,
    PurgeCandidate,
    _due,
    case_tables,
    plan_purge,
    purge,
    purge_cases,
)
from storage.uow import Database, UnitOfWork

CASE = "FK-7QX2-M6"
OTHER = "FK-ABCD-E7"
NOW = datetime(2027, 6, 1, 8, 0, 0, 123456, tzinfo=UTC)
ROOM = "!konferenz:fk.test"
ACTOR = "zeitplan"
DAYS = {"closed_days": 182, "revoked_grace_days": 30}
LOCAL = ZoneInfo("Europe/Berlin")

# Tables that never hold a case's data (per session, per room, per person, technical);
# a new table must either reach the case (case_pseudonym column or a foreign key to a
# case row) or be added here on purpose.
NOT_CASE_DATA = {
    "sync_checkpoint",
    "known_room",
    "inbox_event",  # no bodies, only the command name
    "pending_decryption",  # ciphertext only
    "identity_pin",
    "role_snapshot",
    "session_series",
    "session",
    "reminder",
    "agenda",
    "sitting",
    "attendance",
    "audit_head",
    "quarantined_event",  # ids, type, sender and reason; never content
    "instance_state",  # the bot's own login and cross-signing keys (sealed)
    # nio's crypto store (bot.matrix.pgstore): keys and sessions, never a message
    "crypto_account",
    "crypto_olm_session",
    "crypto_megolm_session",
    "crypto_device",
    "crypto_encrypted_room",
    "crypto_key_request",
}
HANDLED_APART = {  # redacted; found by the pseudonyms recorded with each message; with it
    "audit_entry",
    "outbox_message",
    "outbox_case",
}


# -- building cases --------------------------------------------------------------------------


@dataclass
class Shared:
    session_id: int
    later_session_id: int


def _shared(uow: UnitOfWork) -> Shared:
    """A session both cases are discussed in, its agenda, sitting and other per-room rows."""
    s = uow.session
    sessions = []
    for days in (-190, 30):
        row = Session(
            series_id=None,
            room_id=ROOM,
            original_day=None,
            name="Fallkonferenz",
            starts_at=NOW + timedelta(days=days),
            ends_at=NOW + timedelta(days=days, hours=2),
            capacity=6,
            slot_minutes=20,
            state="geplant",
            sequence=0,
            created_at=NOW - timedelta(days=200),
            updated_at=NOW - timedelta(days=200),
        )
        uow.sessions.add(row)
        sessions.append(row)
    first = sessions[0]
    s.add(Reminder(session_id=first.id, kind="termin", offset_minutes=60, due_at=first.starts_at))
    uow.agendas.ensure(first.id, ROOM).post_txn_id = "agenda-1"
    s.add(
        Sitting(
            session_id=first.id,
            room_id=ROOM,
            opened_at=first.starts_at,
            opened_by="@mod:fk.test",
            opening_txn_id="opening-1",
            quorum=2,
            minutes_txn_id="minutes-1",
            minutes_dirty=False,
            minutes_edits=0,
        )
    )
    s.add(
        Attendance(
            session_id=first.id,
            institution="jobcenter",
            user_id="@jc:fk.test",
            kind="anwesend",
            at=first.starts_at,
        )
    )
    s.add(KnownRoom(room_id=ROOM, first_seen_at=NOW - timedelta(days=300)))
    s.add(
        InboxEvent(
            event_id="$cmd-1",
            room_id=ROOM,
            sender="@ja:fk.test",
            kind="command",
            command="fall",
            outcome="ok",
            error_ref=None,
            origin_ts=NOW - timedelta(days=200),
            received_at=NOW - timedelta(days=200),
        )
    )
    s.add(
        PendingDecryption(
            event_id="$enc-1",
            room_id=ROOM,
            sender="@ja:fk.test",
            session_id="megolm-1",
            source={"content": {"ciphertext": "AwgAEo"}},
            first_seen_at=NOW - timedelta(days=1),
        )
    )
    s.add(IdentityPin(user_id="@ja:fk.test", master_key="m" * 43, pinned_at=NOW))
    s.add(RoleSnapshot(subject="@ja:fk.test", institution="jugendamt", roles="fachkraft"))
    # messages naming both cases: the agenda, the minutes (their ids are still needed)
    for txn in ("agenda-1", "minutes-1"):
        _outbox(uow, txn, f"Tagesordnung: 1. {CASE} Wohnen, 2. {OTHER} Ausbildung")
    _outbox(uow, "opening-1", "Sitzung eröffnet – bitte ✋")
    s.flush()
    return Shared(first.id, sessions[1].id)


def _outbox(
    uow: UnitOfWork,
    txn_id: str,
    body: str | None = None,
    *,
    state: str = "sent",
    content: dict[str, Any] | None = None,
) -> None:
    if body is not None:
        content = {"msgtype": "m.text", "body": body, "formatted_body": f"<p>{body}</p>"}
    assert content is not None
    row = uow.outbox.add(
        txn_id=txn_id,
        room_id=ROOM,
        event_type="m.room.message",
        content=content,
        requires_encryption=True,
        now=NOW - timedelta(days=190),
    )
    if state == "sent":
        uow.outbox.mark_sent(row.id, f"$ev-{txn_id}", NOW - timedelta(days=190))
    elif state == "failed":
        uow.outbox.mark_given_up(row.id, "M_FORBIDDEN")
    elif state == "refused":
        uow.outbox.mark_refused(row.id, "room not encrypted")


def _ics_with_a_folded_pseudonym(pseudonym: str) -> bytes:
    """An invitation whose line folding splits the pseudonym, as icalendar folds it."""
    for pad in range(80):
        data = render_ics(
            CalendarEntry(
                uid="termin-1@fk.test",
                sequence=0,
                summary="Fallkonferenz",
                starts_at=NOW,
                ends_at=NOW + timedelta(hours=2),
                description="Tagesordnung (nur Pseudonyme):\n" + "x" * pad + f"1. {pseudonym}",
                cancelled=False,
            ),
            organizer="matrix:roomid/konferenz:fk.test",
            attendees=[("urn:x-fallkonferenz:institution:jobcenter", "Jobcenter")],
            stamp=NOW,
        )
        if pseudonym.encode() not in data:
            return data
    raise AssertionError("no padding folds the pseudonym")  # pragma: no cover


def _pdf_naming(pseudonym: str) -> bytes:
    """Minutes as a PDF the way reportlab writes them: compressed page streams."""
    buffer = io.BytesIO()
    doc = SimpleDocTemplate(buffer, invariant=1)
    style = getSampleStyleSheet()["Normal"]
    doc.build([Paragraph(f"Beschluss zu <b>{pseudonym}</b>: Hilfeplan fortschreiben", style)])
    data = buffer.getvalue()
    assert pseudonym.encode() not in data
    return data


def _case(
    uow: UnitOfWork,
    pseudonym: str,
    shared: Shared,
    *,
    state: str = "erledigt",
    closed_at: datetime | None = None,
) -> None:
    """A case with a row in every table that can hold case data, and its messages."""
    s = uow.session
    tag = pseudonym[-2:]
    created = NOW - timedelta(days=400)
    uow.cases.add(
        CaseFile(
            pseudonym=pseudonym,
            room_id=ROOM,
            owner_institution="jugendamt",
            created_by="@ja:fk.test",
            created_at=created,
            state=state,
            closed_at=closed_at,
        )
    )
    uow.cases.add_consent(_consent(pseudonym, 1, date(2026, 1, 10)))
    uow.cases.add_revocation(_revocation(pseudonym, ["agentur"], NOW - timedelta(days=300)))
    request = ConferenceRequest(
        case_pseudonym=pseudonym,
        requested_by="@jc:fk.test",
        requesting_institution="jobcenter",
        topic="Wohnen",
        urgency="dringend",
        participants=["jugendamt", "jobcenter"],
        latest_date=None,
        state="bereit",
        created_at=created,
        updated_at=created,
    )
    uow.cases.add_request(request)
    uow.cases.add_schutzauftrag(
        Schutzauftrag(
            case_pseudonym=pseudonym,
            reason_code="kw-gefaehrdung",
            legal_basis="§ 8a SGB VIII",
            state="beendet",
            opened_by="@ja:fk.test",
            opened_institution="jugendamt",
            opened_at=created,
        )
    )
    uow.sessions.place(shared.session_id, request.id, created)
    poll = Poll(
        room_id=ROOM,
        request_id=request.id,
        txn_id=f"poll-{tag}",
        slots=[NOW.isoformat()],
        duration_minutes=60,
        max_selections=1,
        state="geschlossen",
        created_by="@mod:fk.test",
        created_at=created,
    )
    uow.polls.add(poll)
    for voter in ("@ja:fk.test", "@jc:fk.test"):
        uow.polls.add_ballot(
            PollBallot(
                poll_id=poll.id,
                voter=voter,
                event_id=f"$vote-{tag}-{voter}",
                selections=["1"],
                voted_at=created,
            )
        )
    at = NOW - timedelta(days=190)
    s.add(
        Decision(
            session_id=shared.session_id,
            case_pseudonym=pseudonym,
            text=f"Hilfeplan für {pseudonym} fortschreiben",
            recorded_by="@mod:fk.test",
            at=at,
        )
    )
    s.add(
        Navigator(
            session_id=shared.session_id,
            case_pseudonym=pseudonym,
            user_id="@jc:fk.test",
            institution="jobcenter",
            assigned_by="@mod:fk.test",
            at=at,
        )
    )
    s.add(
        Task(
            session_id=shared.session_id,
            case_pseudonym=pseudonym,
            owner="@jc:fk.test",
            owner_institution="jobcenter",
            text="Wohnungsangebote prüfen",
            due=date(2026, 12, 1),
            created_by="@mod:fk.test",
            at=at,
        )
    )
    review = Review(
        session_id=shared.session_id,
        room_id=ROOM,
        case_pseudonym=pseudonym,
        due=date(2026, 12, 15),
        created_by="@mod:fk.test",
        at=at,
    )
    s.add(review)
    s.flush()
    for kind in ("wiedervorlage", "überfällig"):
        s.add(
            CaseReminder(
                review_id=review.id, kind=kind, offset_minutes=0, due_at=at, state="gesendet"
            )
        )
    s.add(
        Carryover(
            request_id=request.id,
            case_pseudonym=pseudonym,
            from_session=shared.session_id,
            to_session=shared.later_session_id,
            reason="vertagt",
            by="@mod:fk.test",
            at=at,
        )
    )
    # the bot's messages about the case: a reply, one given up, one refused, the
    # poll's start message, an invitation whose text names it only when unfolded and
    # minutes as a PDF
    _outbox(uow, f"reply-{tag}", f"✅ Fall {pseudonym} angelegt")
    _outbox(uow, f"failed-{tag}", f"Erinnerung: Wiedervorlage {pseudonym}", state="failed")
    _outbox(uow, f"refused-{tag}", f"Tagesordnung mit {pseudonym}", state="refused")
    _outbox(uow, f"poll-{tag}", content={"org.matrix.msc3381.poll.start": {"q": pseudonym}})
    ics = _ics_with_a_folded_pseudonym(pseudonym)
    _outbox(uow, f"ics-{tag}", content=attachment_content("termin.ics", "text/calendar", ics))
    pdf = _pdf_naming(pseudonym)
    _outbox(uow, f"pdf-{tag}", content=attachment_content("protokoll.pdf", "application/pdf", pdf))
    for i, action in enumerate(("fall_angelegt", "einwilligung_erfasst", "anfrage_gestellt")):
        uow.audit.append(
            at=created + timedelta(minutes=i),
            actor="@ja:fk.test",
            institution="jugendamt",
            action=action,
            pseudonym=pseudonym,
            detail={"version": 1, "an": ["jobcenter", "agentur"]} if i else {},
        )
    s.flush()


def _consent(pseudonym: str, version: int, given_on: date, **overrides: Any) -> Consent:
    fields: dict[str, Any] = {
        "case_pseudonym": pseudonym,
        "version": version,
        "grantor": "sorgeberechtigte",
        "purpose": "fallkonferenz",
        "recipients": ["jobcenter", "agentur"],
        "form": "schriftlich",
        "given_on": given_on,
        "expires_on": None,
        "document_ref": "EW-17",
        "recorded_by": "@ja:fk.test",
        "recorded_institution": "jugendamt",
        "recorded_at": datetime.combine(given_on, datetime.min.time(), UTC) + timedelta(hours=9),
    }
    fields.update(overrides)
    return Consent(**fields)


def _revocation(pseudonym: str, institutions: list[str] | None, at: datetime) -> Revocation:
    return Revocation(
        case_pseudonym=pseudonym,
        institutions=institutions,
        effective_on=at.date(),
        recorded_by="@ja:fk.test",
        recorded_institution="jugendamt",
        recorded_at=at,
    )


def _build(db: Database, *, closed_days_ago: int) -> None:
    with db.uow() as uow:
        shared = _shared(uow)
        _case(uow, CASE, shared, closed_at=NOW - timedelta(days=closed_days_ago))
        _case(uow, OTHER, shared, state="offen")
        _outbox(uow, "pending-other", f"Erinnerung {OTHER}", state="pending")
        uow.audit.append(at=NOW, actor=CLI_ACTOR, institution=None, action="audit_exportiert")
        uow.commit()


# -- looking at the whole database -----------------------------------------------------------


def _snapshot(db: Database) -> dict[str, set[str]]:
    """Every row of every table, as sorted JSON."""
    out: dict[str, set[str]] = {}
    with db.engine.connect() as conn:
        for table in Base.metadata.sorted_tables:
            out[table.name] = {
                json.dumps(dict(row._mapping), sort_keys=True, default=str)
                for row in conn.execute(select(table))
            }
    return out


def _strings(value: Any) -> Iterator[str]:
    """Every string in a value, and what base64-encoded strings decode to (unfolded text,
    the text of a PDF as pypdf reads it)."""
    if isinstance(value, dict):
        for key, item in value.items():
            yield str(key)
            yield from _strings(item)
    elif isinstance(value, list | tuple):
        for item in value:
            yield from _strings(item)
    elif isinstance(value, str):
        yield value
        try:
            data = base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError):
            return
        if data.startswith(b"%PDF"):
            yield from (page.extract_text() for page in PdfReader(io.BytesIO(data)).pages)
        decoded = data.decode("utf-8", errors="ignore")
        yield decoded.replace("\r\n ", "").replace("\r\n\t", "")
    elif value is not None:
        yield str(value)


def _mentions(db: Database, pseudonym: str) -> list[str]:
    """table.column of every value naming the pseudonym (audit_entry.pseudonym aside)."""
    found = []
    with db.engine.connect() as conn:
        for table in Base.metadata.sorted_tables:
            for row in conn.execute(select(table)):
                for column, value in row._mapping.items():
                    if table.name == "audit_entry" and column == "pseudonym":
                        continue
                    if any(pseudonym in s for s in _strings(value)):
                        found.append(f"{table.name}.{column}")
    return found


def _verdict_ok(db: Database) -> bool:
    with db.uow() as uow:
        verdict = verify(uow.audit.entries(), uow.audit.head())
    return verdict.ok


def _plan(db: Database, now: datetime = NOW, **days: int) -> list[PurgeCandidate]:
    with db.uow() as uow:
        return plan_purge(uow, now, **(DAYS | days))


EXPECTED_ROWS = {
    "case_file": 1,
    "consent": 1,
    "revocation": 1,
    "conference_request": 1,
    "schutzauftrag": 1,
    "placement": 1,
    "poll": 1,
    "poll_ballot": 2,
    "decision": 1,
    "navigator": 1,
    "task": 1,
    "review": 1,
    "case_reminder": 2,
    "carryover": 1,
    OUTBOX_DELETED: 6,  # reply, given up, refused, poll start, invitation, minutes PDF
    OUTBOX_EMPTIED: 2,  # agenda and minutes: their event ids are still matched
}


# -- the schema ------------------------------------------------------------------------------


def test_every_table_is_purged_or_declared_free_of_case_data() -> None:
    tables = {t.name for t in Base.metadata.sorted_tables}
    purged = set(case_tables())
    assert purged | NOT_CASE_DATA | HANDLED_APART == tables, (
        "a new table must reach the case (case_pseudonym or a foreign key to a case row) "
        "or be declared free of case data here"
    )
    assert not purged & (NOT_CASE_DATA | HANDLED_APART)
    assert {k for k in EXPECTED_ROWS if not k.startswith("outbox")} == purged
    # parents come after their children when deleting, i.e. before them here
    order = case_tables()
    assert order[0] == "case_file"
    assert order.index("conference_request") < order.index("poll") < order.index("poll_ballot")
    assert order.index("review") < order.index("case_reminder")


# -- the closed path -------------------------------------------------------------------------


def test_a_case_closed_181_days_ago_is_not_due(database: Database) -> None:
    _build(database, closed_days_ago=181)
    assert _plan(database) == []


def test_dry_run_plans_the_case_and_changes_nothing(database: Database) -> None:
    _build(database, closed_days_ago=183)
    before = _snapshot(database)
    (candidate,) = _plan(database)
    assert candidate.pseudonym == CASE
    assert candidate.since == NOW - timedelta(days=183)
    assert str(candidate.reason) == "erledigt seit 30.11.2026"
    assert candidate.rows == EXPECTED_ROWS
    assert _snapshot(database) == before


def test_purge_leaves_no_row_of_the_case_and_keeps_the_other(database: Database) -> None:
    _build(database, closed_days_ago=183)
    # the scan finds the case wherever it is named (placements, polls, ballots and
    # case reminders reach it only by foreign key)
    assert set(_mentions(database, CASE)) == {
        "case_file.pseudonym",
        "carryover.case_pseudonym",
        "conference_request.case_pseudonym",
        "consent.case_pseudonym",
        "decision.case_pseudonym",
        "decision.text",
        "navigator.case_pseudonym",
        "outbox_case.pseudonym",
        "outbox_message.content",
        "review.case_pseudonym",
        "revocation.case_pseudonym",
        "schutzauftrag.case_pseudonym",
        "task.case_pseudonym",
    }
    before = _snapshot(database)
    other_before = _mentions(database, OTHER)

    with database.uow() as uow:
        plan = plan_purge(uow, NOW, **DAYS)
        done = purge_cases(uow, plan, NOW, actor=ACTOR)
        uow.commit()
    assert done == {CASE: EXPECTED_ROWS}

    # nothing anywhere names the case any more, not even inside an attachment
    assert _mentions(database, CASE) == []
    after = _snapshot(database)
    for table, rows in after.items():
        if table in ("audit_entry", "audit_head", "outbox_message", "outbox_case"):
            continue
        assert rows <= before[table], f"{table}: a row was changed or added"
        assert len(before[table] - rows) == EXPECTED_ROWS.get(table, 0), table
    # the other case is untouched, wherever it was named (the emptied agenda and
    # minutes messages named both)
    other_after = _mentions(database, OTHER)
    assert sorted(other_before) == sorted(
        other_after + ["outbox_message.content", "outbox_case.pseudonym"] * 2
    )
    with database.uow() as uow:
        assert uow.cases.get(OTHER) is not None
        assert len(uow.cases.requests(OTHER)) == 1
        outbox = {row.txn_id: row for row in uow.outbox.all()}
    mine = {"reply-M6", "failed-M6", "refused-M6", "poll-M6", "ics-M6", "pdf-M6"}
    assert {txn.replace("M6", "E7") for txn in mine} | {"pending-other"} <= set(outbox)
    assert not mine & set(outbox)
    for txn in ("agenda-1", "minutes-1"):
        assert outbox[txn].content == {}
        assert outbox[txn].remote_event_id == f"$ev-{txn}"  # reactions still find it
    assert outbox["opening-1"].content["body"].startswith("Sitzung")


def test_the_purged_case_keeps_only_a_redacted_audit_trail(database: Database) -> None:
    _build(database, closed_days_ago=183)
    with database.uow() as uow:
        other_before = [(e.seq, e.detail, e.institution) for e in uow.audit.entries(OTHER)]
    with database.uow() as uow:
        assert purge(uow, plan_purge(uow, NOW, **DAYS), NOW, actor=ACTOR) == 1
        uow.commit()
    assert _verdict_ok(database)
    with database.uow() as uow:
        entries = list(uow.audit.entries(CASE))
        other_after = [(e.seq, e.detail, e.institution) for e in uow.audit.entries(OTHER)]
    *redacted, record = entries
    assert [e.action for e in redacted] == [
        "fall_angelegt",
        "einwilligung_erfasst",
        "anfrage_gestellt",
    ]
    for entry in redacted:
        assert entry.institution is None
        assert entry.detail == {}
        assert entry.redacted_at == NOW
        assert entry.actor == "@ja:fk.test"  # seq, at, actor, action, pseudonym, hashes stay
    assert (record.action, record.actor, record.at, record.institution) == (
        DELETION_ACTION,
        ACTOR,
        NOW,
        None,
    )
    assert record.detail == {"tabellen": dict(sorted(EXPECTED_ROWS.items()))}
    assert record.redacted_at is None
    assert other_after == other_before
    with database.uow() as uow:
        records = [e for e in uow.audit.entries() if e.action == DELETION_ACTION]
    assert [e.pseudonym for e in records] == [CASE]


def test_purge_is_idempotent(database: Database) -> None:
    _build(database, closed_days_ago=183)
    with database.uow() as uow:
        plan = plan_purge(uow, NOW, **DAYS)
        assert purge(uow, plan, NOW, actor=ACTOR) == 1
        uow.commit()
    after = _snapshot(database)
    assert _plan(database, NOW + timedelta(days=1)) == []
    with database.uow() as uow:
        assert purge(uow, plan, NOW + timedelta(days=1), actor=ACTOR) == 0  # a stale plan
        uow.commit()
    assert _snapshot(database) == after
    assert _verdict_ok(database)


def test_a_case_reopened_after_planning_is_not_purged(database: Database) -> None:
    _build(database, closed_days_ago=183)
    with database.uow() as uow:
        plan = plan_purge(uow, NOW, **DAYS)
        case = uow.cases.get(CASE)
        assert case is not None
        case.state, case.closed_at = "offen", None
        uow.session.flush()
        assert purge(uow, plan, NOW, actor=ACTOR) == 0
        uow.commit()
    assert "decision.text" in _mentions(database, CASE)
    with database.uow() as uow:
        assert uow.cases.get(CASE) is not None


def test_a_pending_message_naming_the_case_holds_it_back(database: Database) -> None:
    _build(database, closed_days_ago=183)
    with database.uow() as uow:
        _outbox(uow, "pending-case", f"Letzte Erinnerung {CASE}", state="pending")
        uow.commit()
    assert _plan(database) == []
    with database.uow() as uow:
        row = next(r for r in uow.outbox.all() if r.txn_id == "pending-case")
        uow.outbox.mark_sent(row.id, "$ev-late", NOW)
        uow.commit()
    (candidate,) = _plan(database)
    assert candidate.rows[OUTBOX_DELETED] == 7


def test_two_cases_naming_the_same_message_are_purged_together(database: Database) -> None:
    _build(database, closed_days_ago=183)
    with database.uow() as uow:
        case = uow.cases.get(OTHER)
        assert case is not None
        case.state, case.closed_at = "erledigt", NOW - timedelta(days=200)
        _outbox(uow, "both", f"{CASE} und {OTHER}")
        pending = next(r for r in uow.outbox.all() if r.txn_id == "pending-other")
        uow.outbox.mark_sent(pending.id, "$ev-pending", NOW)
        uow.commit()
    with database.uow() as uow:
        plan = plan_purge(uow, NOW, **DAYS)
        assert [c.pseudonym for c in plan] == [OTHER, CASE]  # oldest reason first
        done = purge_cases(uow, plan, NOW, actor=ACTOR)
        uow.commit()
    # the shared message went with the first case and is not counted twice
    assert done[OTHER][OUTBOX_DELETED] == 8  # its own six, "both", the one sent late
    assert done[OTHER][OUTBOX_EMPTIED] == 2
    assert done[CASE][OUTBOX_DELETED] == 6
    assert OUTBOX_EMPTIED not in done[CASE]
    assert _mentions(database, CASE) == []
    assert _mentions(database, OTHER) == []
    assert _verdict_ok(database)


# -- the revocation path ---------------------------------------------------------------------

REVOKED_AT = NOW - timedelta(days=31)


def _revocation_case(db: Database, *rows: Consent | Revocation | Schutzauftrag) -> None:
    with db.uow() as uow:
        uow.cases.add(
            CaseFile(
                pseudonym=CASE,
                room_id=ROOM,
                owner_institution="jugendamt",
                created_by="@ja:fk.test",
                created_at=NOW - timedelta(days=400),
            )
        )
        for row in rows:
            uow.session.add(row)
            uow.session.flush()
        uow.commit()


def _schutzauftrag(state: str) -> Schutzauftrag:
    return Schutzauftrag(
        case_pseudonym=CASE,
        reason_code="kw-gefaehrdung",
        legal_basis="§ 8a SGB VIII",
        state=state,
        opened_by="@ja:fk.test",
        opened_institution="jugendamt",
        opened_at=NOW - timedelta(days=60),
    )


V1 = date(2026, 6, 1)
Rows = list[Consent | Revocation | Schutzauftrag]
# fresh ORM objects for every test (one object cannot go into two databases)
REVOCATIONS: list[tuple[str, Callable[[], Rows], datetime | None]] = [
    ("all", lambda: [_consent(CASE, 1, V1), _revocation(CASE, None, REVOKED_AT)], REVOKED_AT),
    (
        "every_named_one",
        lambda: [_consent(CASE, 1, V1), _revocation(CASE, ["jobcenter", "agentur"], REVOKED_AT)],
        REVOKED_AT,
    ),
    (
        "piece_by_piece",
        lambda: [
            _consent(CASE, 1, V1),
            _revocation(CASE, ["agentur"], REVOKED_AT - timedelta(days=20)),
            _revocation(CASE, ["jobcenter"], REVOKED_AT),
        ],
        REVOKED_AT,
    ),
    (
        "two_consents_both_ended",
        lambda: [
            _consent(CASE, 1, V1, recipients=["jobcenter"]),
            _consent(CASE, 2, date(2026, 8, 1), recipients=["agentur"]),
            _revocation(CASE, None, REVOKED_AT),
        ],
        REVOKED_AT,
    ),
    (
        "only_some",
        lambda: [_consent(CASE, 1, V1), _revocation(CASE, ["agentur"], REVOKED_AT)],
        None,
    ),
    (
        "newer_consent",
        lambda: [
            _consent(CASE, 1, V1),
            _revocation(CASE, None, REVOKED_AT - timedelta(days=10)),
            _consent(CASE, 2, (REVOKED_AT - timedelta(days=5)).date()),
        ],
        None,
    ),
    (
        "consent_for_another_institution_after",
        lambda: [
            _consent(CASE, 1, V1),
            _revocation(CASE, None, REVOKED_AT - timedelta(days=10)),
            _consent(CASE, 2, (REVOKED_AT - timedelta(days=5)).date(), recipients=["schule"]),
        ],
        None,
    ),
    ("no_consent_at_all", lambda: [_revocation(CASE, None, REVOKED_AT)], None),
    (
        "schutzauftrag_confirmed",
        lambda: [
            _consent(CASE, 1, V1),
            _revocation(CASE, None, REVOKED_AT),
            _schutzauftrag("bestätigt"),
        ],
        None,
    ),
    (
        "schutzauftrag_ended",
        lambda: [
            _consent(CASE, 1, V1),
            _revocation(CASE, None, REVOKED_AT),
            _schutzauftrag("beendet"),
        ],
        REVOKED_AT,
    ),
]


@pytest.mark.parametrize(("name", "rows", "since"), REVOCATIONS, ids=[r[0] for r in REVOCATIONS])
def test_revocation_for_every_consented_institution(
    database: Database,
    name: str,
    rows: Callable[[], Rows],
    since: datetime | None,
) -> None:
    _revocation_case(database, *rows())
    plan = _plan(database)
    if since is None:
        assert plan == []
    else:
        (candidate,) = plan
        assert candidate.since == since
        assert str(candidate.reason) == "Widerruf für alle Institutionen seit 01.05.2027"
    # the same reading of revocations as the consent gate's
    with database.uow() as uow:
        consents = uow.cases.consents(CASE)
        gate = consent_gate(
            consent_facts(consents),
            revocation_facts(uow.cases.revocations(CASE)),
            {k for c in consents for k in c.recipients},
            NOW.date(),
        )
    revoked_everywhere = bool(consents) and all(m.reason is Reason.REVOKED for m in gate.missing)
    revoked_everywhere = revoked_everywhere and len(gate.missing) == len(
        {k for c in consents for k in c.recipients}
    )
    assert revoked_everywhere == (since is not None or name == "schutzauftrag_confirmed")


def test_revocation_waits_for_the_grace_period(database: Database) -> None:
    _revocation_case(database, _consent(CASE, 1, V1), _revocation(CASE, None, REVOKED_AT))
    assert _plan(database, revoked_grace_days=32) == []
    assert [c.pseudonym for c in _plan(database, revoked_grace_days=31)] == [CASE]


def test_revoked_open_case_is_purged_completely(database: Database) -> None:
    with database.uow() as uow:
        shared = _shared(uow)
        _case(uow, CASE, shared, state="offen")
        uow.cases.add_revocation(_revocation(CASE, None, REVOKED_AT))
        _case(uow, OTHER, shared, state="offen")
        uow.commit()
    (candidate,) = _plan(database)
    assert str(candidate.reason).startswith("Widerruf")
    assert candidate.rows["revocation"] == 2
    with database.uow() as uow:
        assert purge(uow, [candidate], NOW, actor=ACTOR) == 1
        uow.commit()
    assert _mentions(database, CASE) == []
    assert _verdict_ok(database)
    assert _plan(database) == []


# -- fkbot purge -----------------------------------------------------------------------------


@pytest.mark.usefixtures("isolated")
def test_cli_purge(config: Path, db_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["purge", "--dry-run", "--config", str(config)]) == 2
    assert "fkbot db upgrade" in capsys.readouterr().err
    engine = make_engine(f"sqlite:///{db_path}")
    upgrade(engine)
    db = Database(engine)
    real_now = datetime.now(UTC)
    closed = real_now - timedelta(days=183)
    with db.uow() as uow:
        shared = _shared(uow)
        _case(uow, CASE, shared, closed_at=closed)
        _case(uow, OTHER, shared, state="offen")
        uow.commit()
    before = _snapshot(db)

    assert main(["purge", "--dry-run", "--config", str(config)]) == 0
    out = capsys.readouterr().out.splitlines()
    day = closed.astimezone(LOCAL).strftime("%d.%m.%Y")
    order = [*case_tables(), OUTBOX_DELETED, OUTBOX_EMPTIED]
    counts = ", ".join(f"{table} {EXPECTED_ROWS[table]}" for table in order)
    assert out == [
        f"{CASE}: erledigt seit {day} – {counts}",
        "Probelauf: 1 Fall zu löschen; nichts wurde verändert.",
    ]
    assert _snapshot(db) == before

    assert main(["purge", "--config", str(config)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out == [
        f"{CASE}: erledigt seit {day} – {counts}",
        "1 Fall gelöscht; die Audit-Einträge dazu sind geschwärzt.",
    ]
    assert _mentions(db, CASE) == []
    with db.uow() as uow:
        record = list(uow.audit.entries(CASE))[-1]
    assert (record.action, record.actor) == (DELETION_ACTION, CLI_ACTOR)

    assert main(["purge", "--config", str(config)]) == 0
    assert capsys.readouterr().out.strip() == "Keine Fälle mit abgelaufener Löschfrist."
    assert main(["audit", "verify", "--config", str(config)]) == 0
    assert "Audit-Kette in Ordnung" in capsys.readouterr().out
    # the export shows the redacted entries as they are
    assert main(["audit", "export", "--config", str(config), "--fall", CASE]) == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [line["action"] for line in lines] == [
        "fall_angelegt",
        "einwilligung_erfasst",
        "anfrage_gestellt",
        DELETION_ACTION,
        "audit_exportiert",
    ]
    for line in lines[:3]:
        assert (line["institution"], line["detail"]) == (None, {})
        assert line["redacted_at"] == lines[3]["at"]
    assert lines[3]["detail"] == {"tabellen": EXPECTED_ROWS}
    assert main(["audit", "verify", "--config", str(config)]) == 0
    engine.dispose()


def _plan_statements(database: Database, count: int) -> tuple[int, int]:
    """Every second case is fully revoked long ago (due unless it never had a consent:
    every fifth), every fourth is closed; the daily pass plans a chunk of 10. Returns
    (statements, cases found due in all)."""
    seeded = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)  # consents given on 20.11.2026
    now = datetime(2028, 1, 15, 9, 0, tzinfo=UTC)
    cases = seed_cases(database, "!raum:fk.test", seeded, count)
    with database.uow() as uow:
        for index, pseudonym in enumerate(cases):
            if index % 2 == 0:
                uow.session.add(
                    Revocation(
                        case_pseudonym=pseudonym,
                        institutions=None,
                        effective_on=date(2026, 12, 1),
                        recorded_by="@anna.jugendamt:fk.test",
                        recorded_institution="jugendamt",
                        recorded_at=seeded + timedelta(days=8),
                    )
                )
            if index % 4 == 1:
                case = uow.session.get(CaseFile, pseudonym)
                assert case is not None
                case.state, case.closed_at = "erledigt", seeded + timedelta(days=8)
        uow.commit()
    statements: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        statements.append(statement)

    event.listen(database.engine, "before_cursor_execute", record)
    try:
        with database.uow() as uow:
            chunk = plan_purge(uow, now, closed_days=365, revoked_grace_days=30, limit=10)
    finally:
        event.remove(database.engine, "before_cursor_execute", record)
    assert len(chunk) == 10
    with database.uow() as uow:
        due = list(_due(uow.session, now, 365, 30))
    return len(statements), len(due)


def test_planning_a_purge_chunk_sends_as_many_statements_at_2000_cases_as_at_50(
    database: Database,
) -> None:
    """Which cases are due is found in a fixed number of queries, not three per revoked
    case; only the chunk's cases are counted row by row."""
    small, due_small = _plan_statements(database, 50)
    with database.uow() as uow:
        for table in reversed(Base.metadata.sorted_tables):
            uow.session.execute(table.delete())
        uow.commit()
    large, due_large = _plan_statements(database, 2000)
    expected = [
        len([i for i in range(n) if (i % 2 == 0 and i % 5 != 0) or i % 4 == 1]) for n in (50, 2000)
    ]
    assert [due_small, due_large] == expected
    assert small == large, (small, large)
