"""The systemd unit in contrib/ runs the bot hardened, with secrets as credentials."""

from __future__ import annotations

from pathlib import Path

UNIT = Path(__file__).resolve().parents[2] / "contrib" / "fkbot.service"


def _settings() -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for raw in UNIT.read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", "[")):
            continue
        key, _, value = line.partition("=")
        found.setdefault(key, []).append(value)
    return found


def test_the_unit_runs_the_bot_as_its_own_user_and_restarts_on_failure() -> None:
    unit = _settings()
    assert unit["ExecStart"] == ["/opt/fkbot/bin/fkbot run --config /etc/fkbot/config.toml"]
    assert unit["User"] == ["fkbot"]
    assert unit["Restart"] == ["on-failure"]
    assert unit["UMask"] == ["0077"]


def test_the_unit_is_hardened() -> None:
    unit = _settings()
    for key, value in {
        "NoNewPrivileges": "yes",
        "ProtectSystem": "strict",
        "ProtectHome": "yes",
        "PrivateTmp": "yes",
        "CapabilityBoundingSet": "",
    }.items():
        assert unit.get(key) == [value], key


def test_secrets_come_as_credentials_never_in_the_unit() -> None:
    unit = _settings()
    credentials = dict(v.split(":", 1) for v in unit["LoadCredential"])
    assert set(credentials) == {"fkbot_password", "fkbot_pickle_key"}
    environment = unit["Environment"]
    assert "FKBOT_MATRIX__PASSWORD_FILE=%d/fkbot_password" in environment
    assert "FKBOT_MATRIX__PICKLE_KEY_FILE=%d/fkbot_pickle_key" in environment
    assert not any("PASSWORD=" in e or "PICKLE_KEY=" in e for e in environment)
