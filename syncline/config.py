"""Settings, read once from the environment (a `.env` file may supply defaults).

Every value is checked as it is read (`Settings.from_env`): its type, its range, or its
set of allowed values. The first one that is not allowed raises SettingsError, whose
message is one line naming the variable, its value (never a secret's: the admin token,
the secret key, the audit signing key or the database URL, which may hold a password) and
what is allowed; every `syncline` command prints it and exits 2 (syncline.cli.main).
"""

from __future__ import annotations

import math
import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import NoReturn
from urllib.parse import urlsplit

from dotenv import dotenv_values
from dotenv.parser import parse_stream

TRUE_VALUES = {"1", "true", "yes", "on"}
FALSE_VALUES = {"0", "false", "no", "off"}
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
LOG_FORMATS = ("auto", "json", "console")
LIVE_COMMITS = ("by-rank", "together")
# Never echoed in an error: their value is a secret (a URL may carry a password).
SECRETS = frozenset(
    {
        "DATABASE_URL",
        "SYNCLINE_ADMIN_TOKEN",
        "SYNCLINE_SECRET_KEY",
        "SYNCLINE_SECRET_KEYS_PREVIOUS",
        "SYNCLINE_AUDIT_SIGNING_KEY",
    }
)


class SettingsError(ValueError):
    """A setting whose value is not allowed; the message says which, and what is."""


def settings_or_refusal() -> Settings | None:
    """`Settings.from_env()`, or None once a value not allowed has been refused in one
    line on standard error (the caller exits 2): every process's entry reads them so."""
    try:
        return Settings.from_env()
    except SettingsError as exc:
        print(f"syncline: {exc}", file=sys.stderr)
        return None


