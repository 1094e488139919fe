"""Process wiring: one place that builds the real adapters from Settings."""

from __future__ import annotations

import hashlib
import logging
import secrets
import threading
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any
from uuid import UUID

from apscheduler.schedulers.background import BackgroundScheduler
from psycopg_pool import ConnectionPool

from api.services import ApiServices
from delivery.jobs import DeliveryJobs
from delivery.metrics import DeliveryMetricsCollector
from delivery.queue import BreakerPolicy
from delivery.secret_box import SecretBox
from delivery.subscriber import DeliveryProjection
from delivery.worker import DeliveryWorker
from domain.application import Syncline
from domain.context import SYSTEM, Context
from projections import rendering
from projections.audit.checkpoints import JOB_INTERVAL, Checkpointer
from projections.audit.projection import AuditChainProjection
from projections.audit.signing import CheckpointSigner, seed_from_text
from projections.cursor import CursorCodec
from projections.events.projection import EventLogProjection
from projections.leadership import Leadership
from projections.live import LiveGroup
from projections.locks import EVENT_STORE_LOCK
from projections.log_reader import DEFAULT_BATCH, FRONTIER, LogReader
from projections.priority import (
    ELSEWHERE_FRESH,
    CatchingUpElsewhere,
    CatchUpOrder,
    spread_for,
)
from projections.protocol import Projection
from projections.records.projection import RecordsProjection
from projections.runner import ProjectionRunner
from projections.tenants.projection import TenantsProjection
from projections.webhooks.projection import WebhooksProjection
from syncline.app import GroupCommitSyncline
from syncline.config import Settings
from syncline.credential_expiry import CredentialExpiry
from syncline.database import (
    open_pool,
    pool_sizes,
    process_name,
    resolve_database_url,
    with_application_name,
)
from syncline.migrate import migrate

log = logging.getLogger(__name__)


def all_projections(cursors: CursorCodec | None = None) -> list[Projection]:
    """Every projection; `cursors` is the codec the delivery subscriber renders envelope
    cursors with (None only where the projections are listed, not run)."""
    return [
        RecordsProjection(),
        TenantsProjection(),
        EventLogProjection(),
        AuditChainProjection(),
        DeliveryProjection(cursors),
        WebhooksProjection(),
    ]


def server_secret(pool: ConnectionPool, name: str) -> bytes:
    """A random secret kept in the database, made on first use, shared by every process."""
    with pool.connection() as conn:
        conn.execute(
            "INSERT INTO server_secrets (name, value) VALUES (%s, %s) ON CONFLICT DO NOTHING",
            (name, secrets.token_bytes(32)),
        )
        row = conn.execute("SELECT value FROM server_secrets WHERE name = %s", (name,)).fetchone()
    assert row is not None
    return bytes(row[0])


def audit_signer(pool: ConnectionPool, configured: str | None) -> CheckpointSigner:
    """The checkpoint signing key: SYNCLINE_AUDIT_SIGNING_KEY, else one generated on first
    start and kept in the database (with a warning); either way recorded among every key
    ever used, so checkpoints it signed still verify after a rotation."""
    if configured:
        signer = CheckpointSigner(seed_from_text(configured))
    else:
        signer = CheckpointSigner(server_secret(pool, "audit-signing-key"))
        log.warning(
            "SYNCLINE_AUDIT_SIGNING_KEY is not set: audit checkpoints are signed with a key"
            " generated and stored in the database",
            extra={"key_id": signer.key_id},
        )
    signer.register(pool)
    return signer


def cursor_key(pool: ConnectionPool) -> bytes:
    """The key of every cursor codec (the API's and the delivery subscriber's).

    Only the database's own random secret goes in: setting or changing SYNCLINE_SECRET_KEY
    must not invalidate every cursor integrations have stored."""
    return hashlib.sha256(b"syncline-cursor:" + server_secret(pool, "cursor")).digest()


_metrics_registered = threading.Lock()
_metrics_pools: list[ConnectionPool] = []


