"""GET /: the gallery page (not in the OpenAPI document)."""
from __future__ import annotations

from functools import cache
from importlib import resources

from fastapi import APIRouter
from fastapi.responses import HTMLResponse

router = APIRouter(include_in_schema=False)


@cache
def _page() -> str:
    return resources.files("ric.service").joinpath("gallery.html").read_text(encoding="utf-8")


@router.get("/", response_class=HTMLResponse)
async def gallery():
    return _page()
