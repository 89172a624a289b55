"""Small runtime parts: reconnect backoff, transaction ids, the store lock, crash points."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

import bot.app
from bot.app import Backoff
from bot.errors import StoreLockedError
from bot.faults import POINTS, CrashPoints
from bot.storelock import StoreLock
from bot.txn import txn_id_for

# -- backoff ----------------------------------------------------------------------------


def test_backoff_doubles_up_to_the_cap_with_jitter_below_nominal() -> None:
    backoff = Backoff(cap=10)
    nominal = [1, 2, 4, 8, 10, 10, 10]
    for expected in nominal:
        delay = backoff.next()
        assert 0.8 * expected <= delay <= expected


def test_backoff_jitter_is_a_factor_between_0_8_and_1(monkeypatch: pytest.MonkeyPatch) -> None:
    asked: list[tuple[float, float]] = []

    def uniform(low: float, high: float) -> float:
        asked.append((low, high))
        return low

    monkeypatch.setattr(bot.app.random, "uniform", uniform)
    backoff = Backoff(cap=60, base=0.5)
    assert [backoff.next() for _ in range(9)] == pytest.approx(
        [0.8 * n for n in (0.5, 1, 2, 4, 8, 16, 32, 60, 60)]
    )
    assert set(asked) == {(0.8, 1.0)}


def test_backoff_reset_starts_again_at_the_base(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(bot.app.random, "uniform", lambda low, high: high)
    backoff = Backoff(cap=60)
    assert [backoff.next() for _ in range(4)] == [1, 2, 4, 8]
    backoff.reset()
    assert [backoff.next() for _ in range(2)] == [1, 2]


def test_backoff_is_never_zero_nor_above_the_cap() -> None:
    backoff = Backoff(cap=3)
    delays = [backoff.next() for _ in range(200)]
    assert min(delays) >= 0.8
    assert max(delays) <= 3


def test_backoff_survives_a_very_long_outage() -> None:
    backoff = Backoff(cap=60)
    delays = [backoff.next() for _ in range(1100)]
    assert max(delays) <= 60


# -- transaction ids ------------------------------------------------------------------------


def test_txn_id_is_deterministic() -> None:
    assert txn_id_for("$abc:fk.test") == txn_id_for("$abc:fk.test")
    assert txn_id_for("$abc:fk.test") == txn_id_for("$abc:fk.test", "reply")


def test_txn_id_differs_by_event_and_by_purpose() -> None:
    ids = {
        txn_id_for("$a"),
        txn_id_for("$b"),
        txn_id_for("$a", "undecryptable"),
        txn_id_for("$b", "undecryptable"),
    }
    assert len(ids) == 4


def test_txn_id_cannot_be_confused_by_separator_tricks() -> None:
    assert txn_id_for("$a", "reply") != txn_id_for("$a\x00reply", "")


def test_txn_id_is_safe_in_a_url_path_and_fits_the_column() -> None:
    txn = txn_id_for("$Ereignis/mit?sonder#zeichen ä", "reply")
    assert re.fullmatch(r"fk1\.reply\.[0-9a-f]{40}", txn)
    assert len(txn) <= 255


# -- store lock -------------------------------------------------------------------------------

HOLDER = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    from bot.storelock import StoreLock

    lock = StoreLock(Path(sys.argv[1]))
    lock.acquire()
    print("gesperrt", flush=True)
    sys.stdin.readline()
    lock.release()
    print("frei", flush=True)
    """
)


@pytest.fixture
def holder(tmp_path: Path) -> Iterator[subprocess.Popen[str]]:
    """Another process that holds the lock on tmp_path/store until told to let go."""
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(tmp_path / "store")],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == "gesperrt"
    yield proc
    if proc.poll() is None:
        proc.kill()
        proc.wait(timeout=10)


def test_second_process_is_refused_with_the_holders_pid(
    tmp_path: Path, holder: subprocess.Popen[str]
) -> None:
    with pytest.raises(StoreLockedError) as info:
        StoreLock(tmp_path / "store").acquire()
    message = str(info.value)
    assert f"PID {holder.pid}" in message
    assert str(tmp_path / "store") in message


def test_release_lets_the_next_process_in(tmp_path: Path, holder: subprocess.Popen[str]) -> None:
    assert holder.stdin is not None
    assert holder.stdout is not None
    holder.stdin.write("\n")
    holder.stdin.flush()
    assert holder.stdout.readline().strip() == "frei"

    lock = StoreLock(tmp_path / "store")
    lock.acquire()
    try:
        assert (tmp_path / "store" / "fkbot.lock").read_text() == str(os.getpid())
    finally:
        lock.release()
    holder.stdin.close()
    assert holder.wait(timeout=10) == 0


def test_killed_holder_frees_the_lock(tmp_path: Path, holder: subprocess.Popen[str]) -> None:
    holder.send_signal(signal.SIGKILL)
    holder.wait(timeout=10)
    with StoreLock(tmp_path / "store") as lock:
        assert lock.path.read_text() == str(os.getpid())


def test_lock_can_be_taken_again_after_release_in_the_same_process(tmp_path: Path) -> None:
    lock = StoreLock(tmp_path / "neu" / "store")
    with lock:
        pass
    with lock:
        assert lock.path.exists()


def test_lock_creates_a_private_store_directory(tmp_path: Path) -> None:
    store = tmp_path / "privat" / "store"
    with StoreLock(store) as lock:
        assert store.is_dir()
        assert store.stat().st_mode & 0o077 == 0
        assert lock.path.stat().st_mode & 0o077 == 0


def test_release_without_acquire_is_harmless(tmp_path: Path) -> None:
    StoreLock(tmp_path / "store").release()


# -- crash points -------------------------------------------------------------------------------


def test_unknown_crash_point_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown crash point 'nach_dem_senden'"):
        CrashPoints("nach_dem_senden")


def test_unset_crash_points_do_nothing() -> None:
    crash = CrashPoints()
    for point in (*POINTS, "irgendwas"):
        crash.hit(point)  # still alive


def test_other_points_than_the_chosen_one_do_nothing() -> None:
    crash = CrashPoints("after_send_before_mark")
    crash.hit("after_sync_before_commit")
    crash.hit("after_commit_before_send")


def test_crash_point_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("FKBOT_CRASH_AT", raising=False)
    assert CrashPoints.from_env().point is None
    monkeypatch.setenv("FKBOT_CRASH_AT", "")
    assert CrashPoints.from_env().point is None
    monkeypatch.setenv("FKBOT_CRASH_AT", "after_commit_before_send")
    assert CrashPoints.from_env().point == "after_commit_before_send"
    monkeypatch.setenv("FKBOT_CRASH_AT", "tippfehler")
    with pytest.raises(ValueError, match="known: after_sync_before_commit"):
        CrashPoints.from_env()


def test_chosen_crash_point_kills_the_process_like_kill_9() -> None:
    script = textwrap.dedent(
        """
        from bot.faults import CrashPoints
        crash = CrashPoints("after_send_before_mark")
        crash.hit("after_commit_before_send")
        print("vorher", flush=True)
        crash.hit("after_send_before_mark")
        print("überlebt", flush=True)
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == -signal.SIGKILL
    assert result.stdout == "vorher\n"
