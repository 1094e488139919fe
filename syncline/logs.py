"""Logs: JSON lines with the correlation id for machines, short readable lines on a terminal."""

from __future__ import annotations

import logging
import sys
from datetime import UTC, datetime
from typing import Any

import msgspec

# A record's own attributes, and uvicorn's `color_message` (its message again, with the
# terminal's ANSI colour codes): none of them is written as a field.
_STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {
    "message",
    "asctime",
    "color_message",
}
_encoder = msgspec.json.Encoder()


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in vars(record).items():
            if key not in _STANDARD and not key.startswith("_"):
                entry[key] = value
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return _encoder.encode(entry).decode("utf-8", "replace")


class ConsoleFormatter(logging.Formatter):
    """`12:00:01 INFO  logger: message key=value …`, for a person at a terminal."""

    def format(self, record: logging.LogRecord) -> str:
        moment = datetime.fromtimestamp(record.created, UTC).strftime("%H:%M:%S")
        extras = " ".join(
            f"{key}={value}"
            for key, value in vars(record).items()
            if key not in _STANDARD and not key.startswith("_")
        )
        line = f"{moment} {record.levelname:<5} {record.name}: {record.getMessage()}"
        if extras:
            line = f"{line}  {extras}"
        if record.exc_info:
            line = f"{line}\n{self.formatException(record.exc_info)}"
        return line


# Chatty at INFO (the embedded database prints initdb's whole output; the scheduler every
# job it adds): shown only when SYNCLINE_LOG_LEVEL=DEBUG.
QUIET_BELOW_DEBUG = ("pgserver", "apscheduler")


def configure_logging(level: str = "INFO", log_format: str = "auto") -> None:
    """JSON lines unless `log_format` is "console", or "auto" and stderr is a terminal."""
    console = log_format == "console" or (log_format == "auto" and sys.stderr.isatty())
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(ConsoleFormatter() if console else JsonFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for noisy in ("uvicorn.access", "httpx", "psycopg.pool"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    if level != "DEBUG":
        for chatty in QUIET_BELOW_DEBUG:
            logging.getLogger(chatty).setLevel(logging.WARNING)
