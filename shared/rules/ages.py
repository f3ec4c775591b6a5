"""Who may decide alone, by age and jurisdiction: consent, and filing a request.

- Korea: under 14, a legal representative consents and asks for the child (PIPA Art. 22-2).
- Vietnam: under 7 the representative; from 7 to 15 both the child and the representative
  (Decree 13/2023/ND-CP Art. 20; PDPL).
- European Union: under 16, the holder of parental responsibility (GDPR Art. 8(1)).

Ages are full years (the Korean legal "만 나이", as everywhere else) on the clinic's local day.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Literal

Requirement = Literal["self", "representative", "joint"]


@dataclass(frozen=True)
class AgeOfConsent:
    """A jurisdiction's ages: from ``alone_from`` a person decides alone; from ``joint_from`` (where
    set) up to then, the child and the representative decide together; below, the representative."""

    jurisdiction: str
    alone_from: int
    joint_from: int | None
    citation: str
    #: Why a representative must act, for a person to read ({below}: ``alone_from``).
    representative_text: str
    #: Why both must act ({joint_from}, {last}: the youngest and oldest ages concerned).
    joint_text: str = ""


AGES: dict[str, AgeOfConsent] = {
    "KR": AgeOfConsent(
        "KR", alone_from=14, joint_from=None, citation="PIPA Art. 22-2",
        representative_text="under {below} in Korea, consent must come from a legal representative (PIPA 22-2)",
    ),
    "VN": AgeOfConsent(
        "VN", alone_from=16, joint_from=7, citation="Decree 13/2023/ND-CP Art. 20",
        representative_text="under {joint_from} in Vietnam, consent must come from a legal representative",
        joint_text="aged {joint_from} to {last} in Vietnam, both the child and a legal representative must consent",
    ),
    "EU": AgeOfConsent(
        "EU", alone_from=16, joint_from=None, citation="GDPR Art. 8(1)",
        representative_text=("under {below} in the EU, consent must come from the holder of parental "
                             "responsibility (GDPR Art. 8)"),
    ),
}

#: The age below which a person may not act alone, per jurisdiction: a child's own request waits
#: for a legal representative, and an agent may not file for them.
MINOR_BELOW: dict[str, int] = {j: rule.alone_from for j, rule in AGES.items()}


def age_on(birth_date: date, day: date) -> int:
    """Full years on ``day``."""
    return day.year - birth_date.year - ((day.month, day.day) < (birth_date.month, birth_date.day))


def is_minor(jurisdiction: str, birth_date: date | None, day: date) -> bool:
    """Whether a person born on ``birth_date`` may not yet act alone on ``day``."""
    return birth_date is not None and age_on(birth_date, day) < MINOR_BELOW[jurisdiction]


@dataclass(frozen=True)
class AgeRule:
    requirement: Requirement
    explanation: str


def age_rule(jurisdiction: str, age: int) -> AgeRule:
    """Who must grant consent for a person of ``age`` under ``jurisdiction``'s rule."""
    rule = AGES.get(jurisdiction)
    if rule is None or age >= rule.alone_from:
        return AgeRule("self", "an adult for this purpose")
    values = {"below": rule.alone_from, "joint_from": rule.joint_from, "last": rule.alone_from - 1}
    if rule.joint_from is not None and age >= rule.joint_from:
        return AgeRule("joint", rule.joint_text.format(**values))
    return AgeRule("representative", rule.representative_text.format(**values))
