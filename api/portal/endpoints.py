"""The portal's endpoint pages: list, create, edit, disable/enable, delete, rotate the secret
(shown once), send a test event, and the event catalog. Each action calls the domain
application as `/v1/webhooks` does (same URL guard, same commands)."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from litestar import Controller, Request, Response, get, post
from litestar.response import Template

from api.controllers.webhooks import guard_url
from api.portal import catalog, health, readers
from api.portal.context import tenant_context
from api.portal.sessions import BrowserSession
from api.portal.web import page, run, see_other, services_of
from domain.errors import InvalidFieldError


def _form_fields(form: Any) -> dict[str, Any]:
    return {
        "url": str(form.get("url") or "").strip(),
        "description": str(form.get("description") or "").strip() or None,
        "event_types": [str(v) for v in form.getall("event_types", [])],
    }


def _picker() -> dict[str, Any]:
    return {"families": catalog.families(), "event_names": catalog.names()}


class EndpointPages(Controller):
    path = "/"

    @get("/", name="portal:endpoints")
    async def index(self, request: Request[Any, Any, Any], session: BrowserSession) -> Template:
        services = services_of(request)
        assert session.tenant_id is not None
        found = await run(readers.endpoints, services, session.tenant_id)
        tenant = await run(services.app.get_tenant, session.tenant_id)
        return page(
            "portal/endpoints.html",
            {"session": session, "endpoints": found, "tenant": tenant, "kind": "portal"},
        )

    @get("/endpoints/new")
    async def new(self, session: BrowserSession) -> Template:
        return page(
            "portal/endpoint_form.html",
            {"session": session, "kind": "portal", "values": None, "error": None, **_picker()},
        )

    @post("/endpoints", status_code=200)
    async def create(self, request: Request[Any, Any, Any], session: BrowserSession) -> Any:
        services = services_of(request)
        values = _form_fields(await request.form())
        ctx = tenant_context(services, session, request)

        def create() -> tuple[Any, str]:
            guard_url(services, values["url"])
            return services.app.create_webhook(ctx, **values, seal=services.secret_box.seal)

        try:
            subscription, secret = await run(create)
        except InvalidFieldError as exc:
            return page(
                "portal/endpoint_form.html",
                {
                    "session": session,
                    "kind": "portal",
                    "values": values,
                    "error": str(exc),
                    **_picker(),
                },
                status_code=422,
            )
        return page(
            "portal/secret.html",
            {
                "session": session,
                "kind": "portal",
                "endpoint": subscription.representation(),
                "secret": secret,
                "created": True,
            },
        )

    @get("/endpoints/{webhook_id:uuid}")
    async def detail(
        self, webhook_id: UUID, request: Request[Any, Any, Any], session: BrowserSession
    ) -> Template:
        services = services_of(request)
        ctx = tenant_context(services, session, request)
        subscription = await run(services.app.get_webhook, ctx, webhook_id)
        stats = await run(health.endpoint_health, services, ctx.tenant_id, webhook_id)
        endpoint = {**subscription.representation(), "id": str(webhook_id)}
        return page(
            "portal/endpoint.html",
            {
                "session": session,
                "kind": "portal",
                "endpoint": endpoint,
                "values": endpoint,
                "health": stats,
                "chart": health.chart(stats, services.clock.now()),
                "error": None,
                **_picker(),
            },
        )

    @post("/endpoints/{webhook_id:uuid}", status_code=200)
    async def update(
        self, webhook_id: UUID, request: Request[Any, Any, Any], session: BrowserSession
    ) -> Any:
        services = services_of(request)
        values = _form_fields(await request.form())
        ctx = tenant_context(services, session, request)

        def update() -> None:
            services.app.get_webhook(ctx, webhook_id)  # a foreign id: 404 before the URL check
            guard_url(services, values["url"])
            services.app.update_webhook(ctx, webhook_id, values)

        try:
            await run(update)
        except InvalidFieldError as exc:
            subscription = await run(services.app.get_webhook, ctx, webhook_id)
            return page(
                "portal/endpoint_form.html",
                {
                    "session": session,
                    "kind": "portal",
                    "values": {**values, "id": str(webhook_id)},
                    "endpoint": subscription.representation(),
                    "error": str(exc),
                    **_picker(),
                },
                status_code=422,
            )
        return see_other(f"/portal/endpoints/{webhook_id}")

    @post("/endpoints/{webhook_id:uuid}/status")
    async def set_status(
        self, webhook_id: UUID, request: Request[Any, Any, Any], session: BrowserSession
    ) -> Response[Any]:
        services = services_of(request)
        status = (await request.form()).get("status")
        if status not in ("active", "disabled"):
            raise InvalidFieldError("status", "must be active or disabled")
        ctx = tenant_context(services, session, request)
        await run(services.app.update_webhook, ctx, webhook_id, {}, status)
        return see_other(f"/portal/endpoints/{webhook_id}")

    @get("/endpoints/{webhook_id:uuid}/delete")
    async def confirm_delete(
        self, webhook_id: UUID, request: Request[Any, Any, Any], session: BrowserSession
    ) -> Template:
        """A page that asks before deleting (a plain form: no script needed)."""
        services = services_of(request)
        ctx = tenant_context(services, session, request)
        subscription = await run(services.app.get_webhook, ctx, webhook_id)
        return page(
            "portal/confirm_delete.html",
            {
                "session": session,
                "kind": "portal",
                "endpoint": {**subscription.representation(), "id": str(webhook_id)},
            },
        )

    @post("/endpoints/{webhook_id:uuid}/delete")
    async def remove(
        self, webhook_id: UUID, request: Request[Any, Any, Any], session: BrowserSession
    ) -> Response[Any]:
        services = services_of(request)
        ctx = tenant_context(services, session, request)
        await run(services.app.change_webhook, ctx, webhook_id, lambda s: s.delete(ctx))
        return see_other("/portal/")

    @post("/endpoints/{webhook_id:uuid}/rotate-secret", status_code=200)
    async def rotate(
        self, webhook_id: UUID, request: Request[Any, Any, Any], session: BrowserSession
    ) -> Template:
        services = services_of(request)
        ctx = tenant_context(services, session, request)

        def rotate() -> tuple[Any, str]:
            return services.app.rotate_webhook_secret(
                ctx, webhook_id, seal=services.secret_box.seal
            )

        subscription, secret = await run(rotate)
        return page(
            "portal/secret.html",
            {
                "session": session,
                "kind": "portal",
                "endpoint": {**subscription.representation(), "id": str(webhook_id)},
                "secret": secret,
                "created": False,
                "previous_expires_at": subscription.previous_secret_expires_at,
            },
        )

    @post("/endpoints/{webhook_id:uuid}/test")
    async def send_test(
        self, webhook_id: UUID, request: Request[Any, Any, Any], session: BrowserSession
    ) -> Response[Any]:
        services = services_of(request)
        ctx = tenant_context(services, session, request)
        await run(services.app.change_webhook, ctx, webhook_id, lambda s: s.ping(ctx))
        return see_other(f"/portal/endpoints/{webhook_id}/deliveries?sent=test")

    @get("/event-types")
    async def event_types(self, session: BrowserSession) -> Template:
        return page(
            "portal/event_types.html",
            {"session": session, "kind": "portal", "entries": catalog.entries()},
        )
