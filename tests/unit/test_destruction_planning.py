"""What a withdrawal destroys, what it keeps and why, and who is told (services/dsr/destruction/planning.py)."""

from __future__ import annotations

from services.dsr.destruction.planning import Kept, after_withdrawal, holders


def _system(system_id: str, categories: list[str], classes: list[str], *, retired: bool = False) -> dict:
    return {"system_id": system_id, "data_categories": categories, "retention_classes": classes,
            "retired_at": "2026-01-01" if retired else None}


def test_model_photos_go_but_what_treatment_keeps_stays_cited():
    plan = after_withdrawal("model_photos", in_force=set())
    assert plan is not None
    assert plan.categories == ("photos",) and plan.classes == ("marketing",)
    assert plan.trigger == "consent_withdrawal" and plan.rule == "Clinic policy: until consent is withdrawn"
    assert {k.category for k in plan.kept} == {"name", "contact"}
    assert all(k.because == "treatment" and "Medical Service Act" in k.citation for k in plan.kept)


def test_a_class_another_consent_still_uses_is_kept():
    plan = after_withdrawal("marketing_sms", in_force={"marketing_email"})
    assert plan is not None and plan.categories == ("mobile_phone",) and plan.classes == ()
    assert Kept("marketing_email", "Clinic policy: until consent is withdrawn", retention_class="marketing") in plan.kept


def test_membership_is_its_own_trigger():
    plan = after_withdrawal("membership", in_force=set())
    assert plan is not None and plan.trigger == "membership_withdrawal" and plan.classes == ("membership",)
    assert set(plan.categories) == {"login_id", "password"}  # name, address, contact: the medical record's too


def test_nothing_goes_when_a_law_keeps_it_for_a_period_or_consent_was_given_again():
    assert after_withdrawal("cookies_analytics", in_force=set()) is None  # access logs: 3 months by law
    assert after_withdrawal("sensitive_health", in_force=set()) is None  # the medical record's 10 years
    assert after_withdrawal("model_photos", in_force={"model_photos"}) is None  # granted again since
    assert after_withdrawal("no_such_purpose", in_force=set()) is None


def test_every_system_in_service_holding_the_class_or_a_category_is_told_and_keeps_its_legal_classes():
    plan = after_withdrawal("model_photos", in_force=set())
    assert plan is not None
    told = holders(plan, [
        _system("studio", ["photos"], ["marketing"]),
        _system("emr", ["name", "photos"], ["medical_record", "marketing"]),
        _system("crm", ["email"], ["marketing"]),
        _system("pharmacy", ["prescriptions"], ["prescription"]),
        _system("old-studio", ["photos"], ["marketing"], retired=True),
    ])
    assert [(h.system_id, h.retain_classes) for h in told] == [
        ("studio", ()), ("emr", ("medical_record",)), ("crm", ())]
