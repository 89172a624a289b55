"""Run a real, throwaway Synapse homeserver on 127.0.0.1 for tests, the demo and benchmarks.

Synapse pins its own dependency versions, so it lives in a virtualenv of its own
(see :func:`ensure_synapse_python`) and is driven purely as a subprocess over HTTP.
This module uses only the standard library so it works from any environment.
"""

from __future__ import annotations

import atexit
import base64
import contextlib
import fcntl
import hashlib
import hmac
import json
import logging
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, Self

log = logging.getLogger(__name__)

REQUIREMENTS_FILE = Path(__file__).with_name("synapse-requirements.txt")
LOOPBACK = "127.0.0.1"
_MARKER_NAME = ".fkbot-synapse-requirements.sha256"
_START_TIMEOUT_S = 60.0
_POLL_INTERVAL_S = 0.05
_STOP_TIMEOUT_S = 10.0
_GENEROUS = {"per_second": 1000, "burst_count": 1000}

# Processes we launched in their own session do not die with the test runner; this
# makes sure an interrupted run does not leave homeservers behind.
_live_processes: set[subprocess.Popen[bytes]] = set()
# Verified venv python per venv directory, so repeated calls skip the import check.
_verified: dict[Path, Path] = {}

# urllib honours *_proxy variables; traffic to our loopback server must never be proxied.
_opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))


# --------------------------------------------------------------------------- venv


def _default_venv_dir() -> Path:
    explicit = os.environ.get("FKBOT_SYNAPSE_VENV")
    if explicit:
        return Path(explicit).expanduser().resolve()
    project_root = Path(__file__).resolve().parents[2]
    if (project_root / "pyproject.toml").is_file():
        return project_root / ".venv-synapse"
    return Path.home() / ".cache" / "fallkonferenz-bot" / "synapse-venv"


def _requirements_hash() -> str:
    return hashlib.sha256(REQUIREMENTS_FILE.read_bytes()).hexdigest()


def _subprocess_env() -> dict[str, str]:
    """Environment for Synapse's interpreter: our own PYTHONPATH/venv must not leak in."""
    env = dict(os.environ)
    for name in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV", "PYTHONSTARTUP"):
        env.pop(name, None)
    return env


def _venv_python(venv: Path) -> Path:
    return venv / "bin" / "python"


def _synapse_importable(python: Path) -> bool:
    if not python.exists():
        return False
    result = subprocess.run(
        [str(python), "-c", "import synapse"],
        capture_output=True,
        env=_subprocess_env(),
        check=False,
    )
    return result.returncode == 0


def _run_checked(cmd: list[str], what: str) -> None:
    result = subprocess.run(cmd, capture_output=True, text=True, env=_subprocess_env(), check=False)
    if result.returncode != 0:
        tail = (result.stdout + result.stderr)[-4000:]
        raise RuntimeError(f"{what} failed (exit {result.returncode}): {' '.join(cmd)}\n{tail}")


def ensure_synapse_python() -> Path:
    """Return the python of a virtualenv with Synapse installed, installing it once if needed.

    ``FKBOT_SYNAPSE_PYTHON`` short-circuits everything (e.g. a preinstalled Synapse in
    CI). Otherwise the venv is at ``FKBOT_SYNAPSE_VENV``, ``<checkout>/.venv-synapse`` or
    ``~/.cache/fallkonferenz-bot/synapse-venv``. Creation is serialised with a file lock
    because parallel test processes would otherwise install into the same directory.
    """
    explicit = os.environ.get("FKBOT_SYNAPSE_PYTHON")
    if explicit:
        python = Path(explicit).expanduser()
        if not python.exists():
            raise FileNotFoundError(f"FKBOT_SYNAPSE_PYTHON={explicit} does not exist")
        return python

    venv = _default_venv_dir()
    if venv in _verified:
        return _verified[venv]

    # The lock lives inside the venv directory (never --clear'ed), so it is covered by
    # the checkout's .gitignore and cannot be deleted while another process holds it.
    venv.mkdir(parents=True, exist_ok=True)
    python = _venv_python(venv)
    marker = venv / _MARKER_NAME
    wanted = _requirements_hash()
    with (venv / ".fkbot-install.lock").open("w") as lock_file:
        fcntl.flock(lock_file, fcntl.LOCK_EX)
        try:
            current = marker.read_text().strip() if marker.exists() else None
            if current == wanted and _synapse_importable(python):
                log.debug("Synapse venv %s is up to date", venv)
            else:
                _install(venv, python, marker, wanted)
        finally:
            fcntl.flock(lock_file, fcntl.LOCK_UN)
    _verified[venv] = python
    return python


