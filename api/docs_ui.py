"""The interactive API docs at `/schema`: Swagger UI served from the installed package.

The page must work without internet (a laptop on a plane, a locked-down network), so its
assets come from `litestar-offline-docs` (Swagger UI 5, pinned by that package's version in
pyproject.toml), never from a CDN; the favicon is inline.
"""

from __future__ import annotations

from pathlib import Path

import litestar_offline_docs
from litestar import Router
from litestar.openapi.plugins import SwaggerRenderPlugin
from litestar.static_files import create_static_files_router

ASSETS_PATH = "/schema/assets"
ASSETS_DIR = Path(litestar_offline_docs.__file__).parent / "static"
# A data URL: no request leaves the page for an icon.
FAVICON = (
    "<link rel='icon' href='data:image/svg+xml,"
    "%3Csvg xmlns=%22http://www.w3.org/2000/svg%22 viewBox=%220 0 16 16%22%3E"
    "%3Crect width=%2216%22 height=%2216%22 rx=%223%22 fill=%22%23246%22/%3E%3C/svg%3E'>"
)


def docs_page() -> SwaggerRenderPlugin:
    """Swagger UI at `/schema` (and `/schema/swagger`), every asset local."""
    return SwaggerRenderPlugin(
        js_url=f"{ASSETS_PATH}/swagger-ui-bundle.js",
        css_url=f"{ASSETS_PATH}/swagger-ui.css",
        standalone_preset_js_url=f"{ASSETS_PATH}/swagger-ui-standalone-preset.js",
        path=["/", "/swagger"],
        favicon=FAVICON,
    )


def docs_assets() -> Router:
    """The Swagger UI files, cached by browsers for a day (they change only with the package)."""
    return create_static_files_router(
        path=ASSETS_PATH,
        directories=[ASSETS_DIR],
        include_in_schema=False,
        cache_control=None,
    )
