"""Log lines carry a record's message and its extra fields, but not uvicorn's
`color_message` (the message again, with ANSI colour codes)."""

from __future__ import annotations

import logging

import msgspec
import pytest

from syncline.logs import ConsoleFormatter, JsonFormatter


def uvicorn_record() -> logging.LogRecord:
    """A record as uvicorn logs it: `extra={"color_message": ...}`."""
    record = logging.LogRecord(
        "uvicorn.error", logging.INFO, __file__, 1, "Started server process [%d]", (42,), None
    )
    record.color_message = "Started server process [\x1b[36m%d\x1b[0m]"
    record.correlation_id = "req-1"
    return record


@pytest.mark.parametrize("formatter", [JsonFormatter(), ConsoleFormatter()], ids=type)
def test_color_message_is_not_written(formatter: logging.Formatter) -> None:
    line = formatter.format(uvicorn_record())
    assert "color_message" not in line
    assert "\x1b" not in line
    assert "\\u001b" not in line
    assert "Started server process [42]" in line
    assert "req-1" in line  # other extra fields still are


def test_a_json_line_holds_the_message_and_the_extra_fields() -> None:
    entry = msgspec.json.decode(JsonFormatter().format(uvicorn_record()))
    assert entry["message"] == "Started server process [42]"
    assert entry["correlation_id"] == "req-1"
    assert set(entry) == {"time", "level", "logger", "message", "correlation_id"}
