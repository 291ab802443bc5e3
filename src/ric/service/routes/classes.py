"""GET /api/classes: the classifier's classes and how many of the token's images each holds."""
from __future__ import annotations

from fastapi import APIRouter, Depends
from starlette.concurrency import run_in_threadpool

from ..deps import ServiceContext, get_context, require_token
from ..schemas import AUTHED, ClassesOut, errors
from ..store import Principal

router = APIRouter(tags=["images"])


@router.get("/api/classes", response_model=ClassesOut, responses=errors(*AUTHED), operation_id="list_classes")
async def list_classes(who: Principal = Depends(require_token), ctx: ServiceContext = Depends(get_context)):
    """The classifier's classes and how many of the token's images each holds."""
    counts = await run_in_threadpool(ctx.store.label_counts, who.owner)
    classes = ctx.classes
    labels = sorted(set(range(len(classes))) | set(counts))
    return {"classifier": ctx.identity,
            "classes": [{"label": i, "class": classes[i] if 0 <= i < len(classes) else None,
                         "count": counts.get(i, 0)} for i in labels]}