@dataclass(frozen=True)
class Settings:
    """Everything Syncline reads from its environment."""

    database_url: str | None = None
    admin_token: str | None = None
    secret_key: str | None = None
    # Keys webhook secrets were sealed under before SYNCLINE_SECRET_KEY (newest first).
    secret_keys_previous: tuple[str, ...] = ()
    audit_signing_key: str | None = None
    # The public keys `syncline audit verify` holds checkpoints to (its --public-key).
    audit_public_keys: str | None = None
    allow_private_webhooks: bool = False
    data_dir: Path = field(default_factory=lambda: Path(".syncline"))
    log_level: str = "INFO"
    # "json", "console", or "auto": readable lines on a terminal, JSON lines otherwise.
    log_format: str = "auto"
    rate_limit_per_second: float = 100.0
    rate_limit_burst: int = 200
    access_token_ttl_seconds: int = 3600
    webhook_timeout: float = 10.0
    webhook_concurrency: int = 32
    # One endpoint's in-flight limit per worker; None: a quarter of `webhook_concurrency`.
    webhook_endpoint_concurrency: int | None = None
    # An endpoint's circuit opens after this many failed attempts in a row and is held
    # this long (doubling while its probes fail, up to the maximum).
    webhook_breaker_failures: int = 5
    webhook_breaker_seconds: float = 30.0
    webhook_breaker_max_seconds: float = 600.0
    # In a worker's backlog, the longest the records read model, the event log and tenants
    # wait per batch while the change feed and webhooks catch up (projections.priority);
    # 0: no order.
    catch_up_wait_seconds: float = 5.0
    # In a worker's backlog, how many decoded events its log reader keeps for the
    # projections that catch up later, so they do not decode the log again
    # (projections.log_reader); the last 8 batches (16,000 events) are kept whatever it says.
    catch_up_cache_events: int = 64_000
    # Origins whose browsers may call the API (CORS); empty: no CORS headers at all.
    cors_origins: tuple[str, ...] = ()
    # A projection whose oldest unprocessed event has waited longer is named as lagging by
    # /readyz (which then says "degraded").
    lag_alert_seconds: float = 30.0
    # Connection budget (docs/internals/connections.md): the pool for Syncline's own SQL and
    # the event store's pool, per process; None: the role's default (syncline.database).
    db_pool_size: int | None = None
    db_event_store_pool_size: int | None = None
    # How long the worker's live projections wait after a new event for more to batch
    # with it (projections.live).
    live_linger_seconds: float = 0.005
    # The longest the later-rank read models (event log, audit chain, tenants) trail the
    # feed and webhooks at the head, a lone event too (projections.live).
    live_later_linger_seconds: float = 0.1
    # "by-rank": at the head, the change feed and webhooks commit each batch in one
    # transaction, the other projections in a second; "together": all in one.
    live_commit: str = "by-rank"

    @classmethod
    def from_env(
        cls, environ: Mapping[str, str] | None = None, dotenv: Path | None = Path(".env")
    ) -> Settings:
        """Read and check settings; the real environment wins over the `.env` file.
        SettingsError for the first value that is not allowed."""
        values: dict[str, str | None] = {}
        if dotenv is not None and dotenv.is_file():
            problem = _dotenv_problem(dotenv)
            if problem is not None:
                # python-dotenv would skip such a line with a warning: whatever it was
                # meant to set would silently keep its default.
                raise SettingsError(
                    f"{dotenv}: {problem}; allowed: NAME=value, a comment (#) or a blank line"
                )
            values.update(dotenv_values(dotenv))
        values.update(os.environ if environ is None else environ)
        read = _Reader(values)
        breaker_seconds = read.seconds("SYNCLINE_WEBHOOK_BREAKER_SECONDS", 30.0)
        breaker_max_seconds = read.seconds("SYNCLINE_WEBHOOK_BREAKER_MAX_SECONDS", 600.0)
        if breaker_max_seconds < breaker_seconds:
            read.fail(
                "SYNCLINE_WEBHOOK_BREAKER_MAX_SECONDS",
                f"less than SYNCLINE_WEBHOOK_BREAKER_SECONDS ({breaker_seconds:g})",
                "a number of seconds at least SYNCLINE_WEBHOOK_BREAKER_SECONDS",
            )
        return cls(
            database_url=read.database_url("DATABASE_URL"),
            admin_token=read.text("SYNCLINE_ADMIN_TOKEN"),
            secret_key=read.text("SYNCLINE_SECRET_KEY"),
            secret_keys_previous=read.previous_keys(
                "SYNCLINE_SECRET_KEYS_PREVIOUS", current=read.text("SYNCLINE_SECRET_KEY")
            ),
            audit_signing_key=read.signing_key("SYNCLINE_AUDIT_SIGNING_KEY"),
            audit_public_keys=read.public_keys("SYNCLINE_AUDIT_PUBLIC_KEYS"),
            allow_private_webhooks=read.flag("SYNCLINE_ALLOW_PRIVATE_WEBHOOKS"),
            data_dir=read.directory("SYNCLINE_DATA_DIR", Path(".syncline")),
            log_level=read.choice("SYNCLINE_LOG_LEVEL", "INFO", LOG_LEVELS, "a log level"),
            log_format=read.choice("SYNCLINE_LOG_FORMAT", "auto", LOG_FORMATS, "a log format"),
            rate_limit_per_second=read.number(
                "SYNCLINE_RATE_LIMIT_PER_SECOND",
                100.0,
                zero=True,
                unit="requests per second",
                allowed="a number of requests per second above 0, or 0 (no limit)",
            ),
            rate_limit_burst=read.count("SYNCLINE_RATE_LIMIT_BURST", 200),
            access_token_ttl_seconds=read.count("SYNCLINE_ACCESS_TOKEN_TTL_SECONDS", 3600),
            webhook_timeout=read.seconds("SYNCLINE_WEBHOOK_TIMEOUT_SECONDS", 10.0),
            webhook_concurrency=read.count("SYNCLINE_WEBHOOK_CONCURRENCY", 32),
            webhook_endpoint_concurrency=read.optional_count(
                "SYNCLINE_WEBHOOK_ENDPOINT_CONCURRENCY"
            ),
            webhook_breaker_failures=read.count("SYNCLINE_WEBHOOK_BREAKER_FAILURES", 5),
            webhook_breaker_seconds=breaker_seconds,
            webhook_breaker_max_seconds=breaker_max_seconds,
            catch_up_wait_seconds=read.seconds("SYNCLINE_CATCH_UP_WAIT_SECONDS", 5.0, zero=True),
            catch_up_cache_events=read.count("SYNCLINE_CATCH_UP_CACHE_EVENTS", 64_000),
            cors_origins=read.origins("SYNCLINE_CORS_ORIGINS"),
            lag_alert_seconds=read.seconds("SYNCLINE_LAG_ALERT_SECONDS", 30.0),
            db_pool_size=read.optional_count("SYNCLINE_DB_POOL_SIZE"),
            db_event_store_pool_size=read.optional_count("SYNCLINE_DB_EVENT_STORE_POOL_SIZE"),
            live_linger_seconds=read.seconds("SYNCLINE_LIVE_LINGER_SECONDS", 0.005, zero=True),
            live_later_linger_seconds=read.seconds(
                "SYNCLINE_LIVE_LATER_LINGER_SECONDS", 0.1, zero=True
            ),
            live_commit=read.choice("SYNCLINE_LIVE_COMMIT", "by-rank", LIVE_COMMITS, "a mode"),
        )


