"""Structured log fields: ids and outcomes a log pipeline can index, never message content.

Use ``log.info("…", extra=log_fields(event_id=…, room_id=…, command=…, outcome=…))``;
the JSON format writes them as keys of the line, the text format appends them as
``key=value``. Only the names in :data:`FIELDS` are carried.
"""

from __future__ import annotations

import json
import logging
from typing import Any

FIELDS = ("event_id", "room_id", "command", "outcome", "ref")


def log_fields(**values: Any) -> dict[str, Any]:
    unknown = set(values) - set(FIELDS)
    if unknown:
        raise ValueError(f"keine Log-Felder: {sorted(unknown)}")
    return {f"fk_{k}": v for k, v in values.items() if v is not None}


def _fields(record: logging.LogRecord) -> dict[str, Any]:
    return {k: getattr(record, f"fk_{k}") for k in FIELDS if hasattr(record, f"fk_{k}")}


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message and the structured fields."""

    def format(self, record: logging.LogRecord) -> str:
        data: dict[str, Any] = {
            "ts": self.formatTime(record),
            "level": record.levelname,
            "logger": record.name,
            "msg": record.getMessage(),
            **_fields(record),
        }
        if record.exc_info:
            data["exc"] = self.formatException(record.exc_info)
        return json.dumps(data, ensure_ascii=False)


class TextFormatter(logging.Formatter):
    """The usual text line, with the structured fields appended as ``key=value``."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        fields = _fields(record)
        if fields:
            line += " " + " ".join(f"{k}={v}" for k, v in fields.items())
        return line
