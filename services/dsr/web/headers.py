"""The security headers of the pages, as one ASGI middleware per surface.

Every response under the surface's path (pages, redirects, static files, error pages: 404, 405,
413, 422, and the 500 of a bug, which ``shared.problems.UnexpectedErrors`` answers inside this
middleware) gets each header it did not set itself, so a route can still choose its own (the portal's static files are
cacheable, its pages are not).
"""

from __future__ import annotations

from collections.abc import Mapping

from starlette.types import ASGIApp, Message, Receive, Scope, Send


class SecurityHeaders:
    def __init__(self, app: ASGIApp, *, prefix: str, headers: Mapping[str, str]) -> None:
        self.app = app
        self.prefix = prefix
        self.headers = [(name.lower().encode("latin-1"), value.encode("latin-1")) for name, value in headers.items()]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope.get("path", "").startswith(self.prefix):
            await self.app(scope, receive, send)
            return

        async def sending(message: Message) -> None:
            if message["type"] == "http.response.start":
                present = list(message.get("headers", []))
                names = {bytes(name).lower() for name, _ in present}
                message = {**message, "headers": [*present, *[(n, v) for n, v in self.headers if n not in names]]}
            await send(message)

        await self.app(scope, receive, sending)
