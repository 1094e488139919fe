"""What the API needs from the composition root, and its Litestar dependency providers."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import timedelta
from uuid import UUID

from litestar.datastructures import State
from psycopg_pool import ConnectionPool

from api.access_tokens import AccessTokenStore
from api.auth import AUTH_CHANNEL, Authenticator
from api.auth_sync import AuthSync, settle
from api.clock import Clock
from api.rate_limit import RateLimiter
from delivery.secret_box import SecretBox
from domain.application import Syncline
from projections.changes.listener import ChangeListener
from projections.cursor import CursorCodec

log = logging.getLogger(__name__)


@dataclass
class ApiServices:
    """The adapters one API process uses; built once by `syncline.runtime`."""

    app: Syncline
    pool: ConnectionPool
    cursors: CursorCodec
    admin_token: str | None
    clock: Clock = field(default_factory=Clock)
    access_token_lifetime: timedelta = timedelta(hours=1)
    rate_limit_per_second: float = 100.0
    rate_limit_burst: int = 200
    access_tokens: AccessTokenStore = field(init=False)
    secret_box: SecretBox = field(default_factory=lambda: SecretBox(None))
    allow_private_webhooks: bool = False
    cors_origins: tuple[str, ...] = ()
    audit_key_id: str | None = None  # the key checkpoints are signed with now
    lag_alert_seconds: float = 30.0  # /readyz names a projection lagging longer
    authenticator: Authenticator = field(init=False)
    rate_limiter: RateLimiter = field(init=False)
    change_listener: ChangeListener = field(init=False)
    auth_sync: AuthSync = field(init=False)

    def __post_init__(self) -> None:
        self.access_tokens = AccessTokenStore(self.pool, self.access_token_lifetime)
        self.authenticator = Authenticator(self.app, self.access_tokens, clock=self.clock)
        self.rate_limiter = RateLimiter(
            self.pool,
            self.rate_limit_per_second,
            self.rate_limit_burst,
            now=self.clock.database_now,
            monotonic=self.clock.monotonic,
        )
        self.auth_sync = AuthSync(self.pool, self.authenticator)
        self.change_listener = ChangeListener(
            str(self.pool.conninfo),
            channels={AUTH_CHANNEL: self._credential_changed},
            on_connection=self.authenticator.listening,
            on_session=self.auth_sync.register,
        )

    def _credential_changed(self, payload: str) -> None:
        """`<aggregate id> <auth epoch>`: drop what the cache holds about it, then record
        the epoch as applied by this process."""
        changed, _, epoch = payload.partition(" ")
        try:
            aggregate_id, applied = UUID(changed), int(epoch or 0)
        except ValueError:
            log.warning("ignored a malformed %s notification", AUTH_CHANNEL)
            return
        self.authenticator.invalidate(aggregate_id)
        self.auth_sync.applied(applied)

    def settle_auth(self) -> None:
        """After an operator's credential or tenant change: return once every API process
        has applied it (api.auth_sync)."""
        settle(self.pool)


def provide_services(state: State) -> ApiServices:
    services: ApiServices = state.services
    return services
