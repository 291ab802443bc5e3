"""ASGI middleware of the service: HEAD answered as GET without a body (the request-size limit is in limits.py)."""
from __future__ import annotations


class HeadAsGet:
    """ASGI middleware: HEAD is routed as GET and answered with the GET's status and headers, without a body."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or scope["method"] != "HEAD":
            return await self.app(scope, receive, send)

        async def send_headers_only(message):
            if message["type"] == "http.response.body":
                if message.get("more_body"):
                    return
                message = {"type": "http.response.body", "body": b""}
            await send(message)

        await self.app(dict(scope, method="GET"), receive, send_headers_only)
