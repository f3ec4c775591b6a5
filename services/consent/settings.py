from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import ClassVar

from pydantic import Field

from shared.settings import Duration, ServiceSettings, prefixed

DEFAULT_PURPOSES_FILE = Path(__file__).with_name("purposes.yaml")


class ConsentSettings(ServiceSettings):
    """Settings of the consent service; environment variables start with ``CONSENT_``."""

    service_name: ClassVar[str] = "consent"
    model_config = prefixed("CONSENT_")

    port: int = 8001
    purposes_file: Path = DEFAULT_PURPOSES_FILE
    # The clinic's own time zone: the day an event happened (for the age rule) is a local day.
    timezone: str = "Asia/Seoul"
    # Seed policy section 12: a changed policy is announced at least 7 days before it applies.
    policy_notice_period: Duration = timedelta(days=7)
    # POST /v1/consent-events: transactions open at once (grouping.GroupCommit); calls that come
    # while all are busy are recorded together in the next one.
    http_commit_workers: int = Field(default=4, ge=1, le=64)
    # consent.inbound: batches of different partitions recorded at once, each its own transaction
    # (shared.consumer.Consumer lanes): the service's work on one overlaps PostgreSQL's on another.
    inbound_lanes: int = Field(default=3, ge=1, le=32)
    # How far in the future an event's time may be (clock skew between clinic systems).
    max_clock_skew: Duration = timedelta(minutes=5)
    # The controller named on consent receipts (ISO/IEC TS 27560).
    controller_name: str = "Dongui development clinic"
    controller_contact: str = "privacy@clinic.example"
    privacy_manager_name: str = "Personal information management director"
