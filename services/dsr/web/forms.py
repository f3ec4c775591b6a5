"""Posted forms, read with Starlette's parser (python-multipart), and the dashboard's CSRF check.

Only ``application/x-www-form-urlencoded`` bodies are read (what every form of the pages sends);
any other body is an empty form, which the pages refuse as they refuse a form with nothing filled
in (the portal: the field errors; the dashboard: no CSRF token). Multipart is not parsed at all,
so a malformed one is no 400 from the parser. The body's size is the app's limit
(``max_body_bytes``), not a per-field one.
"""

from __future__ import annotations

import hmac
import urllib.parse

from fastapi import Request

URLENCODED = "application/x-www-form-urlencoded"


class CsrfRefused(Exception):
    """A dashboard form without this session's token, or posted from another origin."""


class Form:
    """The fields of a posted form, in the order sent; a name may come more than once."""

    def __init__(self, pairs: list[tuple[str, str]]) -> None:
        self.pairs = pairs

    def get(self, name: str, default: str | None = None) -> str | None:
        """The first value of ``name`` as sent (the first, where a multi-dict would give the last)."""
        return next((v for k, v in self.pairs if k == name), default)

    def getlist(self, name: str) -> list[str]:
        return [v for k, v in self.pairs if k == name]

    def field(self, name: str) -> str | None:
        """The first value, without surrounding spaces; None when the field was not sent."""
        value = self.get(name)
        return value.strip() if value is not None else None

    def text(self, name: str) -> str | None:
        """An optional text field: None when missing or blank."""
        return self.field(name) or None

    def all(self, name: str) -> list[str]:
        """The chosen values of a group of checkboxes (empty ones dropped)."""
        return [v for v in self.getlist(name) if v]

    def checked(self, name: str) -> bool:
        return self.field(name) in ("on", "true", "1")

    def firsts(self, *, without: str) -> dict[str, str]:
        """The first value of each field but ``without``, to fill the form in again."""
        values: dict[str, str] = {}
        for k, v in self.pairs:
            if k != without:
                values.setdefault(k, v)
        return values


async def read_form(request: Request, *, max_fields: int | None = None) -> Form:
    """The posted form (read once per request). More than ``max_fields`` fields: an empty form."""
    cached = getattr(request.state, "posted_form", None)
    if isinstance(cached, Form):
        return cached
    pairs: list[tuple[str, str]] = []
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if kind == URLENCODED:
        body = await request.body()
        # The count urllib's max_num_fields makes: every '&' starts a field, empty or not.
        if max_fields is None or body.count(b"&") + 1 <= max_fields:
            # The body is read already (and bounded by the app's limit): no other limit applies.
            posted = await request.form(max_fields=float("inf"), max_part_size=len(body) + 1)
            pairs = [(k, v) for k, v in posted.multi_items() if isinstance(v, str)]
    form = Form(pairs)
    request.state.posted_form = form
    return form


def same_origin(request: Request) -> bool:
    """No ``Origin`` (an older browser, or not a browser), or this very host; never ``null``."""
    origin = request.headers.get("origin")
    if origin is None or origin == "null":
        return origin is None
    return urllib.parse.urlsplit(origin).netloc == request.headers.get("host")


def csrf_ok(expected: str, sent: str | None) -> bool:
    if not sent:
        return False
    return hmac.compare_digest(expected.encode(), sent.encode())


async def checked_form(request: Request, expected_csrf: str | None) -> Form:
    """The posted form, after the CSRF check (the per-session token, and ``Origin`` when sent)."""
    form = await read_form(request)
    if not same_origin(request) or expected_csrf is None or not csrf_ok(expected_csrf, form.field("csrf")):
        raise CsrfRefused()
    return form
