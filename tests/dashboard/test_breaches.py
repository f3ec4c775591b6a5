"""The breach register on the dashboard: staff record a suspected breach, its page shows the
72-hour clock and the drafts, the privacy manager records who was told and closes it; and the
clock reaches the manager's inbox through the notifier."""

from __future__ import annotations

import html
import re
from datetime import datetime, timedelta

from tests.dashboard.conftest import post_form
from tests.support import MANAGER, STAFF, eventually

FORM = {"description": "A USB stick with the day's reservations was lost on the subway.",
        "data_categories": ["name", "contact", "health"], "cause": "lost_or_stolen", "subject_count": "85",
        "subject_ids": "patient-9001\npatient-9002", "measures": ["investigating"]}


def local_input(moment: datetime, zone) -> str:
    return moment.astimezone(zone).strftime("%Y-%m-%dT%H:%M")


async def record(dash, client, **changes) -> str:
    """Record a breach through the form; returns its id."""
    found = local_input(dash.service.clock() - timedelta(minutes=10), dash.service.zone)
    posted = await post_form(client, "/dashboard/breaches", "/dashboard/breaches",
                             {**FORM, "discovered_at": found, **changes})
    assert posted.status_code == 303, posted.text
    match = re.fullmatch(r"/dashboard/breaches/([0-9a-f-]{36})\?done=record", posted.headers["location"])
    assert match, posted.headers["location"]
    return match.group(1)


async def test_staff_record_a_breach_and_see_its_clock_and_drafts(dash, staff):
    bid = await record(dash, staff)
    got = (await dash.dsr.get(f"/v1/breaches/{bid}", headers=STAFF)).json()
    assert got["subject_ids"] == ["patient-9001", "patient-9002"] and got["subject_count"] == 85
    assert got["recorded_by"] == "staff:lee" and got["regulator"]["reasons"] == ["sensitive"]
    assert datetime.fromisoformat(got["notify_by"]) - datetime.fromisoformat(got["discovered_at"]) == timedelta(hours=72)

    page = html.unescape((await staff.get(f"/dashboard/breaches/{bid}?lang=en")).text)
    assert got["reference"] in page and 'id="notify-by"' in page
    assert "the people, the regulator" in page  # still to be told
    assert "The regulator must be told (sensitive information)" in page
    assert "Notice of a leak of your personal information" in page  # the draft, in the page's language
    assert "Draft report to the regulator" in page and "Number of people affected" in page
    vietnamese = html.unescape((await staff.get(f"/dashboard/breaches/{bid}?draft=vi")).text)
    assert "Thông báo về sự cố rò rỉ thông tin cá nhân" in vietnamese and "What is known" in vietnamese
    listed = (await staff.get("/dashboard/breaches")).text
    assert f'data-reference="{got["reference"]}"' in listed


async def test_a_refused_form_shows_each_field_again_with_its_error(dash, staff):
    found = local_input(dash.service.clock() + timedelta(days=2), dash.service.zone)
    refused = await post_form(staff, "/dashboard/breaches", "/dashboard/breaches",
                              {**FORM, "data_categories": [], "discovered_at": found})
    assert refused.status_code == 422
    assert 'id="data_categories-error"' in refused.text and "A USB stick" in refused.text
    future = await post_form(staff, "/dashboard/breaches", "/dashboard/breaches", {**FORM, "discovered_at": found})
    assert future.status_code == 422 and 'id="discovered_at-error"' in future.text
    garbled = await post_form(staff, "/dashboard/breaches", "/dashboard/breaches",
                              {**FORM, "discovered_at": "yesterday", "subject_count": "many"})
    assert garbled.status_code == 422
    superscript = await post_form(staff, "/dashboard/breaches", "/dashboard/breaches", {**FORM, "subject_count": "²"})
    assert superscript.status_code == 422 and 'id="subject_count-error"' in superscript.text
    assert (await dash.dsr.get("/v1/breaches", headers=STAFF)).json() == []


async def test_the_privacy_manager_records_who_was_told_and_closes_it(dash, staff, manager):
    bid = await record(dash, staff)
    page = f"/dashboard/breaches/{bid}"
    now = local_input(dash.service.clock(), dash.service.zone)
    told = {"notified_at": now, "count": "85", "channels": ["sms", "letter"]}
    refused = await post_form(staff, page, f"{page}/people", told)
    assert refused.status_code == 403 and "개인정보 보호책임자만" in refused.text
    updated = await post_form(staff, page, f"{page}/update", {**FORM, "subject_count": "90",
                                                              "discovered_at": now})
    assert updated.status_code == 303, updated.text
    too_many = await post_form(manager, page, f"{page}/people", {**told, "count": "91"})
    assert too_many.status_code == 422 and 'id="count-error"' in too_many.text
    assert (await post_form(manager, page, f"{page}/people", {**told, "count": "90"})).status_code == 303
    early = await post_form(manager, page, f"{page}/close",
                            {"outcome": "handled", "reason": "Everyone was told.", "confirm": "on"})
    assert early.status_code == 409  # the regulator is still to be told (health data is sensitive)
    reported = await post_form(manager, page, f"{page}/regulator",
                               {"reported_at": now, "regulator": "KISA", "reference": "KISA-2026-118"})
    assert reported.status_code == 303, reported.text
    unconfirmed = await post_form(manager, page, f"{page}/close", {"outcome": "handled", "reason": "Everyone was told."})
    assert unconfirmed.status_code == 422 and 'id="confirm-error"' in unconfirmed.text  # it cannot be undone
    closed = await post_form(manager, page, f"{page}/close",
                             {"outcome": "handled", "reason": "Everyone was told.", "confirm": "on"})
    assert closed.status_code == 303, closed.text

    got = (await dash.dsr.get(f"/v1/breaches/{bid}", headers=MANAGER)).json()
    assert got["status"] == "closed" and got["people_told"] == 90 and got["subject_count"] == 90
    assert [(a["actor"], a["action"]) for a in got["audit"]] == [
        ("staff:lee", "recorded"), ("staff:lee", "updated"), ("privacy_manager:kim", "people_notified"),
        ("privacy_manager:kim", "regulator_reported"), ("privacy_manager:kim", "closed")]
    assert got["regulator_reports"][0]["reference"] == "KISA-2026-118"
    shown = (await manager.get(page)).text
    assert 'id="people"' not in shown and "Everyone was told." in shown


async def test_the_clock_reaches_the_managers_inbox_through_the_notifier(dash, staff):
    bid = await record(dash, staff)
    reference = (await dash.dsr.get(f"/v1/breaches/{bid}", headers=STAFF)).json()["reference"]

    async def told(kind: str) -> bool:
        response = await dash.notifier.get("/v1/notifications", headers=STAFF,
                                           params={"request": reference, "kind": kind})
        return response.status_code == 200 and response.json()["total"] == 1

    await eventually(lambda: told("breach_recorded"), timeout=30)
    dash.travel(timedelta(hours=24, minutes=5))
    await eventually(lambda: told("breach_deadline_approaching"), timeout=30)
    [item] = (await dash.notifier.get("/v1/notifications", headers=STAFF,
                                      params={"request": reference, "kind": "breach_deadline_approaching"})).json()[
        "items"]
    assert "24시간" in item["title"] and item["facts"]["outstanding"] == ["people", "regulator"]
    assert "patient-9001" not in str(item) and "USB" not in str(item)
