"""The FastAPI application. Every error is JSON `{"error": code, "message": one line}` with a 4xx/5xx status.

Routes (all under /api need `Authorization: Bearer <token>`; a token sees and deletes only the images it
uploaded, others' ids are 404; an admin token (`ric token create --admin`) sees all):
  GET  /healthz                   liveness only: {"status": "ok"} (no counts, versions or model names)
  POST /api/images                upload one or more ciphertexts (multipart field `files`); all or none stored
  GET  /api/images                list, newest last; ?label=N|class name, ?limit=, ?cursor= (next_cursor)
  GET  /api/images/{id}           one record
  GET  /api/images/{id}/content   the ciphertext PNG, byte for byte as uploaded (ETag; If-None-Match: 304)
  DELETE /api/images/{id}         remove one
  GET  /api/classes               class names and how many images each holds
  GET  /api/usage                 this token's usage, quota and rate limit
  GET  /api/stats                 admin only: store size, classifier identity, database, batching counters
  GET  /                          the gallery page; /openapi.json and /docs: the OpenAPI document
HEAD is answered wherever GET is; any other method gets 405 with `Allow`. Ids are 1 .. 2^63-1, checked before
any query. Each token has a request rate limit (429 with Retry-After; the clock is injectable) and may have an
upload quota (413 quota_exceeded). The OpenAPI document is exact: every parameter's type and range, every
status with its body, the bearer scheme, and links from an upload to the operations that take its ids.
"""
from __future__ import annotations

import contextlib
import dataclasses
import re
from collections.abc import Callable
from importlib import resources
from typing import Annotated, Literal
from urllib.parse import quote

from ..errors import MissingExtraError
from ..formats import SCHEMES
from ..hub import Loaded
from .batcher import Batcher
from .limits import BodyLimit, RateLimiter, SharedRateLimiter
from .settings import Settings
from .store import NewImage, Principal, QuotaExceeded, Store, quota_problem
from .uploads import Rejected, check_upload

try:
    from fastapi import Depends, FastAPI, File, Header, Path, Query, UploadFile
    from fastapi.exceptions import RequestValidationError
    from fastapi.openapi.utils import get_openapi
    from fastapi.responses import HTMLResponse, JSONResponse, Response
    from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
    from pydantic import BaseModel, ConfigDict, Field
    from starlette.concurrency import run_in_threadpool
    from starlette.exceptions import HTTPException as StarletteHTTPException
except ModuleNotFoundError as e:      # a core dependency is missing (a partial install)
    raise MissingExtraError("ric.service.app", None, e.name) from None

MAX_ID = 2 ** 63 - 1          # ids are positive 63-bit integers (what every database's BIGINT holds)
MAX_LABEL = 2 ** 31 - 1
CURSOR_PATTERN = r"^[0-9]{1,19}$"
_DIGITS = re.compile(r"[0-9]{1,10}")
ImageId = Annotated[int, Path(ge=1, le=MAX_ID, description="an image id (from an upload or a listing)")]


class ApiError(Exception):
    def __init__(self, status: int, code: str, message: str, headers: dict | None = None):
        super().__init__(message)
        self.status, self.code, self.message, self.headers = status, code, message, headers


class ErrorOut(BaseModel):
    error: str = Field(description="a short machine-readable code, e.g. not_a_ciphertext")
    message: str = Field(description="one line naming the problem")


class ImageOut(BaseModel):
    model_config = ConfigDict(populate_by_name=True)
    id: int = Field(ge=1, le=MAX_ID)
    file: str = Field(description="the original file name (base name only)")
    label: int = Field(description="the label the service's classifier gave the ciphertext")
    class_: str | None = Field(alias="class", description="the class name of the label, if known")
    scheme: Literal[SCHEMES]                       # ric.formats
    height: int = Field(ge=1)
    width: int = Field(ge=1)
    size: int = Field(ge=1, description="bytes")
    sha256: str = Field(pattern="^[0-9a-f]{64}$", description="of the stored bytes; also the content's ETag")
    classifier: str = Field(description="identity of the classifier that labelled it")
    meta: dict = Field(description="the ciphertext's public metadata (no secrets)")
    created_at: str = Field(description="ISO 8601, UTC")


