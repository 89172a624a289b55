"""Set up and run the real bot against a test homeserver: in-process or as a ``fkbot run`` process.

The in-process runner is for speed; the subprocess runner is for crash tests
(``FKBOT_CRASH_AT`` makes it kill -9 itself at a chosen point).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import secrets
import signal
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bot.app import App
from bot.config import Settings, load_config
from bot.testing.synapse import RegisteredUser, SynapseServer

_opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def _toml_value(value: Any) -> str:
    return json.dumps(value) if not isinstance(value, bool) else str(value).lower()


INSTITUTIONS: dict[str, dict[str, str]] = {
    "jugendamt": {"name": "Jugendamt Wetterau", "type": "jugendamt"},
    "jobcenter": {"name": "Jobcenter Wetterau", "type": "jobcenter"},
    "agentur": {"name": "Agentur für Arbeit", "type": "agentur"},
    "traeger-xyz": {"name": "Träger XYZ", "type": "traeger"},
}


def default_agency(
    server_name: str,
    people: list[dict[str, Any]] | None = None,
    allowed: list[str] | None = None,
) -> dict[str, Any]:
    """Test institutions; ``people`` first, then everyone else on the server as Jugendamt.

    The server-wide entry is left out when the server is not on the allow-list.
    """
    everyone = {"server": server_name, "institution": "jugendamt", "roles": ["fachkraft"]}
    on_list = allowed is None or server_name in allowed
    return {
        "institutions": INSTITUTIONS,
        "people": [*(people or []), *([everyone] if on_list else [])],
    }


def agency_toml(agency: dict[str, Any]) -> list[str]:
    lines = ["[agency]"]
    lines += [
        f"{k} = {_toml_value(v)}" for k, v in agency.items() if k not in ("institutions", "people")
    ]
    for key, spec in agency.get("institutions", {}).items():
        lines += ["", f"[agency.institutions.{key}]"]
        lines += [f"{k} = {_toml_value(v)}" for k, v in spec.items()]
    for person in agency.get("people", []):
        lines += ["", "[[agency.people]]"]
        lines += [f"{k} = {_toml_value(v)}" for k, v in person.items()]
    return lines


@dataclass
class BotSetup:
    workdir: Path
    config_path: Path
    user_id: str
    env: dict[str, str]
    matrix_overrides: dict[str, Any] = field(default_factory=dict)

    @contextlib.contextmanager
    def environment(self) -> Iterator[None]:
        saved = {k: os.environ.get(k) for k in self.env}
        os.environ.update(self.env)
        try:
            yield
        finally:
            for key, value in saved.items():
                if value is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = value

    def settings(self) -> Settings:
        with self.environment():
            return load_config(self.config_path)

    def cli(
        self, *args: str, env: dict[str, str] | None = None
    ) -> subprocess.CompletedProcess[str]:
        """``python -m bot <args> --config <this config>``, with this bot's secrets (or ``env``)."""
        return subprocess.run(
            [sys.executable, "-m", "bot", *args, "--config", str(self.config_path)],
            env={**os.environ, **(self.env if env is None else env)},
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )


def drop_registration_device(server: SynapseServer, user: RegisteredUser) -> None:
    """Registration made a device the bot never uses; delete it by logging that token out."""
    request = urllib.request.Request(  # noqa: S310 - loopback test server
        f"{server.base_url}/_matrix/client/v3/logout",
        data=b"{}",
        method="POST",
        headers={
            "Authorization": f"Bearer {user.access_token}",
            "Content-Type": "application/json",
        },
    )
    with _opener.open(request, timeout=10):
        pass


