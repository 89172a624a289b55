"""A whole Land's data: commands, the daily pass and audit verify at 100 … 10 000 cases.

Seeds a room through the storage layer (``bot/testing/seed.py``: each case with a
consent and an open request, every fifth waiting), creates one full session, then
drives the real engine (the unit-test harness: inbox, dispatch, outbox in one
transaction) and prints per command p50/p95 wall time, SQL statements and reply bytes;
then the daily pass (the first after a start: every case; the next day's of a running
bot: what the calendar changed), the start after an outage with ``--due`` reminders
due (when the first command is answered, the longest chunk of timed work, how long
until all are queued, and that a restart queues none again), and ``audit verify``
(streamed rows vs. ORM entries: time and peak Python memory; the streamed verify's
peak RSS in a process of its own). Ratios are against the 100-case run of the same
backend.

    .venv/bin/python bench/scale.py [--sizes 100 1000 10000] [--runs 15] [--postgres]
        [--audit-rows 100000] [--due 10000]
"""

from __future__ import annotations

import argparse
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, event, select, text

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bot.clock import FakeClock
from bot.testing.harness import JA1, JC, Room
from bot.testing.seed import seed_cases
from storage.audit import verify
from storage.db import make_engine, upgrade
from storage.models import OutboxMessage, Reminder, Session
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


URLS: dict[int, str] = {}  # id(Database) → the URL it was made from (for a child process)


def _database(backend: str, workdir: Path) -> tuple[Database, Callable[[], None]]:
    if backend == "sqlite":
        url = f"sqlite:///{workdir / f'{secrets.token_hex(4)}.sqlite3'}"
        engine = make_engine(url)
        upgrade(engine)
        db = Database(engine)
        URLS[id(db)] = url
        return db, engine.dispose
    schema = f"bench_{secrets.token_hex(4)}"
    admin = create_engine(PG)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    url = PG + f"?options=-csearch_path%3D{schema}"
    engine = make_engine(url)
    upgrade(engine)
    database = Database(engine)
    URLS[id(database)] = url

    def drop() -> None:
        engine.dispose()
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()

    return database, drop


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
        runner = room.runner  # a fresh runner: the first pass after a start
        before = counter.count
        started = time.perf_counter()
        runner.run_due()
        results["Tageslauf"] = (
            (time.perf_counter() - started) * 1000,
            0.0,
            float(counter.count - before),
            0,
        )
        clock.advance(timedelta(days=1))
        before = counter.count
        started = time.perf_counter()
        runner.run_due()  # the same runner the next day: incremental
        results["Tageslauf+1"] = (
            (time.perf_counter() - started) * 1000,
            0.0,
            float(counter.count - before),
            0,
        )
        return results
    finally:
        close()


def _seed_due(db: Database, room_id: str, now: datetime, count: int) -> None:
    """``count`` sessions in the next 20 hours, each with its day-ahead reminder overdue
    (the bot was down), through the storage layer."""
    with db.uow() as uow:
        sessions = [
            Session(
                room_id=room_id,
                name="Fallkonferenz",
                starts_at=now + timedelta(hours=1 + i % 20, minutes=i % 60),
                ends_at=now + timedelta(hours=2 + i % 20, minutes=i % 60),
                capacity=4,
                slot_minutes=30,
                state="geplant",
                created_at=now - timedelta(days=7),
                updated_at=now - timedelta(days=7),
            )
            for i in range(count)
        ]
        uow.session.add_all(sessions)
        uow.session.flush()
        uow.session.add_all(
            [
                Reminder(
                    session_id=session.id,
                    kind="termin",
                    offset_minutes=1440,
                    due_at=session.starts_at - timedelta(minutes=1440),
                    state="offen",
                )
                for session in sessions
            ]
        )
        uow.commit()