def _dotenv_problem(path: Path) -> str | None:
    """What keeps a `.env` file from being read whole (its first line python-dotenv
    cannot parse), or None."""
    try:
        with path.open(encoding="utf-8") as stream:
            for binding in parse_stream(stream):
                if binding.error:
                    return f"line {binding.original.line} is not a setting"
    except UnicodeDecodeError:
        return "not UTF-8"
    return None


class _Reader:
    """Reads variables from `values` (an empty value is unset), checking each."""

    def __init__(self, values: Mapping[str, str | None]) -> None:
        self.values = values

    def text(self, name: str) -> str | None:
        value = self.values.get(name)
        return value if value not in (None, "") else None

    def fail(self, name: str, problem: str, allowed: str) -> NoReturn:
        """SettingsError: `NAME=value: problem; allowed: …` (a secret's value left out)."""
        value = self.text(name) or ""
        shown = value if value.isprintable() and value.strip() == value else repr(value)
        if len(shown) > 80:
            shown = shown[:77] + "..."
        where = name if name in SECRETS else f"{name}={shown}"
        raise SettingsError(f"{where}: {problem}; allowed: {allowed}")

    def number(
        self, name: str, default: float, *, zero: bool = False, unit: str, allowed: str
    ) -> float:
        """A finite number above 0 (or 0 too, with `zero`)."""
        text = self.text(name)
        if text is None:
            return default
        try:
            number = float(text)
        except ValueError:
            self.fail(name, f"not a number of {unit}", allowed)
        if not math.isfinite(number):
            self.fail(name, f"not a number of {unit}", allowed)
        if number < 0 or (number == 0 and not zero):
            self.fail(name, "too small", allowed)
        return number

    def seconds(self, name: str, default: float, *, zero: bool = False) -> float:
        """A number of seconds above 0 (or 0 too, with `zero`)."""
        allowed = "a number of seconds, at least 0" if zero else "a number of seconds above 0"
        return self.number(name, default, zero=zero, unit="seconds", allowed=allowed)

    def count(self, name: str, default: int) -> int:
        """A whole number, at least 1; `default` when unset."""
        number = self.optional_count(name)
        return default if number is None else number

    def optional_count(self, name: str) -> int | None:
        """A whole number, at least 1; None when unset."""
        text = self.text(name)
        if text is None:
            return None
        allowed = "a whole number, at least 1"
        try:
            number = int(text)
        except ValueError:
            self.fail(name, "not a whole number", allowed)
        if number < 1:
            self.fail(name, "too small", allowed)
        return number

    def choice(self, name: str, default: str, choices: tuple[str, ...], what: str) -> str:
        """One of `choices`, in any case."""
        text = self.text(name)
        if text is None:
            return default
        for choice in choices:
            if text.strip().lower() == choice.lower():
                return choice
        self.fail(name, f"not {what}", ", ".join(choices))

    def flag(self, name: str) -> bool:
        text = (self.text(name) or "0").strip().lower()
        if text in TRUE_VALUES:
            return True
        if text in FALSE_VALUES:
            return False
        self.fail(name, "not a yes or no", "1, true, yes or on; 0, false, no or off")

    def directory(self, name: str, default: Path) -> Path:
        path = Path(self.text(name) or default)
        allowed = "a directory, or a path where one can be made"
        if path.exists() and not path.is_dir():
            self.fail(name, "not a directory", allowed)
        # Where it does not exist yet, its nearest existing ancestor must be a directory
        # this process may create entries in.
        ancestor = path.absolute()
        while not ancestor.exists():
            ancestor = ancestor.parent
        if not ancestor.is_dir():
            self.fail(name, f"cannot be made: {ancestor} is not a directory", allowed)
        if ancestor != path.absolute() and not os.access(ancestor, os.W_OK | os.X_OK):
            self.fail(name, f"cannot be made: {ancestor} is not writable", allowed)
        return path

    def database_url(self, name: str) -> str | None:
        from psycopg import ProgrammingError
        from psycopg.conninfo import conninfo_to_dict

        text = self.text(name)
        if text is None:
            return None
        allowed = "a PostgreSQL URL (postgresql://user@host:port/dbname) or key=value settings"
        try:
            params = conninfo_to_dict(text)
        except ProgrammingError:
            self.fail(name, "not a PostgreSQL connection string", allowed)
        ports = str(params.get("port") or "5432").split(",")
        if not all(port.strip().isdigit() for port in ports):
            self.fail(name, "its port is not a number", allowed)
        return text

    def signing_key(self, name: str) -> str | None:
        from projections.audit.signing import InvalidSigningKeyError, seed_from_text

        text = self.text(name)
        if text is None:
            return None
        try:
            seed_from_text(text)
        except InvalidSigningKeyError as exc:
            # "... must be base64 of ..." or "... decodes to N bytes; an Ed25519 seed is 32"
            problem = str(exc).removeprefix(f"{name} ").split(";")[0]
            if problem.startswith("must be base64"):
                problem = "not base64"
            self.fail(name, problem, "the base64 of a 32-byte Ed25519 seed")
        return text

    def public_keys(self, name: str) -> str | None:
        from projections.audit.trust import MalformedKeyError, parse_public_keys

        text = self.text(name)
        if text is None:
            return None
        try:
            parse_public_keys(text)
        except MalformedKeyError as exc:
            problem = str(exc).split(";")[0]  # "public key 2 is 3 bytes; Ed25519 keys are 32"
            self.fail(name, problem, "base64 of 32-byte Ed25519 public keys, comma-separated")
        return text

    def previous_keys(self, name: str, *, current: str | None) -> tuple[str, ...]:
        """Comma-separated keys, each non-empty, only beside a current key."""
        text = self.text(name)
        if text is None:
            return ()
        keys = tuple(key.strip() for key in text.split(","))
        if not all(keys):
            self.fail(name, "an empty key in the list", "keys separated by commas")
        if current is None:
            self.fail(
                name,
                "set without SYNCLINE_SECRET_KEY",
                "previous keys beside a current SYNCLINE_SECRET_KEY",
            )
        return keys

    def origins(self, name: str) -> tuple[str, ...]:
        origins = tuple(o.strip() for o in (self.text(name) or "").split(",") if o.strip())
        for origin in origins:
            if origin == "*":
                continue
            parts = urlsplit(origin)
            if (
                parts.scheme not in ("http", "https")
                or not parts.netloc
                or parts.path not in ("", "/")
                or parts.query
                or parts.fragment
            ):
                self.fail(
                    name,
                    f"{origin} is not an origin",
                    "* or origins such as https://app.example.com, comma-separated",
                )
        return origins
