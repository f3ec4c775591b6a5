"""A JSON request body that a route reads itself: parsed once, straight from the bytes into its model.

FastAPI validates a declared body model from JSON it has already decoded into Python objects, which
a route that needs more than the model (consent's ``POST /v1/consent-events`` keeps the envelope
to compare replays) would then read a second time. :func:`read_json` instead hands the bytes to
pydantic (one pass, in Rust) and answers every problem as FastAPI would have for a declared body:

- an empty body, or one whose content type is missing or not JSON: the 422 FastAPI gives
  (``body``: field required; not a dictionary);
- bytes that are not UTF-8: the 400 every other route gives ("There was an error parsing the body");
- not JSON, or JSON the model refuses: a 422 listing every error at once, each under ``body``, so
  the problem's ``errors`` name the same fields (``data.purpose``) as for any other route.

The OpenAPI document still shows the body: :func:`documented` gives the route's ``openapi_extra``
and registers the model, and :func:`add_schemas` (called when the document is built, see
``shared.runtime``) puts its schema into the components as FastAPI would have.
"""

from __future__ import annotations

import email.message
from typing import Any, TypeVar

from fastapi import HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.models import Schema
from pydantic import BaseModel, ValidationError

Model = TypeVar("Model", bound=BaseModel)

_REF_TEMPLATE = "#/components/schemas/{model}"
#: Models read by routes themselves, by schema name: their schemas join the document's components.
_DOCUMENTED: dict[str, type[BaseModel]] = {}


def documented(model: type[BaseModel], *, description: str | None = None) -> dict[str, Any]:
    """The ``openapi_extra`` of a route that reads a required JSON body of ``model`` itself."""
    _DOCUMENTED[model.__name__] = model
    body: dict[str, Any] = {
        "content": {"application/json": {"schema": {"$ref": _REF_TEMPLATE.format(model=model.__name__)}}},
        "required": True,
    }
    if description:
        body["description"] = description
    return {"requestBody": body}


def add_schemas(document: dict[str, Any]) -> None:
    """Add to ``document`` the schemas of the registered models it refers to (and theirs)."""
    text = repr(document.get("paths", {}))
    schemas = document.setdefault("components", {}).setdefault("schemas", {})
    for name, model in _DOCUMENTED.items():
        if _REF_TEMPLATE.format(model=name) not in text or name in schemas:
            continue
        schema = model.model_json_schema(ref_template=_REF_TEMPLATE)
        for nested, definition in schema.pop("$defs", {}).items():
            schemas.setdefault(nested, _as_fastapi_writes(definition))
        schemas[name] = _as_fastapi_writes(schema)
    document["components"]["schemas"] = dict(sorted(schemas.items()))


def _as_fastapi_writes(schema: dict[str, Any]) -> dict[str, Any]:
    # Through the document's own model, as FastAPI writes every schema (a null default left out).
    return Schema.model_validate(schema).model_dump(by_alias=True, exclude_none=True)


async def read_json(request: Request, model: type[Model]) -> Model:
    """The request's JSON body validated as ``model``, or the problem FastAPI would have answered."""
    body = await request.body()
    if not body:
        raise RequestValidationError([{"type": "missing", "loc": ("body",), "msg": "Field required", "input": None}])
    if not _is_json(request.headers.get("content-type")):
        # FastAPI reads a body of another content type as bytes, which no model accepts.
        raise RequestValidationError([{
            "type": "model_attributes_type", "loc": ("body",), "input": None,
            "msg": "Input should be a valid dictionary or object to extract fields from",
        }])
    try:
        return model.model_validate_json(body)
    except ValidationError as exc:
        errors = exc.errors(include_url=False, include_context=False)
        if errors and errors[0]["type"] == "json_invalid" and not _is_utf8(body):
            raise HTTPException(400, "There was an error parsing the body") from None
        raise RequestValidationError([{**error, "loc": ("body", *error["loc"])} for error in errors]) from None


def _is_json(content_type: str | None) -> bool:
    """FastAPI's rule (strict content type, its default): ``application/json`` or
    ``application/*+json``; a body without a content type is not read as JSON (a browser's form
    could send one cross-site without a CORS preflight)."""
    if not content_type:
        return False
    message = email.message.Message()
    message["content-type"] = content_type
    subtype = message.get_content_subtype()
    return message.get_content_maintype() == "application" and (subtype == "json" or subtype.endswith("+json"))


def _is_utf8(body: bytes) -> bool:
    try:
        body.decode()
    except UnicodeDecodeError:
        return False
    return True
