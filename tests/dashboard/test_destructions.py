"""The destruction log on the dashboard (issue 20): the privacy manager sees what went from which
system, overdue first, downloads it as CSV for an inspection, and is told in the inbox when a
destruction is not confirmed within its 5 days; staff do not read it."""

from __future__ import annotations

import csv
import io
from datetime import timedelta

from tests.dsr.factories import register_system
from tests.support import MANAGER, STAFF, SYSTEM, consent_event, eventually


async def _withdraw_model_photos(dash, subject: str) -> str:
    for type_ in ("consent.granted", "consent.withdrawn"):
        response = await dash.consent.post("/v1/consent-events", headers=SYSTEM,
                                           json=consent_event(type=type_, subject_id=subject, purpose="model_photos"))
        assert response.status_code == 201, response.text

    async def logged() -> list[dict]:
        return (await dash.dsr.get("/v1/destructions", params={"subject_id": subject}, headers=MANAGER)).json()

    [row] = await eventually(logged, timeout=30)
    return row["reference"]


async def test_the_manager_reads_the_log_and_is_told_when_a_destruction_is_overdue(dash, manager, staff):
    await register_system(dash, system_id="photo-studio", name="Photo studio", categories=["photos"],
                          classes=["marketing"], processor=True)
    reference = await _withdraw_model_photos(dash, "patient-photos")

    page = (await manager.get("/dashboard/destructions?lang=en")).text
    assert reference in page and "Photo studio" in page and "processor" in page and "Consent withdrawn" in page
    assert 'data-system="photo-studio"' in page and "waiting" in page
    # Codes in words: the purpose, the data category, the retention class.
    assert "Model application photos" in page and "before-and-after photos" in page and "model_photos" not in page
    assert (await staff.get("/dashboard/destructions")).status_code == 403
    assert (await staff.get("/dashboard/destructions.csv")).status_code == 403
    exported = await manager.get("/dashboard/destructions.csv")
    assert exported.status_code == 200 and exported.headers["content-type"].startswith("text/csv")
    [row] = list(csv.DictReader(io.StringIO(exported.text)))
    assert row["reference"] == reference and row["system_id"] == "photo-studio" and row["processor"] == "yes"

    dash.travel(timedelta(days=5, minutes=5))

    async def told() -> list[dict] | None:
        response = await dash.notifier.get("/v1/notifications", headers=STAFF,
                                           params={"request": reference, "kind": "destruction_overdue"})
        items = response.json()["items"] if response.status_code == 200 else []
        return items or None

    [item] = await eventually(told, timeout=30)
    assert reference in item["title"] and "photo-studio" in item["summary"] and "patient-photos" not in str(item)
    page = (await manager.get("/dashboard/destructions?lang=en")).text
    assert "not confirmed in time" in page
