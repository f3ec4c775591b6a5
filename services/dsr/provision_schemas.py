"""HTTP bodies of the provision log (``services/dsr/provisions.py``)."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field, field_validator

# What was provided: in the categories the breach register names too (shared/rules/breaches.py).
from services.dsr.breaches.schemas import DataCategoryId, distinct
from shared.dates import Timestamp
from shared.events import SubjectId
from shared.rules.provisions import ProvisionGroundId


class RecordProvision(BaseModel):
    """A provision the law required, once made (command)."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{
        "subject_id": "patient-1001", "ground": "kr-warrant", "data_categories": ["name", "health"],
        "reference": "Seoul Central District Court warrant 2026-1234", "provided_at": "2026-03-04T10:30:00+09:00",
    }]})
    subject_id: SubjectId
    ground: ProvisionGroundId = Field(description="Which law required it (names the recipient): GET the catalogue "
                                                  "in shared/rules/provisions.yaml")
    data_categories: list[DataCategoryId] = Field(min_length=1, max_length=20)
    reference: str | None = Field(default=None, max_length=200, description=(
        "The document the provision answered: a warrant's or a claim's number (never the data itself)"))
    provided_at: Timestamp

    _distinct_categories = field_validator("data_categories")(distinct)


class ProvisionOut(BaseModel):
    provision_id: str
    subject_id: str
    ground: str
    recipient: str | None = Field(description="Who received the data (in English; the access report gives the "
                                              "person's language)")
    citation: str | None
    data_categories: list[str]
    reference: str | None
    provided_at: datetime
    recorded_by: str
    recorded_at: datetime
