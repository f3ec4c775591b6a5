"""Each rule of law is defined once, in shared/rules, and every consumer takes it from there.

Two checks: the modules that apply a rule hold the very object shared/rules defines (not an equal
copy), and no source file outside shared/rules defines one again.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from services.consent import domain as consent_domain
from services.consent.settings import ConsentSettings
from services.dsr import domain as dsr_domain
from services.dsr.portal import messages as portal_messages
from services.dsr.settings import DsrSettings
from services.notifier.settings import NotifierSettings
from shared.rules import ages, calendar, clinic, deadlines, notices, purposes, retention
from shared.settings import ServiceSettings

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(("consumer", "name", "home"), [
    (consent_domain, "age_on", ages),
    (consent_domain, "age_rule", ages),
    (consent_domain, "at_night", notices),
    (consent_domain, "Purpose", purposes),
    (consent_domain, "PurposeCatalogue", purposes),
    (dsr_domain, "MINOR_BELOW", ages),
    (dsr_domain, "is_minor", ages),
    (dsr_domain, "deadlines", deadlines),
    (dsr_domain, "extend", deadlines),
    (dsr_domain, "add_working_days", calendar),
    (dsr_domain, "MEMBERSHIP_PURPOSES", purposes),
    (dsr_domain, "RETENTION_CLASSES", retention),
])
def test_consumers_hold_the_rule_itself(consumer, name, home):
    assert getattr(consumer, name) is getattr(home, name), f"{consumer.__name__}.{name} is a copy"


def test_the_portal_offers_the_catalogues_purposes_and_states_the_rules_values():
    assert portal_messages.PURPOSES is purposes.WITHDRAWABLE_PURPOSES
    values = portal_messages.RULE_VALUES
    assert values["kr_days"] == deadlines.ANSWER_TIMES["KR"].answer.days
    assert values["vn_days_processor"] == deadlines.ANSWER_TIMES["VN"].answer_with_processor.days
    assert values["eu_months"] == deadlines.ANSWER_TIMES["EU"].answer.months
    assert values["kr_minor_below"] == ages.MINOR_BELOW["KR"]
    text = portal_messages.t("en", "deadline.KR")
    assert f"within {values['kr_days']} days" in text and "{" not in text


def test_one_clinic_time_zone_for_every_service():
    for settings in (ConsentSettings, DsrSettings, NotifierSettings):
        # Declared once, on the shared base; no service redeclares it under its own prefix.
        assert "timezone" not in settings.__annotations__
        assert settings.model_fields["timezone"] is not None
    assert ServiceSettings.model_fields["timezone"].default == clinic.DEFAULT_TIMEZONE


def test_settings_default_to_the_rules():
    assert ConsentSettings.model_fields["policy_notice_period"].default == notices.POLICY_NOTICE_PERIOD
    assert ConsentSettings.model_fields["purposes_file"].default == purposes.DEFAULT_PURPOSES_FILE


#: What re-defining a rule outside shared/rules looks like.
COPIES = {
    "an age computation": re.compile(r"def\s+age_on\b|\(day\.month, day\.day\) <"),
    "ages of consent": re.compile(r"\bMINOR_BELOW\s*[:=]|\bage\s*<\s*1[46]\b"),
    "month arithmetic": re.compile(r"calendar\.monthrange|def\s+_?add_months\b"),
    "working days": re.compile(r"def\s+add_working_days\b"),
    "night-time hours": re.compile(r"NIGHT_START\s*,|\bhour\s*<\s*8\b|\b21\s*,\s*8\b"),
    "a time zone name": re.compile(r"[\"']Asia/Seoul[\"']"),
    "the notice period": re.compile(r"timedelta\(days=7\)"),
    "deadline days": re.compile(r"timedelta\(days=(10|15|20)\)"),
    "membership purposes": re.compile(r"MEMBERSHIP_PURPOSES\s*="),
    "a SHA-256 helper": re.compile(r"def\s+\w*(sha256|token_hash)\w*\s*\("),
}


def _sources() -> list[Path]:
    files = []
    for top in ("services", "shared"):
        files += [p for p in (ROOT / top).rglob("*.py")
                  if "rules" not in p.relative_to(ROOT).parts and "migrations" not in p.parts]
    return files


def test_no_rule_is_defined_again_outside_shared_rules():
    found = []
    allowed = {ROOT / "shared" / "digests.py"}  # the one SHA-256 helper
    for path in _sources():
        if path in allowed:
            continue
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
            for what, pattern in COPIES.items():
                if pattern.search(line):
                    found.append(f"{path.relative_to(ROOT)}:{number}: {what}: {line.strip()}")
    assert not found, "rules defined outside shared/rules:\n" + "\n".join(found)
