"""The queue, a request's page and its forms, consents, policies, the inbox, the systems."""

from __future__ import annotations

import asyncio
import contextlib
import re
import uuid
from datetime import datetime, timedelta

import httpx

from services.dsr.dashboard.frame import get_notifier
from tests.dashboard.conftest import csrf_of, post_form
from tests.dsr.factories import child_request, file, request_body
from tests.support import MANAGER, STAFF, SYSTEM, consent_event, eventually, processed_to_end, random_id


async def test_the_queue_lists_overdue_first_and_filters(dash, manager):
    adult = await file(dash, request_body(subject_id=random_id("patient")))
    child = await file(dash, child_request())
    late = await file(dash, request_body(type="erasure", subject_id=random_id("patient")))
    async with dash.pool.acquire() as conn:
        await conn.execute("UPDATE requests SET due_at = now() - interval '2 days' WHERE request_id = $1",
                           uuid.UUID(late["request_id"]))
    page = (await manager.get("/dashboard/")).text
    order = re.findall(r'data-reference="([^"]+)"', page)
    assert order[0] == late["reference"] and set(order) >= {adult["reference"], child["reference"]}
    assert 'class="overdue"' in page and "2일 지남" in page
    guardians = (await manager.get("/dashboard/?guardian=true")).text
    assert re.findall(r'data-reference="([^"]+)"', guardians) == [child["reference"]]
    erasures = (await manager.get("/dashboard/?type=erasure&lang=en")).text
    assert re.findall(r'data-reference="([^"]+)"', erasures) == [late["reference"]] and "days overdue" in erasures
    overdue = (await manager.get("/dashboard/?overdue=true")).text
    assert re.findall(r'data-reference="([^"]+)"', overdue) == [late["reference"]]
    assert manager.cookies.get("dongui_lang") == "en"  # ?lang= is remembered


async def test_verify_and_approve_a_guardians_request_from_the_dashboard(dash, staff, manager):
    opened = await file(dash, child_request())
    rid = opened["request_id"]
    page = f"/dashboard/requests/{rid}"
    missing = await post_form(staff, page, f"{page}/verification", {"method": "mobile_phone", "evidence_ref": "PASS-9"})
    assert missing.status_code == 422
    assert 'id="representative_checked-error"' in missing.text  # shown next to the field
    # The error line names the field by its label, in the staff's language (a Korean session here).
    summary = re.search(r'id="form-error">([^<]*)<', missing.text).group(1)
    assert "확인할 항목" in summary and "representative_checked" not in summary, summary
    verified = await post_form(staff, page, f"{page}/verification",
                               {"method": "mobile_phone", "evidence_ref": "PASS-9", "representative_checked": "on"})
    assert verified.status_code == 303
    shown = (await manager.get(f"{page}?lang=en")).text
    # The decision form offers the grounds PIPA gives to refuse an access request, with citations.
    offered = re.findall(r'<option value="(kr-[a-z-]+)"[^>]*>([^<]+)</option>', shown)
    assert ("kr-access-others", "Access could harm another person&#39;s life or body, or unjustly infringe another "
            "person&#39;s property or other interests (PIPA Art. 35(4) 2)") in offered
    assert "kr-erasure-kept-by-law" not in dict(offered)  # not a ground to refuse access
    assert {"kr-ext-retrieval", "kr-ext-other"} <= set(dict(offered))  # the extension form's
    reject = await post_form(manager, page, f"{page}/decision", {"decision": "reject", "legal_ground": "x"})
    assert reject.status_code == 422 and 'id="ground-error"' in reject.text
    approved = await post_form(manager, page, f"{page}/decision", {"decision": "approve", "note": "ok"})
    assert approved.status_code == 303
    got = (await dash.dsr.get(f"/v1/requests/{rid}", headers=STAFF)).json()
    assert got["status"] in ("in_progress", "completed")
    actors = [t["actor"] for t in got["transitions"]]
    assert "staff:lee" in actors and "privacy_manager:kim" in actors
    assert got["verifications"][0]["verified_by"] == "lee"
    shown = (await manager.get(page)).text
    assert "staff: lee" in shown and "PASS-9" in shown


