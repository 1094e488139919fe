"""Settings, read once from the environment (a `.env` file may supply defaults)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from dotenv import dotenv_values

TRUE_VALUES = {"1", "true", "yes", "on"}


@dataclass(frozen=True)
class Settings:
    """Everything Syncline reads from its environment."""

    database_url: str | None = None
    admin_token: str | None = None
    secret_key: str | None = None
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
    # "by-rank": at the head, the change feed and webhooks commit each batch in one
    # transaction, the other projections in a second; "together": all in one.
    live_commit: str = "by-rank"

    @classmethod
    def from_env(
        cls, environ: Mapping[str, str] | None = None, dotenv: Path | None = Path(".env")
    ) -> Settings:
        """Read settings; the real environment wins over the `.env` file."""
        values: dict[str, str | None] = {}
        if dotenv is not None and dotenv.is_file():
            values.update(dotenv_values(dotenv))
        values.update(os.environ if environ is None else environ)

        def get(name: str) -> str | None:
            value = values.get(name)
            return value if value not in (None, "") else None

        return cls(
            database_url=get("DATABASE_URL"),
            admin_token=get("SYNCLINE_ADMIN_TOKEN"),
            secret_key=get("SYNCLINE_SECRET_KEY"),
            audit_signing_key=get("SYNCLINE_AUDIT_SIGNING_KEY"),
            audit_public_keys=get("SYNCLINE_AUDIT_PUBLIC_KEYS"),
            allow_private_webhooks=(get("SYNCLINE_ALLOW_PRIVATE_WEBHOOKS") or "").lower()
            in TRUE_VALUES,
            data_dir=Path(get("SYNCLINE_DATA_DIR") or ".syncline"),
            log_level=(get("SYNCLINE_LOG_LEVEL") or "INFO").upper(),
            log_format=(get("SYNCLINE_LOG_FORMAT") or "auto").lower(),
            rate_limit_per_second=float(get("SYNCLINE_RATE_LIMIT_PER_SECOND") or 100.0),
            rate_limit_burst=int(get("SYNCLINE_RATE_LIMIT_BURST") or 200),
            access_token_ttl_seconds=int(get("SYNCLINE_ACCESS_TOKEN_TTL_SECONDS") or 3600),
            webhook_timeout=float(get("SYNCLINE_WEBHOOK_TIMEOUT_SECONDS") or 10.0),
            webhook_concurrency=int(get("SYNCLINE_WEBHOOK_CONCURRENCY") or 32),
            webhook_endpoint_concurrency=int(get("SYNCLINE_WEBHOOK_ENDPOINT_CONCURRENCY") or 0)
            or None,
            webhook_breaker_failures=int(get("SYNCLINE_WEBHOOK_BREAKER_FAILURES") or 5),
            webhook_breaker_seconds=float(get("SYNCLINE_WEBHOOK_BREAKER_SECONDS") or 30.0),
            webhook_breaker_max_seconds=float(get("SYNCLINE_WEBHOOK_BREAKER_MAX_SECONDS") or 600.0),
            catch_up_wait_seconds=float(get("SYNCLINE_CATCH_UP_WAIT_SECONDS") or 5.0),
            cors_origins=tuple(
                o.strip() for o in (get("SYNCLINE_CORS_ORIGINS") or "").split(",") if o.strip()
            ),
            lag_alert_seconds=float(get("SYNCLINE_LAG_ALERT_SECONDS") or 30.0),
            db_pool_size=_positive(get("SYNCLINE_DB_POOL_SIZE")),
            db_event_store_pool_size=_positive(get("SYNCLINE_DB_EVENT_STORE_POOL_SIZE")),
            live_linger_seconds=float(get("SYNCLINE_LIVE_LINGER_SECONDS") or 0.005),
            live_commit=_live_commit(get("SYNCLINE_LIVE_COMMIT") or "by-rank"),
        )


def _positive(value: str | None) -> int | None:
    """A pool size: a positive integer, or None (unset)."""
    if value is None:
        return None
    number = int(value)
    if number < 1:
        raise ValueError(f"a pool size must be at least 1, not {number}")
    return number


def _live_commit(value: str) -> str:
    if value not in ("by-rank", "together"):
        raise ValueError(f"SYNCLINE_LIVE_COMMIT is by-rank or together, not {value!r}")
    return value