class UploadOut(BaseModel):
    images: list[ImageOut] = Field(min_length=1, description="one record per uploaded file, in upload order")


class PageOut(BaseModel):
    items: list[ImageOut]
    next_cursor: Annotated[str, Field(pattern=CURSOR_PATTERN)] | None = Field(
        description="pass as ?cursor= for the next page; null on the last page")


class ClassOut(BaseModel):
    model_config = ConfigDict(populate_by_name=True)
    label: int
    class_: str | None = Field(alias="class")
    count: int = Field(ge=0)


class ClassesOut(BaseModel):
    classifier: str
    classes: list[ClassOut]


class HealthOut(BaseModel):
    status: Literal["ok"] = Field(description='"ok"; nothing else is told to an unauthenticated caller')


class StatsOut(BaseModel):
    images: int = Field(ge=0)
    classifier: str
    database: str
    classified: dict = Field(description="images classified and forward-pass rounds run since start")


class UsageOut(BaseModel):
    token: int = Field(description="the token's id (as `ric token list` shows it)")
    admin: bool
    images: int = Field(ge=0, description="images this token holds")
    bytes: int = Field(ge=0, description="bytes of the images this token holds")
    max_images: int | None = Field(description="the token's quota of images; null: no limit")
    max_bytes: int | None = Field(description="the token's quota of bytes; null: no limit")
    rate_limit: float = Field(ge=0, description="requests per second this token may make (0: no limit)")
    rate_burst: int = Field(ge=1, description="requests it may make at once before the rate applies")


_RETRY_AFTER = {"Retry-After": {"description": "whole seconds to wait before the next request",
                                "schema": {"type": "integer", "minimum": 1}}}
_ERROR_TEXT = {
    400: "Bad request: a malformed Content-Length header or multipart body (bad_request)",
    401: "Missing, unknown or revoked token (unauthorized); with WWW-Authenticate: Bearer",
    403: "Not an admin token (forbidden)",
    404: "No image with this id among the token's images (not_found)",
    411: "A request body without Content-Length (length_required)",
    413: "Over a limit: request_too_large (--max-request-bytes), too_many_files (--max-files), file_too_large "
         "(--max-file-bytes), image_too_large (--max-side, or an ambiguous PNG header), or quota_exceeded (the "
         "token's quota of images or bytes); nothing of the request is stored",
    422: "Invalid parameters (invalid_request, unknown_label, bad_cursor) or a file that is not an acceptable RIC "
         "ciphertext (empty_file, not_a_ciphertext, bad_identity, classifier_mismatch)",
    429: "Over the token's request rate (rate_limited); Retry-After says when to try again",
    500: "Internal error (internal)",
    503: "The service is not ready (unavailable)",
}


def errors(*codes: int) -> dict:
    out = {}
    for c in codes:
        out[c] = {"model": ErrorOut, "description": _ERROR_TEXT[c]}
        if c == 429:
            out[c]["headers"] = _RETRY_AFTER
        if c == 401:
            out[c]["headers"] = {"WWW-Authenticate": {"schema": {"type": "string"}, "description": "Bearer"}}
    return out


AUTHED = (401, 429, 500)       # every /api operation may answer these


def encode_cursor(after: int) -> str:
    return str(after)


def decode_cursor(cursor: str) -> int:
    """The id after which a page starts. Any 1-19 digit string is a position (past the last id: an empty page)."""
    if not re.fullmatch(CURSOR_PATTERN, cursor):
        raise ApiError(422, "bad_cursor", "the cursor is not one this service issues (1 to 19 digits)")
    return min(int(cursor), MAX_ID)


def _etag_matches(header: str, etag: str) -> bool:
    """If-None-Match (RFC 9110 13.1.2): `*` or any listed entity tag equal to ours under weak comparison."""
    tags = [t.strip() for t in header.split(",")]
    return "*" in tags or any(t.removeprefix("W/") == etag for t in tags if t)


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


_CONTENT_HEADERS = {
    "ETag": {"description": 'the SHA-256 of the bytes in quotes (an image never changes)',
             "schema": {"type": "string"}},
    "Cache-Control": {"description": "private, no-cache: keep it, revalidate with If-None-Match",
                      "schema": {"type": "string"}}}


