"""The breach register's rules (PIPA Art. 34, Decree Arts. 39-40) and its texts, without a database:
the 72-hour clock and its reminders, when the regulator must be told, and a draft in every language."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime, timedelta
from typing import get_args
from zoneinfo import ZoneInfo

import pytest

from services.dsr.breaches import drafts, errors, messages
from services.dsr.breaches.model import Breach, assess
from shared.events import BreachEvent
from shared.rules import breaches as rules

FOUND = datetime(2026, 3, 4, 1, 30, tzinfo=UTC)
SEOUL = ZoneInfo("Asia/Seoul")
CONTACTS = drafts.Contacts("ST Plastic Surgery Clinic", "Kim Sang Tae", "(02) 517-0015", "원무과 (02) 517-0016")


def breach(**changes) -> Breach:
    values = dict(
        breach_id=uuid.uuid4(), reference="BR-2026-Q4T7W", status="open", key_ref="breach:x", personal=b"",
        occurred_at=None, discovered_at=FOUND, notify_by=rules.notify_by(FOUND), subject_count=None,
        data_categories=["name", "contact"], sensitive=False, unique_identifiers=False, cause="unknown", measures=[],
        regulator_required=False, regulator_reasons=[], people_told=0, people_told_at=None,
        regulator_reported_at=None, recorded_by="staff:lee", recorded_at=FOUND, updated_at=FOUND, outcome=None,
        closed_by=None, closed_at=None)
    values.update(changes)
    return Breach(**values)


def test_people_and_the_regulator_are_told_within_72_hours_of_discovery():
    assert rules.notify_by(FOUND) == FOUND + timedelta(hours=72)
    assert rules.clock_notice(FOUND, FOUND + timedelta(hours=23, minutes=59)) is None
    assert rules.clock_notice(FOUND, FOUND + timedelta(hours=24)) == 24
    assert rules.clock_notice(FOUND, FOUND + timedelta(hours=47)) == 24
    assert rules.clock_notice(FOUND, FOUND + timedelta(hours=48)) == 48
    assert rules.clock_notice(FOUND, FOUND + timedelta(hours=72)) == 72
    assert rules.clock_notice(FOUND, FOUND + timedelta(days=30)) == 72


@pytest.mark.parametrize(("people", "sensitive", "unique", "external", "reasons"), [
    (999, False, False, False, []),
    (1000, False, False, False, ["people"]),
    (None, False, False, False, []),
    (1, True, False, False, ["sensitive"]),
    (1, False, True, False, ["unique_identifiers"]),
    (1, False, False, True, ["external_access"]),
    (20_000, True, True, True, ["people", "sensitive", "unique_identifiers", "external_access"]),
])
def test_the_regulator_must_be_told_above_any_threshold(people, sensitive, unique, external, reasons):
    assert rules.regulator_reasons(people=people, sensitive=sensitive, unique_identifiers=unique,
                                   external_access=external) == reasons


def test_the_data_leaked_decides_sensitive_and_unique_and_a_flag_cannot_undo_it():
    found = assess(categories=["name", "health"], sensitive=None, unique_identifiers=None, cause="misdelivery",
                   subject_count=3)
    assert (found.sensitive, found.unique_identifiers, found.reasons) == (True, False, ["sensitive"])
    found = assess(categories=["other"], sensitive=True, unique_identifiers=None, cause="external_access",
                   subject_count=None)
    assert found.reasons == ["sensitive", "external_access"] and found.regulator_required
    with pytest.raises(errors.ImpliedFlag) as refused:
        assess(categories=["resident_registration_number"], sensitive=None, unique_identifiers=False,
               cause="unknown", subject_count=1)
    assert refused.value.body()["errors"][0]["field"] == "unique_identifiers"
    for code in ("resident_registration_number", "passport_number", "driver_license_number",
                 "alien_registration_number"):
        assert rules.DATA_CATEGORIES[code].unique_identifier  # PIPA 24, Decree 19
    assert rules.DATA_CATEGORIES["health"].sensitive  # PIPA 23


def test_who_is_still_to_be_told_and_which_reminder_is_due():
    open_ = breach(subject_count=1200, regulator_required=True, regulator_reasons=["people"])
    assert open_.outstanding() == ["people", "regulator"] and open_.notice_due(FOUND + timedelta(hours=50)) == 48
    some = breach(subject_count=1200, people_told=700, people_told_at=FOUND)
    assert some.outstanding() == ["people"]
    everyone = breach(subject_count=1200, people_told=1200, people_told_at=FOUND)
    assert everyone.outstanding() == [] and everyone.notice_due(FOUND + timedelta(days=4)) is None
    unknown = breach(people_told=5, people_told_at=FOUND)  # the number unknown: one mailing counts
    assert unknown.outstanding() == []
    assert breach(status="closed", closed_at=FOUND).outstanding() == []


def test_every_code_of_the_rules_has_its_words():
    """(The catalogue's completeness in every language is tests/unit/test_catalogue.py's.)"""
    for code in rules.CAUSES:
        assert messages.has(f"cause.{code}") and messages.has(f"how.{code}")
    for code in rules.MEASURES:
        assert messages.has(f"measure.{code}") and messages.has(f"m.{code}")
    for code in (*rules.CHANNELS, *(f"{r}" for r in rules.REGULATORS)):
        assert messages.has(f"channel.{code}") or messages.has(f"regulator.{code}")
    for code in rules.REGULATOR_REASONS:
        assert messages.has(f"reason.{code}")
    for category in rules.DATA_CATEGORIES.values():
        assert set(category.names) == set(messages.LANGUAGES) and all(category.names.values())


def test_the_events_state_the_rules_codes():
    reasons = BreachEvent.model_fields["regulator_reasons"].annotation
    assert set(get_args(get_args(reasons)[0])) == set(rules.REGULATOR_REASONS)


@pytest.mark.parametrize("lang", messages.LANGUAGES)
def test_a_draft_notice_has_the_five_items_the_law_asks_for_and_no_hole(lang):
    leak = breach(occurred_at=FOUND - timedelta(days=2), subject_count=1240, cause="lost_or_stolen",
                  data_categories=["name", "payment", "health"], sensitive=True, measures=["data_removed"])
    notice = drafts.notice(leak, lang, CONTACTS, SEOUL)
    assert [s.heading[:2] for s in notice.sections] == ["1.", "2.", "3.", "4.", "5."]
    assert "{" not in notice.text and "}" not in notice.text
    assert "ST Plastic Surgery Clinic" in notice.text and "(02) 517-0015" in notice.text
    assert "원무과 (02) 517-0016" in notice.text and "Kim Sang Tae" in notice.text
    assert messages.t(lang, "can.financial") in notice.text and messages.t(lang, "can.sensitive") in notice.text
    assert messages.t(lang, "can.credential") not in notice.text  # no password leaked
    assert messages.t(lang, "how.lost_or_stolen") in notice.text
    assert messages.t(lang, "measure.data_removed") in notice.text
    assert messages.when(lang, FOUND, SEOUL) in notice.text
    report = drafts.report(leak, {"description": "x"}, [], lang, CONTACTS, SEOUL)
    assert len(report.fields) == 13 and "{" not in report.text
    assert re.search(r"1[,.]240", {f.name: f.value for f in report.fields}["people"])
