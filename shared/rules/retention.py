"""Retention classes: how long the law (or the clinic's policy) keeps each kind of record.

Medical Service Act Enforcement Rule 15 and the clinics' own policies (see the README). Periods
are calendar years and months, counted from the record's own date: a record of 2024-03-15 kept
10 years may go on 2034-03-15, not a day earlier. A class without a period lasts "until an
event" (withdrawal of membership or of consent).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from shared.rules.calendar import add_months


@dataclass(frozen=True)
class RetentionClass:
    id: str
    years: int
    months: int
    until: str | None
    citation: str
    #: A correction is written beside the record, which is never overwritten (Medical Service
    #: Act Art. 22(2)): a rectification amends it.
    amend_only: bool = False

    @property
    def fixed(self) -> bool:
        """Kept for a fixed legal period (as opposed to until an event)."""
        return bool(self.years or self.months)

    def ends_at(self, moment: datetime) -> datetime | None:
        """The moment a record made at ``moment`` may be destroyed; None when it lasts until an event."""
        return add_months(moment, self.months, years=self.years) if self.fixed else None

    def ends_on(self, start: date) -> date | None:
        """The first day the record may be destroyed; None when it lasts until an event."""
        if not self.fixed:
            return None
        return add_months(start, self.months, years=self.years)


def _c(id: str, citation: str, *, years: int = 0, months: int = 0, until: str | None = None,
       amend_only: bool = False) -> RetentionClass:
    return RetentionClass(id, years, months, until, citation, amend_only)


RETENTION_CLASSES: dict[str, RetentionClass] = {
    c.id: c
    for c in (
        _c("medical_record", "Medical Service Act Art. 22, Enforcement Rule 15 (10 years)", years=10, amend_only=True),
        _c("surgery_record", "Medical Service Act Art. 22, Enforcement Rule 15 (10 years)", years=10, amend_only=True),
        _c("patient_roster", "Medical Service Act Enforcement Rule 15 (5 years)", years=5),
        _c("test_findings", "Medical Service Act Enforcement Rule 15 (5 years)", years=5, amend_only=True),
        _c("radiology", "Medical Service Act Enforcement Rule 15 (5 years)", years=5, amend_only=True),
        _c("nursing_record", "Medical Service Act Enforcement Rule 15 (5 years)", years=5, amend_only=True),
        _c("prescription", "Medical Service Act Enforcement Rule 15 (2 years)", years=2),
        _c("certificate_copy", "Medical Service Act Enforcement Rule 15 (3 years)", years=3),
        _c("complaint_record", "Act on Consumer Protection in Electronic Commerce, Art. 6 (3 years)", years=3),
        _c("credit_information", "Credit Information Use and Protection Act (3 years)", years=3),
        _c("identity_verification", "Clinic policy: identity-verification records (6 months)", months=6),
        _c("access_log", "Protection of Communications Secrets Act Art. 15-2 (3 months)", months=3),
        _c("membership", "Clinic policy section 3: until membership is withdrawn", until="membership_withdrawal"),
        _c("marketing", "Clinic policy: until consent is withdrawn", until="consent_withdrawal"),
    )
}

#: A data-subject request's own record is a complaint record: its personal data is destroyed when
#: this class's period after the request closed has passed.
REQUEST_RECORD_CLASS = RETENTION_CLASSES["complaint_record"]
