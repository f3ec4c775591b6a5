"""The consent service, as this service reads it: over HTTP, never through its tables."""

from __future__ import annotations

from typing import Any

import httpx

from shared.problems import Unavailable


class ConsentClient:
    def __init__(self, base_url: str, api_key: str, *, timeout: float = 5.0) -> None:
        self._http = httpx.AsyncClient(base_url=base_url, timeout=timeout,
                                       headers={"Authorization": f"Bearer {api_key}"})

    async def history(self, subject_id: str) -> list[dict[str, Any]]:
        """Every consent event of the subject: the fact and content of each consent (Decree 41(1))."""
        try:
            response = await self._http.get(f"/v1/subjects/{subject_id}/consents/history")
            response.raise_for_status()
        except httpx.HTTPError as exc:
            raise Unavailable(f"The consent service could not be read for the access report: {exc}") from None
        return response.json()["records"]

    async def close(self) -> None:
        await self._http.aclose()