async def test_extension_and_withdrawal(dash, manager):
    opened = await file(dash, request_body(subject_id=random_id("patient")))
    page = f"/dashboard/requests/{opened['request_id']}"
    no_ground = await post_form(manager, page, f"{page}/extension", {"reason": "Archived records"})
    assert no_ground.status_code == 422 and 'id="ground-error"' in no_ground.text
    extended = await post_form(manager, page, f"{page}/extension", {"ground": "kr-ext-retrieval",
                                                                     "reason": "Archived records"})
    assert extended.status_code == 303
    assert "Archived records" in (shown := (await manager.get(f"{page}?lang=en")).text)
    assert "the records must be retrieved from an archive" in shown  # the ground, in the staff's language
    again = await post_form(manager, page, f"{page}/extension", {"ground": "kr-ext-other", "reason": "again"})
    assert again.status_code == 409 and "only once" in again.text  # the service's rule, shown on the page
    unconfirmed = await post_form(manager, page, f"{page}/withdraw", {"reason": "asked by phone"})
    assert unconfirmed.status_code == 422 and 'id="confirm-error"' in unconfirmed.text  # it cannot be undone
    assert (await post_form(manager, page, f"{page}/withdraw", {"reason": "asked by phone",
                                                                "confirm": "on"})).status_code == 303
    got = (await dash.dsr.get(f"/v1/requests/{opened['request_id']}", headers=STAFF)).json()
    assert got["status"] == "withdrawn" and got["extension_reason"] == "Archived records"
    assert got["transitions"][-1]["actor"] == "staff:kim"


async def test_a_late_refusal_asks_why_and_a_complaint_is_answered_from_the_dashboard(dash, staff, manager):
    late = await file(dash, request_body(type="erasure", subject_id=random_id("patient")))
    complaint = await file(dash, request_body(type="complaint", subject_id=random_id("patient"), details={
        "complaint": "Your website kept my card number."}))
    for opened in (late, complaint):
        page = f"/dashboard/requests/{opened['request_id']}"
        assert (await post_form(staff, page, f"{page}/verification",
                                {"method": "mobile_phone", "evidence_ref": "PASS-7"})).status_code == 303
    async with dash.pool.acquire() as conn:
        await conn.execute("UPDATE requests SET due_at = now() - interval '1 day' WHERE request_id = $1",
                           uuid.UUID(late["request_id"]))
    page = f"/dashboard/requests/{late['request_id']}"
    shown = (await manager.get(f"{page}?lang=en")).text
    assert 'name="late_reason"' in shown and "kr-erasure-kept-by-law" in shown
    unconfirmed = await post_form(manager, page, f"{page}/decision", {"decision": "reject",
                                                                      "ground": "kr-erasure-kept-by-law"})
    assert unconfirmed.status_code == 422 and 'id="confirm-error"' in unconfirmed.text  # a refusal is final
    refused = await post_form(manager, page, f"{page}/decision", {"decision": "reject", "ground": "kr-erasure-kept-by-law",
                                                                  "confirm": "on"})
    assert refused.status_code == 409 and 'id="late_reason-error"' in refused.text
    rejected = await post_form(manager, page, f"{page}/decision", {"decision": "reject", "ground": "kr-erasure-kept-by-law",
                                                                   "late_reason": "waited for the EMR vendor",
                                                                   "confirm": "on"})
    assert rejected.status_code == 303
    shown = (await manager.get(f"{page}?lang=en")).text
    assert "PIPA Art. 36(1) proviso" in shown and "waited for the EMR vendor" in shown  # the ground; the audit
    assert 'id="remedies"' in shown and "1833-6972" in shown and "118" in shown

    page = f"/dashboard/requests/{complaint['request_id']}"
    form = (await manager.get(page)).text
    assert 'id="answer-form"' in form and 'id="decision"' not in form
    assert (await post_form(staff, page, f"{page}/answer", {"answer": "No."})).status_code == 403
    answered = await post_form(manager, page, f"{page}/answer", {"answer": "We deleted it on 2 March."})
    assert answered.status_code == 303
    got = (await dash.dsr.get(f"/v1/requests/{complaint['request_id']}", headers=MANAGER)).json()
    assert got["status"] == "completed" and got["answer"] == "We deleted it on 2 March."
    assert got["transitions"][-1]["actor"] == "privacy_manager:kim"


