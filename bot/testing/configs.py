"""Configuration files for tests: the smallest valid ones, written where the CLI reads them."""

from __future__ import annotations

from pathlib import Path

from bot.config import ConfigError, load_config

# Only the required [matrix] keys; the homeserver list is written untidily on purpose
# (case, spaces), as the loader normalises it.
MINIMAL = """\
[matrix]
homeserver = "https://matrix.fk.test/"
user_id = "@fallbot:fk.test"
allowed_homeservers = ["FK.test", " partner.example "]
"""


def write(tmp_path: Path, text: str, name: str = "config.toml") -> Path:
    """``text`` as ``tmp_path/etc/<name>``."""
    path = tmp_path / "etc" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def error_of(path: Path) -> str:
    """The message of the ConfigError loading ``path`` raises (it must raise one)."""
    try:
        load_config(path)
    except ConfigError as error:
        return str(error)
    raise AssertionError(f"{path} loaded without a ConfigError")


def cli_config(path: Path, database_url: str) -> Path:
    """The operator's configuration for the CLI: the homeserver ``fk.test``, the database
    at ``database_url``, logging at WARNING."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(
        "[matrix]\n"
        'homeserver = "https://matrix.fk.test"\n'
        'user_id = "@fallbot:fk.test"\n'
        'allowed_homeservers = ["fk.test"]\n'
        "\n[database]\n"
        f'url = "{database_url}"\n'
        "\n[logging]\n"
        'level = "WARNING"\n',
        encoding="utf-8",
    )
    return path
