"""Configuration: a TOML file, secrets only from the environment or files, clear German errors."""

from __future__ import annotations

import base64
import os
import re
import secrets
import tomllib
from pathlib import Path

import pytest

from bot.config import load_config
from bot.testing.configs import MINIMAL, error_of, write

EXAMPLE = Path(__file__).resolve().parents[2] / "config.example.toml"


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No FKBOT_* variable of the machine running the tests may leak in; cwd is elsewhere."""
    for name in list(os.environ):
        if name.upper().startswith("FKBOT_"):
            monkeypatch.delenv(name)
    elsewhere = tmp_path / "cwd"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)


# Random-looking keys of 32+ bytes: weak ones are refused (see the tests at the end).
ENV_KEY = "pickle-Umgebung-Xk3-9fQz_LmN2pR8sT4vW6yA1bC5"
FILE_KEY = "pickle-Datei-dE7gH0jK_Xk3-9fQzLmN2pR8sT4vW6"
SYSTEMD_KEY = "systemd-Lm2pR8sT4vW6yA1bC5dE7gH0jKXk3-9fQz"


def private(path: Path, text: str) -> Path:
    """A secret file as an operator must create it: readable by its owner only."""
    path.write_text(text, encoding="utf-8")
    path.chmod(0o600)
    return path


def test_minimal_config_loads_with_defaults(tmp_path: Path) -> None:
    path = write(tmp_path, MINIMAL)
    settings = load_config(path)
    matrix = settings.matrix
    assert matrix.homeserver == "https://matrix.fk.test"
    assert matrix.user_id == "@fallbot:fk.test"
    assert matrix.server_name == "fk.test"
    assert matrix.allowed_homeservers == ("fk.test", "partner.example")
    assert matrix.device_id == "FALLKONFERENZBOT"
    assert matrix.require_encryption is True
    assert matrix.password is None
    assert matrix.pickle_key is None
    assert matrix.undecryptable_timeout_seconds == 60
    assert settings.bot.command_prefix == "!fk"
    assert settings.bot.max_message_length == 4000
    assert settings.logging.level == "INFO"
    # default relative paths are relative to the file, too
    assert matrix.store_path == path.parent / "var" / "store"
    assert settings.database.url == f"sqlite:///{path.parent / 'var' / 'fkbot.sqlite3'}"


def test_unknown_key_is_named(tmp_path: Path) -> None:
    path = write(tmp_path, MINIMAL + 'homeservr = "https://tippfehler.example"\n')
    message = error_of(path)
    assert "matrix.homeservr: unbekannter Schlüssel" in message
    assert message.startswith(f"{path}: 1 Fehler in der Konfiguration:")


def test_misspelled_key_reports_both_the_unknown_and_the_missing_key(tmp_path: Path) -> None:
    path = write(tmp_path, MINIMAL.replace("homeserver =", "homeservr ="))
    message = error_of(path)
    assert "2 Fehler" in message
    assert "  - matrix.homeservr: unbekannter Schlüssel" in message
    assert "  - matrix.homeserver: fehlt" in message


def test_unknown_section_is_named(tmp_path: Path) -> None:
    path = write(tmp_path, MINIMAL + "[datenbank]\nurl = 'x'\n")
    assert "datenbank: unbekannter Schlüssel" in error_of(path)


def test_missing_required_key(tmp_path: Path) -> None:
    path = write(tmp_path, MINIMAL.replace('user_id = "@fallbot:fk.test"\n', ""))
    assert "matrix.user_id: fehlt" in error_of(path)


def test_missing_matrix_section(tmp_path: Path) -> None:
    path = write(tmp_path, '[bot]\ncommand_prefix = "!fk"\n')
    assert "  - matrix: fehlt" in error_of(path)


@pytest.mark.parametrize(
    ("replacement", "expected"),
    [
        (('user_id = "@fallbot:fk.test"', 'user_id = "fallbot"'), "matrix.user_id: hat nicht"),
        (
            ('allowed_homeservers = ["FK.test", " partner.example "]', "allowed_homeservers = []"),
            "matrix.allowed_homeservers: darf nicht leer sein",
        ),
        (("[matrix]", "[matrix]\nsync_timeout_seconds = 0"), "sync_timeout_seconds: ist zu klein"),
        (("[matrix]", "[matrix]\ntimeline_limit = 5000"), "timeline_limit: ist zu groß"),
        (("[matrix]", "[matrix]\nrequire_encryption = 'vielleicht'"), "muss true oder false"),
    ],
)
def test_invalid_values_are_explained(
    tmp_path: Path, replacement: tuple[str, str], expected: str
) -> None:
    path = write(tmp_path, MINIMAL.replace(*replacement))
    assert expected in error_of(path)


def test_invalid_literal_lists_the_allowed_values(tmp_path: Path) -> None:
    path = write(tmp_path, MINIMAL + '[logging]\nlevel = "LAUT"\n')
    message = error_of(path)
    assert "logging.level: ist keiner der erlaubten Werte" in message
    assert "'DEBUG'" in message


@pytest.mark.parametrize("url", ["matrix.fk.test", "ftp://matrix.fk.test", "//matrix.fk.test"])
def test_invalid_homeserver_url(tmp_path: Path, url: str) -> None:
    path = write(tmp_path, MINIMAL.replace("https://matrix.fk.test/", url))
    assert "matrix.homeserver: muss mit http:// oder https:// beginnen" in error_of(path)


def test_invalid_toml_syntax(tmp_path: Path) -> None:
    path = write(tmp_path, "[matrix\nhomeserver = \n")
    message = error_of(path)
    assert message.startswith(f"{path}: kein gültiges TOML")


def test_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "gibt-es-nicht.toml"
    assert error_of(path) == f"Konfigurationsdatei {path} nicht gefunden."


@pytest.mark.parametrize(
    ("key", "variable"),
    [("password", "FKBOT_MATRIX__PASSWORD"), ("pickle_key", "FKBOT_MATRIX__PICKLE_KEY")],
)
def test_secrets_in_the_toml_file_are_refused(tmp_path: Path, key: str, variable: str) -> None:
    path = write(tmp_path, MINIMAL + f'{key} = "hunter2-streng-geheim"\n')
    message = error_of(path)
    assert f"matrix.{key} darf nicht in der TOML-Datei stehen" in message
    assert variable in message
    assert f"matrix.{key}_file" in message
    assert "hunter2" not in message


def test_secrets_come_from_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FKBOT_MATRIX__PASSWORD", "pw-aus-der-umgebung")
    monkeypatch.setenv("FKBOT_MATRIX__PICKLE_KEY", ENV_KEY)
    settings = load_config(write(tmp_path, MINIMAL))
    assert settings.matrix.password is not None
    assert settings.matrix.password.get_secret_value() == "pw-aus-der-umgebung"
    assert settings.matrix.pickle_key is not None
    assert settings.matrix.pickle_key.get_secret_value() == ENV_KEY
    shown = repr(settings) + str(settings) + settings.model_dump_json()
    assert "pw-aus-der-umgebung" not in shown
    assert ENV_KEY not in shown


def test_secrets_come_from_files(tmp_path: Path) -> None:
    secrets = tmp_path / "secrets"
    secrets.mkdir()
    private(secrets / "password", "pw-aus-datei\n")
    private(secrets / "pickle", f"  {FILE_KEY}  \n")
    path = write(
        tmp_path,
        MINIMAL
        + f'password_file = "{secrets / "password"}"\n'
        + f'pickle_key_file = "{secrets / "pickle"}"\n',
    )
    settings = load_config(path)
    assert settings.matrix.password is not None
    assert settings.matrix.password.get_secret_value() == "pw-aus-datei"
    assert settings.matrix.pickle_key is not None
    assert settings.matrix.pickle_key.get_secret_value() == FILE_KEY


def test_secret_file_named_in_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The systemd unit in OPERATIONS.md passes credentials this way."""
    credential = tmp_path / "credentials" / "fkbot_pickle_key"
    credential.parent.mkdir()
    private(credential, SYSTEMD_KEY)
    monkeypatch.setenv("FKBOT_MATRIX__PICKLE_KEY_FILE", str(credential))
    settings = load_config(write(tmp_path, MINIMAL))
    assert settings.matrix.pickle_key is not None
    assert settings.matrix.pickle_key.get_secret_value() == SYSTEMD_KEY