async def test_a_subjects_consents_history_chain_and_receipt(dash, manager):
    subject = random_id("patient")
    response = await dash.consent.post("/v1/consent-events", json=consent_event(subject_id=subject), headers=SYSTEM)
    assert response.status_code == 201, response.text
    page = await manager.get(f"/dashboard/subjects/{subject}?lang=en")
    assert page.status_code == 200
    assert 'data-purpose="marketing_email"' in page.text and "granted" in page.text
    assert 'id="chain-result"' in page.text and "Valid: the 1 record was not changed, removed or reordered." in page.text
    receipt = re.search(r'href="(/dashboard/receipts/[^"]+)"', page.text).group(1)
    shown = await manager.get(receipt)
    assert shown.status_code == 200 and subject in shown.text
    lookup = await manager.get(f"/dashboard/subjects?subject_id={subject}")
    assert lookup.status_code == 303


async def test_publishing_a_policy_explains_and_enforces_the_seven_day_rule(dash, manager, staff):
    page = "/dashboard/policies/privacy-notice"
    shown = await manager.get(page)
    assert "7일" in shown.text and "Privacy notice 1" in shown.text and "Chính sách quyền riêng tư 1" in shown.text
    form = {"version": "2", "ko": "처리방침 2", "en": "Notice 2", "vi": "Chính sách 2",
            "purposes": ["treatment", "marketing_email"]}
    soon = (datetime.now() + timedelta(days=1)).strftime("%Y-%m-%dT%H:%M")
    early = await post_form(manager, page, page, {**form, "effective_at": soon})
    assert early.status_code == 422
    assert 'id="effective_at-error"' in early.text and "7 days" in early.text
    assert "처리방침 2" in early.text  # what was typed is kept
    refused = await post_form(staff, page, page, {**form, "effective_at": soon})
    assert refused.status_code == 403
    later = (datetime.now() + timedelta(days=10)).strftime("%Y-%m-%dT%H:%M")
    published = await post_form(manager, page, page, {**form, "effective_at": later})
    assert published.status_code == 303
    versions = (await dash.consent.get("/v1/policies/privacy-notice", headers=MANAGER)).json()["versions"]
    # Published as the person signed in, not as the dashboard's key (signed: shared/delegation.py).
    assert [v["version"] for v in versions] == ["1", "2"] and versions[1]["published_by"] == "kim"
    assert 'id="version-2"' in (await manager.get(page)).text


async def test_the_inbox_shows_the_unread_count_and_marks_read(dash, manager):
    await file(dash, child_request())

    async def unread() -> int:
        return (await dash.notifier.get("/v1/notifications/unread-count", headers=STAFF)).json()["unread"]

    await eventually(unread, timeout=30)
    # A request may bring more than one notification: wait for them all. Its events are on the
    # broker once the outbox is empty, and handled once the notifier's group is past a watermark.
    await dash.scheduler_passes(1)
    for topic in ("dsr.events", "consent.events"):
        await processed_to_end(dash.bootstrap, "dongui-notifier-events", topic)
    count = await unread()
    assert count
    page = await manager.get("/dashboard/inbox")
    assert page.status_code == 200
    assert f'<span class="badge" id="unread-count">{count}</span>' in page.text
    first = re.search(r'action="(/dashboard/inbox/[^"]+/read)"', page.text).group(1)
    marked = await manager.post(first, data={"csrf": csrf_of(page.text)})
    assert marked.status_code == 303
    assert await unread() == count - 1
    notification_id = first.split("/")[-2]
    read = (await dash.notifier.get(f"/v1/notifications/{notification_id}", headers=STAFF)).json()
    assert read["read_by"] == "kim"  # the person, not the dashboard's key
    # The notifier down: a clear message, not a 500.
    async with httpx.AsyncClient(base_url="http://127.0.0.1:9", timeout=5) as nobody:
        dash.dsr_app.dependency_overrides[get_notifier] = lambda: nobody
        down = await manager.get("/dashboard/inbox")
        assert down.status_code == 502 and 'id="unreachable"' in down.text
        assert '<span class="badge" id="unread-count">?</span>' in (await manager.get("/dashboard/")).text


