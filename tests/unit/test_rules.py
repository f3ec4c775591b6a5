"""The rules of law in shared/rules, as pure functions: milliseconds each, no server."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from shared.events import Jurisdiction
from shared.rules import ages, calendar, clinic, deadlines, grounds, notices, purposes, retention

SEOUL = ZoneInfo("Asia/Seoul")


# --- ages --------------------------------------------------------------------------------------

def test_age_is_counted_in_full_years_on_the_day():
    assert ages.age_on(date(2012, 5, 5), date(2026, 5, 4)) == 13
    assert ages.age_on(date(2012, 5, 5), date(2026, 5, 5)) == 14
    # Born on 29 February: a year older on 1 March of a common year.
    assert ages.age_on(date(2012, 2, 29), date(2026, 2, 28)) == 13
    assert ages.age_on(date(2012, 2, 29), date(2026, 3, 1)) == 14


@pytest.mark.parametrize(("jurisdiction", "age", "requirement"), [
    ("KR", 13, "representative"), ("KR", 14, "self"),
    ("VN", 6, "representative"), ("VN", 7, "joint"), ("VN", 15, "joint"), ("VN", 16, "self"),
    ("EU", 15, "representative"), ("EU", 16, "self"),
])
def test_who_must_consent_follows_the_jurisdictions_ages(jurisdiction, age, requirement):
    assert ages.age_rule(jurisdiction, age).requirement == requirement


def test_the_age_rules_explain_themselves_with_their_own_numbers():
    assert ages.age_rule("KR", 13).explanation == (
        "under 14 in Korea, consent must come from a legal representative (PIPA 22-2)")
    assert ages.age_rule("VN", 6).explanation == "under 7 in Vietnam, consent must come from a legal representative"
    assert ages.age_rule("VN", 9).explanation == (
        "aged 7 to 15 in Vietnam, both the child and a legal representative must consent")
    assert "under 16 in the EU" in ages.age_rule("EU", 10).explanation


def test_a_minor_cannot_act_alone_below_the_age_of_consent():
    today = date(2026, 12, 4)
    assert ages.MINOR_BELOW == {"KR": 14, "VN": 16, "EU": 16}
    assert ages.is_minor("KR", date(2013, 12, 5), today)
    assert not ages.is_minor("KR", date(2012, 12, 4), today)
    assert not ages.is_minor("KR", None, today)
    assert ages.is_minor("VN", date(2011, 1, 1), today)


# --- calendar ----------------------------------------------------------------------------------

def test_a_month_from_the_31st_is_the_last_day_of_a_shorter_month():
    assert calendar.add_months(date(2026, 1, 31), 1) == date(2026, 2, 28)
    assert calendar.add_months(date(2028, 1, 31), 1) == date(2028, 2, 29)
    assert calendar.add_months(date(2026, 11, 30), 3) == date(2027, 2, 28)
    assert calendar.add_months(date(2024, 2, 29), years=10) == date(2034, 2, 28)
    moment = datetime(2026, 10, 31, 9, 30, tzinfo=SEOUL)
    assert calendar.add_months(moment, 1) == datetime(2026, 11, 30, 9, 30, tzinfo=SEOUL)


def test_working_days_skip_weekends_and_holidays():
    friday = datetime(2026, 12, 4, 10, tzinfo=SEOUL)
    assert calendar.add_working_days(friday, 2, frozenset()).date() == date(2026, 12, 8)
    assert calendar.add_working_days(friday, 2, frozenset({date(2026, 12, 7)})).date() == date(2026, 12, 9)


# --- deadlines ---------------------------------------------------------------------------------

def test_korea_answers_within_ten_local_days_extended_once_by_ten():
    received = datetime(2026, 12, 4, 16, 0, tzinfo=UTC)  # 5 December 01:00 in Seoul
    due = deadlines.deadlines("KR", received, SEOUL, processor_involved=False)
    assert due.due_at == datetime(2026, 12, 15, 23, 59, 59, tzinfo=SEOUL)
    assert due.acknowledge_by is None
    assert due.extension == "10 days"
    assert due.legal_basis == "PIPA Enforcement Decree arts. 41-44: within 10 days of receipt"
    assert deadlines.extend("KR", due.due_at) == datetime(2026, 12, 25, 23, 59, 59, tzinfo=SEOUL)


def test_vietnam_acknowledges_in_two_working_days_and_allows_more_with_a_processor():
    received = datetime(2026, 12, 4, 10, tzinfo=SEOUL)  # a Friday
    alone = deadlines.deadlines("VN", received, SEOUL, processor_involved=False)
    helped = deadlines.deadlines("VN", received, SEOUL, processor_involved=True)
    assert alone.due_at.date() == date(2026, 12, 19)
    assert helped.due_at.date() == date(2026, 12, 24)
    assert alone.acknowledge_by == datetime(2026, 12, 8, 23, 59, 59, tzinfo=SEOUL)
    assert helped.legal_basis == ("Vietnam PDPL / Decree 13: acknowledged within 2 working days, "
                                  "completed within 20 days")
    assert alone.extension == "15 days"


def test_the_eu_answers_within_a_calendar_month_extended_by_two():
    received = datetime(2027, 1, 31, 12, tzinfo=SEOUL)
    due = deadlines.deadlines("EU", received, SEOUL, processor_involved=False)
    assert due.due_at == datetime(2027, 2, 28, 23, 59, 59, tzinfo=SEOUL)
    assert due.legal_basis == "GDPR art. 12(3): within one month of receipt"
    assert due.extension == "2 months"
    assert deadlines.extend("EU", due.due_at) == datetime(2027, 4, 28, 23, 59, 59, tzinfo=SEOUL)


def test_another_law_of_the_person_only_shortens_the_deadline_or_adds_a_right():
    received = datetime(2026, 12, 4, 10, tzinfo=SEOUL)  # a Friday
    korea = deadlines.deadlines("KR", received, SEOUL, processor_involved=True)
    for residence in ("VN", "EU"):
        both = deadlines.deadlines(deadlines.applicable_laws("KR", residence), received, SEOUL, processor_involved=True)
        assert both.due_at == korea.due_at  # never the 20 days or the month the person's law allows
        assert both.extension == "10 days"
        assert deadlines.extend(deadlines.applicable_laws("KR", residence), both.due_at) == \
            deadlines.extend("KR", korea.due_at)
    vietnamese = deadlines.deadlines(("KR", "VN"), received, SEOUL, processor_involved=False)
    assert vietnamese.acknowledge_by == datetime(2026, 12, 8, 23, 59, 59, tzinfo=SEOUL)  # the right Vietnam adds
    assert vietnamese.legal_basis == (
        "the strictest of the clinic's law (Korea) and the person's (Vietnam): within 10 days of receipt "
        "(PIPA Enforcement Decree arts. 41-44); acknowledged within 2 working days (Vietnam PDPL / Decree 13)")
    # A clinic under a longer law, for a person under a shorter one: the shorter wins.
    eu_clinic = deadlines.deadlines(("EU", "KR"), datetime(2027, 1, 31, 12, tzinfo=SEOUL), SEOUL,
                                    processor_involved=False)
    assert eu_clinic.due_at.date() == date(2027, 2, 10) and eu_clinic.extension == "10 days"
    assert deadlines.applicable_laws("KR", "KR") == deadlines.applicable_laws("KR", None) == ("KR",)


def test_every_legal_ground_and_remedy_is_written_in_korean_english_and_vietnamese():
    catalogue = grounds.CATALOGUE
    for ground in (*catalogue.refusals, *catalogue.extensions):
        assert set(ground.texts) == set(grounds.LANGUAGES) and all(t.strip() for t in ground.texts.values()), ground.id
    for remedy in catalogue.remedies:
        assert set(remedy.names) == set(grounds.LANGUAGES), remedy.id
    assert set(grounds.LAWS) == set(Jurisdiction.__args__)  # type: ignore[attr-defined]
    assert set(deadlines.ANSWER_TIMES) == set(grounds.LAWS)
    # Korea's refusals follow PIPA 35(4), 36(1) and 37(2); its extensions Decree 41(4); its remedies the seed policy's, with today's contacts (the breach drafts give the same).
    assert {g.citation.split(" ")[2][:2] for g in grounds.refusal_grounds("KR", "access")} == {"35"}
    assert {g.id for g in grounds.refusal_grounds("KR", "erasure")} == {"kr-erasure-kept-by-law"}
    assert all("41(4)" in g.citation for g in grounds.extension_grounds("KR"))
    assert [(r.id, r.phone) for r in grounds.remedies(["KR"])] == [
        ("kr-mediation", "1833-6972"), ("kr-kisa", "118"), ("kr-prosecutors", "1301"),
        ("kr-police", "182")]
    assert grounds.refusal_grounds("KR", "complaint") == []  # a complaint is answered, not refused
    assert "objection" in grounds.how_to_object("extension", "en")


def test_a_catalogue_missing_a_language_is_refused(tmp_path):
    text = grounds.GROUNDS_FILE.read_text(encoding="utf-8").replace(
        "      vi: Luật cấm hoặc hạn chế việc xem thông tin này\n", "", 1)
    broken = tmp_path / "grounds.yaml"
    broken.write_text(text, encoding="utf-8")
    with pytest.raises(ValueError, match="kr-access-law: no text in vi"):
        grounds.Catalogue.load(broken)


# --- notices -----------------------------------------------------------------------------------

def test_night_is_from_nine_in_the_evening_to_eight_in_the_morning_clinic_time():
    assert notices.at_night(datetime(2026, 12, 4, 21, 0, tzinfo=SEOUL), SEOUL)
    assert notices.at_night(datetime(2026, 12, 4, 7, 59, tzinfo=SEOUL), SEOUL)
    assert not notices.at_night(datetime(2026, 12, 4, 8, 0, tzinfo=SEOUL), SEOUL)
    # 12:30 UTC is 21:30 in Seoul.
    assert notices.at_night(datetime(2026, 12, 4, 12, 30, tzinfo=UTC), SEOUL)
    assert notices.POLICY_NOTICE_PERIOD == timedelta(days=7)


# --- clinic ------------------------------------------------------------------------------------

def test_the_clinics_day_is_its_local_day():
    assert clinic.local_day(datetime(2026, 12, 4, 15, 30, tzinfo=UTC), SEOUL) == date(2026, 12, 5)
    with pytest.raises(ValueError, match="Mars/Olympus"):
        clinic.zone("Mars/Olympus")


# --- purposes and retention --------------------------------------------------------------------

def test_the_catalogue_names_every_purpose_in_three_languages_with_a_known_retention_class():
    for purpose in purposes.PURPOSES.values():
        assert set(purpose.names) >= {"ko", "en", "vi"}
        assert purpose.retention_class in retention.RETENTION_CLASSES
    assert purposes.MEMBERSHIP_PURPOSES == (
        "membership", "marketing_email", "marketing_sms", "marketing_night", "cookies_analytics")
    assert "membership" not in purposes.WITHDRAWABLE_PURPOSES
    assert "treatment" not in purposes.WITHDRAWABLE_PURPOSES  # not consent-based: nothing to withdraw


def test_a_catalogue_with_an_unknown_night_purpose_is_refused(tmp_path):
    path = tmp_path / "purposes.yaml"
    path.write_text(purposes.DEFAULT_PURPOSES_FILE.read_text(encoding="utf-8").replace(
        "night_purpose: marketing_night", "night_purpose: marketing_moon", 1), encoding="utf-8")
    with pytest.raises(ValueError, match="marketing_moon"):
        purposes.PurposeCatalogue.load(path)


def test_retention_periods_are_calendar_years_and_months_from_the_records_day():
    classes = retention.RETENTION_CLASSES
    assert classes["medical_record"].ends_on(date(2024, 3, 15)) == date(2034, 3, 15)
    assert classes["medical_record"].ends_on(date(2024, 2, 29)) == date(2034, 2, 28)
    assert classes["identity_verification"].ends_on(date(2026, 8, 31)) == date(2027, 2, 28)
    assert classes["membership"].ends_on(date(2026, 1, 1)) is None
