"""The purpose catalogue: what a clinic may use personal data for, each consented to separately
(PIPA Art. 22(1)), with its legal basis, retention class and names in ko/en/vi.

``purposes.yaml`` beside this module is the catalogue; every service and page reads it from here
(the consent service can be pointed at another file of the same shape, ``CONSENT_PURPOSES_FILE``).
"""

from __future__ import annotations

from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field

from shared import i18n
from shared.rules.retention import RETENTION_CLASSES

DEFAULT_PURPOSES_FILE = Path(__file__).with_name("purposes.yaml")
LANGUAGES = ("ko", "en", "vi")


class Purpose(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    legal_basis: str = Field(description="W3C DPV legal basis, e.g. dpv:Consent")
    dpv_purpose: str
    required: bool = Field(description="Required for the service it belongs to (refusing blocks it)")
    retention_class: str
    reconfirm_days: int | None = Field(default=None, description="Consent lapses unless re-confirmed")
    night_purpose: str | None = Field(default=None, description="Also needed for a send between 21:00 and 08:00")
    with_membership: bool = Field(
        default=False, description="Comes with website membership: withdrawing membership withdraws it")
    third_party: bool = Field(
        default=False, description="Provides data to a third party: never a child's (the seed policies, section 7)")
    data_categories: list[str] = []
    recipients: list[str] = []
    names: dict[str, str]
    descriptions: dict[str, str]

    @property
    def needs_consent(self) -> bool:
        return self.legal_basis in ("dpv:Consent", "dpv:ExplicitlyExpressedConsent")


class PurposeCatalogue(BaseModel):
    purposes: list[Purpose]

    @classmethod
    def load(cls, path: Path = DEFAULT_PURPOSES_FILE) -> dict[str, Purpose]:
        """The catalogue in ``path``, by purpose id; ValueError naming what is wrong in it."""
        catalogue = cls.model_validate(yaml.safe_load(path.read_text(encoding="utf-8")))
        ids = {p.id for p in catalogue.purposes}
        for purpose in catalogue.purposes:
            if purpose.retention_class not in RETENTION_CLASSES:
                raise ValueError(f"purpose {purpose.id}: unknown retention class {purpose.retention_class}")
            missing = set(LANGUAGES) - purpose.names.keys()
            if missing:
                raise ValueError(f"purpose {purpose.id}: names missing for {sorted(missing)}")
            if purpose.night_purpose is not None and purpose.night_purpose not in ids:
                raise ValueError(f"purpose {purpose.id}: unknown night_purpose {purpose.night_purpose}")
        return {p.id: p for p in catalogue.purposes}


#: The clinic's catalogue as shipped.
PURPOSES: dict[str, Purpose] = PurposeCatalogue.load()

#: Purposes that come with website membership: a membership withdrawal withdraws them all.
MEMBERSHIP_PURPOSES: tuple[str, ...] = tuple(p.id for p in PURPOSES.values() if p.with_membership)

#: Purposes a person can ask to withdraw consent to (a consent-withdrawal request); membership
#: itself is withdrawn by its own request type.
WITHDRAWABLE_PURPOSES: tuple[str, ...] = tuple(
    p.id for p in PURPOSES.values() if p.needs_consent and p.id != "membership"
)


i18n.words_elsewhere("purpose", lambda lang, code: PURPOSES[code].names.get(lang) if code in PURPOSES else None)
