"""The FastAPI application factory. Every error is JSON `{"error": code, "message": one line}` with a 4xx/5xx status.

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
status with its body, the bearer scheme, and links from an upload or a listing to the operations that take
its ids.

The parts, one job each: schemas.py (bodies and error tables), deps.py (the context and the token check, as
dependencies), errors.py (JSON error handlers), middleware.py (HEAD), openapi.py (the exact document),
routes/ (one APIRouter per topic).
"""
from __future__ import annotations

import contextlib

from ..errors import MissingExtraError
from ..hub import Loaded
from .batcher import Batcher
from .deps import ServiceContext
from .errors import add_error_handlers
from .limits import BodyLimit, RateLimiter, SharedRateLimiter
from .middleware import HeadAsGet
from .openapi import exact_openapi
from .settings import Settings
from .store import Store

try:
    from fastapi import FastAPI
except ModuleNotFoundError as e:      # a core dependency is missing (a partial install)
    raise MissingExtraError("ric.service.app", None, e.name) from None

DESCRIPTION = ("Stores RIC ciphertexts (noise-like PNGs) and labels them with a plaintext classifier. The service "
               "holds no key and accepts none. Every error is JSON `{\"error\": code, \"message\": one line}`. HEAD "
               "is answered wherever GET is (same status and headers, no body); any other method not listed here "
               "is 405 with an `Allow` header. Each token may make up to `rate_burst` requests at once and "
               "`rate_limit` per second after that (429 with Retry-After), and may have a quota of images and "
               "bytes (413 quota_exceeded); GET /api/usage shows both.")


def create_app(settings: Settings, store: Store, classifier: Loaded, clock=None) -> FastAPI:
    """The application. clock: the rate limiter's time source (seconds, monotonic; default time.monotonic)."""
    from .routes import ROUTERS
    settings.check()
    batcher = Batcher(classifier, settings.device, settings.max_batch, settings.max_wait_ms,
                      settings.max_batch_pixels)
    limiter = (SharedRateLimiter(store, settings.rate_limit, settings.rate_burst, clock) if settings.shared_limits
               else RateLimiter(settings.rate_limit, settings.rate_burst, clock))
    app = FastAPI(title="RIC encrypted-image store", version="1", description=DESCRIPTION,
                  lifespan=_lifespan(batcher))
    ctx = ServiceContext(settings, store, batcher, limiter, classifier.identity, list(classifier.classes))
    app.state.ctx = ctx
    app.state.store, app.state.batcher, app.state.settings, app.state.limiter = store, batcher, settings, limiter
    app.add_middleware(BodyLimit, max_bytes=settings.max_request_bytes)
    app.add_middleware(HeadAsGet)
    add_error_handlers(app)
    for router in ROUTERS:
        app.include_router(router)
    app.openapi = exact_openapi(app, ctx.classes, settings.page_limit)
    return app


def _lifespan(batcher: Batcher):
    """The app's lifespan: the batcher runs while the app does."""
    @contextlib.asynccontextmanager
    async def lifespan(_app):
        batcher.start()
        yield
        await batcher.stop()

    return lifespan
