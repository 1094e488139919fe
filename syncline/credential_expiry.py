"""CredentialExpiry: records `Expired` on credentials past their expiry; forgets old tokens.

A credential stops working at its `expires_at` whether or not this has run (the API checks
the time itself); the sweep only writes the lifecycle event auditors read, and deletes
access tokens long past their expiry.
"""

from __future__ import annotations

import logging
import threading
import uuid
from datetime import UTC, datetime, timedelta

from eventsourcing.persistence import IntegrityError
from psycopg_pool import ConnectionPool

from api.access_tokens import AccessTokenStore
from domain.application import Syncline
from domain.context import SYSTEM

log = logging.getLogger(__name__)

BATCH = 500
TOKEN_RETENTION = timedelta(days=1)


class CredentialExpiry:
    """Run by `syncline worker` every `interval` seconds; any number of workers may run it."""

    def __init__(self, app: Syncline, pool: ConnectionPool, *, interval: float = 60.0) -> None:
        self.app = app
        self.pool = pool
        self.interval = interval
        self._stop = threading.Event()

    def run_once(self, now: datetime | None = None) -> int:
        """Expire what is due; answers how many credentials were marked expired."""
        now = now or datetime.now(UTC)
        correlation_id = f"expiry-{uuid.uuid4().hex}"
        with self.pool.connection() as conn:
            rows = conn.execute(
                "SELECT id FROM credentials WHERE revoked_at IS NULL AND expired_at IS NULL"
                " AND expires_at IS NOT NULL AND expires_at <= %s ORDER BY expires_at LIMIT %s",
                (now, BATCH),
            ).fetchall()
        expired = 0
        for (credential_id,) in rows:
            try:
                expired += self.app.expire_credential(SYSTEM, correlation_id, credential_id, now)
            except IntegrityError:
                continue  # another worker recorded it first
        purged = AccessTokenStore(self.pool, timedelta(0)).purge(now - TOKEN_RETENTION)
        if expired or purged:
            log.info(
                "credential expiry",
                extra={
                    "expired": expired,
                    "tokens_purged": purged,
                    "correlation_id": correlation_id,
                },
            )
        return expired

    def run(self) -> None:
        while not self._stop.is_set():
            try:
                self.run_once()
            except Exception:  # the sweep must outlive a database hiccup
                log.exception("credential expiry failed")
            self._stop.wait(self.interval)

    def stop(self) -> None:
        self._stop.set()
