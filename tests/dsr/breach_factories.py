"""Breach bodies and steps of the register, with keyword arguments."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from tests.support import MANAGER, STAFF


def breach_body(*, discovered_at: datetime | None = None, occurred_at: datetime | None = None,
                description: str = "A nightly export of the membership list was readable on the file server.",
                **fields: Any) -> dict[str, Any]:
    """A suspected leak found a minute ago: names and phone numbers of an unknown number of members."""
    found = discovered_at or datetime.now(UTC) - timedelta(minutes=1)
    body: dict[str, Any] = {"description": description, "discovered_at": found.isoformat(),
                            "data_categories": ["name", "contact"], "cause": "system_error"}
    if occurred_at is not None:
        body["occurred_at"] = occurred_at.isoformat()
    body.update(fields)
    return body


async def record_breach(stack, body: dict[str, Any] | None = None, *, headers: dict[str, str] | None = None,
                        **fields: Any) -> dict[str, Any]:
    response = await stack.dsr.post("/v1/breaches", json=body or breach_body(**fields), headers=headers or STAFF)
    assert response.status_code == 201, response.text
    return response.json()


async def people_told(stack, breach_id: str, *, count: int, channels: tuple[str, ...] = ("sms",),
                      at: datetime | None = None) -> dict[str, Any]:
    response = await stack.dsr.post(f"/v1/breaches/{breach_id}/people-notified", headers=MANAGER, json={
        "notified_at": (at or datetime.now(UTC)).isoformat(), "count": count, "channels": list(channels)})
    assert response.status_code == 200, response.text
    return response.json()


async def regulator_reported(stack, breach_id: str, *, regulator: str = "PIPC", at: datetime | None = None,
                             reference: str | None = "PIPC-2026-0042") -> dict[str, Any]:
    response = await stack.dsr.post(f"/v1/breaches/{breach_id}/regulator-report", headers=MANAGER, json={
        "reported_at": (at or datetime.now(UTC)).isoformat(), "regulator": regulator, "reference": reference})
    assert response.status_code == 200, response.text
    return response.json()
