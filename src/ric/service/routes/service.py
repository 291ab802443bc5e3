"""GET /healthz (liveness), /api/stats (admin tokens only) and /api/usage (the token's usage and limits)."""
from __future__ import annotations

from fastapi import APIRouter, Depends
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from ..deps import ServiceContext, get_context, require_token
from ..errors import ApiError
from ..schemas import AUTHED, HealthOut, StatsOut, UsageOut, errors
from ..store import Principal

router = APIRouter(tags=["service"])


@router.get("/healthz", response_model=HealthOut, responses=errors(500, 503), operation_id="healthz")
async def healthz(ctx: ServiceContext = Depends(get_context)):
    """Liveness: "ok" and nothing else (no counts, versions or model names). No token needed."""
    try:
        await run_in_threadpool(ctx.store.ping)
    except Exception:
        return JSONResponse({"error": "unavailable", "message": "the service is not ready"}, 503)
    return {"status": "ok"}


@router.get("/api/stats", response_model=StatsOut, responses=errors(403, *AUTHED), operation_id="get_stats")
async def stats(who: Principal = Depends(require_token), ctx: ServiceContext = Depends(get_context)):
    """Admin tokens only: store size, classifier identity, database dialect, batching counters."""
    if not who.admin:
        raise ApiError(403, "forbidden", "only an admin token (ric token create --admin) may read the stats")
    n = await run_in_threadpool(ctx.store.count)
    return {"images": n, "classifier": ctx.identity, "database": ctx.store.dialect,
            "classified": {"images": ctx.batcher.images, "batches": ctx.batcher.batches}}


@router.get("/api/usage", response_model=UsageOut, responses=errors(*AUTHED), operation_id="get_usage")
async def usage(who: Principal = Depends(require_token), ctx: ServiceContext = Depends(get_context)):
    """This token's usage (images and bytes it holds), its quota and its rate limit."""
    n, b = await run_in_threadpool(ctx.store.usage, who.id)
    limiter = ctx.limiter
    return {"token": who.id, "admin": who.admin, "images": n, "bytes": b, "max_images": who.max_images,
            "max_bytes": who.max_bytes, "rate_limit": limiter.rate if limiter.enabled else 0.0,
            "rate_burst": limiter.burst}