def outage(backend: str, due: int, workdir: Path) -> dict[str, float]:
    """A start with ``due`` reminders overdue: the timer works in chunks; a command is
    answered after the first one. Exactly once: every reminder queued once, a restart
    queues nothing more."""
    db, close = _database(backend, workdir)
    try:
        clock = FakeClock(datetime(2026, 11, 23, 9, 0, tzinfo=UTC))
        room = Room(db, clock)
        _seed_due(db, room.room_id, clock.now(), due)
        runner = room.runner  # as after a start
        started = time.perf_counter()
        chunks: list[float] = []
        queued = 0
        first_answer = 0.0
        while True:
            began = time.perf_counter()
            queued += runner.run_chunk()
            chunks.append(time.perf_counter() - began)
            if not first_answer:  # the timer yields to the loop: a command gets in
                reply = room.say(JA1, "termine")
                assert reply.startswith("Nächste Termine"), reply[:80]
                first_answer = time.perf_counter() - started
            if not runner.more:
                break
        total = time.perf_counter() - started
        with db.uow() as uow:
            rows = uow.session.scalars(
                select(OutboxMessage.txn_id).where(OutboxMessage.txn_id.like("fk1.reminder.%"))
            ).all()
        again = room.runner.run_due()  # a restart: nothing is queued twice
        assert queued == due == len(rows) == len(set(rows)), (queued, due, len(rows))
        assert again == 0, again
        return {
            "first_answer": first_answer,
            "longest_chunk": max(chunks),
            "chunks": float(len(chunks)),
            "total": total,
            "queued": float(queued),
        }
    finally:
        close()


def verify_rss(backend: str, rows: int, workdir: Path) -> tuple[float, float, float]:
    """Seeds ``rows`` audit entries, then runs the streamed verify in a process of its
    own; returns (seconds, peak RSS MiB of that process, its RSS before verifying)."""
    db, close = _database(backend, workdir)
    try:
        _seed_audit(db, rows)
        url = URLS[id(db)]
        child = subprocess.run(
            [sys.executable, "-c", _VERIFY_CHILD, url],
            capture_output=True,
            text=True,
            check=True,
            cwd=Path(__file__).resolve().parents[1],
        )
        seconds, peak, before = (float(x) for x in child.stdout.split())
        return seconds, peak, before
    finally:
        close()


_VERIFY_CHILD = """
import sys, time
from storage.audit import verify
from storage.db import make_engine
from storage.uow import Database

def status(key):  # this process's own figures (ru_maxrss would include the parent's)
    with open("/proc/self/status") as f:
        return next(int(l.split()[1]) / 1024 for l in f if l.startswith(key))

db = Database(make_engine(sys.argv[1]))
with db.uow() as uow:
    uow.audit.head()
before = status("VmRSS:")
started = time.perf_counter()
with db.uow() as uow:
    verdict = verify(uow.audit.stream(), uow.audit.head())
assert verdict.ok, verdict
print(time.perf_counter() - started, status("VmHWM:"), before)
"""


def _seed_audit(db: Database, rows: int) -> None:
    at = datetime(2026, 1, 1, tzinfo=UTC)
    done = 0
    while done < rows:  # in transactions of 10 000, as a year of work would have written
        with db.uow() as uow:
            for i in range(done, min(rows, done + 10_000)):
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
        done = min(rows, done + 10_000)


def audit(backend: str, rows: int, workdir: Path) -> dict[str, tuple[float, float]]:
    db, close = _database(backend, workdir)
    try:
        _seed_audit(db, rows)
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
    parser.add_argument("--audit-rows", type=int, default=20000, help="for the ORM comparison")
    parser.add_argument("--verify-rows", type=int, default=100000, help="for the RSS figure")
    parser.add_argument("--due", type=int, default=10000, help="reminders due at the start")
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
            o = outage(backend, args.due, workdir)
            print(
                f"\nStart nach Ausfall, {backend}, {args.due} Erinnerungen fällig: erste Antwort "
                f"nach {o['first_answer']:.2f} s, längster Block {o['longest_chunk']:.2f} s, "
                f"{o['chunks']:.0f} Blöcke, alle {o['queued']:.0f} eingereiht nach "
                f"{o['total']:.1f} s; nach Neustart 0 erneut"
            )
            seconds, peak, before = verify_rss(backend, args.verify_rows, workdir)
            print(
                f"audit verify, {backend}, {args.verify_rows} Einträge, eigener Prozess: "
                f"{seconds:.1f} s, Spitze RSS {peak:.0f} MiB (vor dem Prüfen {before:.0f} MiB)"
            )
            found = audit(backend, args.audit_rows, workdir)
            (s_time, s_peak), (e_time, e_peak) = found["stream"], found["entries"]
            print(
                f"\naudit verify, {backend}, {args.audit_rows} Einträge: gestreamt {s_time:.2f} s, "
                f"Spitze {s_peak:.1f} MiB; ORM {e_time:.2f} s, Spitze {e_peak:.1f} MiB "
                f"({e_peak / max(s_peak, 0.01):.0f}×)"
            )


if __name__ == "__main__":
    main()
