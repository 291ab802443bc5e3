"""ASGI middleware: a request body over the limit is refused (413) from its Content-Length header before
any of it is read; a body without a length (chunked) is refused with 411, so no upload can grow unbounded."""
from __future__ import annotations

import json


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
