"""A leak of personal information: the 72-hour clock, and who must be told (PIPA Art. 34;
Enforcement Decree Arts. 39-40).

- Once the clinic learns of a leak, it tells the people affected without delay, within 72 hours:
  the items leaked, when and how it happened, what they can do to reduce the harm, what the clinic
  is doing about it, and where to report harm or ask (Art. 34(1), Decree Art. 39).
- It reports to the regulator (the Personal Information Protection Commission or KISA) within 72
  hours when 1,000 or more people are affected, when sensitive or unique identifying information
  leaked, or when the leak came from unlawful access from outside (Art. 34(3), Decree Art. 40).

The clock starts when the leak was discovered (``discovered_at``), whatever the time of the leak
itself. The privacy manager is reminded at 24 and 48 hours, and told when the 72 hours are up,
while someone is still to be told.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from shared import i18n

CITATION = "PIPA Art. 34; Enforcement Decree Arts. 39-40"
#: The law these rules are of: the people are pointed to its remedies (shared/rules/grounds.yaml).
LAW = "KR"

#: People and, above the thresholds, the regulator are told within this time of discovery.
NOTIFY_WITHIN = timedelta(hours=72)
#: The privacy manager's reminders, in hours after discovery, highest first: a breach first seen
#: past 48 hours is told "48 hours", not "24" as well. The last one is the deadline itself.
CLOCK_NOTICES = (72, 48, 24)
#: From this many people affected, the regulator must be told.
REGULATOR_MIN_PEOPLE = 1000

#: The regulators a report may go to (Decree Art. 40): the Commission, or KISA for it.
REGULATORS = ("PIPC", "KISA")


@dataclass(frozen=True)
class DataCategory:
    """A kind of personal information that may leak, and what its leaking means for the report."""

    id: str
    #: Sensitive information (PIPA Art. 23: health, genetic, biometric data, and the like).
    sensitive: bool = False
    #: Unique identifying information (PIPA Art. 24, Decree Art. 19: resident registration,
    #: passport, driver's licence and alien registration numbers).
    unique_identifier: bool = False
    #: A log-in secret: the people affected should change it.
    credential: bool = False
    #: Payment data: the people affected should watch their card and bank accounts.
    financial: bool = False

    @property
    def names(self) -> dict[str, str]:
        """Its words in each language, from the catalogue (``category.<id>``)."""
        return {lang: i18n.gettext(lang, f"category.{self.id}") for lang in i18n.LANGUAGES}


def _c(id: str, **flags: bool) -> DataCategory:
    return DataCategory(id, **flags)


#: What a clinic may leak (its words: the catalogue's ``category.*``).
DATA_CATEGORIES: dict[str, DataCategory] = {c.id: c for c in (
    _c("name"),
    _c("contact"),
    _c("email"),
    _c("address"),
    _c("birth_date"),
    _c("account", credential=True),
    _c("resident_registration_number", unique_identifier=True),
    _c("passport_number", unique_identifier=True),
    _c("driver_license_number", unique_identifier=True),
    _c("alien_registration_number", unique_identifier=True),
    _c("health", sensitive=True),
    _c("photos", sensitive=True),
    _c("biometric", sensitive=True),
    _c("payment", financial=True),
    _c("visit_records"),
    _c("other"),
)}

#: How a leak came about. Only the first is "unlawful access from outside" (hacking).
CAUSES = ("external_access", "insider", "misdelivery", "lost_or_stolen", "system_error", "processor", "other",
          "unknown")
EXTERNAL_ACCESS = "external_access"

#: What the clinic may have done about a leak (the notice says each in the people's language).
MEASURES = ("access_blocked", "vulnerability_fixed", "credentials_reset", "data_removed", "investigating",
            "authorities_informed", "processor_instructed", "monitoring", "staff_trained")

#: How people may be told (Decree Art. 39: in writing, by email, fax, phone, text message or the
#: like; where their contacts are unknown, a notice on the website).
CHANNELS = ("letter", "email", "sms", "phone", "fax", "in_person", "website")

#: Why the regulator must be told, in the order the Decree gives them.
REGULATOR_REASONS = ("people", "sensitive", "unique_identifiers", "external_access")


def notify_by(discovered_at: datetime) -> datetime:
    """When the people, and the regulator if it must be, must have been told."""
    return discovered_at + NOTIFY_WITHIN


def regulator_reasons(*, people: int | None, sensitive: bool, unique_identifiers: bool,
                      external_access: bool) -> list[str]:
    """Why the regulator must be told (empty: it need not be, on what is known now). An unknown
    number of people is no reason yet: the decision is made again when the number is known."""
    reasons = []
    if people is not None and people >= REGULATOR_MIN_PEOPLE:
        reasons.append("people")
    if sensitive:
        reasons.append("sensitive")
    if unique_identifiers:
        reasons.append("unique_identifiers")
    if external_access:
        reasons.append("external_access")
    return reasons


def clock_notice(discovered_at: datetime, now: datetime) -> int | None:
    """The reminder the clock has reached (72, 48, 24 hours), if any."""
    elapsed = now - discovered_at
    return next((hours for hours in CLOCK_NOTICES if elapsed >= timedelta(hours=hours)), None)


def first_notice_after() -> timedelta:
    """How long after discovery the first reminder comes (the scheduler looks only past it)."""
    return timedelta(hours=min(CLOCK_NOTICES))
