"""Limits that protect the service: the size of request bodies, and the rate of hospital lookups."""

from __future__ import annotations

import threading
import time
from collections import deque
from typing import Any

from fastapi import HTTPException

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
    """At most `count` calls per `seconds` per user (in this process); over it, 429 with Retry-After."""

    def __init__(self, count: int, seconds: float) -> None:
        self.count = count
        self.seconds = seconds
        self._calls: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def check(self, user_id: str) -> None:
        now = time.monotonic()
        with self._lock:
            calls = self._calls.setdefault(user_id, deque())
            while calls and calls[0] <= now - self.seconds:
                calls.popleft()
            if len(calls) >= self.count:
                retry = max(1, int(calls[0] + self.seconds - now) + 1)
                raise HTTPException(429, f"too many lookups; try again in {retry} s", {"Retry-After": str(retry)})
            calls.append(now)
