"""The service's request and response shapes: id and label ranges, the pydantic models of every JSON body, and the
`responses=` tables that put each error status with its body into the OpenAPI document."""
from __future__ import annotations

from typing import Annotated, Literal

from ..errors import MissingExtraError
from ..formats import SCHEMES

try:
    from fastapi import Path
    from pydantic import BaseModel, ConfigDict, Field
except ModuleNotFoundError as e:      # a core dependency is missing (a partial install)
    raise MissingExtraError("ric.service.schemas", None, e.name) from None

MAX_ID = 2 ** 63 - 1          # ids are positive 63-bit integers (what every database's BIGINT holds)
MAX_LABEL = 2 ** 31 - 1
CURSOR_PATTERN = r"^[0-9]{1,19}$"
ImageId = Annotated[int, Path(ge=1, le=MAX_ID, description="an image id (from an upload or a listing)")]


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
AUTHED = (401, 429, 500)       # every /api operation may answer these
CONTENT_HEADERS = {
    "ETag": {"description": 'the SHA-256 of the bytes in quotes (an image never changes)',
             "schema": {"type": "string"}},
    "Cache-Control": {"description": "private, no-cache: keep it, revalidate with If-None-Match",
                      "schema": {"type": "string"}}}


def errors(*codes: int) -> dict:
    """A route's `responses=` entries for these error statuses: the ErrorOut body, a description, and the
    Retry-After (429) or WWW-Authenticate (401) header."""
    out = {}
    for c in codes:
        out[c] = {"model": ErrorOut, "description": _ERROR_TEXT[c]}
        if c == 429:
            out[c]["headers"] = _RETRY_AFTER
        if c == 401:
            out[c]["headers"] = {"WWW-Authenticate": {"schema": {"type": "string"}, "description": "Bearer"}}
    return out
