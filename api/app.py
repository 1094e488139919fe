"""`create_app()`: the Litestar application."""

from __future__ import annotations

from importlib.metadata import version
from typing import Any

from litestar import Litestar, Router
from litestar.di import Provide
from litestar.openapi import OpenAPIConfig
from litestar.openapi.spec import Components, OAuthFlow, OAuthFlows, SecurityScheme, Tag

from api.auth import BearerAuthMiddleware, check_scope
from api.controllers.admin import AdminController
from api.controllers.audit import AuditController
from api.controllers.changes import ChangeController
from api.controllers.contacts import ContactController
from api.controllers.deliveries import DeliveryController
from api.controllers.event_types import EventTypeController
from api.controllers.events import EventController
from api.controllers.health import HealthController
from api.controllers.metrics import MetricsController
from api.controllers.oauth import OAuthController
from api.controllers.orders import OrderController
from api.controllers.webhook_health import WebhookHealthController
from api.controllers.webhooks import WebhookController
from api.docs_ui import docs_assets, docs_page
from api.errors import EXCEPTION_HANDLERS
from api.observability import ObservabilityMiddleware
from api.openapi_docs import RATE_LIMIT_HEADERS, header
from api.openapi_webhooks import webhook_deliveries
from api.portal.access import AdminSessionController, PortalSessionController
from api.portal.routes import console_router, portal_router
from api.portal.web import static_files, template_config
from api.rate_limit import RateLimitMiddleware
from api.request_guard import (
    RequestGuardMiddleware,
    before_request,
    cors_config,
    response_headers,
)
from api.schemas.common import DATA_SCHEMAS
from api.services import ApiServices, provide_services
from projections.lag import register_projection_lag

VERSION = version("syncline")
MAX_BODY_BYTES = 1024 * 1024

DESCRIPTION = """
Syncline is a multi-tenant records API (contacts and orders) built for integrations.
Every change is an immutable event; integrations keep in sync by polling the changes
feed or by receiving signed webhooks, and auditors can replay the whole history.

Authenticate with `Authorization: Bearer <token>`: an API key (`sk_…`) or an OAuth 2.0
access token (`at_…`) from `POST /oauth/token`. Each operation names the scope it needs.
Each credential has a rate limit; every answer carries `RateLimit-Limit`,
`RateLimit-Remaining` and `RateLimit-Reset`, and a 429 carries `Retry-After`.
Errors are RFC 9457 problem details (`application/problem+json`), except on
`POST /oauth/token`, which answers RFC 6749 errors (`{"error", "error_description"}`) to
requests it refuses.
"""


TAGS = [
    Tag(
        name="Contacts",
        description="People and companies a tenant does business with. Every change is an"
        " event (`contact.*`); `ETag` is the version, `If-Match` guards updates.",
    ),
    Tag(
        name="Orders",
        description="Orders in integer minor units with a computed total and a status machine"
        " (`draft → placed → paid → fulfilled`, `cancelled`), moved by POST actions.",
    ),
    Tag(
        name="Changes feed",
        description="The delta endpoint: an initial sync without a cursor, then every change by"
        " `next_cursor`, long-polled with `wait`. It never skips a change.",
    ),
    Tag(
        name="Webhooks",
        description="Subscriptions that receive each matching event as a signed POST (see the"
        " `webhooks` section for what an endpoint receives), their deliveries, replays and"
        " the event-type catalog.",
    ),
    Tag(
        name="Audit",
        description="The immutable event log in commit order, record histories, and the"
        " evidence that it was not altered. Scope `events:read`.",
    ),
    Tag(
        name="OAuth",
        description="OAuth 2.0 client credentials (RFC 6749 §4.4): trade a client id and secret"
        " for a bearer access token.",
    ),
    Tag(
        name="Operator",
        description="The operator's routes (admin token): tenants, their credentials, and"
        " org-activated connections provisioned in one call.",
    ),
    Tag(name="Operations", description="Liveness and readiness for load balancers."),
]


def openapi_config() -> OpenAPIConfig:
    return OpenAPIConfig(
        title="Syncline API",
        version=VERSION,
        description=DESCRIPTION.strip(),
        path="/schema",
        use_handler_docstrings=True,
        render_plugins=[docs_page()],
        tags=TAGS,
        webhooks=webhook_deliveries(),
        components=Components(
            security_schemes={
                "ApiKey": SecurityScheme(
                    type="http",
                    scheme="bearer",
                    description="An API key (`sk_…`) issued to a tenant by the operator.",
                ),
                "OAuth2": SecurityScheme(
                    type="oauth2",
                    description="OAuth 2.0 client credentials; send the access token as Bearer.",
                    flows=OAuthFlows(
                        client_credentials=OAuthFlow(
                            token_url="/oauth/token",  # noqa: S106
                            scopes={
                                "records:read": "Read contacts, orders and the changes feed.",
                                "records:write": "Create, change and delete contacts and orders.",
                                "webhooks:manage": "Manage webhook subscriptions.",
                                "events:read": "Read and verify the audit event log.",
                            },
                        )
                    ),
                ),
                "OAuthClientBasic": SecurityScheme(
                    type="http",
                    scheme="basic",
                    description="An OAuth client's id and secret, at the token endpoint only."
                    " The endpoint also takes them as `client_id` and `client_secret` form"
                    " fields instead (one method or the other, never both).",
                ),
                "AdminToken": SecurityScheme(
                    type="http", scheme="bearer", description="The operator's admin token."
                ),
            }
        ),
    )


def create_app(services: ApiServices, *, extra_routers: list[Any] | None = None) -> Litestar:
    """The API application for one process."""
    DATA_SCHEMAS.check()  # a resource lacking its data schema stops the API at start
    v1 = Router(
        path="/v1",
        route_handlers=[
            ContactController,
            OrderController,
            ChangeController,
            EventController,
            AuditController,
            WebhookController,
            DeliveryController,
            WebhookHealthController,
            EventTypeController,
            PortalSessionController,
            *(extra_routers or []),
        ],
        middleware=[BearerAuthMiddleware, RateLimitMiddleware],
        response_headers=RATE_LIMIT_HEADERS,
        before_request=before_request(check_scope),
    )
    app = Litestar(
        route_handlers=[
            v1,
            AdminController,
            AdminSessionController,
            OAuthController,
            HealthController,
            MetricsController,
            docs_assets(),
            # The webhook portal and operator console: pages behind a session cookie.
            portal_router(),
            console_router(),
            static_files(),
        ],
        template_config=template_config(),
        # One ApiServices per app: resolved once, not per request.
        dependencies={"services": Provide(provide_services, sync_to_thread=False, use_cache=True)},
        exception_handlers=EXCEPTION_HANDLERS,
        middleware=[ObservabilityMiddleware, RequestGuardMiddleware],
        response_headers=[header("X-Request-ID")],  # documented: ObservabilityMiddleware sets it
        before_request=before_request(),
        before_send=[response_headers(cors_config(services.cors_origins))],
        openapi_config=openapi_config(),
        request_max_body_size=MAX_BODY_BYTES,
        debug=False,
        logging_config=None,  # syncline.logs configures JSON logging for the process
        on_startup=[services.change_listener.start],
        on_shutdown=[services.change_listener.stop],
    )
    register_projection_lag(services.pool, services.app)
    app.state.services = services
    return app