def _install(venv: Path, python: Path, marker: Path, wanted: str) -> None:
    print(f"Installing Synapse into {venv} (once, ~1 min) …", file=sys.stderr, flush=True)
    started = time.monotonic()
    marker.unlink(missing_ok=True)
    if not python.exists():
        log.info("Creating virtualenv %s", venv)
        _run_checked([sys.executable, "-m", "venv", str(venv)], "Creating Synapse venv")
    log.info("Installing %s into %s", REQUIREMENTS_FILE.name, venv)
    _run_checked(
        [
            str(python),
            "-m",
            "pip",
            "install",
            "-q",
            "--disable-pip-version-check",
            "-r",
            str(REQUIREMENTS_FILE),
        ],
        "Installing Synapse",
    )
    if not _synapse_importable(python):
        raise RuntimeError(f"Synapse still not importable with {python} after installation")
    marker.write_text(wanted + "\n")
    log.info("Synapse installed into %s in %.1f s", venv, time.monotonic() - started)


# --------------------------------------------------------------------------- server


@dataclass(frozen=True)
class RegisteredUser:
    """Credentials of a user created through the shared-secret admin API."""

    user_id: str
    password: str
    access_token: str
    device_id: str
    localpart: str


def _free_loopback_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((LOOPBACK, 0))
        port: int = sock.getsockname()[1]
        return port


def _unpadded_b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii").rstrip("=")


