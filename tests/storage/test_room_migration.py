"""Migration 0008: existing cases get the room they were created in, or are kept apart.

The data is made the way the bot makes it (commands through the engine, in two
rooms), then the schema goes back to 0007 — which drops every room column, exactly
what a database of the previous release holds — and the old defect is played: room
A's request on room B's agenda. The upgrade must find each case's room from the
bot's own messages, take the foreign request off the agenda (and ask for an edit of
the posted agenda), and keep a case with no evidence apart, saying so.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from alembic import command
from sqlalchemy import text

from bot.cli import main
from bot.clock import FakeClock
from bot.testing.configs import cli_config
from bot.testing.harness import JA1, Room
from storage.db import alembic_config, upgrade
from storage.uow import Database

ROOM_B = "!anderer-kreis:fk.test"
ORPHAN = "FK-ABCD-E7"


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(datetime(2026, 11, 23, 9, 0, tzinfo=UTC))


def _sql(db: Database, statement: str, **params: object) -> list[tuple[object, ...]]:
    with db.engine.begin() as conn:
        result = conn.execute(text(statement), params)
        return [tuple(r) for r in result] if result.returns_rows else []


def _orphan(db: Database, clock: FakeClock) -> None:
    """A case nobody can place: no command, no reply, no audit entry names it."""
    _sql(
        db,
        "INSERT INTO case_file (pseudonym, owner_institution, created_by, created_at, state) "
        "VALUES (:p, 'jugendamt', :by, :at, 'offen')",
        p=ORPHAN,
        by=JA1,
        at=clock.now().replace(tzinfo=None),
    )


def _old_release_with_the_defect(db: Database, clock: FakeClock) -> dict[str, object]:
    room_a = Room(db, clock)
    room_b = room_a.other_room(ROOM_B)
    session_b = room_b.adhoc("26.11.2026 10:00")
    case_a, request_a, _ = room_a.ready_case()
    case_b, request_b, _ = room_b.ready_case()
    assert room_a.placements() == {request_b: session_b}
    command.downgrade(alembic_config(db.engine), "0007_audit_redaction")
    # what the previous release did: room A's request on room B's agenda, agenda posted
    _sql(
        db,
        "INSERT INTO placement (session_id, request_id, position, placed_at) "
        "VALUES (:s, :r, 2, :at)",
        s=session_b,
        r=request_a,
        at=clock.now().replace(tzinfo=None),
    )
    _sql(
        db,
        "INSERT INTO agenda (session_id, room_id, revision, edits, dirty, reconfirm_notice, "
        "refused_reactors, post_txn_id) VALUES (:s, :room, 3, 0, false, false, '[]', 'posted')",
        s=session_b,
        room=ROOM_B,
    )
    _orphan(db, clock)
    return {
        "room_a": room_a,
        "room_b": room_b,
        "case_a": case_a,
        "case_b": case_b,
        "request_a": request_a,
        "request_b": request_b,
        "session_b": session_b,
    }


def test_upgrade_assigns_each_case_its_room_and_splits_the_crossed_agenda(
    database: Database, clock: FakeClock
) -> None:
    world = _old_release_with_the_defect(database, clock)
    report = upgrade(database.engine)
    rooms = dict(_sql(database, "SELECT pseudonym, room_id FROM case_file"))
    room_a = world["room_a"]
    assert isinstance(room_a, Room)
    assert rooms == {
        world["case_a"]: room_a.room_id,
        world["case_b"]: ROOM_B,
        ORPHAN: None,
    }
    requests = dict(_sql(database, "SELECT id, room_id FROM conference_request"))
    assert requests == {world["request_a"]: room_a.room_id, world["request_b"]: ROOM_B}
    assert room_a.placements() == {world["request_b"]: world["session_b"]}
    revision, dirty = _sql(
        database, "SELECT revision, dirty FROM agenda WHERE session_id = :s", s=world["session_b"]
    )[0]
    assert (revision, bool(dirty)) == (4, True)  # the posted agenda gets edited
    text_report = "\n".join(report)
    assert "2 Fälle ihrem Raum zugeordnet" in text_report
    assert "1 Fälle ohne eindeutigen Raum" in text_report
    assert ORPHAN in text_report
    assert f"#{world['request_a']}→#{world['session_b']}" in text_report
    # and from now on the rooms are apart
    room_b = world["room_b"]
    assert isinstance(room_b, Room)
    assert "Unbekannter Fall" in room_b.say(JA1, f"status {world['case_a']}")
    assert str(world["case_a"]) in room_a.say(JA1, f"status {world['case_a']}")
    assert "Unbekannter Fall" in room_a.say(JA1, f"status {ORPHAN}")
    # running it again finds nothing new
    assert upgrade(database.engine) == []


def test_a_case_with_evidence_for_two_rooms_is_not_guessed(
    database: Database, clock: FakeClock
) -> None:
    room_a = Room(database, clock)
    case = room_a.new_case()
    command.downgrade(alembic_config(database.engine), "0007_audit_redaction")
    # the same reply appears in a second room (say, forwarded): the evidence disagrees
    _sql(
        database,
        "INSERT INTO outbox_message (txn_id, room_id, event_type, content, requires_encryption, "
        "created_at, state, attempts) VALUES ('fwd', :room, 'm.room.message', :content, true, "
        ":at, 'sent', 0)",
        room=ROOM_B,
        content='{"body": "📁 Neuer Fall: ' + case + ' (fallführend: Jugendamt)"}',
        at=clock.now().replace(tzinfo=None),
    )
    report = upgrade(database.engine)
    assert _sql(database, "SELECT room_id FROM case_file") == [(None,)]
    assert case in "\n".join(report)


# -- the operator's commands ---------------------------------------------------------------


@pytest.fixture
def cli_db(
    isolated: None, tmp_path: Path, cli_database: Database, db_path: Path
) -> tuple[Path, Database]:
    return cli_config(tmp_path / "fkbot.toml", f"sqlite:///{db_path}"), cli_database


def test_rooms_lists_assigns_and_moves_with_audit(
    cli_db: tuple[Path, Database], clock: FakeClock, capsys: pytest.CaptureFixture[str]
) -> None:
    config, db = cli_db
    room_a = Room(db, clock)
    case = room_a.new_case()
    room_a.adhoc("26.11.2026 10:00")
    _orphan(db, clock)
    assert main(["rooms", "--config", str(config)]) == 0
    listing = capsys.readouterr().out
    assert f"{room_a.room_id}: Mitglied; 1 offene, 0 erledigte Fälle" in listing
    assert "(ohne Raum, getrennt gehalten): 1 offene" in listing

    assert main(["rooms", "assign", ORPHAN, room_a.room_id, "--config", str(config)]) == 0
    assert main(["rooms", "assign", ORPHAN, ROOM_B, "--config", str(config)]) == 2
    assert "gehört schon zu" in capsys.readouterr().err
    assert ORPHAN in room_a.say(JA1, f"status {ORPHAN}")

    upgraded = "!neuer-raum:fk.test"
    assert (
        main(["rooms", "move", "--from", room_a.room_id, "--to", upgraded, "--config", str(config)])
        == 0
    )
    assert "case_file 2" in capsys.readouterr().out
    assert "Unbekannter Fall" in room_a.say(JA1, f"status {case}")
    moved = room_a.other_room(upgraded)
    assert case in moved.say(JA1, f"status {case}")
    assert "#" in moved.say(JA1, "termine")
    # a circle is never merged into another
    assert (
        main(["rooms", "move", "--from", upgraded, "--to", upgraded, "--config", str(config)]) == 2
    )
    room_a.new_case()
    assert (
        main(["rooms", "move", "--from", upgraded, "--to", room_a.room_id, "--config", str(config)])
        == 2
    )
    assert "nie vermischt" in capsys.readouterr().err
    with db.uow() as uow:
        actions = [(e.action, e.room_id) for e in uow.audit.entries()]
    assert ("fall_raum_zugeordnet", room_a.room_id) in actions
    assert ("raum_umgezogen", upgraded) in actions
