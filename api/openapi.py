"""The OpenAPI schema as clients need it, and `/docs` served without the internet.

FastAPI's generated schema is corrected in one place: problems are documented as `application/problem+json` (what
the server sends), never `application/json`; operation ids are the handlers' names (`take_action`, not
`take_action_cases__case_id__actions__action__post`). Swagger UI's script and style come from the
`swagger-ui-bundle` package, served by posc itself, so `/docs` works on a hospital network without internet access.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.openapi.utils import get_openapi
from fastapi.responses import HTMLResponse
from fastapi.routing import APIRoute
from fastapi.staticfiles import StaticFiles
from swagger_ui_bundle import swagger_ui_path

from api.problems import PROBLEM

ASSETS = "/docs-assets"


def operation_id(route: APIRoute) -> str:
    """The handler's name: `open_case`, `take_action`, `get_case` (unique across the API; a test holds it)."""
    return route.name


def install(app: FastAPI) -> None:
    """Serves `/docs` from local assets and replaces the schema generator with the corrected one."""
    app.mount(ASSETS, StaticFiles(directory=str(swagger_ui_path)), name="docs-assets")

    @app.get("/docs", include_in_schema=False)
    def docs() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url=app.openapi_url or "/openapi.json", title=f"{app.title} API",
            swagger_js_url=f"{ASSETS}/swagger-ui-bundle.js", swagger_css_url=f"{ASSETS}/swagger-ui.css",
            swagger_favicon_url="/ui/static/favicon.svg",
        )

    def schema() -> dict[str, Any]:
        if app.openapi_schema is None:
            generated = get_openapi(
                title=app.title, version=app.version, summary=app.summary, description=app.description,
                routes=app.routes, tags=app.openapi_tags,
            )
            app.openapi_schema = corrected(generated)
        return app.openapi_schema

    app.openapi = schema  # type: ignore[method-assign]


def corrected(schema: dict[str, Any]) -> dict[str, Any]:
    """Problems under `application/problem+json` only, with the `Problem` schema."""
    for path in schema.get("paths", {}).values():
        for operation in path.values():
            for status, response in operation.get("responses", {}).items():
                if status[:1] not in ("4", "5"):
                    continue
                response["content"] = {PROBLEM: {"schema": {"$ref": "#/components/schemas/Problem"}}}
    schema.get("components", {}).get("schemas", {}).pop("HTTPValidationError", None)
    schema.get("components", {}).get("schemas", {}).pop("ValidationError", None)
    return schema
