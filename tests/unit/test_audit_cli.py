"""``fkbot audit verify`` and ``fkbot audit export`` against a real (SQLite) database."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from bot.cli import CLI_ACTOR, main
from storage.audit import GENESIS
from storage.uow import Database

CASE = "FK-7QX2-M6"
OTHER = "FK-ABCD-E7"
T0 = datetime(2026, 11, 23, 9, 0, 0, 123456, tzinfo=UTC)
FIELDS = {
    "seq",
    "at",
    "actor",
    "institution",
    "action",
    "pseudonym",
    "detail",
    "payload_hash",
    "redacted_at",
    "prev_hash",
    "hash",
}


pytestmark = pytest.mark.usefixtures("isolated")


@pytest.fixture
def database(cli_database: Database) -> Database:
    """The CLI's database (the one ``config`` names), migrated."""
    return cli_database


def _append(db: Database, *entries: tuple[str, str | None, dict[str, Any]]) -> None:
    with db.uow() as uow:
        for i, (action, pseudonym, detail) in enumerate(entries):
            uow.audit.append(
                at=T0 + timedelta(seconds=i),
                actor="@fachkraft:fk.test",
                institution="jugendamt",
                action=action,
                pseudonym=pseudonym,
                detail=detail,
            )
        uow.commit()


STANDARD = (
    ("fall_angelegt", CASE, {}),
    ("einwilligung_erfasst", CASE, {"version": 1, "an": ["jobcenter", "agentur"]}),
    ("fall_angelegt", OTHER, {}),
    ("widerruf_erfasst", CASE, {"institutionen": "alle", "träger": "Träger Süd"}),
)


def _sql(db: Database, statement: str, **params: Any) -> None:
    with db.engine.begin() as conn:
        conn.execute(text(statement), params)


def _actions(db: Database) -> list[tuple[str, str | None, str]]:
    with db.uow() as uow:
        return [(e.action, e.pseudonym, e.actor) for e in uow.audit.entries()]


def _lines(raw: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in raw.splitlines() if line]


# -- verify ---------------------------------------------------------------------------------


def test_verify_reports_an_intact_chain(
    config: Path, database: Database, capsys: pytest.CaptureFixture[str]
) -> None:
    _append(database, *STANDARD)
    with database.uow() as uow:
        head = uow.audit.head()
    assert head is not None
    assert main(["audit", "verify", "--config", str(config)]) == 0
    out, err = capsys.readouterr()
    assert out.strip() == f"Audit-Kette in Ordnung: 4 Einträge, Kopf {head[1]}"
    assert err == ""


def test_verify_on_an_unmigrated_database_asks_for_an_upgrade_and_changes_nothing(
    config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["audit", "verify", "--config", str(config)]) == 2
    assert "fkbot db upgrade" in capsys.readouterr().err
    assert main(["db", "upgrade", "--config", str(config)]) == 0
    assert main(["audit", "verify", "--config", str(config)]) == 0
    assert f"0 Einträge, Kopf {GENESIS}" in capsys.readouterr().out


def test_verify_does_not_write_to_the_log(
    config: Path, database: Database, capsys: pytest.CaptureFixture[str]
) -> None:
    _append(database, *STANDARD)
    before = _actions(database)
    assert main(["audit", "verify", "--config", str(config)]) == 0
    assert _actions(database) == before


def test_verify_names_the_modified_entry(
    config: Path, database: Database, capsys: pytest.CaptureFixture[str]
) -> None:
    _append(database, *STANDARD)
    _sql(database, "UPDATE audit_entry SET actor = :a WHERE seq = 2", a="@mallory:fk.test")
    assert main(["audit", "verify", "--config", str(config)]) == 1
    out, err = capsys.readouterr()
    assert out == ""
    assert "GEBROCHEN bei Eintrag 2" in err
    assert "Inhalt verändert" in err
    assert "1 Eintrag davor ist intakt" in err


def test_verify_names_the_entry_after_a_deleted_one(
    config: Path, database: Database, capsys: pytest.CaptureFixture[str]
) -> None:
    _append(database, *STANDARD)
    _sql(database, "DELETE FROM audit_entry WHERE seq = 3")
    assert main(["audit", "verify", "--config", str(config)]) == 1
    err = capsys.readouterr().err
    assert "bei Eintrag 4: Eintrag 3 fehlt" in err


def test_verify_notices_a_cut_off_tail_and_a_missing_head(
    config: Path, database: Database, capsys: pytest.CaptureFixture[str]
) -> None:
    _append(database, *STANDARD)
    _sql(database, "DELETE FROM audit_entry WHERE seq = 4")
    assert main(["audit", "verify", "--config", str(config)]) == 1
    assert "bei Eintrag 4: Kette endet bei 3, Kopf nennt 4" in capsys.readouterr().err
    _sql(database, "DELETE FROM audit_head")
    assert main(["audit", "verify", "--config", str(config)]) == 1
    assert "GEBROCHEN am Ende: Kopfzeile der Kette fehlt" in capsys.readouterr().err


def test_verify_with_a_broken_config_exits_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = tmp_path / "gibt-es-nicht.toml"
    with pytest.raises(SystemExit) as info:
        main(["audit", "verify", "--config", str(missing)])
    assert info.value.code == 2
    assert "nicht gefunden" in capsys.readouterr().err


# -- export ---------------------------------------------------------------------------------


