"""A whole Land's data: commands, the daily pass and audit verify at 100 … 10 000 cases.

Seeds a room through the storage layer (``bot/testing/seed.py``: each case with a
consent and an open request, every fifth waiting), creates one full session, then
drives the real engine (the unit-test harness: inbox, dispatch, outbox in one
transaction) and prints per command p50/p95 wall time, SQL statements and reply bytes;
then the daily pass and ``audit verify`` (streamed rows vs. ORM entries: time and
peak Python memory). Ratios are against the 100-case run of the same backend.

    .venv/bin/python bench/scale.py [--sizes 100 1000 10000] [--runs 15] [--postgres]
        [--audit-rows 20000]
"""

from __future__ import annotations

import argparse
import secrets
import statistics
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, event, text

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bot.clock import FakeClock
from bot.testing.harness import JA1, JC, Room
from bot.testing.seed import seed_cases
from storage.audit import verify
from storage.db import make_engine, upgrade
from storage.uow import Database

PG = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
COMMANDS: dict[str, Callable[[Room, list[str], int], str]] = {
    "anfragen": lambda r, c, s: r.say(JA1, "anfragen"),
    "übersicht": lambda r, c, s: r.mod("übersicht"),
    "agenda": lambda r, c, s: r.say(JA1, f"agenda {s}"),
    "termine": lambda r, c, s: r.say(JA1, "termine"),
    "status": lambda r, c, s: r.say(JA1, f"status {c[3]}"),
    "einwilligung": lambda r, c, s: r.consent(c[5], "jugendamt,jobcenter"),
    "widerruf": lambda r, c, s: r.say(JA1, f"widerruf {c[7]} agentur"),
    "anfrage": lambda r, c, s: r.say(
        JC, f"anfrage {c[9]} thema=Familie dringlichkeit=regulär teilnehmer=jugendamt"
    ),
    "fall neu": lambda r, c, s: r.say(JA1, "fall neu"),
}


class Statements:
    def __init__(self, db: Database) -> None:
        self.count = 0
        event.listen(db.engine, "before_cursor_execute", self._one)

    def _one(self, *_: Any) -> None:
        self.count += 1


def _database(backend: str, workdir: Path) -> tuple[Database, Callable[[], None]]:
    if backend == "sqlite":
        engine = make_engine(f"sqlite:///{workdir / f'{secrets.token_hex(4)}.sqlite3'}")
        upgrade(engine)
        return Database(engine), engine.dispose
    schema = f"bench_{secrets.token_hex(4)}"
    admin = create_engine(PG)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    engine = make_engine(PG + f"?options=-csearch_path%3D{schema}")
    upgrade(engine)

    def drop() -> None:
        engine.dispose()
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()

    return Database(engine), drop


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def measure(backend: str, size: int, runs: int, workdir: Path) -> dict[str, tuple[float, ...]]:
    db, close = _database(backend, workdir)
    try:
        clock = FakeClock(datetime(2026, 11, 23, 9, 0, tzinfo=UTC))
        room = Room(db, clock)
        session = room.adhoc("26.11.2026 10:00")
        cases = seed_cases(db, room.room_id, clock.now(), size)
        room.mod("einplanen")
        counter = Statements(db)
        results: dict[str, tuple[float, ...]] = {}
        for name, run in COMMANDS.items():
            times, statements, sizes = [], [], []
            for _ in range(runs):
                before = counter.count
                started = time.perf_counter()
                reply = run(room, cases, session)
                times.append((time.perf_counter() - started) * 1000)
                statements.append(counter.count - before)
                sizes.append(len(reply.encode()))
            results[name] = (
                statistics.median(times),
                _pct(times, 0.95),
                statistics.median(statements),
                max(sizes),
            )
        room.run()
        clock.advance(timedelta(days=1))
        before = counter.count
        started = time.perf_counter()
        room.runner.run_due()
        results["Tageslauf"] = (
            (time.perf_counter() - started) * 1000,
            0.0,
            float(counter.count - before),
            0,
        )
        return results
    finally:
        close()


def audit(backend: str, rows: int, workdir: Path) -> dict[str, tuple[float, float]]:
    db, close = _database(backend, workdir)
    try:
        at = datetime(2026, 1, 1, tzinfo=UTC)
        with db.uow() as uow:
            for i in range(rows):
                uow.audit.append(
                    at=at + timedelta(seconds=i),
                    actor="@anna.jugendamt:fk.test",
                    institution="jugendamt",
                    action="anfrage_gestellt",
                    pseudonym=f"FK-{i % 9999:04d}-AA",
                    detail={"anfrage": i, "teilnehmer": ["jobcenter", "jugendamt"]},
                    room_id="!raum:fk.test",
                )
            uow.commit()
        found: dict[str, tuple[float, float]] = {}
        for how in ("stream", "entries"):
            with db.uow() as uow:
                tracemalloc.start()
                started = time.perf_counter()
                source = uow.audit.stream() if how == "stream" else uow.audit.entries()
                verdict = verify(source, uow.audit.head())
                elapsed = time.perf_counter() - started
                _, peak = tracemalloc.get_traced_memory()
                tracemalloc.stop()
                assert verdict.ok, verdict
            found[how] = (elapsed, peak / 2**20)
        return found
    finally:
        close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[100, 1000, 10000])
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--postgres", action="store_true", help="also on PostgreSQL")
    parser.add_argument("--audit-rows", type=int, default=20000)
    args = parser.parse_args()
    backends = ["sqlite", *(["postgresql"] if args.postgres else [])]
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        for backend in backends:
            base: dict[str, tuple[float, ...]] | None = None
            for size in args.sizes:
                results = measure(backend, size, args.runs, workdir)
                base = base or results
                print(f"\n{backend}, {size} Fälle ({args.runs} Läufe je Befehl)")
                print(f"{'Befehl':<14}{'p50 ms':>9}{'p95 ms':>9}{'×100':>7}{'SQL':>6}{'Bytes':>8}")
                for name, (p50, p95, sql, size_b) in results.items():
                    ratio = p50 / base[name][0] if base[name][0] else 0.0
                    print(f"{name:<14}{p50:9.1f}{p95:9.1f}{ratio:7.2f}{sql:6.0f}{size_b:8.0f}")
            found = audit(backend, args.audit_rows, workdir)
            (s_time, s_peak), (e_time, e_peak) = found["stream"], found["entries"]
            print(
                f"\naudit verify, {backend}, {args.audit_rows} Einträge: gestreamt {s_time:.2f} s, "
                f"Spitze {s_peak:.1f} MiB; ORM {e_time:.2f} s, Spitze {e_peak:.1f} MiB "
                f"({e_peak / max(s_peak, 0.01):.0f}×)"
            )


if __name__ == "__main__":
    main()
