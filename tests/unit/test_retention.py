"""Retention periods are calendar periods from the record's own date."""

from datetime import date

from shared.rules.retention import RETENTION_CLASSES


def test_periods_end_on_the_same_calendar_day():
    assert RETENTION_CLASSES["medical_record"].ends_on(date(2024, 3, 15)) == date(2034, 3, 15)
    assert RETENTION_CLASSES["prescription"].ends_on(date(2022, 9, 20)) == date(2024, 9, 20)
    assert RETENTION_CLASSES["access_log"].ends_on(date(2026, 11, 30)) == date(2027, 2, 28)
    assert RETENTION_CLASSES["identity_verification"].ends_on(date(2026, 8, 31)) == date(2027, 2, 28)
    assert RETENTION_CLASSES["radiology"].ends_on(date(2024, 2, 29)) == date(2029, 2, 28)


def test_classes_kept_until_an_event_have_no_end_date():
    assert RETENTION_CLASSES["membership"].ends_on(date(2024, 1, 1)) is None
    assert RETENTION_CLASSES["marketing"].until == "consent_withdrawal"


def test_medical_classes_are_amended_never_overwritten():
    from services.dsr.domain import AMEND_CLASSES

    assert {"medical_record", "surgery_record", "nursing_record", "test_findings", "radiology"} == AMEND_CLASSES
    assert not RETENTION_CLASSES["membership"].amend_only


def test_a_requests_record_is_a_complaint_record_kept_three_calendar_years():
    from datetime import UTC, datetime

    from shared.rules.retention import REQUEST_RECORD_CLASS

    assert REQUEST_RECORD_CLASS is RETENTION_CLASSES["complaint_record"]
    closed = datetime(2024, 2, 29, 3, 0, tzinfo=UTC)
    assert REQUEST_RECORD_CLASS.ends_at(closed) == datetime(2027, 2, 28, 3, 0, tzinfo=UTC)