async def test_the_systems_page_registers_a_system(dash, manager, staff):
    page = "/dashboard/systems"
    form = {"system_id": "pharmacy", "name": "Pharmacy system", "data_categories": "prescriptions, allergies",
            "retention_classes": ["prescription"], "processor": "on"}
    assert (await post_form(staff, page, page, form)).status_code == 403
    bad = await post_form(manager, page, page, {**form, "system_id": "Bad Id"})
    assert bad.status_code == 422 and 'id="system_id-error"' in bad.text
    assert (await post_form(manager, page, page, form)).status_code == 303
    systems = (await dash.dsr.get("/v1/systems", headers=STAFF)).json()
    assert any(s["system_id"] == "pharmacy" and s["processor"] for s in systems)
    assert 'data-system="pharmacy"' in (await manager.get(page)).text

    # The registry of recipients: a processor's basis, duty and term (PIPA Art. 26), declared here.
    unlawful = await post_form(manager, page, page, {**form, "legal_basis": "law"})
    assert unlawful.status_code == 422 and "contract" in unlawful.text
    declared = {**form, "legal_basis": "contract", "entrusted_duty": "dispensing records",
                "contract_from": "2026-01-01", "contract_until": "2027-12-31"}
    assert (await post_form(manager, page, page, declared)).status_code == 303
    pharmacy = next(s for s in (await dash.dsr.get("/v1/systems", headers=STAFF)).json() if s["system_id"] == "pharmacy")
    assert pharmacy["legal_basis"] == "contract" and pharmacy["entrusted_duty"] == "dispensing records"
    assert pharmacy["contract_until"] == "2027-12-31"
    assert (await post_form(manager, page, page, form)).status_code == 303  # left empty: the declaration stays
    shown = (await manager.get(page, params={"lang": "en"})).text
    row = re.search(r'<tr data-system="pharmacy">.*?</tr>', shown, re.S).group(0)
    assert "Entrustment contract" in row and "dispensing records" in row and "2027-12-31" in row


async def test_the_systems_page_names_purposes_and_retention_classes_in_the_readers_language(dash, manager):
    page = "/dashboard/systems"
    form = {"system_id": "crm", "name": "Marketing list", "data_categories": "email",
            "retention_classes": ["marketing"], "source": "agency/crm", "purposes": ["marketing_email"]}
    assert (await post_form(manager, page, page, form)).status_code == 303
    for lang, purpose, retention in (("en", "Marketing by email", "Marketing data (until consent is withdrawn)"),
                                     ("vi", "Nhận quảng cáo qua email", "Dữ liệu quảng cáo (đến khi rút lại đồng ý)"),
                                     ("ko", "이메일 광고 수신", "마케팅 정보 (동의 철회 시까지)")):
        shown = (await manager.get(page, params={"lang": lang})).text
        row = re.search(r'<tr data-system="crm">.*?</tr>', shown, re.S).group(0)
        assert f"{purpose} <small><code>marketing_email</code></small>" in row
        assert f"{retention} <small><code>marketing</code></small>" in row
        # The register form's choices too, with the ids systems and the API use.
        assert f'<label for="p-marketing_email">{purpose} <small><code>marketing_email</code></small></label>' in shown


async def test_the_manager_registers_a_systems_grants_and_issues_and_revokes_its_keys(dash, manager, staff):
    page = "/dashboard/systems"
    form = {"system_id": "crm", "name": "Marketing list", "data_categories": "email",
            "retention_classes": ["marketing"], "processor": "on", "source": "agency/crm",
            "purposes": ["marketing_email", "marketing_sms"]}
    assert (await post_form(manager, page, page, form)).status_code == 303
    [crm] = [s for s in (await dash.dsr.get("/v1/systems", headers=STAFF)).json() if s["system_id"] == "crm"]
    assert crm["source"] == "agency/crm" and crm["purposes"] == ["marketing_email", "marketing_sms"]
    assert crm["rights"] == []

    keys = "/dashboard/systems/crm/keys"
    assert (await staff.get(keys)).status_code == 403
    refused = await post_form(staff, page, keys, {"name": "crm"})
    assert refused.status_code == 403 and 'id="issue"' not in refused.text  # not the keys page
    assert (await post_form(staff, page, "/dashboard/systems/crm/retire", {"reason": "no"})).status_code == 403
    undated = await post_form(manager, keys, keys, {"name": "crm", "expires_on": "30/06/2027"})
    assert undated.status_code == 422 and 'id="expires_at-error"' in undated.text
    issued = await post_form(manager, keys, keys, {"name": "crm production"})
    assert issued.status_code == 201 and issued.headers["cache-control"] == "no-store"
    key = re.search(r'<code id="issued-key">([^<]+)</code>', issued.text).group(1)
    assert key.startswith("dgk_")
    listed = await manager.get(keys)
    assert key not in listed.text and "crm production" in listed.text  # shown once only
    bearer = {"Authorization": f"Bearer {key}"}
    own = {k: crm[k] for k in ("system_id", "name", "data_categories", "retention_classes", "processor")}
    assert (await dash.dsr.post("/v1/systems", json={**own, "purposes": ["marketing_email"]},
                                headers=bearer)).status_code == 200
    revoke = re.search(r'action="(/dashboard/systems/crm/keys/[^"]+/revoke)"', listed.text).group(1)
    assert (await post_form(manager, keys, revoke, {})).status_code == 422  # not confirmed
    assert (await post_form(manager, keys, revoke, {"confirm": "on"})).status_code == 303
    assert (await dash.dsr.get("/v1/systems", headers=bearer)).status_code == 401
    assert "kim" in (await manager.get(keys)).text  # who issued and who revoked


