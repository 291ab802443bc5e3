"""The service's errors: ApiError, and the handlers that turn every error into JSON `{"error": code, "message":
one line}` with its status (405 with `Allow`, 401 with `WWW-Authenticate: Bearer`, anything unexpected a 500)."""
from __future__ import annotations

from ..errors import MissingExtraError
from .uploads import Rejected

try:
    from fastapi import FastAPI
    from fastapi.exceptions import RequestValidationError
    from fastapi.responses import JSONResponse
    from starlette.exceptions import HTTPException as StarletteHTTPException
    from starlette.routing import Match
except ModuleNotFoundError as e:      # a core dependency is missing (a partial install)
    raise MissingExtraError("ric.service.errors", None, e.name) from None


class ApiError(Exception):
    """An error answer: HTTP status, a short machine code, a one-line message and extra headers."""

    def __init__(self, status: int, code: str, message: str, headers: dict | None = None):
        super().__init__(message)
        self.status, self.code, self.message, self.headers = status, code, message, headers


def allowed_methods(app: FastAPI, path: str) -> list[str]:
    """The methods the app's routes take at this path (HEAD wherever GET), in the usual order, for `Allow`."""
    def takes(method: str) -> bool:
        scope = {"type": "http", "path": path, "root_path": "", "method": method, "app": app}
        return any(route.matches(scope)[0] == Match.FULL for route in app.router.routes)

    methods = [m for m in ("GET", "POST", "PUT", "PATCH", "DELETE") if takes(m)]
    return methods[:1] + ["HEAD"] + methods[1:] if methods[:1] == ["GET"] else methods


async def _api_error(_req, e):
    headers = {"WWW-Authenticate": "Bearer"} if e.status == 401 else getattr(e, "headers", None)
    return JSONResponse({"error": e.code, "message": e.message}, e.status, headers=headers)


async def _http_error(req, e):
    code = {400: "bad_request", 404: "not_found", 405: "method_not_allowed"}.get(e.status_code,
                                                                              f"http_{e.status_code}")
    headers = dict(getattr(e, "headers", None) or {})
    message = str(e.detail)
    if e.status_code == 405:
        allow = allowed_methods(req.app, req.url.path)
        headers["Allow"] = ", ".join(allow)
        message = f"{req.method} is not allowed here; this resource takes {', '.join(allow)}"
    return JSONResponse({"error": code, "message": message}, e.status_code, headers=headers or None)


async def _invalid(_req, e):
    first = e.errors()[0] if e.errors() else {"loc": (), "msg": "invalid request"}
    where = ".".join(str(p) for p in first.get("loc", ()))
    return JSONResponse({"error": "invalid_request", "message": f"{where}: {first['msg']}"}, 422)


async def _internal(_req, e):
    return JSONResponse({"error": "internal", "message": f"internal server error ({type(e).__name__})"}, 500)


def add_error_handlers(app: FastAPI) -> None:
    """Register the handlers that turn every error into JSON `{"error": code, "message": one line}`."""
    app.add_exception_handler(ApiError, _api_error)
    app.add_exception_handler(Rejected, _api_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(RequestValidationError, _invalid)
    app.add_exception_handler(Exception, _internal)
