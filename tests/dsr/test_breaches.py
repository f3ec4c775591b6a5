"""The breach register (PIPA Art. 34; compliance rule 24): a suspected leak starts a 72-hour clock,
the privacy manager is reminded at 24 and 48 hours and told when it is up, the thresholds decide
whether the regulator must be told, the drafts tell the facts in ko, en and vi, and nothing
personal leaves the product in the events."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta

from shared.rules.grounds import remedies
from tests.dsr.breach_factories import breach_body, people_told, record_breach, regulator_reported
from tests.support import MANAGER, STAFF, eventually, read_to_end

SUBJECTS = ["patient-7001", "patient-7002", "patient-7003"]
HANGUL = re.compile(r"[\uac00-\ud7a3]")
VIETNAMESE = re.compile(r"[ăâđêôơưạảấầẩậắằẳặẹẻẽếềểệỉịọỏốồổộớờởợụủứừửựỳỵỷỹ]", re.IGNORECASE)


def at(text: str) -> datetime:
    return datetime.fromisoformat(text)


async def published(stack):
    """Every event written so far, once the outbox has sent them all to the broker."""
    await eventually(stack._outbox_empty)
    return await read_to_end(stack.bootstrap, "dsr.events")


def breach_events(messages, breach_id: str | None = None, type_: str | None = None) -> list[dict]:
    found = []
    for message in messages:
        event = json.loads(message.value)
        if not event["type"].startswith("breach."):
            continue
        if (breach_id is None or event["data"]["breach_id"] == breach_id) and (type_ is None or event["type"] == type_):
            found.append(event)
    return found


async def test_recording_a_breach_starts_its_72_hour_clock_and_keeps_the_subjects_sealed(stack):
    found = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=2)
    body = breach_body(discovered_at=found, occurred_at=found - timedelta(days=1), subject_ids=SUBJECTS,
                       measures=["access_blocked"])
    response = await stack.dsr.post("/v1/breaches", json=body, headers=STAFF)

    assert response.status_code == 201, response.text
    breach = response.json()
    assert response.headers["location"] == f"/v1/breaches/{breach['breach_id']}"
    assert at(breach["notify_by"]) == found + timedelta(hours=72)
    assert at(breach["discovered_at"]) == found and breach["status"] == "open"
    assert re.fullmatch(r"BR-\d{4}-[2-9A-HJKMNP-Z]{5}", breach["reference"])
    assert breach["subject_ids"] == SUBJECTS and breach["subject_count"] == 3  # counted from the ids
    assert breach["clock"]["outstanding"] == ["people"] and not breach["clock"]["overdue"]
    assert 69 * 3600 < breach["clock"]["seconds_left"] <= 70 * 3600
    assert breach["regulator"]["required"] is False and breach["regulator"]["reasons"] == []
    assert [(a["actor"], a["action"]) for a in breach["audit"]] == [("staff:dev-staff", "recorded")]

    # Staff and the privacy manager read it back; the list shows its clock.
    for key in (STAFF, MANAGER):
        again = await stack.dsr.get(f"/v1/breaches/{breach['breach_id']}", headers=key)
        assert again.status_code == 200 and again.json()["notify_by"] == breach["notify_by"]
    listed = (await stack.dsr.get("/v1/breaches", headers=STAFF)).json()
    assert [(b["reference"], b["outstanding"]) for b in listed] == [(breach["reference"], ["people"])]

    # At rest: the subject ids and what staff wrote are sealed under the breach's own key.
    async with stack.pool.acquire() as conn:
        row = await conn.fetchrow("SELECT * FROM breaches WHERE breach_id = $1", breach["breach_id"])
        dumped = " ".join(str(v) for v in row.values())
        audit = " ".join(str(r["detail"]) for r in await conn.fetch("SELECT detail FROM breach_audit"))
        assert await conn.fetchval("SELECT wrapped_key IS NOT NULL FROM subject_keys WHERE subject_id = $1",
                                   row["key_ref"])
    for secret in (*SUBJECTS, "membership list"):
        assert secret not in dumped and secret not in audit and secret.encode() not in row["personal"]

    # The privacy manager learns of it at once, with nothing personal.
    [recorded] = breach_events(await published(stack), breach["breach_id"],
                               "breach.recorded")
    assert recorded["subject"] == breach["breach_id"] and recorded["data"]["notify_by"] == breach["notify_by"]


async def test_a_bad_body_is_a_422_naming_the_field_never_a_500(stack):
    now = datetime.now(UTC)
    cases = [
        ({k: v for k, v in breach_body().items() if k != "discovered_at"}, "discovered_at"),
        ({k: v for k, v in breach_body().items() if k != "description"}, "description"),
        (breach_body(data_categories=[]), "data_categories"),
        (breach_body(data_categories=["name", "shoe_size"]), "data_categories.1"),
        (breach_body(data_categories=["name", "name"]), "data_categories"),
        (breach_body(cause="aliens"), "cause"),
        (breach_body(subject_count=0), "subject_count"),
        (breach_body(subject_ids=["has space"]), "subject_ids.0"),
        (breach_body(discovered_at=now + timedelta(days=1)), "discovered_at"),
        (breach_body(discovered_at=datetime(1, 1, 1, tzinfo=UTC)), "discovered_at"),
        ({**breach_body(), "discovered_at": "0001-01-01T00:00:00+14:00"}, "discovered_at"),
        ({**breach_body(), "discovered_at": 1767225600}, "discovered_at"),
        ({**breach_body(), "discovered_at": "2026-03-04T10:30:00"}, "discovered_at"),  # no offset
        (breach_body(occurred_at=now), "occurred_at"),  # after its discovery a minute ago
        (breach_body(subject_ids=SUBJECTS, subject_count=2), "subject_count"),
        (breach_body(data_categories=["health"], sensitive=False), "sensitive"),
        (breach_body(data_categories=["passport_number"], unique_identifiers=False), "unique_identifiers"),
        ({**breach_body(), "severity": "high"}, "severity"),
    ]
    for body, field in cases:
        response = await stack.dsr.post("/v1/breaches", json=body, headers=STAFF)
        assert response.status_code == 422, (field, response.status_code, response.text)
        assert response.headers["content-type"].startswith("application/problem+json")
        assert field in [e["field"] for e in response.json()["errors"]], (field, response.json())
    response = await stack.dsr.post("/v1/breaches", content=b"{not json", headers={**STAFF,
                                                                                   "content-type": "application/json"})
    assert response.status_code == 422

    breach = await record_breach(stack, subject_count=10)
    bid = breach["breach_id"]
    for path, body, field, key in [
        (f"/v1/breaches/{bid}/people-notified", {"notified_at": now.isoformat(), "count": 11, "channels": ["sms"]},
         "count", MANAGER),
        (f"/v1/breaches/{bid}/people-notified",
         {"notified_at": (now - timedelta(days=3)).isoformat(), "count": 1, "channels": ["sms"]}, "notified_at", MANAGER),
        (f"/v1/breaches/{bid}/people-notified", {"notified_at": now.isoformat(), "count": 1, "channels": ["pigeon"]},
         "channels.0", MANAGER),
        (f"/v1/breaches/{bid}/regulator-report", {"reported_at": now.isoformat(), "regulator": "FBI"}, "regulator",
         MANAGER),
        (f"/v1/breaches/{bid}/close", {"outcome": "handled"}, "reason", MANAGER),
    ]:
        response = await stack.dsr.post(path, json=body, headers=key)
        assert response.status_code == 422, (path, response.text)
        assert field in [e["field"] for e in response.json()["errors"]], (field, response.json())
    for body, field in [({"cause": None}, "cause"), ({"subject_count": 0}, "subject_count"),
                        ({"discovered_at": (now + timedelta(days=2)).isoformat()}, "discovered_at")]:
        response = await stack.dsr.patch(f"/v1/breaches/{bid}", json=body, headers=STAFF)
        assert response.status_code == 422 and field in [e["field"] for e in response.json()["errors"]], response.text
    assert (await stack.dsr.patch(f"/v1/breaches/{bid}", json={}, headers=STAFF)).status_code == 422
    for missing in ("x", "00000000-0000-4000-8000-000000000000"):
        assert (await stack.dsr.get(f"/v1/breaches/{missing}", headers=STAFF)).status_code == 404
    assert (await stack.dsr.get(f"/v1/breaches/{bid}/notice?lang=fr", headers=STAFF)).status_code == 422


async def test_reminders_fire_at_24_and_48_hours_and_when_due_each_once(stack):
    breach = await record_breach(stack, subject_count=40)
    bid = breach["breach_id"]

    stack.travel(timedelta(hours=23))
    await stack.scheduler_passes(2)
    assert breach_events(await published(stack), bid, "breach.deadline_approaching") == []
    stack.travel(timedelta(hours=1, minutes=5))  # 24 hours and a little
    await stack.scheduler_passes(2)
    stack.travel(timedelta(hours=24))  # 48
    await stack.scheduler_passes(2)
    stack.travel(timedelta(hours=24))  # 72: the deadline
    await stack.scheduler_passes(3)  # more passes, each of which could have sent a reminder again

    events = breach_events(await published(stack), bid)
    reminders = [(e["type"], e["data"].get("hours_elapsed")) for e in events if e["type"] != "breach.recorded"]
    assert reminders == [("breach.deadline_approaching", 24), ("breach.deadline_approaching", 48),
                         ("breach.overdue", None)]
    assert all(e["data"]["outstanding"] == ["people"] for e in events)
    view = (await stack.dsr.get(f"/v1/breaches/{bid}", headers=STAFF)).json()
    assert view["clock"]["notices"] == ["24h", "48h", "72h"] and view["clock"]["overdue"] is True
    assert [a["action"] for a in view["audit"]] == ["recorded", "reminder_24h", "reminder_48h", "reminder_72h"]
    assert (await stack.dsr.get("/v1/breaches", headers=STAFF)).json()[0]["overdue"] is True


async def test_no_reminder_once_the_people_and_the_regulator_are_recorded_as_told(stack):
    # Over the threshold: the regulator must be told too.
    told = await record_breach(stack, subject_count=1200)
    half = await record_breach(stack, subject_count=1200)
    for breach in (told, half):
        assert breach["regulator"]["required"] is True and breach["regulator"]["reasons"] == ["people"]
    # Told in two mailings: everyone counts as told once all 1,200 were.
    after_one = await people_told(stack, told["breach_id"], count=700, channels=("sms", "email"))
    assert after_one["clock"]["outstanding"] == ["people", "regulator"] and after_one["people_told"] == 700
    await people_told(stack, told["breach_id"], count=500, channels=("letter",))
    done = await regulator_reported(stack, told["breach_id"])
    assert done["clock"]["outstanding"] == [] and done["people_told"] == 1200
    assert [r["regulator"] for r in done["regulator_reports"]] == ["PIPC"]
    assert [a["actor"] for a in done["audit"]][-1] == "privacy_manager:dev-manager"
    # The other: people told, the regulator not (yet).
    await people_told(stack, half["breach_id"], count=1200)

    stack.travel(timedelta(hours=80))
    await stack.scheduler_passes(3)

    events = await published(stack)
    assert [e["type"] for e in breach_events(events, told["breach_id"])] == [
        "breach.recorded", "breach.people_notified", "breach.people_notified", "breach.regulator_reported"]
    [overdue] = breach_events(events, half["breach_id"], "breach.overdue")
    assert overdue["data"]["outstanding"] == ["regulator"]
    view = (await stack.dsr.get(f"/v1/breaches/{told['breach_id']}", headers=STAFF)).json()
    assert view["clock"]["notices"] == [] and view["clock"]["overdue"] is False


async def test_the_thresholds_decide_whether_the_regulator_must_be_told(stack):
    cases = [
        (dict(subject_count=999), []),
        (dict(subject_count=1000), ["people"]),
        (dict(), []),  # the number is not known yet: no reason, decided again when it is
        (dict(data_categories=["name", "health"]), ["sensitive"]),
        (dict(data_categories=["other"], sensitive=True), ["sensitive"]),
        (dict(data_categories=["passport_number"]), ["unique_identifiers"]),
        (dict(cause="external_access"), ["external_access"]),
        (dict(cause="external_access", subject_count=5000, data_categories=["resident_registration_number"]),
         ["people", "unique_identifiers", "external_access"]),
    ]
    for fields, reasons in cases:
        breach = await record_breach(stack, **fields)
        assert breach["regulator"] == {**breach["regulator"], "required": bool(reasons), "reasons": reasons}, fields
        assert breach["clock"]["outstanding"] == ["people", *(["regulator"] if reasons else [])]
    unknown = await record_breach(stack)
    assert "not known yet" in unknown["regulator"]["explanation"]

    # Learning more decides again: 30 people become 1,500, then the count turns out lower.
    breach = await record_breach(stack, subject_count=30)
    grown = await stack.dsr.patch(f"/v1/breaches/{breach['breach_id']}", headers=STAFF,
                                  json={"subject_count": 1500, "measures": ["investigating"]})
    assert grown.status_code == 200, grown.text
    assert grown.json()["regulator"]["required"] is True and grown.json()["clock"]["outstanding"] == [
        "people", "regulator"]
    last = grown.json()["audit"][-1]
    assert "30 → 1500" in last["detail"]
    assert last["said"]["values"]["changes"][0]["codes"]["field"] == ["breach.f", "subject_count"]
    shrunk = (await stack.dsr.patch(f"/v1/breaches/{breach['breach_id']}", headers=MANAGER,
                                    json={"subject_count": 800})).json()
    assert shrunk["regulator"] == {**shrunk["regulator"], "required": False, "reasons": []}
    [updated, _] = breach_events(await published(stack), breach["breach_id"],
                                 "breach.updated")
    assert updated["data"]["regulator_required"] is True and updated["data"]["changed"] == [
        "subject_count", "measures"]


async def test_drafts_tell_the_facts_in_three_languages_and_name_no_one(stack):
    found = datetime(2026, 3, 4, 1, 30, tzinfo=UTC)  # 10:30 in Seoul
    breach = await record_breach(stack, breach_body(
        discovered_at=found, occurred_at=found - timedelta(days=1), subject_ids=SUBJECTS, subject_count=1240,
        data_categories=["name", "contact", "account", "passport_number"], cause="external_access",
        measures=["access_blocked", "credentials_reset"], description="Someone used a stolen admin password."))
    bid = breach["breach_id"]
    expected = {
        "ko": ["성명", "여권번호", "2026년 3월 4일 10:30 KST", "불법적으로 접근(해킹)", "비밀번호를 바로 변경",
               "엠세이퍼", "유출 경로를 차단", "privacy@clinic.example", "118", "1833-6972"],
        "en": ["Name, phone number, website user name and password and passport number", "4 March 2026, 10:30 KST",
               "unlawful access to our systems from outside (hacking)", "Change your password",
               "M-Safer", "We have closed the way", "privacy@clinic.example", "privacy.kisa.or.kr", "1833-6972"],
        "vi": ["Họ tên", "số hộ chiếu", "10:30 KST ngày 04/03/2026", "truy cập trái phép từ bên ngoài",
               "đổi ngay mật khẩu", "M-Safer", "Chúng tôi đã chặn", "privacy@clinic.example", "118", "1833-6972"],
    }
    for lang, phrases in expected.items():
        response = await stack.dsr.get(f"/v1/breaches/{bid}/notice", params={"lang": lang}, headers=STAFF)
        assert response.status_code == 200, response.text
        notice = response.json()
        assert notice["language"] == lang and len(notice["sections"]) == 5
        for phrase in phrases:
            assert phrase in notice["text"], (lang, phrase)
        # The bodies outside the clinic are the ones a refusal names: one catalogue.
        for remedy in remedies(["KR"]):
            assert remedy.line(lang) in notice["text"], (lang, remedy.id)
        report = (await stack.dsr.get(f"/v1/breaches/{bid}/report", params={"lang": lang}, headers=MANAGER)).json()
        fields = {f["name"]: f["value"] for f in report["fields"]}
        assert report["regulator_required"] is True
        assert set(fields) == {"controller", "contact", "items", "people", "occurred", "discovered", "how", "cause",
                               "measures", "remedies", "people_told", "required", "notify_by"}
        assert fields["controller"] == "Dongui development clinic"
        assert "1,240" in fields["people"] or "1.240" in fields["people"]
        assert "stolen admin password" in fields["how"]  # the regulator reads what staff wrote
        for text in (notice["text"], report["text"]):
            assert not any(subject in text for subject in SUBJECTS), lang
            if lang == "ko":
                assert HANGUL.search(text)
            if lang == "vi":
                assert VIETNAMESE.search(text)
        assert "stolen admin password" not in notice["text"]  # the people read only the codes' words
    report = (await stack.dsr.get(f"/v1/breaches/{bid}/report?lang=en", headers=STAFF)).json()
    fields = {f["name"]: f["value"] for f in report["fields"]}
    assert "1,000 or more people, unique identifying information and unlawful access from outside" in fields[
        "required"]
    assert fields["people_told"] == "not yet"
    await people_told(stack, bid, count=1240, channels=("sms", "email"), at=found + timedelta(hours=5))
    report = (await stack.dsr.get(f"/v1/breaches/{bid}/report?lang=en", headers=STAFF)).json()
    told = {f["name"]: f["value"] for f in report["fields"]}["people_told"]
    assert told == "4 March 2026, 15:30 KST: 1,240 people by text message and email"


async def test_closing_needs_everyone_told_or_no_leak_and_then_nothing_more_is_recorded(stack):
    breach = await record_breach(stack, subject_count=5)
    bid = breach["breach_id"]
    for key in (STAFF,):  # the privacy manager's alone (the matrix checks every role)
        for path in ("people-notified", "regulator-report", "close"):
            assert (await stack.dsr.post(f"/v1/breaches/{bid}/{path}", json={}, headers=key)).status_code == 403
    refused = await stack.dsr.post(f"/v1/breaches/{bid}/close", headers=MANAGER,
                                   json={"outcome": "handled", "reason": "done"})
    assert refused.status_code == 409 and "not all recorded as told" in refused.json()["detail"]

    closed = await stack.dsr.post(f"/v1/breaches/{bid}/close", headers=MANAGER,
                                  json={"outcome": "not_a_breach", "reason": "The file was never reachable."})
    assert closed.status_code == 200, closed.text
    view = closed.json()
    assert view["status"] == "closed" and view["outcome"] == "not_a_breach" and view["clock"]["outstanding"] == []
    assert view["close_reason"] == "The file was never reachable." and view["closed_by"] == "privacy_manager:dev-manager"
    for method, path, body in [("PATCH", "", {"subject_count": 9}), ("POST", "/close",
                                                                      {"outcome": "handled", "reason": "x"}),
                               ("POST", "/people-notified", {"notified_at": datetime.now(UTC).isoformat(),
                                                             "count": 1, "channels": ["sms"]})]:
        response = await stack.dsr.request(method, f"/v1/breaches/{bid}{path}", json=body, headers=MANAGER)
        assert response.status_code == 409, (path, response.text)

    stack.travel(timedelta(hours=73))
    await stack.scheduler_passes(2)
    assert [e["type"] for e in breach_events(await published(stack), bid)] == [
        "breach.recorded", "breach.closed"]


async def test_nothing_personal_leaves_in_the_breach_events(stack):
    breach = await record_breach(stack, breach_body(
        subject_ids=SUBJECTS, data_categories=["name", "health"],
        description="The chart of patient-7001 was faxed to the wrong clinic.", cause="misdelivery",
        cause_detail="Fax number 02-517-0016 typed instead of 0015."))
    bid = breach["breach_id"]
    patched = await stack.dsr.patch(f"/v1/breaches/{bid}", headers=STAFF, json={
        "subject_ids": [*SUBJECTS, "patient-7004"], "measures_detail": "Called Dr Hwang."})
    assert patched.status_code == 200, patched.text
    await people_told(stack, bid, count=4, channels=("phone",))
    await regulator_reported(stack, bid, regulator="KISA", reference="KISA-77")
    closed = await stack.dsr.post(f"/v1/breaches/{bid}/close", headers=MANAGER,
                                  json={"outcome": "handled", "reason": "All four patients were called by Ms Lee."})
    assert closed.status_code == 200, closed.text

    messages = await published(stack)
    mine = [m for m in messages if json.loads(m.value)["type"].startswith("breach.")]
    assert [json.loads(m.value)["type"] for m in mine] == [
        "breach.recorded", "breach.updated", "breach.people_notified", "breach.regulator_reported", "breach.closed"]
    for message in mine:
        assert message.key.decode() == bid
        raw = message.value.decode() + " ".join(f"{k}={v!r}" for k, v in message.headers or [])
        for secret in (*SUBJECTS, "patient-7004", "faxed", "02-517-0016", "Hwang", "Ms Lee", "KISA-77"):
            assert secret not in raw, (secret, json.loads(message.value)["type"])
    updated = json.loads(mine[1].value)["data"]
    assert updated["changed"] == ["subject_count", "subject_ids", "measures_detail"]
    assert updated["subject_count"] == 4