def test_export_to_stdout_writes_every_entry_and_records_itself(
    config: Path, database: Database, capsys: pytest.CaptureFixture[str]
) -> None:
    _append(database, *STANDARD)
    before = datetime.now(UTC)
    assert main(["audit", "export", "--config", str(config)]) == 0
    out, err = capsys.readouterr()
    lines = _lines(out)
    assert [line["seq"] for line in lines] == [1, 2, 3, 4, 5]
    assert all(set(line) == FIELDS for line in lines)
    assert lines[1]["detail"] == {"version": 1, "an": ["jobcenter", "agentur"]}
    assert lines[3]["detail"]["träger"] == "Träger Süd"
    assert "Träger Süd" in out  # written as UTF-8, not as \u escapes
    assert lines[0]["at"] == "2026-11-23T09:00:00.123456+00:00"
    assert lines[0]["prev_hash"] == GENESIS
    # the export is itself audited, as the last entry
    last = lines[-1]
    assert (last["action"], last["actor"], last["pseudonym"]) == (
        "audit_exportiert",
        CLI_ACTOR,
        None,
    )
    assert last["institution"] is None
    assert datetime.fromisoformat(last["at"]) >= before - timedelta(seconds=1)
    assert err.strip() == "5 Audit-Einträge exportiert"
    assert _actions(database)[-1] == ("audit_exportiert", None, "kommandozeile")
    assert main(["audit", "verify", "--config", str(config)]) == 0
    assert "5 Einträge" in capsys.readouterr().out


def test_exported_lines_can_be_verified_without_the_bot(
    config: Path, database: Database, capsys: pytest.CaptureFixture[str]
) -> None:
    """Each line's hash is the SHA-256 of the line without hash and payload (institution,
    detail, redacted_at); payload_hash that of institution and detail; the lines link up."""
    _append(database, *STANDARD)
    assert main(["audit", "export", "--config", str(config)]) == 0
    prev = GENESIS

    def digest(data: dict[str, Any]) -> str:
        text = json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        return hashlib.sha256(text.encode("utf-8")).hexdigest()

    outside_the_hash = {"institution", "detail", "redacted_at", "hash"}
    for line in _lines(capsys.readouterr().out):
        assert line["redacted_at"] is None
        body = {k: v for k, v in line.items() if k not in outside_the_hash}
        assert digest(body) == line["hash"]
        payload = {"institution": line["institution"], "detail": line["detail"]}
        assert digest(payload) == line["payload_hash"]
        assert line["prev_hash"] == prev
        prev = line["hash"]
    with database.uow() as uow:
        assert uow.audit.head() == (5, prev)


def test_export_to_a_file(
    config: Path, database: Database, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _append(database, *STANDARD)
    target = tmp_path / "export.jsonl"
    assert main(["audit", "export", "--config", str(config), "--out", str(target)]) == 0
    out, err = capsys.readouterr()
    assert out == ""
    assert err.strip() == "5 Audit-Einträge exportiert"
    lines = _lines(target.read_text(encoding="utf-8"))
    assert [line["action"] for line in lines] == [
        "fall_angelegt",
        "einwilligung_erfasst",
        "fall_angelegt",
        "widerruf_erfasst",
        "audit_exportiert",
    ]


def test_export_refuses_to_overwrite_a_file(
    config: Path, database: Database, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _append(database, *STANDARD)
    target = tmp_path / "export.jsonl"
    target.write_text("frühere Ausgabe\n", encoding="utf-8")
    before = _actions(database)
    assert main(["audit", "export", "--config", str(config), "--out", str(target)]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert str(target) in err
    assert "existiert bereits" in err
    assert "Traceback" not in err
    assert target.read_text(encoding="utf-8") == "frühere Ausgabe\n"
    # nothing was exported, so no export is audited
    assert _actions(database) == before


def test_export_into_a_missing_folder_fails_cleanly(
    config: Path, database: Database, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _append(database, *STANDARD)
    before = _actions(database)
    target = tmp_path / "fehlt" / "export.jsonl"
    assert main(["audit", "export", "--config", str(config), "--out", str(target)]) == 2
    err = capsys.readouterr().err
    assert str(target) in err
    assert "kann nicht angelegt werden" in err
    assert not target.exists()
    assert _actions(database) == before


@pytest.mark.parametrize("spelling", [CASE, "fk-7qx2-m6", "FK7QX2M6", "7QX2-M6"])
def test_export_filters_by_case(
    config: Path, database: Database, capsys: pytest.CaptureFixture[str], spelling: str
) -> None:
    _append(database, *STANDARD)
    assert main(["audit", "export", "--config", str(config), "--fall", spelling]) == 0
    out, err = capsys.readouterr()
    lines = _lines(out)
    assert [line["seq"] for line in lines] == [1, 2, 4, 5]
    assert {line["pseudonym"] for line in lines} == {CASE}
    assert OTHER not in out
    assert (lines[-1]["action"], lines[-1]["actor"]) == ("audit_exportiert", CLI_ACTOR)
    assert err.strip() == "4 Audit-Einträge exportiert"
    # the filtered export is recorded against the case, and the chain stays whole
    assert _actions(database)[-1] == ("audit_exportiert", CASE, CLI_ACTOR)
    assert main(["audit", "verify", "--config", str(config)]) == 0


@pytest.mark.parametrize(
    ("given", "hint"),
    [
        ("FK-7QX2-MC", "Prüfzeichen"),
        ("FK-7QX0-M6", "Tippfehler"),
        ("Kevin Mustermann", "sieht so aus"),
    ],
)
def test_export_rejects_an_invalid_pseudonym(
    config: Path,
    database: Database,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    given: str,
    hint: str,
) -> None:
    _append(database, *STANDARD)
    before = _actions(database)
    target = tmp_path / "export.jsonl"
    code = main(["audit", "export", "--config", str(config), "--fall", given, "--out", str(target)])
    assert code == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert hint in err
    assert given not in err  # the input is never echoed
    assert not target.exists()
    assert _actions(database) == before