def prepare_bot(
    server: SynapseServer,
    workdir: Path,
    *,
    localpart: str | None = None,
    allowed_homeservers: list[str] | None = None,
    agency: dict[str, Any] | None = None,
    database_url: str = "sqlite:///fkbot.sqlite3",
    **matrix_overrides: Any,
) -> BotSetup:
    """Register a bot user and write its config.toml (secrets go to the environment).

    ``agency`` is the ``[agency]`` section; by default every user of the test
    server is a Jugendamt ``fachkraft`` (see :func:`default_agency`). With a
    PostgreSQL ``database_url`` several ``fkbot run`` of this setup are one bot,
    active and standby (bot/activelock.py), sharing the store directory.
    """
    localpart = localpart or f"fkbot-{secrets.token_hex(3)}"
    user = server.register(localpart, displayname="Fallkonferenz-Bot")
    drop_registration_device(server, user)
    workdir.mkdir(parents=True, exist_ok=True)
    matrix: dict[str, Any] = {
        "homeserver": server.base_url,
        "user_id": user.user_id,
        "device_id": "FKBOT" + secrets.token_hex(4).upper(),
        "store_path": "store",
        "allowed_homeservers": allowed_homeservers or [server.server_name],
        "sync_timeout_seconds": 5,
        "undecryptable_timeout_seconds": 10,
    }
    matrix.update(matrix_overrides)
    lines = ["[matrix]"]
    lines += [f"{k} = {_toml_value(v)}" for k, v in matrix.items()]
    lines += [
        "",
        "[database]",
        f"url = {_toml_value(database_url)}",
        "",
        "[logging]",
        'level = "INFO"',
        "",
        "[health]",
        'listen = "127.0.0.1:0"  # a free port: several test bots and runs side by side',
        "",
        *agency_toml(
            agency
            if agency is not None
            else default_agency(server.server_name, None, matrix["allowed_homeservers"])
        ),
    ]
    config_path = workdir / "config.toml"
    config_path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    config_path.chmod(0o600)  # names the store and the database: the bot's user only
    env = {
        "FKBOT_MATRIX__PASSWORD": user.password,
        "FKBOT_MATRIX__PICKLE_KEY": secrets.token_urlsafe(32),
    }
    return BotSetup(workdir, config_path, user.user_id, env, matrix_overrides)


class InProcessBot:
    """The real :class:`App` as an asyncio task in the test's event loop."""

    def __init__(self, setup: BotSetup, **app_kwargs: Any) -> None:
        self.setup = setup
        self.app = App(setup.settings(), **app_kwargs)
        self._task: asyncio.Task[None] | None = None

    async def start(self, timeout: float = 60) -> None:
        self._task = asyncio.create_task(self.app.run(), name="bot")
        waiter = asyncio.create_task(self.app.first_sync_done.wait())
        done, _ = await asyncio.wait(
            {self._task, waiter}, timeout=timeout, return_when=asyncio.FIRST_COMPLETED
        )
        if self._task in done:
            waiter.cancel()
            self._task.result()  # raises what stopped the bot
            raise RuntimeError("bot stopped during start-up")
        if waiter not in done:
            waiter.cancel()
            raise TimeoutError("bot did not finish its first sync")

    async def stop(self) -> None:
        self.app.stop()
        if self._task is not None:
            await asyncio.wait_for(self._task, 30)
            self._task = None


class SubprocessBot:
    """``python -m bot run --config …`` as a child process, as an operator would run it."""

    def __init__(self, setup: BotSetup, name: str = "bot") -> None:
        self.setup = setup
        self.process: subprocess.Popen[bytes] | None = None
        self.log_path = setup.workdir / f"{name}.log"

    def start(self, *, crash_at: str | None = None) -> None:
        env = {**os.environ, **self.setup.env}
        env.pop("FKBOT_CRASH_AT", None)
        if crash_at:
            env["FKBOT_CRASH_AT"] = crash_at
        log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "bot", "run", "--config", str(self.setup.config_path)],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=self.setup.workdir,
        )
        log.close()

    async def wait_exit(self, timeout: float) -> int:
        assert self.process is not None
        deadline = asyncio.get_running_loop().time() + timeout
        while self.process.poll() is None:
            if asyncio.get_running_loop().time() > deadline:
                raise TimeoutError("bot process did not exit")
            await asyncio.sleep(0.05)
        return self.process.returncode

    async def stop(self) -> int:
        """A normal shutdown (SIGTERM), as systemd would do it."""
        assert self.process is not None
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        return await self.wait_exit(30)

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)

    def log_text(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")