def test_environment_secret_wins_over_the_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FKBOT_MATRIX__PASSWORD", "aus-der-umgebung")
    path = write(tmp_path, MINIMAL + f'password_file = "{tmp_path / "fehlt"}"\n')
    settings = load_config(path)
    assert settings.matrix.password is not None
    assert settings.matrix.password.get_secret_value() == "aus-der-umgebung"


@pytest.mark.parametrize("key", ["password_file", "pickle_key_file"])
def test_missing_secret_file_is_a_clear_error(tmp_path: Path, key: str) -> None:
    missing = tmp_path / "secrets" / "fehlt"
    message = error_of(write(tmp_path, MINIMAL + f'{key} = "{missing}"\n'))
    assert f"{key} {missing} kann nicht gelesen werden" in message


@pytest.mark.parametrize("key", ["password_file", "pickle_key_file"])
def test_empty_secret_file_is_a_clear_error(tmp_path: Path, key: str) -> None:
    empty = tmp_path / "leer"
    private(empty, " \n\n")
    message = error_of(write(tmp_path, MINIMAL + f'{key} = "{empty}"\n'))
    assert f"{key} {empty} ist leer" in message


def test_relative_secret_file_is_relative_to_the_config_file(tmp_path: Path) -> None:
    path = write(tmp_path, MINIMAL + 'password_file = "secrets/password"\n')
    (path.parent / "secrets").mkdir()
    private(path.parent / "secrets" / "password", "neben-der-datei")
    settings = load_config(path)
    assert settings.matrix.password is not None
    assert settings.matrix.password.get_secret_value() == "neben-der-datei"


