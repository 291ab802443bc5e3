"""Limits on what one client may ask of the service.

BodyLimit (ASGI middleware): a request body over the limit is refused (413) from its Content-Length header
before any of it is read; a body without a length (chunked) is refused with 411, so no upload can grow
unbounded. RateLimiter: requests per second per token (429 with Retry-After), with an injectable clock.
The upload quota of a token (images, bytes) is kept by the store (store.add_images)."""
from __future__ import annotations

import json
import math
import threading
import time


async def send_json(send, status: int, code: str, message: str) -> None:
    body = json.dumps({"error": code, "message": message}).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})


class BodyLimit:
    def __init__(self, app, max_bytes: int):
        self.app, self.max_bytes = app, max_bytes

    async def __call__(self, scope, receive, send):
        if scope["type"] == "http" and scope["method"] in ("POST", "PUT", "PATCH"):
            headers = dict(scope["headers"])
            length = headers.get(b"content-length")
            if length is None:
                if b"chunked" in headers.get(b"transfer-encoding", b""):
                    return await send_json(send, 411, "length_required",
                                           "send the request with a Content-Length header")
            elif not length.isdigit():
                return await send_json(send, 400, "bad_request", "malformed Content-Length header")
            elif int(length) > self.max_bytes:
                return await send_json(send, 413, "request_too_large",
                                       f"the request body is {int(length)} bytes; this service takes up to "
                                       f"{self.max_bytes} bytes per request")
        await self.app(scope, receive, send)


class SharedRateLimiter:
    """RateLimiter's buckets kept in the database (Store.take_rate), so that every server process on one database
    grants a token `rate` requests per second in all, not each. The clock is wall-clock seconds (shared by the
    machines; injectable for tests)."""

    def __init__(self, store, rate: float, burst: int, clock=None):
        self.store, self.rate, self.burst = store, float(rate), max(1, int(burst))
        self.clock = clock or time.time

    @property
    def enabled(self) -> bool:
        return self.rate > 0

    def take(self, key) -> int:
        return self.store.take_rate(key, self.rate, self.burst, self.clock()) if self.enabled else 0


class RateLimiter:
    """Per-token request rate limit: a token bucket per key holding up to `burst` requests, refilled at `rate`
    requests per second. `take(key)` spends one request and returns 0, or, when the bucket is empty, spends
    nothing and returns the whole seconds to wait (the Retry-After). rate <= 0 turns the limit off.

    The clock is injectable (any function returning seconds, monotonic): tests step it by hand and never sleep.
    Buckets live in this process only, so with several server processes each enforces the limit on its own
    (SharedRateLimiter keeps them in the database)."""

    def __init__(self, rate: float, burst: int, clock=None):
        self.rate, self.burst = float(rate), max(1, int(burst))
        self.clock = clock or time.monotonic
        self._buckets: dict = {}             # key -> (tokens, time of last update)
        self._lock = threading.Lock()

    @property
    def enabled(self) -> bool:
        return self.rate > 0

    def take(self, key) -> int:
        if not self.enabled:
            return 0
        with self._lock:
            now = self.clock()
            tokens, then = self._buckets.get(key, (float(self.burst), now))
            tokens = min(float(self.burst), tokens + max(0.0, now - then) * self.rate)
            if tokens >= 1.0:
                self._buckets[key] = (tokens - 1.0, now)
                return 0
            self._buckets[key] = (tokens, now)
            return max(1, math.ceil((1.0 - tokens) / self.rate))
