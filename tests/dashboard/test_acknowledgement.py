"""The request page shows Vietnam's acknowledgement (its date, when and how it was made) with a
button to record it, and a form to ask the requester for more, by code; a Korean request shows
neither date nor button."""

from __future__ import annotations

from tests.dashboard.conftest import post_form
from tests.dsr.factories import file, request_body
from tests.support import STAFF, random_id


async def test_staff_record_the_acknowledgement_and_ask_for_more_on_the_request_page(dash, staff):
    opened = await file(dash, request_body(jurisdiction="VN", language="vi", subject_id=random_id("patient")))
    page = f"/dashboard/requests/{opened['request_id']}"
    shown = (await staff.get(f"{page}?lang=en")).text
    assert 'id="acknowledgement"' in shown and "not acknowledged yet" in shown and 'id="acknowledge-form"' in shown
    done = await post_form(staff, page, f"{page}/acknowledgement", {})
    assert done.status_code == 303
    shown = (await staff.get(f"{page}?lang=vi")).text
    assert "Đã xác nhận" in shown and "nhân viên ghi nhận" in shown and 'id="acknowledge-form"' not in shown
    asked = await post_form(staff, page, f"{page}/needs", {"needed": "identity_document"})
    assert asked.status_code == 303
    trail = (await dash.dsr.get(f"/v1/requests/{opened['request_id']}", headers=STAFF)).json()["transitions"]
    assert any(t["actor"] == "staff:lee" and t["reason"].startswith("acknowledged") for t in trail)
    assert any(t["reason"] == "asked the requester for: An identity document" for t in trail)
    wrong = await post_form(staff, page, f"{page}/needs", {"needed": "anything"})
    assert wrong.status_code == 422

    korean = await file(dash, request_body(subject_id=random_id("patient")))
    shown = (await staff.get(f"/dashboard/requests/{korean['request_id']}")).text
    assert 'id="acknowledgement"' not in shown and 'id="acknowledge-form"' not in shown
