"""The suite passes whatever today is: part of it again, with the process's clock moved.

Each run starts pytest in a subprocess with ``FKBOT_TEST_NOW`` set (tests/conftest.py
moves the whole process's clock there with time-machine): the week before a session
of the usual series, the days around the switch to and from summer time, and the day
the demo once failed. The unit tests take their "now" from injected clocks; this run
catches any that read the real one. SQLite only, the modules that compute with dates:
a small share of CI.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
MODULES = [
    "tests/unit/test_dates.py",
    "tests/unit/test_series.py",
    "tests/unit/test_daily.py",
    "tests/unit/test_session_commands.py",
    "tests/unit/test_truthful_texts.py",
    "tests/unit/test_demo_schedule.py",
    "tests/unit/test_audit_cli.py",
    "tests/unit/test_export_cli.py",
]


@pytest.mark.slow
@pytest.mark.parametrize(
    "now",
    [
        "2026-12-03T10:00:00+01:00",  # the day the demo once failed
        "2027-03-28T03:30:00+02:00",  # the hour after the switch to summer time
        "2027-10-31T02:30:00+01:00",  # the repeated hour of the switch back
        "2028-02-29T23:59:00+01:00",  # a leap day, just before midnight
    ],
)
def test_the_date_sensitive_tests_pass_under_a_shifted_clock(now: str) -> None:
    env = {**os.environ, "FKBOT_TEST_NOW": now, "TZ": "America/Los_Angeles"}
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-x",
            "-p",
            "no:cacheprovider",
            "-k",
            "not postgresql",
            *MODULES,
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
