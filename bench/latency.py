"""Command round trip of the real bot next to a bare nio echo bot, on one throwaway Synapse.

    .venv/bin/python bench/latency.py [--sequential 200] [--senders 20] [--per-sender 20]
                                      [--rounds 1] [--json out.json]

Everything runs on 127.0.0.1 in a temporary directory: one Synapse (log level WARNING),
caseworkers as real matrix-nio clients (:class:`bot.testing.peers.Participant`, one
user, device and store each; their sync asks for up to 500 timeline events per room,
so no reply is skipped in a busy room), and two bots as subprocesses, so each one's memory and
CPU can be read from ``/proc``:

* ``floor`` — ``bench/echo_floor.py``, the smallest encrypted nio bot that answers
  ``!fk ping`` (the lower bound for any nio bot on this machine);
* ``bot`` — the real bot, ``python -m bot run --config …`` (``SubprocessBot``).

Loads, each in a fresh encrypted room that the bot has joined, after a warm-up that is
not counted (``--warmup`` commands from the first sender, plus one from every other
sender so that no counted command pays for first-message key sharing):

* ``sequential`` — one sender, N commands, each waiting for its reply;
* ``concurrent`` — S senders in one shared room, each sending P commands sequentially.

Latency is taken from just before the caseworker's send to the moment its client has
received and decrypted the reply (the arrival is stamped in the client's event
callback). A reply that has not come after ``--timeout`` seconds counts as a failure.
Floor and bot run the same load back to back (the order alternates per round); with
``--rounds`` > 1 every figure is the median over the rounds.

Percentiles use the **nearest-rank** method: pXX is the smallest sample such that at
least XX % of the samples are ≤ it, so every figure is a latency actually observed.
Peak RSS is ``VmHWM`` from ``/proc/<pid>/status``, reset before each load by writing
``5`` to ``/proc/<pid>/clear_refs`` (when that is refused, the figure is the
process's lifetime peak and the table marks it with ``*``). CPU seconds are
``utime + stime`` from ``/proc/<pid>/stat`` over the load's measured part.

Two diagnostic columns split the round trip: ``send50`` is the caseworker's own
encrypt + PUT, ``turn50``/``turn99`` the time from the command's to the reply's
``origin_server_ts`` (Synapse's clock): the bot's turnaround including its sync.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import importlib.metadata
import json
import logging
import math
import os
import platform
import resource
import secrets
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from nio import MatrixRoom, RoomMessageNotice, RoomMessageText, SyncResponse

from bot.testing.botrun import SubprocessBot, drop_registration_device, prepare_bot
from bot.testing.peers import Participant
from bot.testing.synapse import RegisteredUser, SynapseServer, ensure_synapse_python

PING = "!fk ping"
PONG = "pong 🏓"
ECHO_FLOOR = Path(__file__).resolve().with_name("echo_floor.py")
JOIN_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 30.0
# A dead or wedged bot must not cost N × timeout: a sender gives up after this many
# failures in a row (the commands it did not send are counted as failures too).
MAX_CONSECUTIVE_FAILURES = 5
CLK_TCK = os.sysconf("SC_CLK_TCK")


# --------------------------------------------------------------------------- /proc


def cpu_seconds(pid: int | None) -> float | None:
    """User + system CPU of one process so far, from /proc/<pid>/stat."""
    if pid is None:
        return None
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command name (field 2) may contain spaces; the fields after ')' are fixed.
    fields = stat.rsplit(")", 1)[1].split()
    utime, stime = int(fields[11]), int(fields[12])
    return (utime + stime) / CLK_TCK


def vm_kib(pid: int, name: str) -> int | None:
    """A ``Vm*`` line of /proc/<pid>/status, in KiB."""
    try:
        lines = Path(f"/proc/{pid}/status").read_text().splitlines()
    except OSError:
        return None
    for line in lines:
        if line.startswith(name + ":"):
            return int(line.split()[1])
    return None


def reset_peak_rss(pid: int) -> bool:
    """Set VmHWM back to the current RSS (Linux ≥ 4.0), so the next peak is this load's."""
    try:
        Path(f"/proc/{pid}/clear_refs").write_text("5")
    except OSError:
        return False
    return True


