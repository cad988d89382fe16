"""No answer that can carry case data is kept by a browser or a proxy on the way.

Every answer is marked `Cache-Control: no-store` (replacing whatever the route said) except the few that carry no
case data and are worth caching: the health check, the API's description and its documentation pages, and the
pages' static files. An error is marked too: a problem's detail can name what was asked for.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

NO_STORE = (b"cache-control", b"no-store")
#: Paths answered without case data (exactly these paths, and everything under the static prefix).
PUBLIC_PATHS = frozenset({"/health", "/openapi.json", "/docs", "/docs/oauth2-redirect", "/redoc"})
PUBLIC_PREFIX = "/ui/static/"


def cacheable(path: str) -> bool:
    return path in PUBLIC_PATHS or path.startswith(PUBLIC_PREFIX)


class NoStore:
    """ASGI middleware: adds `Cache-Control: no-store` to every answer but the public ones (no buffering)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or cacheable(str(scope.get("path", ""))):
            await self.app(scope, receive, send)
            return

        async def marked(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [(k, v) for k, v in message.get("headers", []) if k.lower() != NO_STORE[0]]
                message["headers"] = [*headers, NO_STORE]
            await send(message)

        await self.app(scope, receive, marked)
