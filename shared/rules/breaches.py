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

from dataclasses import dataclass, field
from datetime import datetime, timedelta

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
    names: dict[str, str] = field(compare=False)
    #: Sensitive information (PIPA Art. 23: health, genetic, biometric data, and the like).
    sensitive: bool = False
    #: Unique identifying information (PIPA Art. 24, Decree Art. 19: resident registration,
    #: passport, driver's licence and alien registration numbers).
    unique_identifier: bool = False
    #: A log-in secret: the people affected should change it.
    credential: bool = False
    #: Payment data: the people affected should watch their card and bank accounts.
    financial: bool = False


def _c(id: str, ko: str, en: str, vi: str, **flags: bool) -> DataCategory:
    return DataCategory(id, {"ko": ko, "en": en, "vi": vi}, **flags)


#: What a clinic may leak, in the words each language uses.
DATA_CATEGORIES: dict[str, DataCategory] = {c.id: c for c in (
    _c("name", "성명", "name", "họ tên"),
    _c("contact", "연락처(전화번호)", "phone number", "số điện thoại"),
    _c("email", "이메일 주소", "email address", "địa chỉ email"),
    _c("address", "주소", "postal address", "địa chỉ"),
    _c("birth_date", "생년월일", "date of birth", "ngày sinh"),
    _c("account", "홈페이지 아이디와 비밀번호", "website user name and password", "tên đăng nhập và mật khẩu trang web",
       credential=True),
    _c("resident_registration_number", "주민등록번호", "resident registration number", "số đăng ký cư trú (Hàn Quốc)",
       unique_identifier=True),
    _c("passport_number", "여권번호", "passport number", "số hộ chiếu", unique_identifier=True),
    _c("driver_license_number", "운전면허번호", "driver's licence number", "số giấy phép lái xe",
       unique_identifier=True),
    _c("alien_registration_number", "외국인등록번호", "alien registration number", "số đăng ký người nước ngoài",
       unique_identifier=True),
    _c("health", "건강에 관한 정보(진료기록 등)", "health information (such as treatment records)",
       "thông tin sức khỏe (như hồ sơ khám chữa bệnh)", sensitive=True),
    _c("photos", "진료 전후 사진", "before-and-after photos", "ảnh trước và sau điều trị", sensitive=True),
    _c("biometric", "생체인식정보", "biometric data", "dữ liệu sinh trắc học", sensitive=True),
    _c("payment", "카드·계좌 정보", "card or bank account details", "thông tin thẻ hoặc tài khoản ngân hàng",
       financial=True),
    _c("visit_records", "접속기록(IP 주소 등)", "website access records (such as IP addresses)",
       "nhật ký truy cập trang web (như địa chỉ IP)"),
    _c("other", "그 밖의 정보", "other information", "thông tin khác"),
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
