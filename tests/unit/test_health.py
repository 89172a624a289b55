"""/healthz, /readyz and /metrics, and the structured log fields.

The HTTP listener runs for real on a loopback port the OS picks; the engine behind
the metrics is the harness's, on a real database, with a fake clock.
"""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime, timedelta

import pytest

from bot.clock import FakeClock
from bot.config import HealthConfig
from bot.health import HealthServer
from bot.logfields import JsonFormatter, TextFormatter, log_fields
from bot.metrics import Metrics
from bot.testing.harness import JA1, Room
from bot.testing.scrape import get as _get
from bot.testing.scrape import samples as _samples
from storage.uow import Database


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(datetime(2026, 11, 23, 9, 0, tzinfo=UTC))


async def test_health_readiness_and_metrics_over_http(
    sqlite_database: Database, clock: FakeClock
) -> None:
    metrics = Metrics(clock)
    metrics.watch(sqlite_database)
    room = Room(sqlite_database, clock, metrics=metrics)
    case = room.new_case()
    room.say(JA1, "fall neu extra")  # a user error
    server = HealthServer(metrics, ready_within_seconds=60)
    await server.start("127.0.0.1", 0)
    try:
        assert server.port
        assert await _get(server.port, "/healthz") == (200, "ok\n")
        status, text = await _get(server.port, "/readyz")
        assert (status, text) == (503, "noch kein Sync\n")
        metrics.synced()
        clock.advance(timedelta(seconds=30))
        assert (await _get(server.port, "/readyz"))[0] == 200
        clock.advance(timedelta(seconds=31))
        status, text = await _get(server.port, "/readyz")
        assert status == 503
        assert "letzter Sync vor 61 s" in text
        status, text = await _get(server.port, "/metrics")
        assert status == 200
        samples = _samples(text)
        assert samples[("fkbot_commands_total", (("outcome", "ok"),))] == 1
        assert samples[("fkbot_commands_total", (("outcome", "user_error"),))] == 1
        assert samples[("fkbot_command_seconds_count", ())] == 2
        assert samples[("fkbot_outbox_pending", ())] == 2  # the two replies, never acked
        assert samples[("fkbot_outbox_oldest_pending_seconds", ())] > 60
        assert samples[("fkbot_sync_lag_seconds", ())] == 61
        assert samples[("fkbot_quarantine_rows", ())] == 0
        # no label or value names a room, a person or a case
        for secret in (room.room_id, JA1, case, "fk.test"):
            assert secret not in text
    finally:
        await server.stop()


def test_the_listener_is_loopback_unless_configured() -> None:
    assert HealthConfig().address == ("127.0.0.1", 9464)
    assert HealthConfig(listen="").address is None
    assert HealthConfig(listen="[::1]:9000").address == ("::1", 9000)
    with pytest.raises(ValueError, match="host:port"):
        HealthConfig(listen="9464")


def _record(**fields: object) -> logging.LogRecord:
    record = logging.LogRecord(
        "bot.engine", logging.INFO, __file__, 1, "Befehl %s", ("ping",), None
    )
    for key, value in log_fields(**fields).items():
        setattr(record, key, value)
    return record


def test_log_lines_carry_fields_never_content() -> None:
    record = _record(event_id="$e1", room_id="!r:fk.test", command="ping", outcome="ok")
    line = json.loads(JsonFormatter().format(record))
    assert line["msg"] == "Befehl ping"
    assert (line["event_id"], line["room_id"], line["command"], line["outcome"]) == (
        "$e1",
        "!r:fk.test",
        "ping",
        "ok",
    )
    assert "ref" not in line
    text = TextFormatter().format(record)
    assert text.endswith("event_id=$e1 room_id=!r:fk.test command=ping outcome=ok")
    with pytest.raises(ValueError, match="keine Log-Felder"):
        log_fields(body="hallo")