class SynapseServer:
    """One homeserver with its data under ``workdir``.

    The port is fixed at construction so that ``stop(); start()`` brings back the same
    server (same URL, same database) — tests use that to exercise reconnects.
    """

    def __init__(
        self,
        workdir: Path | str,
        *,
        server_name: str = "fk.test",
        port: int | None = None,
        log_level: str = "INFO",
    ) -> None:
        self.workdir: Path = Path(workdir).resolve()
        self.server_name: str = server_name
        self.port: int = port if port is not None else _free_loopback_port()
        # INFO keeps the access log for debugging failed tests; benchmarks pass
        # "WARNING", which makes start-up and requests measurably cheaper.
        self.log_level: str = log_level
        # Stable across restarts so nothing derived from them is invalidated.
        self.registration_shared_secret: str = secrets.token_urlsafe(32)
        self._macaroon_secret_key: str = secrets.token_urlsafe(32)
        self._form_secret: str = secrets.token_urlsafe(32)
        self._process: subprocess.Popen[bytes] | None = None

    # -- paths and URLs ---------------------------------------------------------

    @property
    def base_url(self) -> str:
        return f"http://{LOOPBACK}:{self.port}"

    @property
    def config_path(self) -> Path:
        return self.workdir / "homeserver.yaml"

    @property
    def log_path(self) -> Path:
        return self.workdir / "homeserver.log"

    @property
    def output_path(self) -> Path:
        return self.workdir / "synapse.out"

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    # -- configuration ----------------------------------------------------------

    def _config(self) -> dict[str, Any]:
        rate_limits: dict[str, Any] = {
            "rc_message": _GENEROUS,
            "rc_registration": _GENEROUS,
            "rc_login": {
                "address": _GENEROUS,
                "account": _GENEROUS,
                "failed_attempts": _GENEROUS,
            },
            "rc_joins": {"local": _GENEROUS, "remote": _GENEROUS},
            "rc_invites": {
                "per_room": _GENEROUS,
                "per_user": _GENEROUS,
                "per_issuer": _GENEROUS,
            },
            "rc_admin_redaction": _GENEROUS,
            "rc_3pid_validation": _GENEROUS,
            "rc_key_requests": _GENEROUS,
            # Not in the brief's list, but their defaults bite tests and benchmarks
            # (e.g. rc_room_creation allows ~1 room per minute after a burst of 10).
            "rc_room_creation": _GENEROUS,
            "rc_joins_per_room": _GENEROUS,
            "rc_media_create": _GENEROUS,
            "rc_third_party_invite": _GENEROUS,
            "rc_registration_token_validity": _GENEROUS,
            "rc_presence": {"per_user": _GENEROUS},
            "rc_delayed_event_mgmt": _GENEROUS,
            "rc_reports": _GENEROUS,
            "rc_profile": _GENEROUS,
            "rc_user_directory": _GENEROUS,
        }
        return {
            "server_name": self.server_name,
            "public_baseurl": self.base_url + "/",
            "pid_file": str(self.workdir / "homeserver.pid"),
            "listeners": [
                {
                    "port": self.port,
                    "bind_addresses": [LOOPBACK],
                    "type": "http",
                    "tls": False,
                    "x_forwarded": False,
                    "resources": [{"names": ["client"], "compress": False}],
                }
            ],
            "database": {
                "name": "sqlite3",
                "args": {"database": str(self.workdir / "homeserver.db")},
            },
            "log_config": str(self.workdir / "log.config"),
            "media_store_path": str(self.workdir / "media_store"),
            "signing_key_path": str(self.workdir / "signing.key"),
            "registration_shared_secret": self.registration_shared_secret,
            "macaroon_secret_key": self._macaroon_secret_key,
            "form_secret": self._form_secret,
            "report_stats": False,
            "enable_metrics": False,
            "bcrypt_rounds": 4,
            "enable_registration": False,
            "suppress_key_server_warning": True,
            "trusted_key_servers": [],
            "url_preview_enabled": False,
            "presence": {"enabled": False},
            "max_upload_size": "10M",
            **rate_limits,
        }

    def _log_config(self) -> dict[str, Any]:
        return {
            "version": 1,
            "formatters": {
                "precise": {"format": "%(asctime)s %(name)s %(levelname)s %(message)s"},
            },
            "handlers": {
                "file": {
                    "class": "logging.FileHandler",
                    "formatter": "precise",
                    "filename": str(self.log_path),
                    "encoding": "utf8",
                },
            },
            "loggers": {"synapse.storage.SQL": {"level": "WARNING"}},
            "root": {"level": self.log_level, "handlers": ["file"]},
            "disable_existing_loggers": False,
        }

    def _write_config(self) -> None:
        """Write config files; JSON is valid YAML, so no YAML library is needed here."""
        self.workdir.mkdir(parents=True, exist_ok=True)
        (self.workdir / "media_store").mkdir(exist_ok=True)
        self.config_path.write_text(json.dumps(self._config(), indent=2) + "\n")
        (self.workdir / "log.config").write_text(json.dumps(self._log_config(), indent=2) + "\n")
        key_path = self.workdir / "signing.key"
        if not key_path.exists():
            # Same format Synapse's --generate-keys writes (ed25519 seed, unpadded base64);
            # writing it ourselves saves launching Synapse a second time.
            version = "a_" + secrets.token_hex(2)
            key_path.write_text(f"ed25519 {version} {_unpadded_b64(secrets.token_bytes(32))}\n")
            key_path.chmod(0o600)

    # -- lifecycle --------------------------------------------------------------

    def start(self) -> None:
        """Launch Synapse and block until the client API answers."""
        if self.running:
            raise RuntimeError(f"Synapse at {self.base_url} is already running")
        python = ensure_synapse_python()
        self._write_config()
        started = time.monotonic()
        with self.output_path.open("ab") as out:
            process = subprocess.Popen(
                [str(python), "-m", "synapse.app.homeserver", "-c", str(self.config_path)],
                cwd=self.workdir,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                env=_subprocess_env(),
                start_new_session=True,
            )
        self._process = process
        _live_processes.add(process)
        try:
            self._wait_until_ready(process, started)
        except BaseException:
            self.stop()
            raise
        log.info(
            "Synapse %s ready at %s after %.2f s",
            self.server_name,
            self.base_url,
            time.monotonic() - started,
        )

    def _wait_until_ready(self, process: subprocess.Popen[bytes], started: float) -> None:
        url = self.base_url + "/_matrix/client/versions"
        while True:
            if process.poll() is not None:
                raise RuntimeError(
                    f"Synapse exited with code {process.returncode} during start-up"
                    f"\n--- tail of {self.output_path} ---\n{self._output_tail()}"
                )
            with contextlib.suppress(OSError), _opener.open(url, timeout=1) as response:
                if response.status == 200:
                    return
            if time.monotonic() - started > _START_TIMEOUT_S:
                raise TimeoutError(
                    f"Synapse did not answer {url} within {_START_TIMEOUT_S:.0f} s"
                    f"\n--- tail of {self.output_path} ---\n{self._output_tail()}"
                )
            time.sleep(_POLL_INTERVAL_S)

    def _output_tail(self, max_chars: int = 4000) -> str:
        try:
            return self.output_path.read_text(errors="replace")[-max_chars:]
        except OSError:
            return "(no output)"

    def stop(self) -> None:
        """Terminate Synapse (SIGTERM, then SIGKILL after 10 s); a no-op if not running."""
        process = self._process
        if process is None:
            return
        self._process = None
        _terminate(process, _STOP_TIMEOUT_S)

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # -- admin API --------------------------------------------------------------

    def register(
        self,
        localpart: str,
        password: str | None = None,
        *,
        admin: bool = False,
        displayname: str | None = None,
    ) -> RegisteredUser:
        """Create a user via the shared-secret admin API (works with registration disabled)."""
        if password is None:
            password = secrets.token_urlsafe(16)
        url = self.base_url + "/_synapse/admin/v1/register"
        nonce = str(_request_json("GET", url)["nonce"])
        mac = hmac.new(self.registration_shared_secret.encode(), digestmod=hashlib.sha1)
        mac.update(
            b"\x00".join(
                [
                    nonce.encode(),
                    localpart.encode(),
                    password.encode(),
                    b"admin" if admin else b"notadmin",
                ]
            )
        )
        body: dict[str, Any] = {
            "nonce": nonce,
            "username": localpart,
            "password": password,
            "admin": admin,
            "mac": mac.hexdigest(),
        }
        if displayname is not None:
            body["displayname"] = displayname
        reply = _request_json("POST", url, body)
        return RegisteredUser(
            user_id=str(reply["user_id"]),
            password=password,
            access_token=str(reply["access_token"]),
            device_id=str(reply["device_id"]),
            localpart=localpart,
        )


def _request_json(method: str, url: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
    data = None if body is None else json.dumps(body).encode()
    # Only ever called with URLs built from base_url (http://127.0.0.1:<port>).
    request = urllib.request.Request(url, data=data, method=method)  # noqa: S310
    if data is not None:
        request.add_header("Content-Type", "application/json")
    try:
        with _opener.open(request, timeout=30) as response:
            result: dict[str, Any] = json.loads(response.read())
            return result
    except urllib.error.HTTPError as err:
        detail = err.read().decode(errors="replace")
        raise RuntimeError(f"{method} {url} failed: HTTP {err.code}: {detail}") from err


def _terminate(process: subprocess.Popen[bytes], timeout: float) -> None:
    if process.poll() is None:
        # Own process group (start_new_session), so signal the group, not just the leader.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            log.warning("Synapse (pid %d) ignored SIGTERM; killing it", process.pid)
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait()
    _live_processes.discard(process)


@atexit.register
def _kill_leftovers() -> None:
    for process in list(_live_processes):
        _terminate(process, 2.0)
