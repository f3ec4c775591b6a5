from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import ClassVar

from pydantic import Field, field_validator

from shared.rules.notices import POLICY_NOTICE_CITATION, POLICY_NOTICE_PERIOD
from shared.rules.purposes import DEFAULT_PURPOSES_FILE
from shared.settings import Duration, ServiceSettings, prefixed


class ConsentSettings(ServiceSettings):
    """Settings of the consent service; environment variables start with ``CONSENT_``."""

    service_name: ClassVar[str] = "consent"
    model_config = prefixed("CONSENT_")

    port: int = 8001
    purposes_file: Path = DEFAULT_PURPOSES_FILE
    # A changed policy is announced this long before it applies (shared/rules/notices.py): at
    # least the clinic's promised period, never less.
    policy_notice_period: Duration = POLICY_NOTICE_PERIOD
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

    @field_validator("policy_notice_period")
    @classmethod
    def _at_least_the_promised_notice(cls, value: timedelta) -> timedelta:
        if value < POLICY_NOTICE_PERIOD:
            raise ValueError(
                f"must be at least {POLICY_NOTICE_PERIOD.days} days ({POLICY_NOTICE_CITATION})"
            )
        return value