@dataclasses.dataclass(frozen=True)
class _Ctx:
    """What the route handlers share: the settings, store, batcher, rate limiter, classifier and bearer check."""
    settings: Settings
    store: Store
    batcher: Batcher
    limiter: RateLimiter | SharedRateLimiter
    identity: str
    classes: list[str]
    require_token: Callable

    def with_class(self, rec: dict) -> dict:
        """The record with its label's class name (None when the label has none)."""
        lab = rec["label"]
        return {**rec, "class": self.classes[lab] if 0 <= lab < len(self.classes) else None}

    def resolve_label(self, label: str | None) -> int | None:
        """A ?label= value (a number or a class name) as a label number; None when not given."""
        classes = self.classes
        if label is None:
            return None
        if _DIGITS.fullmatch(label) and int(label) <= MAX_LABEL:
            return int(label)
        if label in classes:
            return classes.index(label)
        raise ApiError(422, "unknown_label", f"label {label!r} is neither a number from 0 to {MAX_LABEL} nor one "
                                             f"of this classifier's classes ({', '.join(classes) or 'none named'})")


def create_app(settings: Settings, store: Store, classifier: Loaded, clock=None) -> FastAPI:
    """The application. clock: the rate limiter's time source (seconds, monotonic; default time.monotonic)."""
    settings.check()
    batcher = Batcher(classifier, settings.device, settings.max_batch, settings.max_wait_ms,
                      settings.max_batch_pixels)
    limiter = (SharedRateLimiter(store, settings.rate_limit, settings.rate_burst, clock) if settings.shared_limits
               else RateLimiter(settings.rate_limit, settings.rate_burst, clock))
    app = FastAPI(title="RIC encrypted-image store", version="1",
                  description="Stores RIC ciphertexts (noise-like PNGs) and labels them with a plaintext "
                              "classifier. The service holds no key and accepts none. Every error is JSON "
                              '`{"error": code, "message": one line}`. HEAD is answered wherever GET is (same '
                              "status and headers, no body); any other method not listed here is 405 with an "
                              "`Allow` header. Each token may make up to `rate_burst` requests at once and "
                              "`rate_limit` per second after that (429 with Retry-After), and may have a quota of "
                              "images and bytes (413 quota_exceeded); GET /api/usage shows both.",
                  lifespan=_lifespan(batcher))
    app.state.store, app.state.batcher, app.state.settings, app.state.limiter = store, batcher, settings, limiter
    app.add_middleware(BodyLimit, max_bytes=settings.max_request_bytes)
    app.add_middleware(HeadAsGet)
    bearer = HTTPBearer(auto_error=False, scheme_name="bearerAuth",
                        description="an upload token from `ric token create` (ric_ and 43 more characters)")
    ctx = _Ctx(settings, store, batcher, limiter, classifier.identity, list(classifier.classes),
               _token_dependency(store, limiter, bearer))
    _add_error_handlers(app)
    _add_service_routes(app, ctx)
    _add_upload_and_read_routes(app, ctx)
    _add_content_and_delete_routes(app, ctx)
    _add_class_routes(app, ctx)
    _add_gallery(app)
    app.openapi = _exact_openapi(app, ctx.classes)
    return app


def _lifespan(batcher: Batcher):
    """The app's lifespan: the batcher runs while the app does."""
    @contextlib.asynccontextmanager
    async def lifespan(_app):
        batcher.start()
        yield
        await batcher.stop()

    return lifespan


def _token_dependency(store: Store, limiter: RateLimiter | SharedRateLimiter, bearer: HTTPBearer) -> Callable:
    """The dependency every /api route takes: a valid, unrevoked bearer token within its rate limit."""
    async def require_token(cred: HTTPAuthorizationCredentials | None = Depends(bearer)) -> Principal:
        if cred is None:
            raise ApiError(401, "unauthorized", "missing upload token (send Authorization: Bearer <token>)")
        who = await run_in_threadpool(store.check_token, cred.credentials)
        if who is None:
            raise ApiError(401, "unauthorized", "the upload token is not valid (unknown or revoked)")
        wait = limiter.take(who.id)
        if wait:
            raise ApiError(429, "rate_limited", f"this token made more than {limiter.burst} requests at once or "
                                                f"{limiter.rate:g} per second; retry after {wait} s",
                           {"Retry-After": str(wait)})
        return who

    return require_token


