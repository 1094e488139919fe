"""What the API needs from the composition root, and its Litestar dependency providers."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from litestar.datastructures import State
from psycopg_pool import ConnectionPool

from api.auth import Authenticator
from domain.application import Syncline
from projections.cursor import CursorCodec


@dataclass
class ApiServices:
    """The adapters one API process uses; built once by `syncline.runtime`."""

    app: Syncline
    pool: ConnectionPool
    cursors: CursorCodec
    admin_token: str | None
    authenticator: Authenticator = field(init=False)

    def __post_init__(self) -> None:
        self.authenticator = Authenticator(self.app)


def provide_services(state: State) -> ApiServices:
    services: ApiServices = state.services
    return services


def services_of(state: Any) -> ApiServices:
    services: ApiServices = state.services
    return services
