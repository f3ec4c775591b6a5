from __future__ import annotations

from datetime import date, timedelta
from typing import ClassVar

from pydantic import Field, SecretStr, model_validator

from shared.settings import Duration, Environment, ServiceSettings, prefixed


class DsrSettings(ServiceSettings):
    """Settings of the request service; environment variables start with ``DSR_``."""

    service_name: ClassVar[str] = "dsr"
    model_config = prefixed("DSR_")

    port: int = 8002
    # The clinic's own time zone: deadlines and ages are counted in local days.
    timezone: str = "Asia/Seoul"
    # The consent service, for the consent records in an access report.
    consent_url: str = "http://127.0.0.1:8001"
    consent_api_key: SecretStr = SecretStr("dev-staff")
    # How long a clinic system has to answer a task, and how often it is sent before the
    # privacy manager is told it did not answer.
    task_timeout: Duration = timedelta(days=2)
    task_max_attempts: int = 3
    # How often the deadline scheduler looks (it is cheap: indexed, and safe with replicas).
    scheduler_interval: Duration = timedelta(seconds=30)
    # A request's own record is a complaint record: kept 3 years after it closed, then destroyed.
    record_retention: Duration = timedelta(days=3 * 365 + 1)
    # Public intake: requests per client address per minute (staff with a key are not limited).
    intake_per_minute: int = 10
    # Public holidays (besides weekends) for Vietnam's working-day deadlines.
    vn_holidays: list[date] = Field(default_factory=list)

    @model_validator(mode="after")
    def _no_dev_consent_key_outside_development(self) -> "DsrSettings":
        if self.environment is not Environment.development and self.consent_api_key.get_secret_value().startswith("dev-"):
            raise ValueError("DSR_CONSENT_API_KEY is a development key; give the request service a key of its own")
        return self