def _allowed_methods(app: FastAPI, path: str) -> list[str]:
    """The methods the app's routes take at this path (HEAD wherever GET), in the usual order, for `Allow`."""
    methods = set()
    for route in app.router.routes:
        regex, ms = getattr(route, "path_regex", None), getattr(route, "methods", None)
        if regex is not None and ms and regex.match(path):
            methods |= set(ms)
    if "GET" in methods:
        methods.add("HEAD")
    order = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"]
    return sorted(methods, key=lambda m: (order.index(m) if m in order else len(order), m))


def _add_error_handlers(app: FastAPI) -> None:
    """Register the handlers that turn every error into JSON `{"error": code, "message": one line}`."""
    @app.exception_handler(ApiError)
    @app.exception_handler(Rejected)
    async def _api_error(_req, e):
        headers = {"WWW-Authenticate": "Bearer"} if e.status == 401 else getattr(e, "headers", None)
        return JSONResponse({"error": e.code, "message": e.message}, e.status, headers=headers)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(req, e):
        code = {400: "bad_request", 404: "not_found", 405: "method_not_allowed"}.get(e.status_code,
                                                                                  f"http_{e.status_code}")
        headers = dict(getattr(e, "headers", None) or {})
        message = str(e.detail)
        if e.status_code == 405:
            allow = _allowed_methods(app, req.url.path)
            headers["Allow"] = ", ".join(allow)
            message = f"{req.method} is not allowed here; this resource takes {', '.join(allow)}"
        return JSONResponse({"error": code, "message": message}, e.status_code, headers=headers or None)

    @app.exception_handler(RequestValidationError)
    async def _invalid(_req, e):
        first = e.errors()[0] if e.errors() else {"loc": (), "msg": "invalid request"}
        where = ".".join(str(p) for p in first.get("loc", ()))
        return JSONResponse({"error": "invalid_request", "message": f"{where}: {first['msg']}"}, 422)

    @app.exception_handler(Exception)
    async def _internal(_req, e):
        return JSONResponse({"error": "internal", "message": f"internal server error ({type(e).__name__})"}, 500)


def _add_service_routes(app: FastAPI, ctx: _Ctx) -> None:
    """Register GET /healthz, /api/stats and /api/usage."""
    store, batcher, limiter, identity, require_token = ctx.store, ctx.batcher, ctx.limiter, ctx.identity, \
        ctx.require_token

    @app.get("/healthz", response_model=HealthOut, responses=errors(500, 503), tags=["service"],
             operation_id="healthz")
    async def healthz():
        """Liveness: "ok" and nothing else (no counts, versions or model names). No token needed."""
        try:
            await run_in_threadpool(store.ping)
        except Exception:
            return JSONResponse({"error": "unavailable", "message": "the service is not ready"}, 503)
        return {"status": "ok"}

    @app.get("/api/stats", response_model=StatsOut, responses=errors(403, *AUTHED), tags=["service"],
             operation_id="get_stats")
    async def stats(who: Principal = Depends(require_token)):
        """Admin tokens only: store size, classifier identity, database dialect, batching counters."""
        if not who.admin:
            raise ApiError(403, "forbidden", "only an admin token (ric token create --admin) may read the stats")
        n = await run_in_threadpool(store.count)
        return {"images": n, "classifier": identity, "database": store.dialect,
                "classified": {"images": batcher.images, "batches": batcher.batches}}

    @app.get("/api/usage", response_model=UsageOut, responses=errors(*AUTHED), tags=["service"],
             operation_id="get_usage")
    async def usage(who: Principal = Depends(require_token)):
        """This token's usage (images and bytes it holds), its quota and its rate limit."""
        n, b = await run_in_threadpool(store.usage, who.id)
        return {"token": who.id, "admin": who.admin, "images": n, "bytes": b, "max_images": who.max_images,
                "max_bytes": who.max_bytes, "rate_limit": limiter.rate if limiter.enabled else 0.0,
                "rate_burst": limiter.burst}


