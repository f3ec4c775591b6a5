"""Provision of a patient's data to a third party without their consent, because a law requires it:
the grounds, each with who receives the data, its citation and its words in ko/en/vi.

The clinic records each such provision (``services/dsr/provisions.py``) and the person reads it in
their access report: consent is not its basis, the law is (PIPA Art. 18(2) 2; Medical Service Act
Art. 21(3)). ``provisions.yaml`` beside this module is the catalogue.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import yaml
from pydantic import AfterValidator, BaseModel, ConfigDict, WithJsonSchema, model_validator

from shared.rules.grounds import Ground, Texts, check_languages, one_of

PROVISIONS_FILE = Path(__file__).with_name("provisions.yaml")


class ProvisionGround(Ground):
    """A law that requires the clinic to provide data: a ground (its law, citation and words) that
    also names who receives the data."""

    recipient: Texts

    @model_validator(mode="after")
    def _recipient_complete(self) -> ProvisionGround:
        check_languages(self.recipient, f"provision ground {self.id}: recipient")
        return self

    def view(self, language: str) -> dict[str, str]:
        """The ground as the person reads it, in ``language``."""
        return {"id": self.id, "recipient": self.recipient.get(language) or self.recipient["en"],
                "text": self.text(language), "citation": self.citation}


class _Catalogue(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    grounds: tuple[ProvisionGround, ...]


def load(path: Path = PROVISIONS_FILE) -> dict[str, ProvisionGround]:
    catalogue = _Catalogue.model_validate(yaml.safe_load(path.read_text(encoding="utf-8")))
    ids = [g.id for g in catalogue.grounds]
    if len(set(ids)) != len(ids):
        raise ValueError("provision grounds: an id used twice")
    return {g.id: g for g in catalogue.grounds}


#: The catalogue as shipped, by id.
PROVISION_GROUNDS: dict[str, ProvisionGround] = load()


#: A provision's ground as a request body names it (an enum in OpenAPI).
ProvisionGroundId = Annotated[str, AfterValidator(one_of(tuple(PROVISION_GROUNDS), "a provision ground")),
                              WithJsonSchema({"type": "string", "enum": list(PROVISION_GROUNDS)})]
