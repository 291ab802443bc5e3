"""The FastAPI application. Every error is JSON `{"error": code, "message": one line}` with a 4xx/5xx status.

Routes (all under /api need `Authorization: Bearer <token>`; a token sees and deletes only the images it
uploaded, others' ids are 404; an admin token (`ric token create --admin`) sees all):
  GET  /healthz                   liveness only: {"status": "ok"} (no counts, versions or model names)
  POST /api/images                upload one or more ciphertexts (multipart field `files`); all or none stored
  GET  /api/images                list, newest last; ?label=N|class name, ?limit=, ?cursor= (next_cursor)
  GET  /api/images/{id}           one record
  GET  /api/images/{id}/content   the ciphertext PNG, byte for byte as uploaded
  DELETE /api/images/{id}         remove one
  GET  /api/classes               class names and how many images each holds
  GET  /api/stats                 admin only: store size, classifier identity, database, batching counters
  GET  /                          the gallery page; /openapi.json and /docs: the OpenAPI document
"""
from __future__ import annotations

import base64
import binascii
import contextlib
from importlib import resources
from urllib.parse import quote

from fastapi import Depends, FastAPI, File, Query, UploadFile
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException

from ..hub import Loaded
from .batcher import Batcher
from .limits import BodyLimit
from .settings import Settings
from .store import NewImage, Principal, Store
from .uploads import Rejected, check_upload


class ApiError(Exception):
    def __init__(self, status: int, code: str, message: str):
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


class ErrorOut(BaseModel):
    error: str = Field(description="a short machine-readable code, e.g. not_a_ciphertext")
    message: str = Field(description="one line naming the problem")


class ImageOut(BaseModel):
    model_config = ConfigDict(populate_by_name=True)
    id: int
    file: str = Field(description="the original file name (base name only)")
    label: int = Field(description="the label the service's classifier gave the ciphertext")
    class_: str | None = Field(None, alias="class", description="the class name of the label, if known")
    scheme: str
    height: int
    width: int
    size: int = Field(description="bytes")
    sha256: str
    classifier: str = Field(description="identity of the classifier that labelled it")
    meta: dict = Field(description="the ciphertext's public metadata (no secrets)")
    created_at: str


class UploadOut(BaseModel):
    images: list[ImageOut]


class PageOut(BaseModel):
    items: list[ImageOut]
    next_cursor: str | None = Field(description="pass as ?cursor= for the next page; null on the last page")


class ClassOut(BaseModel):
    model_config = ConfigDict(populate_by_name=True)
    label: int
    class_: str | None = Field(None, alias="class")
    count: int


class ClassesOut(BaseModel):
    classifier: str
    classes: list[ClassOut]


class HealthOut(BaseModel):
    status: str = Field(description='"ok"; nothing else is told to an unauthenticated caller')


class StatsOut(BaseModel):
    images: int
    classifier: str
    database: str
    classified: dict = Field(description="images classified and forward-pass rounds run since start")


ERRORS = {s: {"model": ErrorOut} for s in (400, 401, 403, 404, 413, 422)}


