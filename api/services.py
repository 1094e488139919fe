"""What the API needs from the composition root, and its Litestar dependency providers."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from litestar.datastructures import State
from psycopg_pool import ConnectionPool

from api.access_tokens import AccessTokenStore
from api.auth import Authenticator
from api.clock import Clock
from api.rate_limit import RateLimiter
from delivery.secret_box import SecretBox
from domain.application import Syncline
from projections.changes.listener import ChangeListener
from projections.cursor import CursorCodec


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
    audit_key_id: str | None = None  # the key checkpoints are signed with now
    authenticator: Authenticator = field(init=False)
    rate_limiter: RateLimiter = field(init=False)
    change_listener: ChangeListener = field(init=False)

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
        self.change_listener = ChangeListener(str(self.pool.conninfo))


def provide_services(state: State) -> ApiServices:
    services: ApiServices = state.services
    return services


def services_of(state: Any) -> ApiServices:
    services: ApiServices = state.services
    return services
