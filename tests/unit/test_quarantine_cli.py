"""``fkbot quarantine``: what the Matrix edge set aside, from a real (SQLite) database."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot.cli import main
from storage.models import QuarantinedEvent
from storage.uow import Database

T0 = datetime(2026, 12, 3, 9, 0, tzinfo=UTC)


pytestmark = pytest.mark.usefixtures("isolated")


@pytest.fixture
def database(cli_database: Database) -> Database:
    """The CLI's database (the one ``config`` names), migrated."""
    return cli_database


def test_empty_quarantine_says_so(
    config: Path,
    database: Database,
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["quarantine", "--config", str(config)]) == 0
    assert capsys.readouterr().out == "Keine Ereignisse in Quarantäne.\n"


def test_lists_ids_room_type_sender_reason_and_when_newest_first(
    config: Path,
    database: Database,
    capsys: pytest.CaptureFixture[str],
) -> None:
    with database.uow() as uow:
        uow.quarantine.add(
            QuarantinedEvent(
                event_id="$gift",
                room_id="!raum:fk.test",
                event_type="m.room.message",
                sender="@mallory:fk.test",
                reason="content.m.relates_to: model_type",
                quarantined_at=T0,
            )
        )
        uow.quarantine.add(
            QuarantinedEvent(
                event_id=None,
                room_id="!einladung:fk.test",
                event_type="m.room.member",
                sender=None,
                reason="unsigned.prev_content: dict_type",
                quarantined_at=T0 + timedelta(minutes=1),
            )
        )
        uow.commit()
    assert main(["quarantine", "--config", str(config)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines == [
        "03.12.2026 10:01:00  (ohne Id)  Raum !einladung:fk.test  Typ m.room.member  von ?  "
        "Grund: unsigned.prev_content: dict_type",
        "03.12.2026 10:00:00  $gift  Raum !raum:fk.test  Typ m.room.message  "
        "von @mallory:fk.test  Grund: content.m.relates_to: model_type",
        "2 Ereignisse in Quarantäne (nur Kennungen und Grund, nie der Inhalt).",
    ]
    assert main(["quarantine", "--config", str(config), "--limit", "1"]) == 0
    assert "Die neuesten 1 von 2 Ereignissen" in capsys.readouterr().out