def register_delivery_metrics(pool: ConnectionPool) -> None:
    """Expose the delivery metrics on this process's `/metrics` (once per process)."""
    from prometheus_client import REGISTRY

    with _metrics_registered:
        if not _metrics_pools:
            REGISTRY.register(DeliveryMetricsCollector(pool))
            _metrics_pools.append(pool)


@dataclass
class Runtime:
    """The adapters of one Syncline process: event store, pool, projections."""

    settings: Settings
    database_url: str
    app: Syncline
    pool: ConnectionPool
    projections: list[Projection]
    cursors: CursorCodec
    secret_box: SecretBox
    runners: list[ProjectionRunner] = field(default_factory=list)
    log_reader: LogReader | None = None
    catch_up_order: CatchUpOrder | None = None
    threads: list[threading.Thread] = field(default_factory=list)
    stoppables: list[CredentialExpiry] = field(default_factory=list)
    workers: list[DeliveryWorker] = field(default_factory=list)
    scheduler: BackgroundScheduler | None = None
    signer: CheckpointSigner | None = None
    role: str = "process"
    leadership: Leadership | None = None
    live_group: LiveGroup | None = None
    _delivery_jobs: bool = False

    @classmethod
    def open(
        cls, settings: Settings, *, pool_size: int | None = None, role: str = "process"
    ) -> Runtime:
        """The adapters of a process of `role`: "api" and "worker" keep to their connection
        budget (syncline.database.BUDGETS; SYNCLINE_DB_POOL_SIZE and
        SYNCLINE_DB_EVENT_STORE_POOL_SIZE override it); other roles (dev, replay, audit,
        tests) get pools of `pool_size` (10), as many again in the event store's overflow.
        Every session is named `syncline <role> <host>:<pid>` in pg_stat_activity."""
        size, store_size, store_overflow = pool_sizes(
            role, pool_size or settings.db_pool_size, settings.db_event_store_pool_size
        )
        url = with_application_name(
            resolve_database_url(settings.database_url, settings.data_dir), process_name(role)
        )
        # The pool first: opening it waits (with backoff) for a database that is down or full.
        pool = open_pool(url, max_size=size, name="syncline")
        migrate(url)  # our schema (syncline/migrations/); the event store makes its own
        cursors = CursorCodec(cursor_key(pool))
        projections = all_projections(cursors)
        # The event store creates its tables on construction; processes starting together
        # would race on them ("tuple concurrently updated"), so one constructs at a time.
        with pool.connection() as conn:
            conn.execute("SELECT pg_advisory_lock(%s)", (EVENT_STORE_LOCK,))
            try:
                app = GroupCommitSyncline(
                    url, store_size, store_overflow, [p for p in projections if p.inline]
                )
            finally:
                conn.execute("SELECT pg_advisory_unlock(%s)", (EVENT_STORE_LOCK,))
        secret_box = SecretBox(settings.secret_key, settings.secret_keys_previous)
        if not secret_box.encrypts:
            log.warning("SYNCLINE_SECRET_KEY is not set: webhook secrets are stored unencrypted")
        signer = audit_signer(pool, settings.audit_signing_key)
        return cls(
            settings, url, app, pool, projections, cursors, secret_box, signer=signer, role=role
        )

    def checkpointer(self, **options: Any) -> Checkpointer:
        """Signs the tenants' audit chains (see projections.audit.checkpoints)."""
        assert self.signer is not None
        return Checkpointer(self.app, self.pool, self.signer, **options)

    def start_audit_checkpoints(self) -> Checkpointer:
        """Sign every moving audit chain on schedule (the worker's job)."""
        checkpointer = self.checkpointer()
        scheduler = self._scheduler()
        scheduler.add_job(
            checkpointer.run_due,
            "interval",
            seconds=JOB_INTERVAL,
            id="audit-checkpoints",
            max_instances=1,
            coalesce=True,
        )
        return checkpointer

    def _scheduler(self) -> BackgroundScheduler:
        if self.scheduler is None:
            self.scheduler = BackgroundScheduler(timezone="UTC")
            self.scheduler.start()
        return self.scheduler

    def api_services(self, **overrides: Any) -> ApiServices:
        """The API's adapters; `overrides` replace ApiServices fields (tests pass a clock)."""
        register_delivery_metrics(self.pool)
        return ApiServices(
            app=self.app,
            pool=self.pool,
            cursors=self.cursors,
            admin_token=self.settings.admin_token,
            **{
                "access_token_lifetime": timedelta(seconds=self.settings.access_token_ttl_seconds),
                "rate_limit_per_second": self.settings.rate_limit_per_second,
                "rate_limit_burst": self.settings.rate_limit_burst,
                "secret_box": self.secret_box,
                "allow_private_webhooks": self.settings.allow_private_webhooks,
                "cors_origins": self.settings.cors_origins,
                "audit_key_id": self.signer.key_id if self.signer else None,
                "lag_alert_seconds": self.settings.lag_alert_seconds,
                **overrides,
            },
        )

    def disable_webhook(self, tenant_id: UUID, webhook_id: UUID, reason: str) -> bool:
        """Disable a webhook on the system's behalf (its endpoint answered 410, or has been
        failing for days); False if it was not active. Delivery calls it back."""
        ctx = Context(tenant_id, SYSTEM, uuid.uuid4().hex)
        return self.app.disable_webhook(ctx, webhook_id, reason)

    def webhook_gone(self, tenant_id: UUID, webhook_id: UUID) -> None:
        """A delivery was answered 410 Gone: the webhook is disabled at once."""
        self.disable_webhook(tenant_id, webhook_id, "gone")

    def delivery_worker(self, **options: Any) -> DeliveryWorker:
        """A sender worker on this runtime's database (not started)."""
        defaults: dict[str, Any] = {
            "on_gone": self.webhook_gone,
            "secret_box": self.secret_box,
            "allow_private": self.settings.allow_private_webhooks,
            "timeout": self.settings.webhook_timeout,
            "concurrency": self.settings.webhook_concurrency,
            "endpoint_concurrency": self.settings.webhook_endpoint_concurrency,
            "breaker": BreakerPolicy(
                self.settings.webhook_breaker_failures,
                self.settings.webhook_breaker_seconds,
                self.settings.webhook_breaker_max_seconds,
            ),
        }
        return DeliveryWorker(self.database_url, **{**defaults, **options})

    def start_delivery(self, **worker_options: Any) -> DeliveryWorker:
        """Run a sender worker in a background thread, and the periodic delivery jobs."""
        worker = self.delivery_worker(**worker_options)
        thread = threading.Thread(target=worker.run, name="delivery-worker", daemon=True)
        thread.start()
        self.workers.append(worker)
        self.threads.append(thread)
        if not self._delivery_jobs:
            DeliveryJobs(self.disable_webhook, self.pool).schedule(self._scheduler())
            self._delivery_jobs = True
        return worker

    def start_projections(
        self, names: Sequence[str] | None = None, **runner_options: Any
    ) -> list[ProjectionRunner]:
        """Run every projection (or those named) in a background thread (leader election
        included)."""
        for projection in self.projections:
            if names is None or projection.name in names:
                self.start_projection(projection, **runner_options)
        return self.runners

    def start_projection(self, projection: Projection, **runner_options: Any) -> ProjectionRunner:
        batch_size = runner_options.get("batch_size", DEFAULT_BATCH)
        if self.log_reader is None:
            self.log_reader = LogReader(self.app)  # shared: the log is decoded once
        if projection.catches_up_later:
            # Room for the batches it reads after the first rank (settings).
            capacity = max(FRONTIER, self.settings.catch_up_cache_events // batch_size)
            reader: LogReader = self.log_reader
            reader.capacity = max(reader.capacity, capacity)
            rendering.keep(lambda: reader.kept_events)
        if self.catch_up_order is None:
            spread = spread_for(batch_size)
            first_rank = [p.name for p in self.projections if not p.catches_up_later]
            elsewhere = CatchingUpElsewhere(
                self.pool,
                lambda: self.app.recorder.max_notification_id() or 0,  # type: ignore[attr-defined]
                first_rank,
                behind=spread,
                fresh=ELSEWHERE_FRESH + self.settings.catch_up_wait_seconds,
            )
            self.catch_up_order = CatchUpOrder(
                self.settings.catch_up_wait_seconds,
                spread,
                elsewhere,
                on_caught_up=self._caught_up,
            )
        if self.leadership is None:
            # One session holds the locks of every projection this process leads.
            self.leadership = Leadership(
                self.database_url,
                self.app.recorder.channel_name,  # type: ignore[attr-defined]
                label=f"{self.role} leader",
            )
        if self.live_group is None:
            self.live_group = LiveGroup(
                self.log_reader,
                self.pool,
                batch_size=runner_options.get("batch_size", DEFAULT_BATCH),
                linger=self.settings.live_linger_seconds,
                poll_interval=runner_options.get("poll_interval", 1.0),
                by_rank=self.settings.live_commit == "by-rank",
                later_linger=self.settings.live_later_linger_seconds,
            )
        runner_options.setdefault("reader", self.log_reader)
        runner_options.setdefault("order", self.catch_up_order)
        runner_options.setdefault("leadership", self.leadership)
        runner_options.setdefault("group", self.live_group)
        runner = ProjectionRunner(self.app, self.pool, projection, **runner_options)
        runner.ensure_tracking()
        thread = threading.Thread(target=runner.run, name=f"projection-{runner.name}", daemon=True)
        thread.start()
        self.runners.append(runner)
        self.threads.append(thread)
        return runner

    def _caught_up(self) -> None:
        """Nobody is catching up: the decoded batches and their texts are let go."""
        if self.log_reader is not None:
            self.log_reader.release()
        rendering.forget()

    def stop_projection(self, name: str) -> None:
        """Stop this process's runner of one projection (its lock is released on return)."""
        for runner in [r for r in self.runners if r.name == name]:
            runner.stop()
            for thread in [t for t in self.threads if t.name == f"projection-{name}"]:
                thread.join(timeout=30)
                self.threads.remove(thread)
            self.runners.remove(runner)

    def projection(self, name: str) -> Projection:
        for projection in self.projections:
            if projection.name == name:
                return projection
        raise KeyError(name)

    def start_credential_expiry(self, interval: float = 60.0) -> CredentialExpiry:
        """Record credential expiries and purge old access tokens in a background thread."""
        expiry = CredentialExpiry(self.app, self.pool, interval=interval)
        thread = threading.Thread(target=expiry.run, name="credential-expiry", daemon=True)
        thread.start()
        self.stoppables.append(expiry)
        self.threads.append(thread)
        return expiry

    def wait_for_projections(self, timeout: float = 30.0) -> bool:
        """Block until every running projection has processed the log's current head."""
        head = self.app.recorder.max_notification_id() or 0  # type: ignore[attr-defined]
        return all(runner.wait_until(head, timeout) for runner in self.runners)

    def close(self) -> None:
        # A scheduled job already running (a checkpoint, a purge) finishes before the pools
        # it uses close: the jobs are short, and one cut off would only log failures.
        if self.scheduler is not None:
            self.scheduler.shutdown(wait=True)
        for worker in self.workers:
            worker.stop()
        for runner in self.runners:
            runner.stop()
        for job in self.stoppables:
            job.stop()
        for thread in self.threads:
            thread.join(timeout=10)
        if self.leadership is not None:
            self.leadership.stop()
        if self.log_reader is not None:
            rendering.keep(None)  # the memo no longer follows this runtime's reader
        self.app.recorder.close()  # type: ignore[attr-defined]
        self.app.close()
        self.pool.close()
