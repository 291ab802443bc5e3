"""The service's OpenAPI document: FastAPI's, made exact where FastAPI cannot say it from the route signatures."""
from __future__ import annotations

from collections.abc import Callable

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from .schemas import CURSOR_PATTERN, MAX_LABEL


def exact_openapi(app: FastAPI, classes: list[str], page_limit: int) -> Callable[[], dict]:
    """The app's `openapi` method: FastAPI's document with the label parameter (a number or one of this
    classifier's class names), the cursor's pattern, the page size's bound (the service's --page-limit),
    non-empty upload parts, and links from every response holding image records to the operations that take
    an image id."""
    def openapi() -> dict:
        if app.openapi_schema is None:
            doc = get_openapi(title=app.title, version=app.version, description=app.description, routes=app.routes)
            _exact_list_parameters(doc["paths"]["/api/images"]["get"], classes, page_limit)
            files = doc["components"]["schemas"]["Body_upload_images"]["properties"]["files"]
            files["items"]["minLength"] = 1        # an empty part is refused (422 empty_file)
            images = doc["paths"]["/api/images"]
            images["post"]["responses"]["201"]["links"] = image_links("$response.body#/images/0/id",
                                                                      "the first uploaded image")
            images["get"]["responses"]["200"]["links"] = image_links("$response.body#/items/0/id",
                                                                     "the first image of the page")
            app.openapi_schema = doc
        return app.openapi_schema

    return openapi


def _exact_list_parameters(op: dict, classes: list[str], page_limit: int) -> None:
    label = {"anyOf": [{"type": "integer", "minimum": 0, "maximum": MAX_LABEL}]
             + ([{"type": "string", "enum": classes}] if classes else []),
             "description": "a label number or one of the class names"}
    cursor = {"type": "string", "pattern": CURSOR_PATTERN,
              "description": "next_cursor of the previous page (any 1-19 digits: the id the page starts after)"}
    for prm in op["parameters"]:
        if prm["name"] == "limit":
            prm["schema"]["maximum"] = page_limit
        prm["schema"] = {"label": label, "cursor": cursor}.get(prm["name"], prm["schema"])


def image_links(first: str, what: str) -> dict:
    """OpenAPI links from a response holding image records (`first`: the runtime expression of an image id) to
    the operations that take an image id."""
    return {name: {"operationId": op, "parameters": {"image_id": first}, "description": f"{verb} {what}"}
            for name, op, verb in (("GetImage", "get_image", "the record of"),
                                   ("GetImageContent", "get_image_content", "the bytes of"),
                                   ("DeleteImage", "delete_image", "delete"))}
