"""``fkbot export protokoll``: a held session's minutes written as Markdown, PDF and JSON."""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from pypdf import PdfReader

from bot.cli import main
from bot.clock import FakeClock
from bot.testing.configs import cli_config
from bot.testing.harness import JA1, JC, MOD, Room
from storage.db import make_engine, upgrade
from storage.uow import Database

DECISION = "Teilnahme am Projekt ab Januar; Förderplan – § 35a prüfen"


pytestmark = pytest.mark.usefixtures("isolated")


@pytest.fixture
def setup(tmp_path: Path) -> tuple[Path, Room, str]:
    db_path = tmp_path / "fk.sqlite3"
    config = cli_config(tmp_path / "fkbot.toml", f"sqlite:///{db_path}")
    engine = make_engine(f"sqlite:///{db_path}")
    upgrade(engine)
    room = Room(Database(engine), FakeClock(datetime(2026, 11, 23, 9, 0, tzinfo=UTC)))
    room.adhoc("02.12.2026 10:00")
    pseudonym, _, _ = room.ready_case()
    room.clock.set(datetime(2026, 12, 2, 8, 50, tzinfo=UTC))
    room.say(MOD, "sitzung start")
    room.say(JC, "anwesend")
    assert room.say(JA1, f"beschluss {pseudonym} {DECISION}").startswith("📌")
    return config, room, pseudonym


def test_the_minutes_are_written_in_three_formats_that_agree(
    setup: tuple[Path, Room, str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config, room, pseudonym = setup
    out = tmp_path / "export"
    assert main(["export", "protokoll", "--config", str(config), "--termin", "1"]) == 2
    assert "kein Protokoll" in capsys.readouterr().err  # not yet closed

    room.say(MOD, "sitzung ende")
    code = main(
        ["export", "protokoll", "--config", str(config), "--termin", "1", "--out", str(out)]
    )

    assert code == 0
    files = sorted(p.name for p in out.iterdir())
    assert files == [
        "protokoll-termin-1-2026-12-02.json",
        "protokoll-termin-1-2026-12-02.md",
        "protokoll-termin-1-2026-12-02.pdf",
    ]
    value = json.loads((out / files[0]).read_text(encoding="utf-8"))
    [item] = value["punkte"]
    assert (item["pseudonym"], item["beschlüsse"]) == (pseudonym, [DECISION])
    assert pseudonym in (out / files[1]).read_text(encoding="utf-8")
    pdf = PdfReader(io.BytesIO((out / files[2]).read_bytes()))
    text = " ".join(page.extract_text() for page in pdf.pages)
    assert "Teilnahme am Projekt ab Januar" in " ".join(text.split())
    assert all((out / f).stat().st_mode & 0o077 == 0 for f in files)  # the bot's user only
    assert room.actions()[-1] == "protokoll_exportiert"

    # Never overwritten.
    again = ["export", "protokoll", "--config", str(config), "--termin", "1", "--out", str(out)]
    assert main(again) == 2