def _add_upload_and_read_routes(app: FastAPI, ctx: _Ctx) -> None:
    """Register POST /api/images (upload), GET /api/images (list) and GET /api/images/{id} (one record)."""
    settings, store, batcher, identity, require_token = ctx.settings, ctx.store, ctx.batcher, ctx.identity, \
        ctx.require_token

    @app.post("/api/images", status_code=201, response_model=UploadOut, responses=errors(400, 411, 413, 422, *AUTHED),
              tags=["images"], operation_id="upload_images")
    async def upload(files: list[UploadFile] = File(..., min_length=1,
                                                    description="one or more RIC ciphertext PNGs (a part each, "
                                                                "with a file name)"),
                     who: Principal = Depends(require_token)):
        """Check, classify and store ciphertexts. If any file is refused, none is stored."""
        if len(files) > settings.max_files:
            raise ApiError(413, "too_many_files", f"{len(files)} files in one request; this service takes up to "
                                                  f"{settings.max_files}")
        raw = [(f.filename, await f.read()) for f in files]
        if who.has_quota:   # refused before any decoding or forward pass; checked again as the images are stored
            used = await run_in_threadpool(store.usage, who.id)
            why = quota_problem(who, *used, len(raw), sum(len(d) for _, d in raw))
            if why is not None:
                raise ApiError(413, "quota_exceeded", why)
        checked = await run_in_threadpool(lambda: [check_upload(n, d, settings, identity) for n, d in raw])
        labels = await batcher.classify([c.pixels for c in checked])
        new = [NewImage(c.filename, lab, c.scheme, c.pixels.shape[0], c.pixels.shape[1], c.sha256, identity, c.meta,
                        c.data) for c, lab in zip(checked, labels)]
        try:
            recs = await run_in_threadpool(store.add_images, new, who.id, who)
        except QuotaExceeded as e:
            raise ApiError(413, "quota_exceeded", e.message) from None
        return {"images": [ctx.with_class(r) for r in recs]}

    @app.get("/api/images", response_model=PageOut, responses=errors(422, *AUTHED), tags=["images"],
             operation_id="list_images")
    async def list_images(label: str | None = Query(None, description="a label number or a class name"),
                          limit: int = Query(100, ge=1, le=settings.page_limit, description="items per page"),
                          cursor: str | None = Query(None, description="next_cursor of the previous page"),
                          who: Principal = Depends(require_token)):
        """The token's images ordered by id, a page at a time (an upload between pages joins the end)."""
        after = decode_cursor(cursor) if cursor is not None else 0
        lab = ctx.resolve_label(label)
        items, last = await run_in_threadpool(store.list_images, lab, after, limit, who.owner)
        return {"items": [ctx.with_class(r) for r in items],
                "next_cursor": None if last is None else encode_cursor(last)}

    @app.get("/api/images/{image_id}", response_model=ImageOut, responses=errors(404, 422, *AUTHED), tags=["images"],
             operation_id="get_image")
    async def get_image(image_id: ImageId, who: Principal = Depends(require_token)):
        """One image's record."""
        rec = await run_in_threadpool(store.get_image, image_id, who.owner)
        if rec is None:
            raise ApiError(404, "not_found", f"no image with id {image_id}")
        return ctx.with_class(rec)