def encode_cursor(after: int) -> str:
    return base64.urlsafe_b64encode(f"after:{after}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> int:
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        kind, value = text.split(":", 1)
        if kind != "after" or not value.isdigit():
            raise ValueError
        return int(value)
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise ApiError(400, "bad_cursor", "the cursor is not one this service issued") from None


def create_app(settings: Settings, store: Store, classifier: Loaded) -> FastAPI:
    settings.check()
    identity = classifier.identity
    classes = list(classifier.classes)
    batcher = Batcher(classifier, settings.device, settings.max_batch, settings.max_wait_ms,
                      settings.max_batch_pixels)

    @contextlib.asynccontextmanager
    async def lifespan(_app):
        batcher.start()
        yield
        await batcher.stop()

    app = FastAPI(title="RIC encrypted-image store", version="1",
                  description="Stores RIC ciphertexts (noise-like PNGs) and labels them with a plaintext "
                              "classifier. The service holds no key and accepts none.",
                  lifespan=lifespan)
    app.state.store, app.state.batcher, app.state.settings = store, batcher, settings
    app.add_middleware(BodyLimit, max_bytes=settings.max_request_bytes)
    bearer = HTTPBearer(auto_error=False, description="an upload token from `ric token create`")

    def with_class(rec: dict) -> dict:
        lab = rec["label"]
        return {**rec, "class": classes[lab] if 0 <= lab < len(classes) else None}

    def resolve_label(label: str | None) -> int | None:
        if label is None:
            return None
        if label.lstrip("-").isdigit():
            return int(label)
        if label in classes:
            return classes.index(label)
        raise ApiError(422, "unknown_label", f"label {label!r} is neither a number nor one of this classifier's "
                                             f"classes ({', '.join(classes) or 'none named'})")

    async def require_token(cred: HTTPAuthorizationCredentials | None = Depends(bearer)) -> Principal:
        if cred is None:
            raise ApiError(401, "unauthorized", "missing upload token (send Authorization: Bearer <token>)")
        who = await run_in_threadpool(store.check_token, cred.credentials)
        if who is None:
            raise ApiError(401, "unauthorized", "the upload token is not valid (unknown or revoked)")
        return who

    # -- errors -------------------------------------------------------------------------------------
    @app.exception_handler(ApiError)
    @app.exception_handler(Rejected)
    async def _api_error(_req, e):
        headers = {"WWW-Authenticate": "Bearer"} if e.status == 401 else None
        return JSONResponse({"error": e.code, "message": e.message}, e.status, headers=headers)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(_req, e):
        code = {404: "not_found", 405: "method_not_allowed"}.get(e.status_code, f"http_{e.status_code}")
        return JSONResponse({"error": code, "message": str(e.detail)}, e.status_code)

    @app.exception_handler(RequestValidationError)
    async def _invalid(_req, e):
        first = e.errors()[0] if e.errors() else {"loc": (), "msg": "invalid request"}
        where = ".".join(str(p) for p in first.get("loc", ()))
        return JSONResponse({"error": "invalid_request", "message": f"{where}: {first['msg']}"}, 422)

    @app.exception_handler(Exception)
    async def _internal(_req, e):
        return JSONResponse({"error": "internal", "message": f"internal server error ({type(e).__name__})"}, 500)

    # -- routes -------------------------------------------------------------------------------------
    @app.get("/healthz", response_model=HealthOut, tags=["service"])
    async def healthz():
        try:
            await run_in_threadpool(store.ping)
        except Exception:
            return JSONResponse({"error": "unavailable", "message": "the service is not ready"}, 503)
        return {"status": "ok"}

    @app.get("/api/stats", response_model=StatsOut, responses=ERRORS, tags=["service"])
    async def stats(who: Principal = Depends(require_token)):
        if not who.admin:
            raise ApiError(403, "forbidden", "only an admin token (ric token create --admin) may read the stats")
        n = await run_in_threadpool(store.count)
        return {"images": n, "classifier": identity, "database": store.dialect,
                "classified": {"images": batcher.images, "batches": batcher.batches}}

    @app.post("/api/images", status_code=201, response_model=UploadOut, responses=ERRORS, tags=["images"])
    async def upload(files: list[UploadFile] = File(..., description="one or more RIC ciphertext PNGs"),
                     who: Principal = Depends(require_token)):
        """Check, classify and store ciphertexts. If any file is refused, none is stored."""
        if len(files) > settings.max_files:
            raise ApiError(413, "too_many_files", f"{len(files)} files in one request; this service takes up to "
                                                  f"{settings.max_files}")
        raw = [(f.filename, await f.read()) for f in files]
        checked = await run_in_threadpool(lambda: [check_upload(n, d, settings, identity) for n, d in raw])
        labels = await batcher.classify([c.pixels for c in checked])
        new = [NewImage(c.filename, lab, c.scheme, c.pixels.shape[0], c.pixels.shape[1], c.sha256, identity, c.meta,
                        c.data) for c, lab in zip(checked, labels)]
        recs = await run_in_threadpool(store.add_images, new, who.id)
        return {"images": [with_class(r) for r in recs]}

    @app.get("/api/images", response_model=PageOut, responses=ERRORS, tags=["images"])
    async def list_images(label: str | None = Query(None, description="a label number or a class name"),
                          limit: int = Query(100, ge=1, le=settings.page_limit),
                          cursor: str | None = Query(None, description="next_cursor of the previous page"),
                          who: Principal = Depends(require_token)):
        after = decode_cursor(cursor) if cursor else 0
        items, last = await run_in_threadpool(store.list_images, resolve_label(label), after, limit, who.owner)
        return {"items": [with_class(r) for r in items], "next_cursor": None if last is None else encode_cursor(last)}

    @app.get("/api/images/{image_id}", response_model=ImageOut, responses=ERRORS, tags=["images"])
    async def get_image(image_id: int, who: Principal = Depends(require_token)):
        rec = await run_in_threadpool(store.get_image, image_id, who.owner)
        if rec is None:
            raise ApiError(404, "not_found", f"no image with id {image_id}")
        return with_class(rec)

    @app.get("/api/images/{image_id}/content", responses={200: {"content": {"image/png": {}}}, **ERRORS},
             tags=["images"], response_class=Response)
    async def get_content(image_id: int, who: Principal = Depends(require_token)):
        got = await run_in_threadpool(store.get_data, image_id, who.owner)
        if got is None:
            raise ApiError(404, "not_found", f"no image with id {image_id}")
        name, data = got
        return Response(data, media_type="image/png",
                        headers={"Content-Disposition": f"attachment; filename*=UTF-8''{quote(name)}"})

    @app.delete("/api/images/{image_id}", status_code=204, responses=ERRORS, tags=["images"])
    async def delete_image(image_id: int, who: Principal = Depends(require_token)):
        if not await run_in_threadpool(store.delete_image, image_id, who.owner):
            raise ApiError(404, "not_found", f"no image with id {image_id}")
        return Response(status_code=204)

    @app.get("/api/classes", response_model=ClassesOut, responses=ERRORS, tags=["images"])
    async def list_classes(who: Principal = Depends(require_token)):
        counts = await run_in_threadpool(store.label_counts, who.owner)
        labels = sorted(set(range(len(classes))) | set(counts))
        return {"classifier": identity,
                "classes": [{"label": i, "class": classes[i] if 0 <= i < len(classes) else None,
                             "count": counts.get(i, 0)} for i in labels]}

    page = resources.files(__package__).joinpath("gallery.html").read_text(encoding="utf-8")

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    async def gallery():
        return page

    return app
