"""The provision log on a person's page: staff record what a law made the clinic provide, see it
listed in their language, and a refused form comes back with its fields' errors."""

from __future__ import annotations

import html

from tests.dashboard.conftest import post_form
from tests.support import MANAGER

PAGE = "/dashboard/subjects/patient-1001"
ACTION = "/dashboard/subjects/patient-1001/provisions"


async def test_staff_record_a_provision_on_the_persons_page(dash, staff):
    posted = await post_form(staff, PAGE, ACTION, {"ground": "kr-warrant", "data_categories": ["name", "health"],
                                                   "reference": "warrant 2026-1234", "provided_at": "2026-03-04T10:30"})
    assert posted.status_code == 303, posted.text
    assert posted.headers["location"].endswith("?done=provision#h-provisions")
    page = html.unescape((await staff.get(PAGE + "?lang=en&done=provision")).text)
    assert "The provision was recorded." in page and "warrant 2026-1234" in page
    assert "Investigative authorities (on a warrant issued by a court)" in page and "staff:lee" in page
    [logged] = (await dash.dsr.get("/v1/provisions", params={"subject_id": "patient-1001"}, headers=MANAGER)).json()
    assert logged["ground"] == "kr-warrant" and logged["data_categories"] == ["name", "health"]
    assert logged["provided_at"].startswith("2026-03-04T01:30")  # 10:30 on the clinic's clock (Seoul)


async def test_a_refused_provision_shows_the_form_again_with_its_errors(dash, staff):
    refused = await post_form(staff, PAGE, ACTION, {"ground": "kr-warrant", "reference": "kept as typed",
                                                    "provided_at": "2026-03-04T10:30"})
    assert refused.status_code == 422
    assert 'id="data_categories-error"' in refused.text and "kept as typed" in refused.text
    future = await post_form(staff, PAGE, ACTION, {"ground": "kr-warrant", "data_categories": ["name"],
                                                   "provided_at": "2999-01-01T00:00"})
    assert future.status_code == 422 and 'id="provided_at-error"' in future.text
    assert (await dash.dsr.get("/v1/provisions", headers=MANAGER)).json() == []
