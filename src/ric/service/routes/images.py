"""The image routes: POST /api/images (upload), GET /api/images (list), GET /api/images/{id} (one record),
GET /api/images/{id}/content (the ciphertext bytes, with an ETag) and DELETE /api/images/{id}."""
from __future__ import annotations

from urllib.parse import quote

from fastapi import APIRouter, Depends, File, Header, Query, UploadFile
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from ..deps import ServiceContext, decode_cursor, encode_cursor, get_context, require_token
from ..errors import ApiError
from ..schemas import AUTHED, CONTENT_HEADERS, ImageId, ImageOut, PageOut, UploadOut, errors
from ..store import NewImage, Principal, QuotaExceeded, quota_problem
from ..uploads import check_upload

router = APIRouter(tags=["images"])

_CONTENT_RESPONSES = {
    200: {"description": "The ciphertext PNG, byte for byte as uploaded",
          "content": {"image/png": {"schema": {"type": "string", "format": "binary"}}},
          "headers": {**CONTENT_HEADERS, "Content-Disposition": {
              "description": "attachment; filename*=UTF-8''<the original name>", "schema": {"type": "string"}}}},
    304: {"description": "Not modified: If-None-Match names this image's ETag", "headers": CONTENT_HEADERS},
    **errors(404, 422, *AUTHED)}


def _etag_matches(header: str, etag: str) -> bool:
    """If-None-Match (RFC 9110 13.1.2): `*` or any listed entity tag equal to ours under weak comparison."""
    tags = [t.strip() for t in header.split(",")]
    return "*" in tags or any(t.removeprefix("W/") == etag for t in tags if t)


def _not_found(image_id: int) -> ApiError:
    return ApiError(404, "not_found", f"no image with id {image_id}")


async def _check_quota(ctx: ServiceContext, who: Principal, raw: list[tuple[str, bytes]]) -> None:
    """Refuse an upload over the token's quota before any decoding or forward pass (413 quota_exceeded)."""
    if who.has_quota:        # checked again as the images are stored
        used = await run_in_threadpool(ctx.store.usage, who.id)
        why = quota_problem(who, *used, len(raw), sum(len(d) for _, d in raw))
        if why is not None:
            raise ApiError(413, "quota_exceeded", why)


@router.post("/api/images", status_code=201, response_model=UploadOut, operation_id="upload_images",
             responses=errors(400, 411, 413, 422, *AUTHED))
async def upload(files: list[UploadFile] = File(..., min_length=1, description="one or more RIC ciphertext PNGs "
                                                                              "(a part each, with a file name)"),
                 who: Principal = Depends(require_token), ctx: ServiceContext = Depends(get_context)):
    """Check, classify and store ciphertexts. If any file is refused, none is stored."""
    settings, identity = ctx.settings, ctx.identity
    if len(files) > settings.max_files:
        raise ApiError(413, "too_many_files", f"{len(files)} files in one request; this service takes up to "
                                              f"{settings.max_files}")
    raw = [(f.filename, await f.read()) for f in files]
    await _check_quota(ctx, who, raw)
    checked = await run_in_threadpool(lambda: [check_upload(n, d, settings, identity) for n, d in raw])
    labels = await ctx.batcher.classify([c.pixels for c in checked])
    new = [NewImage(c.filename, lab, c.scheme, c.pixels.shape[0], c.pixels.shape[1], c.sha256, identity, c.meta,
                    c.data) for c, lab in zip(checked, labels)]
    try:
        recs = await run_in_threadpool(ctx.store.add_images, new, who.id, who)
    except QuotaExceeded as e:
        raise ApiError(413, "quota_exceeded", e.message) from None
    return {"images": [ctx.with_class(r) for r in recs]}


@router.get("/api/images", response_model=PageOut, responses=errors(422, *AUTHED), operation_id="list_images")
async def list_images(label: str | None = Query(None, description="a label number or a class name"),
                      limit: int = Query(100, ge=1, description="items per page"),
                      cursor: str | None = Query(None, description="next_cursor of the previous page"),
                      who: Principal = Depends(require_token), ctx: ServiceContext = Depends(get_context)):
    """The token's images ordered by id, a page at a time (an upload between pages joins the end)."""
    if limit > ctx.settings.page_limit:       # the bound is the service's setting (the OpenAPI document says it)
        raise ApiError(422, "invalid_request", f"query.limit: Input should be less than or equal to "
                                               f"{ctx.settings.page_limit}")
    after = decode_cursor(cursor) if cursor is not None else 0
    lab = ctx.resolve_label(label)
    items, last = await run_in_threadpool(ctx.store.list_images, lab, after, limit, who.owner)
    return {"items": [ctx.with_class(r) for r in items],
            "next_cursor": None if last is None else encode_cursor(last)}


@router.get("/api/images/{image_id}", response_model=ImageOut, responses=errors(404, 422, *AUTHED),
            operation_id="get_image")
async def get_image(image_id: ImageId, who: Principal = Depends(require_token),
                    ctx: ServiceContext = Depends(get_context)):
    """One image's record."""
    rec = await run_in_threadpool(ctx.store.get_image, image_id, who.owner)
    if rec is None:
        raise _not_found(image_id)
    return ctx.with_class(rec)


@router.get("/api/images/{image_id}/content", response_class=Response, operation_id="get_image_content",
            responses=_CONTENT_RESPONSES)
async def get_content(image_id: ImageId, who: Principal = Depends(require_token),
                      ctx: ServiceContext = Depends(get_context),
                      if_none_match: str | None = Header(None, alias="If-None-Match",
                                                         description="ETags held, e.g. from an earlier download")):
    """The stored ciphertext. It is immutable: its ETag is its SHA-256, and If-None-Match answers 304."""
    store = ctx.store
    if if_none_match is not None:
        digest = await run_in_threadpool(store.get_digest, image_id, who.owner)
        if digest is None:
            raise _not_found(image_id)
        if _etag_matches(if_none_match, f'"{digest}"'):
            return Response(status_code=304, headers={"ETag": f'"{digest}"', "Cache-Control": "private, no-cache"})
    got = await run_in_threadpool(store.get_content, image_id, who.owner)
    if got is None:
        raise _not_found(image_id)
    name, digest, data = got
    return Response(data, media_type="image/png",
                    headers={"Content-Disposition": f"attachment; filename*=UTF-8''{quote(name)}",
                             "ETag": f'"{digest}"', "Cache-Control": "private, no-cache"})


@router.delete("/api/images/{image_id}", status_code=204, response_class=Response, operation_id="delete_image",
               responses={204: {"description": "Deleted"}, **errors(404, 422, *AUTHED)})
async def delete_image(image_id: ImageId, who: Principal = Depends(require_token),
                       ctx: ServiceContext = Depends(get_context)):
    """Remove one image (its bytes and record); its id is not reused."""
    if not await run_in_threadpool(ctx.store.delete_image, image_id, who.owner):
        raise _not_found(image_id)
    return Response(status_code=204)