def test_environment_overrides_the_file_key_by_key(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write(
        tmp_path, MINIMAL + '[bot]\ncommand_prefix = "!datei"\nmax_message_length = 5000\n'
    )
    monkeypatch.setenv("FKBOT_BOT__COMMAND_PREFIX", "!umgebung")
    monkeypatch.setenv("FKBOT_MATRIX__HOMESERVER", "https://anders.fk.test")
    settings = load_config(path)
    assert settings.bot.command_prefix == "!umgebung"
    assert settings.bot.max_message_length == 5000  # the rest of the section stays
    assert settings.matrix.homeserver == "https://anders.fk.test"
    assert settings.matrix.user_id == "@fallbot:fk.test"


def test_environment_values_are_validated_too(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FKBOT_BOT__COMMAND_PREFIX", "zwei wörter")
    assert "bot.command_prefix: hat nicht das erwartete Format" in error_of(
        write(tmp_path, MINIMAL)
    )


def test_relative_paths_are_relative_to_the_config_file(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        MINIMAL.replace("[matrix]", "[matrix]\nstore_path = 'state/store'")
        + '[database]\nurl = "sqlite:///data/fk.sqlite3"\n',
    )
    assert Path.cwd() != path.parent
    settings = load_config(path)
    assert settings.matrix.store_path == path.parent / "state" / "store"
    assert settings.matrix.store_path.is_absolute()
    assert settings.database.url == f"sqlite:///{path.parent / 'data' / 'fk.sqlite3'}"


@pytest.mark.parametrize(
    "url",
    [
        "sqlite:////var/lib/fkbot/fk.sqlite3",
        "sqlite:///:memory:",
        "postgresql+psycopg://fkbot@127.0.0.1:5432/fkbot",
    ],
)
def test_absolute_and_non_file_urls_are_kept(tmp_path: Path, url: str) -> None:
    settings = load_config(write(tmp_path, MINIMAL + f'[database]\nurl = "{url}"\n'))
    assert settings.database.url == url


def test_absolute_store_path_is_kept(tmp_path: Path) -> None:
    store = tmp_path / "absolut" / "store"
    path = write(tmp_path, MINIMAL.replace("[matrix]", f"[matrix]\nstore_path = '{store}'"))
    assert load_config(path).matrix.store_path == store


def test_settings_are_frozen(tmp_path: Path) -> None:
    settings = load_config(write(tmp_path, MINIMAL))
    with pytest.raises(ValueError, match="frozen"):
        settings.bot.command_prefix = "!x"  # type: ignore[misc]


# -- the shipped example ------------------------------------------------------------------------


def _example_with_local_secret_files(tmp_path: Path) -> Path:
    """The example with its secret file paths pointed at files that exist here."""
    text = EXAMPLE.read_text(encoding="utf-8")
    for key in ("password_file", "pickle_key_file"):
        secret = tmp_path / "secrets" / key
        secret.parent.mkdir(exist_ok=True)
        private(secret, f"wert-{key}-9fQz_LmN2pR8sT4vW6yA1bC5dE7gH0jKx")
        text = re.sub(rf'(?m)^(\s*{key}\s*=\s*)".*"', rf'\g<1>"{secret}"', text)
    return write(tmp_path, text, "config.example.toml")


def test_every_key_of_the_example_config_loads(tmp_path: Path) -> None:
    if not EXAMPLE.exists():
        pytest.skip(f"{EXAMPLE.name} does not exist yet")
    data = tomllib.loads(EXAMPLE.read_text(encoding="utf-8"))
    copy = _example_with_local_secret_files(tmp_path)
    settings = load_config(copy)

    assert data, "the example sets no key at all"
    for section, values in data.items():
        loaded = getattr(settings, section)
        for key, value in values.items():
            got = getattr(loaded, key)
            if key.endswith("_file"):
                continue  # pointed at local files above
            if isinstance(got, Path):
                assert got == copy.parent / value, key  # relative to the file
            elif section == "database" and key == "url" and not value.startswith("sqlite:////"):
                assert got.startswith(value.split(":///")[0]), key
            elif key == "allowed_homeservers":
                assert list(got) == [v.lower() for v in value], key
            elif key == "people":
                dumped = [p.model_dump(mode="json", exclude_none=True) for p in got]
                assert dumped == value, key
            elif key == "institutions":
                assert {k: v.model_dump(mode="json") for k, v in got.items()} == value, key
            elif isinstance(got, tuple):
                assert list(got) == value, key
            elif key == "homeserver":
                assert got == value.rstrip("/"), key
            else:
                assert got == value, f"{section}.{key}"
    # every secret file named in the example was read
    if "password_file" in data.get("matrix", {}):
        assert settings.matrix.password is not None
    if "pickle_key_file" in data.get("matrix", {}):
        assert settings.matrix.pickle_key is not None


def test_example_config_names_no_secret_directly() -> None:
    if not EXAMPLE.exists():
        pytest.skip(f"{EXAMPLE.name} does not exist yet")
    data = tomllib.loads(EXAMPLE.read_text(encoding="utf-8"))
    assert "password" not in data.get("matrix", {})
    assert "pickle_key" not in data.get("matrix", {})


# -- secrets must be strong and private (issue 12) ----------------------------------------


@pytest.mark.parametrize(
    ("key", "why"),
    [
        ("", "zu kurz"),
        ("kurz-aber-zufällig-Xk3", "zu kurz"),
        ("a" * 64, "zu einfach"),
        ("ab" * 32, "zu einfach"),
        ("passwortpasswortpasswortpasswort", "zu einfach"),
    ],
)
def test_a_weak_pickle_key_is_refused_in_german(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, key: str, why: str
) -> None:
    monkeypatch.setenv("FKBOT_MATRIX__PICKLE_KEY", key)
    message = error_of(write(tmp_path, MINIMAL))
    assert f"Pickle-Schlüssel {why}" in message
    assert "openssl rand -base64 32" in message
    if key:
        assert key not in message


@pytest.mark.parametrize(
    "key",
    [
        secrets.token_urlsafe(32),
        base64.b64encode(secrets.token_bytes(32)).decode(),  # openssl rand -base64 32
        secrets.token_hex(32),
    ],
)
def test_a_random_pickle_key_is_accepted(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, key: str
) -> None:
    monkeypatch.setenv("FKBOT_MATRIX__PICKLE_KEY", key)
    settings = load_config(write(tmp_path, MINIMAL))
    assert settings.matrix.pickle_key is not None


@pytest.mark.parametrize("key", ["password_file", "pickle_key_file"])
@pytest.mark.parametrize("mode", [0o644, 0o640, 0o604, 0o660])
def test_a_secret_file_readable_by_group_or_others_is_refused(
    tmp_path: Path, key: str, mode: int
) -> None:
    secret = private(tmp_path / "geheim", FILE_KEY)
    secret.chmod(mode)
    message = error_of(write(tmp_path, MINIMAL + f'{key} = "{secret}"\n'))
    assert f"{key} {secret} ist für Gruppe oder andere lesbar (Modus {mode:04o})" in message
    assert f"chmod 600 {secret}" in message
    assert FILE_KEY not in message


@pytest.mark.parametrize("mode", [0o600, 0o400])
def test_a_private_secret_file_is_read(tmp_path: Path, mode: int) -> None:
    secret = private(tmp_path / "geheim", FILE_KEY)
    secret.chmod(mode)
    settings = load_config(write(tmp_path, MINIMAL + f'pickle_key_file = "{secret}"\n'))
    assert settings.matrix.pickle_key is not None


def test_a_stored_login_readable_by_others_is_refused(tmp_path: Path) -> None:
    from bot.errors import CredentialsError
    from bot.matrix import Credentials, load_credentials, save_credentials

    store = tmp_path / "store"
    save_credentials(store, Credentials("https://hs", "@bot:fk.test", "DEV", "token"))
    assert load_credentials(store) is not None
    (store / "credentials.json").chmod(0o644)
    with pytest.raises(CredentialsError, match="für Gruppe oder andere lesbar"):
        load_credentials(store)


def test_sealed_identity_readable_by_others_is_refused(tmp_path: Path) -> None:
    from bot.identity import IDENTITY_FILE, CrossSigningKeys, IdentityError

    keys = CrossSigningKeys.generate()
    keys.save(tmp_path, FILE_KEY)
    assert CrossSigningKeys.load(tmp_path, FILE_KEY) is not None
    (tmp_path / IDENTITY_FILE).chmod(0o640)
    with pytest.raises(IdentityError, match="für Gruppe oder andere lesbar"):
        CrossSigningKeys.load(tmp_path, FILE_KEY)
