"""Two ``fkbot run`` processes for one bot on PostgreSQL, a command burst, and take-overs.

Used by tests/integration/test_failover.py and bench/failover.py. The active process
is the one whose lock connection (``application_name`` ``fkbot-lock <host>:<pid>``)
holds the bot's advisory lock; it is found in ``pg_locks`` / ``pg_stat_activity``.

A take-over is either ``kill`` (kill -9 of the active process) or ``cut``
(``pg_terminate_backend`` of its lock connection: the process fences itself and
exits with code 3). Like systemd's ``Restart=on-failure``, the harness starts the
victim again; it comes back as a standby and is standing by before the next failure.
The take-over time is measured from the kill (or cut) to the first reply the
caseworker's client receives to a command sent after the old process was gone (a cut
instance may still answer until it notices the cut, which is harmless: the new one's
resend of the same outbox row is deduplicated by the homeserver).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

from sqlalchemy import create_engine, text

from bot.activelock import APPLICATION_NAME, lock_key
from bot.errors import EXIT_FENCED
from bot.testing.botrun import BotSetup, SubprocessBot
from bot.testing.peers import Participant

HOLDER_SQL = text(
    "SELECT a.pid, a.application_name FROM pg_locks l "
    "JOIN pg_stat_activity a ON a.pid = l.pid "
    "WHERE l.locktype = 'advisory' AND l.granted "
    "AND ((l.classid::bigint << 32) | l.objid::bigint) = :key "
    "AND a.application_name LIKE :app"
)


def lock_holder(db_url: str, user_id: str) -> tuple[int, int] | None:
    """(OS pid of the active process, pid of its lock connection's backend), or None."""
    engine = create_engine(db_url)
    try:
        with engine.connect() as conn:
            row = conn.execute(
                HOLDER_SQL,
                {"key": lock_key(user_id), "app": f"{APPLICATION_NAME}%"},
            ).first()
    finally:
        engine.dispose()
    if row is None:
        return None
    return int(row.application_name.rsplit(":", 1)[1]), int(row.pid)


def terminate_backend(db_url: str, backend_pid: int) -> None:
    engine = create_engine(db_url)
    try:
        with engine.begin() as conn:
            conn.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": backend_pid})
    finally:
        engine.dispose()


@dataclass
class BurstResult:
    takeovers: list[float]  # seconds, kill (or cut) → first answer of the new active
    counts: dict[str, int]  # replies per command event
    exit_codes: list[int] = field(default_factory=list)  # of the victims
    undecrypted: int = 0  # replies a strict client could not decrypt

    @property
    def lost(self) -> int:
        return sum(1 for n in self.counts.values() if n == 0)

    @property
    def duplicated(self) -> int:
        return sum(n - 1 for n in self.counts.values() if n > 1)


class BotPair:
    """Two (or more) ``fkbot run`` processes of one setup; exactly one is active."""

    def __init__(self, setup: BotSetup, db_url: str, count: int = 2) -> None:
        self.setup = setup
        self.db_url = db_url
        self.bots = [SubprocessBot(setup, f"bot{i}") for i in range(count)]

        self._log_from: dict[int, int] = {}

    def start(self) -> None:
        for bot in self.bots:
            self.restart(bot)

    def restart(self, bot: SubprocessBot) -> None:
        """Start (again) as systemd would; its log is read from here on."""
        self._log_from[id(bot)] = bot.log_path.stat().st_size if bot.log_path.exists() else 0
        bot.start()

    def _log_since_start(self, bot: SubprocessBot) -> str:
        with bot.log_path.open("rb") as fh:
            fh.seek(self._log_from.get(id(bot), 0))
            return fh.read().decode(errors="replace")

    async def standing_by(self, bot: SubprocessBot, timeout: float = 120) -> None:
        """Until ``bot`` (started last) says it stands by: a standby ready to take over."""
        deadline = time.monotonic() + timeout
        while "Bereitschaft" not in self._log_since_start(bot):
            if bot.process is None or bot.process.poll() is not None:
                raise RuntimeError(f"{bot.log_path.name} exited:\n{bot.log_text()[-3000:]}")
            if time.monotonic() > deadline:
                raise TimeoutError(f"{bot.log_path.name} is not standing by")
            await asyncio.sleep(0.1)

    async def active(self, timeout: float = 60) -> tuple[SubprocessBot, int]:
        """The active process and its lock backend's pid, once one holds the lock."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = await asyncio.to_thread(lock_holder, self.db_url, self.setup.user_id)
            if found is not None:
                pid, backend = found
                for bot in self.bots:
                    if bot.process is not None and bot.process.pid == pid:
                        return bot, backend
            await asyncio.sleep(0.1)
        raise TimeoutError("no instance holds the lock")

    def kill_all(self) -> None:
        for bot in self.bots:
            bot.kill()

    def logs(self, tail: int = 3000) -> str:
        return "\n".join(f"--- {b.log_path.name}\n{b.log_text()[-tail:]}" for b in self.bots)


async def _first_answer(
    cw: Participant, sent: list[str], victim: SubprocessBot, t0: float, codes: list[int]
) -> float:
    """Seconds from ``t0`` until a command sent after ``victim`` exited has a reply: an
    answer of the new active (a cut instance may answer until it notices the cut)."""
    codes.append(await victim.wait_exit(30))
    start = len(sent)
    while True:
        if any(cw.replies_to(e) for e in sent[start:]):
            return time.monotonic() - t0
        await asyncio.sleep(0.02)


async def burst_with_takeovers(
    pair: BotPair,
    cw: Participant,
    room_id: str,
    *,
    commands: int = 100,
    takeovers: int = 3,
    how: str = "kill",
    pace: float = 0.1,
    answer_timeout: float = 180,
) -> BurstResult:
    """Send ``commands`` pings, one every ``pace`` seconds; ``takeovers`` times on the
    way, kill (``how="kill"``) or cut (``how="cut"``) the active instance and start it
    again as a standby. Each take-over waits for the previous one's first answer; while
    it waits, more pings are sent (each take-over is measured on a command sent after
    the old process was gone), so the burst has ``commands`` or a few more."""
    if how not in ("kill", "cut"):
        raise ValueError(how)
    points = {round(commands * (k + 1) / (takeovers + 1)) for k in range(takeovers)}
    sent: list[str] = []
    result = BurstResult([], {})
    measuring: asyncio.Task[float] | None = None
    victim: SubprocessBot | None = None

    async def finish_takeover() -> None:
        nonlocal measuring
        if measuring is None or victim is None:
            return
        deadline = time.monotonic() + answer_timeout
        while not measuring.done() and time.monotonic() < deadline:
            # The take-over is measured on a command sent after the old process was
            # gone: keep asking until one is answered, as people would.
            sent.append(await cw.send(room_id, "!fk ping"))
            await asyncio.sleep(max(pace, 0.2))
        result.takeovers.append(await asyncio.wait_for(measuring, 1))
        measuring = None
        pair.restart(victim)  # Restart=on-failure: it comes back as a standby …
        await pair.standing_by(victim)  # … and is ready before the next failure

    for i in range(commands):
        if i in points:
            await finish_takeover()
            victim, backend = await pair.active()
            t0 = time.monotonic()
            if how == "kill":
                victim.kill()
            else:
                await asyncio.to_thread(terminate_backend, pair.db_url, backend)
            measuring = asyncio.create_task(_first_answer(cw, sent, victim, t0, result.exit_codes))
        sent.append(await cw.send(room_id, "!fk ping"))
        await asyncio.sleep(pace)
    await finish_takeover()
    with contextlib.suppress(TimeoutError):
        await cw.wait_replies(sent, answer_timeout)
    # A barrier: once this is answered, everything before it has been answered.
    marker = await cw.send(room_id, "!fk ping")
    with contextlib.suppress(TimeoutError):
        await cw.wait_reply(marker, answer_timeout)
    await asyncio.sleep(2.0)  # a duplicate would arrive right behind the first reply
    result.counts = {e: len(cw.replies_to(e)) for e in sent}
    result.undecrypted = sum(1 for e in sent for r in cw.replies_to(e) if not r.decrypted)
    return result


def summary(times: Sequence[float]) -> tuple[float, float]:
    """(p50 nearest-rank, max) in seconds."""
    ordered = sorted(times)
    if not ordered:
        return (float("nan"), float("nan"))
    rank = max(0, -(-len(ordered) * 50 // 100) - 1)
    return ordered[rank], ordered[-1]


__all__ = [
    "EXIT_FENCED",
    "BotPair",
    "BurstResult",
    "burst_with_takeovers",
    "lock_holder",
    "summary",
    "terminate_backend",
]
