"""Retention classes: how long the law (or the clinic's policy) keeps each kind of record.

Medical Service Act Enforcement Rule 15 and the clinics' own policies (see the README). ``None``
means "until an event" (withdrawal of membership or of consent), not a fixed period.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta


@dataclass(frozen=True)
class RetentionClass:
    id: str
    period: timedelta | None
    until: str | None
    citation: str


def _years(n: int) -> timedelta:
    return timedelta(days=365 * n + n // 4)


RETENTION_CLASSES: dict[str, RetentionClass] = {
    c.id: c
    for c in (
        RetentionClass("medical_record", _years(10), None, "Medical Service Act Art. 22, Enforcement Rule 15 (10 years)"),
        RetentionClass("surgery_record", _years(10), None, "Medical Service Act Art. 22, Enforcement Rule 15 (10 years)"),
        RetentionClass("patient_roster", _years(5), None, "Medical Service Act Enforcement Rule 15 (5 years)"),
        RetentionClass("test_findings", _years(5), None, "Medical Service Act Enforcement Rule 15 (5 years)"),
        RetentionClass("radiology", _years(5), None, "Medical Service Act Enforcement Rule 15 (5 years)"),
        RetentionClass("nursing_record", _years(5), None, "Medical Service Act Enforcement Rule 15 (5 years)"),
        RetentionClass("prescription", _years(2), None, "Medical Service Act Enforcement Rule 15 (2 years)"),
        RetentionClass("certificate_copy", _years(3), None, "Medical Service Act Enforcement Rule 15 (3 years)"),
        RetentionClass("complaint_record", _years(3), None, "Act on Consumer Protection in Electronic Commerce, Art. 6 (3 years)"),
        RetentionClass("credit_information", _years(3), None, "Credit Information Use and Protection Act (3 years)"),
        RetentionClass("identity_verification", timedelta(days=183), None, "Clinic policy: identity-verification records (6 months)"),
        RetentionClass("access_log", timedelta(days=92), None, "Protection of Communications Secrets Act Art. 15-2 (3 months)"),
        RetentionClass("membership", None, "membership_withdrawal", "Clinic policy section 3: until membership is withdrawn"),
        RetentionClass("marketing", None, "consent_withdrawal", "Clinic policy: until consent is withdrawn"),
    )
}
