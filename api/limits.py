"""Limits that protect the service: the size of request bodies, and the rate of hospital lookups."""

from __future__ import annotations

import math
from datetime import datetime
from typing import Any

from fastapi import HTTPException

from engine import Database, count_call

MAX_BODY_BYTES = 256 * 1024


class BodySizeLimit:
    """ASGI middleware: refuses bodies over the limit (413) before the application reads them."""

    def __init__(self, app: Any, limit: int = MAX_BODY_BYTES) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.limit:
            await _too_large(send, self.limit)
            return
        seen = 0

        async def limited() -> Any:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.limit:
                    raise _TooLarge
            return message

        try:
            await self.app(scope, limited, send)
        except _TooLarge:
            await _too_large(send, self.limit)


class _TooLarge(Exception):
    pass


async def _too_large(send: Any, limit: int) -> None:
    import json

    body = json.dumps({
        "type": "about:blank", "title": "Request too large", "status": 413,
        "detail": f"the request body is larger than {limit} bytes",
    }).encode()
    headers = [(b"content-type", b"application/problem+json"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": 413, "headers": headers})
    await send({"type": "http.response.body", "body": body})


class RateLimit:
    """At most `count` calls of `name` per user in each window of `seconds`, counted in the database, so the limit
    holds across every server process. Over it, 429 with `Retry-After`; every answer carries `RateLimit-Limit`,
    `RateLimit-Remaining` and `RateLimit-Reset` (seconds until the window ends)."""

    def __init__(self, name: str, count: int, seconds: int) -> None:
        self.name = name
        self.count = count
        self.seconds = seconds

    def check(self, db: Database, user_id: str, now: datetime) -> dict[str, str]:
        """Counts this call; the headers to answer with, or `HTTPException(429)` carrying them."""
        moment = now.timestamp()
        window = int(moment // self.seconds)
        calls = count_call(db, self.name, user_id, window)
        reset = max(1, math.ceil((window + 1) * self.seconds - moment))
        headers = {"RateLimit-Limit": str(self.count), "RateLimit-Remaining": str(max(0, self.count - calls)),
                   "RateLimit-Reset": str(reset)}
        if calls > self.count:
            raise HTTPException(429, f"too many {self.name}s; try again in {reset} s",
                                {**headers, "Retry-After": str(reset)})
        return headers
