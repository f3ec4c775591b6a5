"""The consent service, as this service reads it: over HTTP, never through its tables."""

from __future__ import annotations

import logging
from typing import Any

import httpx

from services.dsr.errors import ConsentUnavailable
from shared.sealing import decode_key

log = logging.getLogger(__name__)


class TransitKeyGone(Exception):
    """The subject was erased: their transit key is destroyed and will never be issued again."""


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
            raise ConsentUnavailable(f"The consent service could not be read for the access report: {exc}") from None
        return response.json()["records"]

    async def granted(self, subject_id: str) -> set[str] | None:
        """The purposes the subject consents to now (their decision is ``granted``); None when the
        subject was erased. Raises :class:`~services.dsr.errors.ConsentUnavailable` otherwise."""
        try:
            response = await self._http.get(f"/v1/subjects/{subject_id}/consents")
            response.raise_for_status()
            body = response.json()
            if body.get("erased_at") is not None:
                return None
            return {p["purpose"] for p in body["purposes"] if p["decision"] == "granted"}
        except (httpx.HTTPError, ValueError, KeyError, TypeError) as exc:
            raise ConsentUnavailable(f"The consent service could not be read for a withdrawal: {exc!r}") from None

    async def transit_key(self, subject_id: str) -> bytes:
        """The subject's transit root, the private key (issued on first use): opens what the systems
        sealed for the services, and gives the task key that seals a task for one system.

        Raises :class:`TransitKeyGone` when the subject was erased, and :class:`~services.dsr.errors.ConsentUnavailable` (a 503) for
        anything else (the consent service away, or refusing this service's key): the caller retries
        later and loses nothing. Never cached: once destroyed, a key must stop working everywhere.
        """
        try:
            response = await self._http.post(f"/v1/subjects/{subject_id}/transit-key/private")
        except httpx.HTTPError as exc:
            raise ConsentUnavailable(f"The consent service could not be reached for a transit key: {exc!r}") from None
        if response.status_code == 410:
            raise TransitKeyGone(subject_id)
        if response.status_code != 200:
            if response.status_code < 500:  # a key or configuration problem: someone must fix it
                log.error("the consent service refused a transit key: HTTP %d %s",
                          response.status_code, response.text[:300])
            raise ConsentUnavailable(f"The consent service answered {response.status_code} for a transit key.")
        try:
            return decode_key(response.json()["d"])
        except (ValueError, KeyError, TypeError) as exc:
            raise ConsentUnavailable(f"The consent service sent a transit key that cannot be read: {exc!r}") from None

    async def close(self) -> None:
        await self._http.aclose()