def self_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def nearest_rank(sorted_data: Sequence[float], pct: float) -> float | None:
    """Nearest-rank percentile of already sorted data; None for no data."""
    if not sorted_data:
        return None
    rank = max(1, math.ceil(pct / 100 * len(sorted_data)))
    return sorted_data[rank - 1]


# --------------------------------------------------------------------------- bots


class BenchBot:
    """A bot under test: a subprocess with a Matrix user."""

    name: str
    user_id: str

    @property
    def pid(self) -> int | None:
        raise NotImplementedError

    def alive(self) -> bool:
        raise NotImplementedError

    def start(self) -> None:
        raise NotImplementedError

    async def stop(self) -> int | None:
        raise NotImplementedError

    def describe_exit(self) -> str:
        raise NotImplementedError


class FloorBot(BenchBot):
    """``bench/echo_floor.py`` as a subprocess, its output in ``floor.log``."""

    def __init__(self, server: SynapseServer, user: RegisteredUser, workdir: Path) -> None:
        self.name = "floor"
        self.user_id = user.user_id
        self._server = server
        self._user = user
        self._workdir = workdir
        self.log_path = workdir / "floor.log"
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None else None

    def alive(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def start(self) -> None:
        self._workdir.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("ab") as out:
            self._process = subprocess.Popen(
                [
                    sys.executable,
                    str(ECHO_FLOOR),
                    "--homeserver",
                    self._server.base_url,
                    "--user",
                    self._user.user_id,
                    "--password",
                    self._user.password,
                    "--store",
                    str(self._workdir / "store"),
                ],
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                cwd=self._workdir,
            )

    async def stop(self) -> int | None:
        process = self._process
        if process is None:
            return None
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                await asyncio.to_thread(process.wait, STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                process.kill()
                await asyncio.to_thread(process.wait, 10)
        return process.returncode

    def describe_exit(self) -> str:
        code = self._process.poll() if self._process else None
        tail = self.log_path.read_text(errors="replace")[-2000:] if self.log_path.exists() else ""
        return f"echo floor exited with {code}\n--- tail of {self.log_path} ---\n{tail}"


class RealBot(BenchBot):
    """The product: ``python -m bot run`` through the test harness's SubprocessBot."""

    def __init__(self, server: SynapseServer, workdir: Path) -> None:
        self.name = "bot"
        self._setup = prepare_bot(server, workdir)
        self.user_id = self._setup.user_id
        self._runner = SubprocessBot(self._setup)

    @property
    def log_path(self) -> Path:
        return self._runner.log_path

    @property
    def pid(self) -> int | None:
        process = self._runner.process
        return process.pid if process is not None else None

    def alive(self) -> bool:
        process = self._runner.process
        return process is not None and process.poll() is None

    def start(self) -> None:
        self._runner.start()

    async def stop(self) -> int | None:
        if self._runner.process is None:
            return None
        try:
            return await self._runner.stop()
        except TimeoutError:
            self._runner.kill()
            return self._runner.process.returncode

    def describe_exit(self) -> str:
        process = self._runner.process
        code = process.poll() if process else None
        tail = self._runner.log_text()[-2000:] if self.log_path.exists() else ""
        return f"bot exited with {code}\n--- tail of {self.log_path} ---\n{tail}"


# --------------------------------------------------------------------------- replies


@dataclass(frozen=True)
class Arrival:
    at: float  # time.perf_counter() when the receiving client handed the event to us
    sender: str
    body: str
    decrypted: bool
    server_ts: int  # origin_server_ts of the reply (Synapse's clock, ms)


class ReplyClock:
    """Stamps the arrival of the first reply to each event in one participant's client."""

    def __init__(self, participant: Participant) -> None:
        self._own = participant.user_id
        self.arrivals: dict[str, Arrival] = {}
        # origin_server_ts of our own messages, for the server-side turnaround.
        self.sent_ts: dict[str, int] = {}
        self._waiters: dict[str, asyncio.Event] = {}
        # Syncs whose timeline was cut short (events skipped): should stay 0.
        self.limited_syncs = 0
        participant.client.add_event_callback(
            self._on_message, (RoomMessageText, RoomMessageNotice)
        )
        participant.client.add_response_callback(self._on_sync, SyncResponse)

    async def _on_sync(self, response: SyncResponse) -> None:
        if any(info.timeline.limited for info in response.rooms.join.values()):
            self.limited_syncs += 1

    async def _on_message(
        self, room: MatrixRoom, event: RoomMessageText | RoomMessageNotice
    ) -> None:
        now = time.perf_counter()
        if event.sender == self._own:
            self.sent_ts[event.event_id] = event.server_timestamp
            return
        content = event.source.get("content", {})
        relates = content.get("m.relates_to") or {}
        ref = (relates.get("m.in_reply_to") or {}).get("event_id")
        if not ref or ref in self.arrivals:
            return
        self.arrivals[ref] = Arrival(
            now,
            event.sender,
            event.body,
            bool(getattr(event, "decrypted", False)),
            event.server_timestamp,
        )
        waiter = self._waiters.get(ref)
        if waiter is not None:
            waiter.set()

    async def wait(self, event_id: str, deadline: float) -> Arrival | None:
        arrival = self.arrivals.get(event_id)
        if arrival is not None:
            return arrival
        waiter = self._waiters.setdefault(event_id, asyncio.Event())
        try:
            await asyncio.wait_for(waiter.wait(), max(0.0, deadline - time.perf_counter()))
        except TimeoutError:
            return None
        finally:
            self._waiters.pop(event_id, None)
        return self.arrivals.get(event_id)


@dataclass
class Person:
    participant: Participant
    clock: ReplyClock

    @property
    def user_id(self) -> str:
        return self.participant.user_id


@dataclass
class CommandOutcome:
    latency_s: float | None
    bad_reply: bool = False
    error: str | None = None
    send_s: float | None = None  # the caseworker's encrypt + PUT until the event id came back
    turnaround_ms: int | None = None  # command persisted → reply persisted, Synapse's clock


async def one_command(person: Person, room_id: str, timeout: float) -> CommandOutcome:
    started = time.perf_counter()
    deadline = started + timeout
    try:
        event_id = await asyncio.wait_for(person.participant.send(room_id, PING), timeout)
    except Exception as exc:
        return CommandOutcome(None, error=f"send failed: {exc!r}")
    sent = time.perf_counter() - started
    arrival = await person.clock.wait(event_id, deadline)
    if arrival is None:
        return CommandOutcome(None, error=f"no reply within {timeout:g} s", send_s=sent)
    bad = arrival.body != PONG or not arrival.decrypted
    command_ts = person.clock.sent_ts.get(event_id)
    turnaround = None if command_ts is None else arrival.server_ts - command_ts
    return CommandOutcome(
        arrival.at - started, bad_reply=bad, send_s=sent, turnaround_ms=turnaround
    )


# --------------------------------------------------------------------------- loads


@dataclass(frozen=True)
class Load:
    key: str
    senders: int
    per_sender: int

    @property
    def label(self) -> str:
        if self.senders == 1:
            return f"1 sender × {self.per_sender} sequential"
        return f"{self.senders} senders × {self.per_sender}, one room"

    @property
    def commands(self) -> int:
        return self.senders * self.per_sender


@dataclass
class LoadResult:
    bot: str
    load: str
    round: int
    commands: int
    ok: int
    failures: int
    bad_replies: int
    wall_s: float
    throughput: float
    p50_ms: float | None
    p90_ms: float | None
    p99_ms: float | None
    mean_ms: float | None
    max_ms: float | None
    peak_rss_mib: float | None
    peak_rss_is_lifetime: bool
    rss_end_mib: float | None
    bot_cpu_s: float | None
    synapse_cpu_s: float | None
    harness_cpu_s: float
    harness_limited_syncs: int
    harness_undecryptable: int
    send_p50_ms: float | None
    turnaround_p50_ms: float | None
    turnaround_p99_ms: float | None
    setup_s: float
    warmup_failures: int
    errors: list[str] = field(default_factory=list)
    latencies_ms: list[float] = field(default_factory=list)


class Bench:
    def __init__(self, args: argparse.Namespace, workdir: Path) -> None:
        self.args = args
        self.workdir = workdir
        self.server = SynapseServer(workdir / "synapse", log_level="WARNING")
        self.people: list[Person] = []
        self.bots: list[BenchBot] = []
        self.results: list[LoadResult] = []
        self._synapse_pid: int | None = None
        self.loads: list[Load] = []
        if args.sequential > 0:
            self.loads.append(Load("sequential", 1, args.sequential))
        if args.senders > 0 and args.per_sender > 0:
            self.loads.append(Load("concurrent", args.senders, args.per_sender))

    # -- lifecycle -----------------------------------------------------------------

    def synapse_pid(self) -> int | None:
        """Our Synapse's pid: the process whose command line names our config file.

        Synapse writes its pid file only when it daemonizes, and the harness keeps the
        Popen private, so /proc is read (read only; nothing is signalled here).
        """
        needle = str(self.server.config_path).encode()
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                cmdline = (entry / "cmdline").read_bytes()
            except OSError:
                continue
            if needle in cmdline.split(b"\0") and b"synapse.app.homeserver" in cmdline:
                return int(entry.name)
        return None

    async def setup(self) -> None:
        started = time.monotonic()
        await asyncio.to_thread(self.server.start)
        self._synapse_pid = self.synapse_pid()
        print(f"Synapse ready at {self.server.base_url} ({time.monotonic() - started:.1f} s)")
        count = max((load.senders for load in self.loads), default=0)
        tag = secrets.token_hex(2)
        for i in range(count):
            user = await asyncio.to_thread(
                self.server.register, f"cw{i:02d}-{tag}", displayname=f"Fallmanagerin {i}"
            )
            participant = Participant(
                self.server.base_url, user, self.workdir / "people" / user.localpart
            )
            await participant.start()
            self.people.append(Person(participant, ReplyClock(participant)))
        floor_user = await asyncio.to_thread(
            self.server.register, f"echo-floor-{tag}", displayname="Echo-Floor"
        )
        await asyncio.to_thread(drop_registration_device, self.server, floor_user)
        floor = FloorBot(self.server, floor_user, self.workdir / "floor")
        real = await asyncio.to_thread(RealBot, self.server, self.workdir / "bot")
        self.bots = [floor, real]
        for bot in self.bots:
            bot.start()
        print(
            f"{count} caseworkers, floor ({floor.user_id}) and bot ({real.user_id}) started "
            f"({time.monotonic() - started:.1f} s)"
        )

    async def teardown(self) -> None:
        for person in self.people:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(person.participant.stop(), 15)
        for bot in self.bots:
            try:
                code = await bot.stop()
            except Exception as exc:
                print(f"stopping {bot.name} failed: {exc!r}", file=sys.stderr)
                continue
            if code not in (0, None):
                print(f"{bot.name} exited with code {code}", file=sys.stderr)
        await asyncio.to_thread(self.server.stop)

    # -- one load ------------------------------------------------------------------

    async def _until(self, bot: BenchBot, predicate: Callable[[], bool], what: str) -> None:
        deadline = time.monotonic() + JOIN_TIMEOUT_S
        while not predicate():
            if not bot.alive():
                raise RuntimeError(f"{what}: {bot.describe_exit()}")
            if time.monotonic() > deadline:
                raise TimeoutError(f"{what}: not within {JOIN_TIMEOUT_S:.0f} s")
            await asyncio.sleep(0.05)

    async def open_room(self, bot: BenchBot, load: Load, round_no: int) -> tuple[str, list[Person]]:
        senders = self.people[: load.senders]
        creator = senders[0].participant
        room_id = await creator.create_encrypted_room(
            f"Bench {bot.name} {load.key} r{round_no}",
            [bot.user_id, *(p.user_id for p in senders[1:])],
        )
        await asyncio.gather(
            *(asyncio.wait_for(p.participant.join(room_id), JOIN_TIMEOUT_S) for p in senders[1:])
        )
        members = [bot.user_id, *(p.user_id for p in senders)]

        def everyone_sees_everyone() -> bool:
            for person in senders:
                room = person.participant.client.rooms.get(room_id)
                if room is None:
                    return False
                for user_id in members:
                    if user_id not in room.users or user_id in room.invited_users:
                        return False
            return True

        await self._until(bot, everyone_sees_everyone, f"{bot.name} joining {room_id}")
        return room_id, senders

    async def measure(self, bot: BenchBot, load: Load, round_no: int) -> LoadResult:
        timeout = float(self.args.timeout)
        setup_started = time.perf_counter()
        room_id, senders = await self.open_room(bot, load, round_no)

        warmup_failures = 0
        errors: list[str] = []
        warmups = [senders[0]] * self.args.warmup + senders[1:]
        for person in warmups:
            outcome = await one_command(person, room_id, timeout)
            if outcome.latency_s is None:
                warmup_failures += 1
                errors.append(f"warm-up: {outcome.error}")
                if not bot.alive():
                    raise RuntimeError(bot.describe_exit())
        if warmups and warmup_failures == len(warmups):
            raise RuntimeError(f"{bot.name} answered none of {len(warmups)} warm-up commands")
        setup_s = time.perf_counter() - setup_started

        pid = bot.pid
        assert pid is not None
        lifetime_peak = not reset_peak_rss(pid)
        synapse_pid = self._synapse_pid
        bot_cpu0, syn_cpu0, own_cpu0 = (
            cpu_seconds(pid),
            cpu_seconds(synapse_pid),
            self_cpu_seconds(),
        )
        limited0 = sum(p.clock.limited_syncs for p in senders)
        undecryptable0 = sum(len(p.participant.undecryptable) for p in senders)
        started = time.perf_counter()

        async def sender_run(person: Person) -> list[CommandOutcome]:
            outcomes: list[CommandOutcome] = []
            in_a_row = 0
            for _ in range(load.per_sender):
                if in_a_row >= MAX_CONSECUTIVE_FAILURES or not bot.alive():
                    outcomes.append(CommandOutcome(None, error="not sent (bot gone or wedged)"))
                    continue
                outcome = await one_command(person, room_id, timeout)
                in_a_row = in_a_row + 1 if outcome.latency_s is None else 0
                outcomes.append(outcome)
            return outcomes

        per_sender = await asyncio.gather(*(sender_run(p) for p in senders))
        wall = time.perf_counter() - started
        bot_cpu1, syn_cpu1, own_cpu1 = (
            cpu_seconds(pid),
            cpu_seconds(synapse_pid),
            self_cpu_seconds(),
        )
        limited = sum(p.clock.limited_syncs for p in senders) - limited0
        undecryptable = sum(len(p.participant.undecryptable) for p in senders) - undecryptable0
        hwm = vm_kib(pid, "VmHWM")
        rss = vm_kib(pid, "VmRSS")

        outcomes = [o for run in per_sender for o in run]
        latencies = sorted(o.latency_s * 1000 for o in outcomes if o.latency_s is not None)
        sends = sorted(o.send_s * 1000 for o in outcomes if o.send_s is not None)
        turns = sorted(float(o.turnaround_ms) for o in outcomes if o.turnaround_ms is not None)
        for outcome in outcomes:
            if outcome.error and outcome.error not in errors:
                errors.append(outcome.error)

        def delta(a: float | None, b: float | None) -> float | None:
            return None if a is None or b is None else round(b - a, 3)

        return LoadResult(
            bot=bot.name,
            load=load.key,
            round=round_no,
            commands=load.commands,
            ok=len(latencies),
            failures=sum(1 for o in outcomes if o.latency_s is None),
            bad_replies=sum(1 for o in outcomes if o.bad_reply),
            wall_s=round(wall, 3),
            throughput=round(len(latencies) / wall, 3) if wall > 0 else 0.0,
            p50_ms=_r(nearest_rank(latencies, 50)),
            p90_ms=_r(nearest_rank(latencies, 90)),
            p99_ms=_r(nearest_rank(latencies, 99)),
            mean_ms=_r(statistics.fmean(latencies)) if latencies else None,
            max_ms=_r(latencies[-1]) if latencies else None,
            peak_rss_mib=round(hwm / 1024, 1) if hwm is not None else None,
            peak_rss_is_lifetime=lifetime_peak,
            rss_end_mib=round(rss / 1024, 1) if rss is not None else None,
            bot_cpu_s=delta(bot_cpu0, bot_cpu1),
            synapse_cpu_s=delta(syn_cpu0, syn_cpu1),
            harness_cpu_s=round(own_cpu1 - own_cpu0, 3),
            harness_limited_syncs=limited,
            harness_undecryptable=undecryptable,
            send_p50_ms=_r(nearest_rank(sends, 50)),
            turnaround_p50_ms=_r(nearest_rank(turns, 50)),
            turnaround_p99_ms=_r(nearest_rank(turns, 99)),
            setup_s=round(setup_s, 3),
            warmup_failures=warmup_failures,
            errors=errors[:20],
            latencies_ms=[round(v, 2) for v in latencies],
        )

    async def run(self) -> None:
        for round_no in range(1, self.args.rounds + 1):
            order = self.bots if round_no % 2 == 1 else list(reversed(self.bots))
            for load in self.loads:
                for bot in order:
                    print(f"round {round_no}: {load.label} — {bot.name} …", flush=True)
                    result = await self.measure(bot, load, round_no)
                    self.results.append(result)
                    print("   " + _one_line(result), flush=True)


def _r(value: float | None) -> float | None:
    return None if value is None else round(value, 1)


def _one_line(r: LoadResult) -> str:
    return (
        f"{r.ok}/{r.commands} ok, p50 {_fmt(r.p50_ms)} ms, p99 {_fmt(r.p99_ms)} ms, "
        f"{r.throughput:.1f} cmd/s, wall {r.wall_s:.1f} s, bot CPU {_fmt(r.bot_cpu_s, 2)} s"
        + (
            f" (harness: {r.harness_limited_syncs} limited syncs, "
            f"{r.harness_undecryptable} undecryptable)"
            if r.harness_limited_syncs or r.harness_undecryptable
            else ""
        )
    )


# --------------------------------------------------------------------------- report

FIGURES = (
    "p50_ms",
    "p90_ms",
    "p99_ms",
    "throughput",
    "peak_rss_mib",
    "bot_cpu_s",
    "synapse_cpu_s",
    "harness_cpu_s",
    "wall_s",
    "send_p50_ms",
    "turnaround_p50_ms",
    "turnaround_p99_ms",
)


def _median(values: list[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return round(statistics.median(present), 3) if present else None


def summarise(results: list[LoadResult], loads: list[Load]) -> dict[str, Any]:
    summary: dict[str, Any] = {}
    for load in loads:
        per_bot: dict[str, Any] = {}
        for name in ("floor", "bot"):
            rows = [r for r in results if r.load == load.key and r.bot == name]
            if not rows:
                continue
            entry: dict[str, Any] = {f: _median([getattr(r, f) for r in rows]) for f in FIGURES}
            entry["rounds"] = len(rows)
            entry["commands"] = sum(r.commands for r in rows)
            entry["ok"] = sum(r.ok for r in rows)
            entry["failures"] = sum(r.failures for r in rows)
            entry["bad_replies"] = sum(r.bad_replies for r in rows)
            entry["harness_limited_syncs"] = sum(r.harness_limited_syncs for r in rows)
            entry["harness_undecryptable"] = sum(r.harness_undecryptable for r in rows)
            entry["peak_rss_is_lifetime"] = any(r.peak_rss_is_lifetime for r in rows)
            per_bot[name] = entry
        if "floor" in per_bot and "bot" in per_bot:
            floor, bot = per_bot["floor"], per_bot["bot"]
            per_bot["ratio_bot_over_floor"] = {
                f: _ratio(bot[f], floor[f]) for f in ("p50_ms", "p99_ms", "throughput")
            }
        summary[load.key] = {"label": load.label, **per_bot}
    return summary


def _ratio(a: float | None, b: float | None) -> float | None:
    return None if a is None or b is None or b == 0 else round(a / b, 2)


def _fmt(value: float | None, digits: int = 0) -> str:
    return "—" if value is None else f"{value:.{digits}f}"


def render_table(summary: dict[str, Any], rounds: int) -> str:
    head = (
        f"{'load':<28} {'bot':<5} {'ok/n':>7} {'fail':>4} {'p50 ms':>7} {'p90 ms':>7} "
        f"{'p99 ms':>7} {'cmd/s':>6} {'RSS MiB':>8} {'CPU s':>6} {'Syn CPU':>7} "
        f"{'send50':>6} {'turn50':>6} {'turn99':>6}"
    )
    lines = [head, "-" * len(head)]
    for entry in summary.values():
        label = entry["label"]
        for name in ("floor", "bot"):
            row = entry.get(name)
            if row is None:
                continue
            rss = _fmt(row["peak_rss_mib"], 1) + ("*" if row["peak_rss_is_lifetime"] else "")
            ok = f"{row['ok']}/{row['commands']}"
            lines.append(
                f"{label:<28} {name:<5} {ok:>7} {row['failures']:>4} "
                f"{_fmt(row['p50_ms']):>7} {_fmt(row['p90_ms']):>7} {_fmt(row['p99_ms']):>7} "
                f"{_fmt(row['throughput'], 1):>6} {rss:>8} {_fmt(row['bot_cpu_s'], 2):>6} "
                f"{_fmt(row['synapse_cpu_s'], 1):>7} {_fmt(row['send_p50_ms']):>6} "
                f"{_fmt(row['turnaround_p50_ms']):>6} {_fmt(row['turnaround_p99_ms']):>6}"
            )
            label = ""
            if row["harness_limited_syncs"] or row["harness_undecryptable"] or row["bad_replies"]:
                lines.append(
                    f"{'':<28} ! {name}: {row['bad_replies']} wrong or unencrypted replies; "
                    f"caseworkers saw {row['harness_limited_syncs']} limited syncs and "
                    f"{row['harness_undecryptable']} undecryptable events"
                )
        ratio = entry.get("ratio_bot_over_floor")
        if ratio:
            lines.append(
                f"{'':<28} bot/floor: p50 ×{_fmt(ratio['p50_ms'], 2)}, "
                f"p99 ×{_fmt(ratio['p99_ms'], 2)}, throughput ×{_fmt(ratio['throughput'], 2)}"
            )
    note = "median over rounds" if rounds > 1 else "one round"
    lines += [
        "-" * len(head),
        f"{note}; percentiles by nearest rank; warm-up excluded. RSS = peak (VmHWM) of the",
        "bot process during the load; CPU s = bot process utime+stime during the load;",
        "Syn CPU = Synapse's. send50 = p50 of the caseworker's encrypt+PUT; turn50/turn99 =",
        "command persisted → reply persisted on Synapse's clock (the bot's own turnaround).",
    ]
    return "\n".join(lines)


def environment() -> dict[str, Any]:
    def version(dist: str) -> str | None:
        try:
            return importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            return None

    synapse_version: str | None = None
    with contextlib.suppress(Exception):
        synapse_version = subprocess.run(
            [str(ensure_synapse_python()), "-c", "import synapse; print(synapse.__version__)"],
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        ).stdout.strip()
    return {
        "python": platform.python_version(),
        "matrix-nio": version("matrix-nio"),
        "vodozemac": version("vodozemac"),
        "synapse": synapse_version,
        "cpus": os.cpu_count(),
        "machine": platform.machine(),
        "kernel": platform.release(),
    }


# --------------------------------------------------------------------------- main


async def amain(args: argparse.Namespace, workdir: Path) -> int:
    started = time.monotonic()
    bench = Bench(args, workdir)
    if not bench.loads:
        print("nothing to measure", file=sys.stderr)
        shutil.rmtree(workdir, ignore_errors=True)
        return 2
    failed = True
    try:
        try:
            await bench.setup()
            await bench.run()
        finally:
            await bench.teardown()
        failed = False
    finally:
        if failed and bench.results:
            print("\nincomplete run; figures so far:", file=sys.stderr)
            print(render_table(summarise(bench.results, bench.loads), args.rounds), file=sys.stderr)
        if args.keep_workdir or failed:
            print(f"work directory kept: {workdir}", file=sys.stderr)
        else:
            shutil.rmtree(workdir, ignore_errors=True)

    total = time.monotonic() - started
    summary = summarise(bench.results, bench.loads)
    print()
    print(render_table(summary, args.rounds))
    print(f"total run time {total:.1f} s")
    if args.json:
        document = {
            "command": [sys.executable, *sys.argv],
            "options": {k: v for k, v in vars(args).items() if k != "json"},
            "environment": environment(),
            "percentile_method": "nearest rank",
            "latency_definition": (
                "perf_counter from just before the caseworker's send to the reply's arrival "
                "(decrypted) in the caseworker's nio event callback"
            ),
            "total_run_time_s": round(total, 1),
            "summary": summary,
            "runs": [asdict(r) for r in bench.results],
        }
        write_json(Path(args.json), document)
        print(f"figures written to {args.json}")
    failures = sum(r.failures for r in bench.results)
    return 1 if failures else 0


def write_json(path: Path, document: dict[str, Any]) -> None:
    path.write_text(json.dumps(document, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Command round trip of the real bot vs. a bare nio echo bot (encrypted room)."
    )
    parser.add_argument("--sequential", type=int, default=200, help="commands, 1 sender")
    parser.add_argument("--senders", type=int, default=20, help="concurrent senders, one room")
    parser.add_argument("--per-sender", type=int, default=20, help="commands per sender")
    parser.add_argument("--rounds", type=int, default=1, help="repeat each load; report medians")
    parser.add_argument("--warmup", type=int, default=5, help="uncounted commands per load")
    parser.add_argument("--timeout", type=float, default=30.0, help="seconds per command")
    parser.add_argument("--json", help="write all figures to this file")
    parser.add_argument("--workdir", help="parent of the temporary directory")
    parser.add_argument(
        "--keep-workdir", action="store_true", help="keep logs and stores after the run"
    )
    args = parser.parse_args(argv)
    if args.rounds < 1 or args.warmup < 0 or args.timeout <= 0:
        parser.error("--rounds ≥ 1, --warmup ≥ 0 and --timeout > 0, please")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(
        level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    # "Missing session for device …" on every first message: expected, not news.
    logging.getLogger("nio").setLevel(logging.ERROR)
    base = Path(args.workdir) if args.workdir else None
    if base is not None:
        base.mkdir(parents=True, exist_ok=True)
    workdir = Path(tempfile.mkdtemp(prefix="fkbot-latency-", dir=base))
    return asyncio.run(amain(args, workdir))


if __name__ == "__main__":
    raise SystemExit(main())