async def test_the_manager_closes_a_task_by_hand_and_retires_a_system_from_the_dashboard(dash, manager, staff):
    from tests.dsr.factories import approved_request, register_system

    for system_id in ("lab", "old-crm"):
        await register_system(dash, system_id=system_id, name=system_id, categories=["x"], classes=["marketing"])
    opened, approved = await approved_request(dash, subject_id=random_id("patient"))
    page = f"/dashboard/requests/{opened['request_id']}"
    shown = await manager.get(page)
    lab = next(t for t in approved["tasks"] if t["system_id"] == "lab")
    action = f"{page}/tasks/{lab['task_id']}/close"
    assert f'action="{action}"' in shown.text
    assert f'action="{action}"' not in (await staff.get(page)).text
    assert (await post_form(staff, page, action, {"reason": "no"})).status_code == 403
    unconfirmed = await post_form(manager, page, action, {"reason": "the lab was closed down"})
    assert unconfirmed.status_code == 422  # it cannot be undone: confirmed first
    closed = await post_form(manager, page, action, {"reason": "the lab was closed down", "confirm": "on"})
    assert closed.status_code == 303
    keys = "/dashboard/systems/old-crm/keys"
    unconfirmed = await post_form(manager, keys, "/dashboard/systems/old-crm/retire", {"reason": "the contract ended"})
    assert unconfirmed.status_code == 422 and 'id="confirm-error"' in unconfirmed.text
    retired = await post_form(manager, keys, "/dashboard/systems/old-crm/retire",
                              {"reason": "the agency's contract ended", "confirm": "on"})
    assert retired.status_code == 303
    assert 'id="retired"' in (await manager.get(keys)).text
    result = (await dash.dsr.get(f"/v1/requests/{opened['request_id']}/result", headers=MANAGER)).json()
    notes = {s["system_id"]: s["note"] for s in result["systems"]}
    assert "the lab was closed down" in notes["lab"] and "kim" in notes["lab"]
    assert "the agency's contract ended" in notes["old-crm"]
    assert result["status"] == "partially_completed"


async def test_a_system_and_key_made_on_the_dashboard_hold_on_this_replica_at_once(dash, manager):
    # Without this replica's background reloads (the notification, the 5 s poll), only the reload
    # after the change's own transaction can make it known here.
    runtime = dash.dsr_app.state.runtime
    reloader = runtime._tasks.pop("systems-directory")
    reloader.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await reloader
    page = "/dashboard/systems"
    form = {"system_id": "lab", "name": "Lab results", "data_categories": "findings",
            "retention_classes": ["test_findings"], "source": "clinic/lab", "purposes": ["treatment"]}
    assert (await post_form(manager, page, page, form)).status_code == 303
    known = runtime.directory.system("lab")
    assert known is not None and known.source == "clinic/lab" and known.purposes == {"treatment"}

    keys = "/dashboard/systems/lab/keys"
    issued = await post_form(manager, keys, keys, {"name": "lab production"})
    issued_key = re.search(r'<code id="issued-key">([^<]+)</code>', issued.text).group(1)
    key = {"Authorization": f"Bearer {issued_key}"}
    # Known here (403: a system may not list the registry), where an unknown key is a 401.
    assert (await dash.dsr.get("/v1/systems", headers=key)).status_code == 403
    revoke = re.search(r'action="(/dashboard/systems/lab/keys/[^"]+/revoke)"', (await manager.get(keys)).text).group(1)
    assert (await post_form(manager, keys, revoke, {"confirm": "on"})).status_code == 303
    assert (await dash.dsr.get("/v1/systems", headers=key)).status_code == 401
    assert (await post_form(manager, keys, "/dashboard/systems/lab/retire",
                            {"reason": "replaced", "confirm": "on"})).status_code == 303
    assert runtime.directory.system("lab").retired_at is not None
