"""Request bodies and steps of the workflow, with keyword arguments."""

from __future__ import annotations

from typing import Any

from tests.support import MANAGER, STAFF, random_id


def request_body(*, type: str = "access", jurisdiction: str = "KR", language: str = "ko",
                 subject_id: str | None = None, name: str = "김민수", birth_date: str = "1985-03-02",
                 relationship: str = "self", requester_name: str | None = None,
                 contact: str = "minsu@example.com", details: dict[str, Any] | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {
        "type": type,
        "jurisdiction": jurisdiction,
        "language": language,
        "subject": {"name": name, "birth_date": birth_date, "subject_id": subject_id},
        "requester": {"relationship": relationship, "contact": contact},
    }
    if relationship != "self":
        body["requester"]["name"] = requester_name or "Nguyễn Thị Lan"
        body["requester"]["relationship_detail"] = "mother" if relationship == "legal_representative" else None
    if details:
        body["details"] = details
    return body


def child_request(**overrides) -> dict[str, Any]:
    """A mother files for her 10-year-old (Vietnamese family, in Vietnamese)."""
    values = dict(jurisdiction="KR", language="vi", name="Trần Minh An", birth_date="2016-05-05",
                  relationship="legal_representative", requester_name="Nguyễn Thị Lan", contact="lan@example.com",
                  subject_id=random_id("patient"))
    values.update(overrides)
    return request_body(**values)


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def file(stack, body: dict[str, Any], headers: dict[str, str] | None = None) -> dict[str, Any]:
    response = await stack.dsr.post("/v1/requests", json=body, headers=headers or {})
    assert response.status_code == 201, response.text
    return response.json()


async def verify(stack, request_id: str, *, subject_id: str | None = None, representative: bool = False,
                 method: str = "mobile_phone") -> dict[str, Any]:
    body: dict[str, Any] = {"method": method, "evidence_ref": "PASS-2026-0001",
                            "representative_checked": representative}
    if subject_id:
        body["subject_id"] = subject_id
    response = await stack.dsr.post(f"/v1/requests/{request_id}/verification", json=body, headers=STAFF)
    assert response.status_code == 200, response.text
    return response.json()


async def approve(stack, request_id: str) -> dict[str, Any]:
    response = await stack.dsr.post(f"/v1/requests/{request_id}/decision", json={"decision": "approve"},
                                    headers=MANAGER)
    assert response.status_code == 200, response.text
    return response.json()


async def register_system(stack, *, system_id: str, name: str, categories: list[str], classes: list[str],
                          processor: bool = False, purposes: list[str] | None = None) -> None:
    """Registered by the privacy manager; it answers on Kafka as the source ``clinic/<system_id>``."""
    response = await stack.dsr.post("/v1/systems", headers=MANAGER, json={
        "system_id": system_id, "name": name, "data_categories": categories,
        "retention_classes": classes, "processor": processor, "source": f"clinic/{system_id}",
        "purposes": purposes or []})
    assert response.status_code in (200, 201), response.text


async def system_key(stack, system_id: str, name: str = "test") -> dict[str, str]:
    """A key of its own for a registered system, issued by the privacy manager, as headers."""
    response = await stack.dsr.post(f"/v1/systems/{system_id}/keys", headers=MANAGER, json={"name": name})
    assert response.status_code == 201, response.text
    return {"Authorization": f"Bearer {response.json()['key']}"}


async def approved_request(stack, **body: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    """File, verify and approve a request; returns (as filed, as approved)."""
    opened = await file(stack, request_body(**body))
    await verify(stack, opened["request_id"])
    return opened, await approve(stack, opened["request_id"])