def _add_content_and_delete_routes(app: FastAPI, ctx: _Ctx) -> None:
    """Register GET /api/images/{id}/content (the ciphertext bytes) and DELETE /api/images/{id}."""
    store, require_token = ctx.store, ctx.require_token

    @app.get("/api/images/{image_id}/content", tags=["images"], response_class=Response,
             operation_id="get_image_content",
             responses={200: {"description": "The ciphertext PNG, byte for byte as uploaded",
                              "content": {"image/png": {"schema": {"type": "string", "format": "binary"}}},
                              "headers": {**_CONTENT_HEADERS, "Content-Disposition": {
                                  "description": "attachment; filename*=UTF-8''<the original name>",
                                  "schema": {"type": "string"}}}},
                        304: {"description": "Not modified: If-None-Match names this image's ETag",
                              "headers": _CONTENT_HEADERS},
                        **errors(404, 422, *AUTHED)})
    async def get_content(image_id: ImageId, who: Principal = Depends(require_token),
                          if_none_match: str | None = Header(None, alias="If-None-Match",
                                                             description="ETags held, e.g. from an earlier download")):
        """The stored ciphertext. It is immutable: its ETag is its SHA-256, and If-None-Match answers 304."""
        if if_none_match is not None:
            digest = await run_in_threadpool(store.get_digest, image_id, who.owner)
            if digest is None:
                raise ApiError(404, "not_found", f"no image with id {image_id}")
            if _etag_matches(if_none_match, f'"{digest}"'):
                return Response(status_code=304, headers={"ETag": f'"{digest}"', "Cache-Control": "private, no-cache"})
        got = await run_in_threadpool(store.get_content, image_id, who.owner)
        if got is None:
            raise ApiError(404, "not_found", f"no image with id {image_id}")
        name, digest, data = got
        return Response(data, media_type="image/png",
                        headers={"Content-Disposition": f"attachment; filename*=UTF-8''{quote(name)}",
                                 "ETag": f'"{digest}"', "Cache-Control": "private, no-cache"})

    @app.delete("/api/images/{image_id}", status_code=204, responses={204: {"description": "Deleted"},
                                                                      **errors(404, 422, *AUTHED)},
                tags=["images"], operation_id="delete_image", response_class=Response)
    async def delete_image(image_id: ImageId, who: Principal = Depends(require_token)):
        """Remove one image (its bytes and record); its id is not reused."""
        if not await run_in_threadpool(store.delete_image, image_id, who.owner):
            raise ApiError(404, "not_found", f"no image with id {image_id}")
        return Response(status_code=204)


def _add_class_routes(app: FastAPI, ctx: _Ctx) -> None:
    """Register GET /api/classes."""
    store, identity, classes = ctx.store, ctx.identity, ctx.classes

    @app.get("/api/classes", response_model=ClassesOut, responses=errors(*AUTHED), tags=["images"],
             operation_id="list_classes")
    async def list_classes(who: Principal = Depends(ctx.require_token)):
        """The classifier's classes and how many of the token's images each holds."""
        counts = await run_in_threadpool(store.label_counts, who.owner)
        labels = sorted(set(range(len(classes))) | set(counts))
        return {"classifier": identity,
                "classes": [{"label": i, "class": classes[i] if 0 <= i < len(classes) else None,
                             "count": counts.get(i, 0)} for i in labels]}


def _add_gallery(app: FastAPI) -> None:
    """Register GET /, the gallery page (not in the OpenAPI document)."""
    page = resources.files(__package__).joinpath("gallery.html").read_text(encoding="utf-8")

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    async def gallery():
        return page


def _exact_openapi(app: FastAPI, classes: list[str]) -> Callable[[], dict]:
    """The app's `openapi` method: FastAPI's document made exact (see its docstring)."""
    def openapi() -> dict:
        """FastAPI's document, made exact where FastAPI cannot say it: the label parameter (a number or one of
        this classifier's class names) and links from an upload to the operations that take its ids."""
        if app.openapi_schema is None:
            doc = get_openapi(title=app.title, version=app.version, description=app.description, routes=app.routes)
            label = {"anyOf": [{"type": "integer", "minimum": 0, "maximum": MAX_LABEL}]
                     + ([{"type": "string", "enum": classes}] if classes else []),
                     "description": "a label number or one of the class names"}
            cursor = {"type": "string", "pattern": CURSOR_PATTERN,
                      "description": "next_cursor of the previous page (any 1-19 digits: the id the page starts after)"}
            for prm in doc["paths"]["/api/images"]["get"]["parameters"]:
                prm["schema"] = {"label": label, "cursor": cursor}.get(prm["name"], prm["schema"])
            first = "$response.body#/images/0/id"
            doc["paths"]["/api/images"]["post"]["responses"]["201"]["links"] = {
                name: {"operationId": op, "parameters": {"image_id": first},
                       "description": f"{what} the first uploaded image"}
                for name, op, what in (("GetImage", "get_image", "the record of"),
                                       ("GetImageContent", "get_image_content", "the bytes of"),
                                       ("DeleteImage", "delete_image", "delete"))}
            app.openapi_schema = doc
        return app.openapi_schema

    return openapi
