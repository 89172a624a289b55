"""``fkbot check`` says what it really verified (issue 12): it never logs in, never overclaims."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import ClassVar

import pytest

from bot.cli import main
from bot.matrix import Credentials, save_credentials

USER = "@fallbot:fk.test"
DEVICE = "FALLKONFERENZBOT"
TOKEN = "syt_gueltig"
pytestmark = pytest.mark.usefixtures("isolated")

STRONG_KEY = "Xk3-9fQz_LmN2pR8sT4vW6yA1bC5dE7gH0jK"


class FakeHomeserver(BaseHTTPRequestHandler):
    """/versions and /account/whoami; /login must never be called."""

    calls: ClassVar[list[str]] = []

    def do_GET(self) -> None:
        FakeHomeserver.calls.append(self.path)
        if self.path == "/_matrix/client/versions":
            self._json(200, {"versions": ["v1.11"]})
        elif self.path == "/_matrix/client/v3/account/whoami":
            if self.headers.get("Authorization") == f"Bearer {TOKEN}":
                self._json(200, {"user_id": USER, "device_id": DEVICE})
            else:
                self._json(401, {"errcode": "M_UNKNOWN_TOKEN"})
        else:
            self._json(404, {})

    def do_POST(self) -> None:
        FakeHomeserver.calls.append("POST " + self.path)
        self._json(403, {})

    def _json(self, status: int, body: dict[str, object]) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *_args: object) -> None:
        pass


@pytest.fixture
def homeserver() -> Iterator[str]:
    FakeHomeserver.calls = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), FakeHomeserver)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@pytest.fixture
def config(tmp_path: Path, homeserver: str, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("FKBOT_MATRIX__PICKLE_KEY", STRONG_KEY)
    monkeypatch.setenv("FKBOT_MATRIX__PASSWORD", "falsch-oder-richtig")
    path = tmp_path / "fkbot.toml"
    path.write_text(
        "[matrix]\n"
        f'homeserver = "{homeserver}"\n'
        f'user_id = "{USER}"\n'
        'allowed_homeservers = ["fk.test"]\n'
        'store_path = "store"\n'
        "\n[database]\n"
        f'url = "sqlite:///{tmp_path / "fk.sqlite3"}"\n',
        encoding="utf-8",
    )
    return path


def test_without_a_stored_login_the_password_is_named_unverified(
    config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["check", "--config", str(config)]) == 0
    out = capsys.readouterr().out
    assert "? Passwort gesetzt, aber NICHT geprüft" in out
    assert "Alles in Ordnung." not in out
    assert out.rstrip().endswith("Keine Probleme gefunden, aber nicht geprüft: Passwort.")
    assert not [c for c in FakeHomeserver.calls if "login" in c], "check must never log in"


def test_a_stored_login_is_verified_with_whoami(
    config: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], homeserver: str
) -> None:
    save_credentials(tmp_path / "store", Credentials(homeserver, USER, DEVICE, TOKEN))
    assert main(["check", "--config", str(config)]) == 0
    out = capsys.readouterr().out
    assert f"✓ Zugangstoken gültig für {USER} (Gerät {DEVICE}), per whoami geprüft" in out
    assert out.rstrip().endswith("Alles in Ordnung.")
    assert "/_matrix/client/v3/account/whoami" in FakeHomeserver.calls
    assert not [c for c in FakeHomeserver.calls if "login" in c]


def test_a_stale_token_is_a_problem(
    config: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], homeserver: str
) -> None:
    save_credentials(tmp_path / "store", Credentials(homeserver, USER, DEVICE, "abgelaufen"))
    assert main(["check", "--config", str(config)]) == 1
    out = capsys.readouterr().out
    assert "✗ Zugangstoken nicht bestätigt" in out
    assert "Alles in Ordnung." not in out


def test_a_stored_login_readable_by_others_is_a_problem(
    config: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], homeserver: str
) -> None:
    save_credentials(tmp_path / "store", Credentials(homeserver, USER, DEVICE, TOKEN))
    (tmp_path / "store" / "credentials.json").chmod(0o644)
    assert main(["check", "--config", str(config)]) == 1
    out = capsys.readouterr().out
    assert "für Gruppe oder andere lesbar" in out
    assert TOKEN not in out


@pytest.mark.postgres
@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)
def test_on_postgresql_the_login_is_read_from_the_database(
    db_url: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    homeserver: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from bot.instance import DatabaseLoginStore
    from storage.db import make_engine

    monkeypatch.setenv("FKBOT_MATRIX__PICKLE_KEY", STRONG_KEY)
    path = tmp_path / "pg.toml"
    path.write_text(
        "[matrix]\n"
        f'homeserver = "{homeserver}"\n'
        f'user_id = "{USER}"\n'
        'allowed_homeservers = ["fk.test"]\n'
        'store_path = "store"\n'
        "\n[database]\n"
        f'url = "{db_url}"\n',
        encoding="utf-8",
    )
    engine = make_engine(db_url)
    DatabaseLoginStore(engine, STRONG_KEY).save_credentials(
        Credentials(homeserver, USER, DEVICE, TOKEN)
    )
    engine.dispose()
    assert not (tmp_path / "store" / "credentials.json").exists()
    assert main(["check", "--config", str(path)]) == 0
    out = capsys.readouterr().out
    assert f"✓ Zugangstoken gültig für {USER} (Gerät {DEVICE}), per whoami geprüft" in out
    assert out.rstrip().endswith("Alles in Ordnung.")
    assert TOKEN not in out
