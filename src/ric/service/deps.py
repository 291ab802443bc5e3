"""What the routes depend on, as FastAPI dependencies (each replaceable through `app.dependency_overrides`):
the service context (settings, store, batcher, rate limiter, classifier identity and classes, kept on
`app.state.ctx` by ric.service.app.create_app) and the bearer-token check with its rate limit. Also the
helpers that read a request's parameters against that context: labels, cursors, class names."""
from __future__ import annotations

import dataclasses
import re

from ..errors import MissingExtraError
from .batcher import Batcher
from .errors import ApiError
from .limits import RateLimiter, SharedRateLimiter
from .schemas import CURSOR_PATTERN, MAX_ID, MAX_LABEL
from .settings import Settings
from .store import Principal, Store

try:
    from fastapi import Depends, Request
    from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
    from starlette.concurrency import run_in_threadpool
except ModuleNotFoundError as e:      # a core dependency is missing (a partial install)
    raise MissingExtraError("ric.service.deps", None, e.name) from None

_DIGITS = re.compile(r"[0-9]{1,10}")
bearer = HTTPBearer(auto_error=False, scheme_name="bearerAuth",
                    description="an upload token from `ric token create` (ric_ and 43 more characters)")


@dataclasses.dataclass(frozen=True)
class ServiceContext:
    """What the routes share: the settings, store, batcher, rate limiter and the classifier's identity and
    class names."""
    settings: Settings
    store: Store
    batcher: Batcher
    limiter: RateLimiter | SharedRateLimiter
    identity: str
    classes: list[str]

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


def get_context(request: Request) -> ServiceContext:
    """The dependency that gives a route the service context of its app."""
    return request.app.state.ctx


async def require_token(cred: HTTPAuthorizationCredentials | None = Depends(bearer),
                        ctx: ServiceContext = Depends(get_context)) -> Principal:
    """The dependency every /api route takes: a valid, unrevoked bearer token within its rate limit."""
    if cred is None:
        raise ApiError(401, "unauthorized", "missing upload token (send Authorization: Bearer <token>)")
    who = await run_in_threadpool(ctx.store.check_token, cred.credentials)
    if who is None:
        raise ApiError(401, "unauthorized", "the upload token is not valid (unknown or revoked)")
    limiter = ctx.limiter
    wait = limiter.take(who.id)
    if wait:
        raise ApiError(429, "rate_limited", f"this token made more than {limiter.burst} requests at once or "
                                            f"{limiter.rate:g} per second; retry after {wait} s",
                       {"Retry-After": str(wait)})
    return who


def encode_cursor(after: int) -> str:
    return str(after)


def decode_cursor(cursor: str) -> int:
    """The id after which a page starts. Any 1-19 digit string is a position (past the last id: an empty page)."""
    if not re.fullmatch(CURSOR_PATTERN, cursor):
        raise ApiError(422, "bad_cursor", "the cursor is not one this service issues (1 to 19 digits)")
    return min(int(cursor), MAX_ID)
