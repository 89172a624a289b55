"""The bot's own work per command, without Matrix: ingest (inbox, dispatch, outbox,
checkpoint in one transaction) plus the outbox's send bookkeeping, on SQLite —
the same calls the sync loop makes, with a sender that answers at once.

    .venv/bin/python bench/engine_overhead.py [--commands 500] [--profile]

Matrix-side costs (sync parsing, decryption, encryption, HTTP) are the same for any
nio bot and are measured by bench/latency.py; this isolates what our design adds.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import pstats
import sqlite3
import statistics
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from bot.clock import FakeClock
from bot.engine import Engine
from bot.events import SyncBatch, TextMessage
from bot.ids import EventId, RoomId, UserId
from bot.outbox import OutboxSender
from commands.core import build_registry
from commands.dispatch import Dispatcher
from storage.db import make_engine, upgrade
from storage.uow import Database

ROOM = RoomId("!raum:fk.test")


class NullSender:
    async def send(
        self, room_id: RoomId, event_type: str, content: dict[str, Any], txn_id: str
    ) -> EventId:
        return EventId("$" + txn_id)

    def room_is_encrypted(self, room_id: RoomId) -> bool:
        return True


def batch(i: int) -> SyncBatch:
    msg = TextMessage(
        event_id=EventId(f"$cmd{i}"),
        room_id=ROOM,
        sender=UserId("@fallmanagerin:fk.test"),
        body="!fk ping",
        origin_ts=datetime(2026, 11, 23, 9, tzinfo=UTC),
        room_encrypted=True,
        was_encrypted=True,
    )
    return SyncBatch(f"s{i}", f"s{i - 1}", (msg,), (), (ROOM,), False)


async def run(commands: int, workdir: Path) -> list[float]:
    db_engine = make_engine(f"sqlite:///{workdir / 'bench.sqlite3'}")
    upgrade(db_engine)
    db = Database(db_engine)
    clock = FakeClock()
    engine = Engine(
        db,
        Dispatcher(build_registry(), "!fk", 4000),
        clock,
        allowed_homeservers=("fk.test",),
        require_encryption=True,
        undecryptable_timeout=timedelta(seconds=60),
    )
    sender = OutboxSender(db, NullSender(), clock, require_encryption=True)
    engine.ingest(SyncBatch("s0", None, (), (), (ROOM,), False))  # first start
    timings = []
    for i in range(1, commands + 1):
        start = time.perf_counter()
        result = engine.ingest(batch(i))
        engine.process_pending(lambda source, room: None)
        sender.submit(result.outbox)
        await sender.drain()
        timings.append((time.perf_counter() - start) * 1000)
        clock.advance(timedelta(milliseconds=100))
    db_engine.dispose()
    return timings


def baseline(commands: int, workdir: Path) -> list[float]:
    """The floor for any durable design: one raw sqlite3 INSERT + COMMIT, same pragmas."""
    conn = sqlite3.connect(workdir / "baseline.sqlite3", isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=FULL")
    conn.execute("CREATE TABLE t (event_id TEXT PRIMARY KEY, body TEXT)")
    timings = []
    for i in range(commands):
        start = time.perf_counter()
        conn.execute("BEGIN")
        conn.execute("INSERT INTO t VALUES (?, ?)", (f"$cmd{i}", "pong"))
        conn.execute("COMMIT")
        timings.append((time.perf_counter() - start) * 1000)
    conn.close()
    return timings


def summary(name: str, timings: list[float]) -> float:
    timings = timings[20:]  # warm-up: caches, prepared statements
    q = statistics.quantiles(timings, n=100, method="inclusive")
    print(
        f"{name:<28} p50 {q[49]:6.2f}  p90 {q[89]:6.2f}  p99 {q[98]:6.2f}  "
        f"mean {statistics.fmean(timings):6.2f} ms  (n={len(timings)})"
    )
    return q[49]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--commands", type=int, default=500)
    parser.add_argument("--profile", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        profiler = cProfile.Profile() if args.profile else None
        if profiler:
            profiler.enable()
        timings = asyncio.run(run(args.commands, Path(tmp)))
        if profiler:
            profiler.disable()
        floor = baseline(args.commands, Path(tmp))
    print("per command, SQLite (WAL, synchronous=FULL), same run:")
    ours = summary("bot: ingest + send bookkeeping", timings)
    base = summary("baseline: INSERT + COMMIT", floor)
    print(f"ratio bot/baseline p50: {ours / base:.1f}")
    if profiler:
        pstats.Stats(profiler).sort_stats("cumulative").print_stats(25)


if __name__ == "__main__":
    main()
