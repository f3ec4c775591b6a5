from __future__ import annotations

from datetime import date, timedelta
from typing import ClassVar

from pydantic import Field, SecretStr, model_validator

from shared.rules.retention import RETENTION_CLASSES
from shared.settings import Duration, Environment, Role, ServiceSettings, prefixed


class DsrSettings(ServiceSettings):
    """Settings of the request service; environment variables start with ``DSR_``."""

    service_name: ClassVar[str] = "dsr"
    model_config = prefixed("DSR_")

    port: int = 8002
    # The consent service, for the consent records in an access report.
    consent_url: str = "http://127.0.0.1:8001"
    consent_api_key: SecretStr = SecretStr("dev-dsr")
    # How long a clinic system has to answer a task, and how often it is sent before the
    # privacy manager is told it did not answer.
    task_timeout: Duration = timedelta(days=2)
    task_max_attempts: int = 3
    # How long the systems holding data that must go have to destroy it and confirm (the checklist
    # the product follows: 5 days), and per retention class where a clinic wants another time.
    destruction_period: Duration = timedelta(days=5)
    destruction_periods: dict[str, Duration] = Field(default_factory=dict)
    # The font of the printable result (PDF): a file with Korean and Vietnamese glyphs (a .ttf, or a
    # .ttc whose second face is Korean, as Noto Sans CJK's). Unset: Debian's fonts-noto-cjk.
    report_font: str | None = None
    # How often the deadline scheduler looks (it is cheap: indexed, and safe with replicas).
    scheduler_interval: Duration = timedelta(seconds=30)
    # A request's own record is a complaint record, kept for that retention class's period after it
    # closed (3 calendar years, shared/rules/retention.py), then destroyed. Set only to test.
    record_retention: Duration | None = None
    # Public intake: requests per client address per minute (staff with a key are not limited).
    intake_per_minute: int = 10
    # How long a clinic system's key works when the manager gives no expiry (POST /v1/systems/{id}/keys).
    system_key_lifetime: Duration = timedelta(days=365)
    # Public holidays (besides weekends) for Vietnam's working-day deadlines.
    vn_holidays: list[date] = Field(default_factory=list)
    # Who the breach register's drafts name (the notice to the people affected, the report to the
    # regulator): the clinic, its privacy manager and where people report harm (default: the manager).
    controller_name: str = "Dongui development clinic"
    privacy_manager_name: str = ""
    privacy_manager_contact: str = "privacy@clinic.example"
    help_desk: str | None = None
    # Where requesters reach the portal (no trailing slash needed): the private link the notifier's
    # messages carry is <public_url>/portal/r/<request_id>#t=<token>.
    public_url: str = "http://127.0.0.1:8002"

    # The staff dashboard (/dashboard/) reads consent, policies and the inbox over HTTP.
    # Publishing a policy needs a privacy_manager key of the consent service.
    consent_manager_api_key: SecretStr = SecretStr("dev-manager")
    notifier_url: str = "http://127.0.0.1:8003"
    notifier_api_key: SecretStr = SecretStr("dev-staff")
    # Dashboard sessions: idle and absolute lifetime.
    session_idle: Duration = timedelta(hours=8)
    session_absolute: Duration = timedelta(hours=12)
    # Sign-in rate limit (services/dsr/dashboard/accounts.py): within the window, failures per
    # username and per client address from browsers not trusted for that username, and per
    # trusted browser (one that signed in as it within the device lifetime, by its device cookie).
    signin_window: Duration = timedelta(minutes=15)
    signin_max_failures_per_user: int = Field(default=5, ge=1)
    signin_max_failures_per_address: int = Field(default=20, ge=1)
    signin_max_failures_per_device: int = Field(default=5, ge=1)
    signin_device_lifetime: Duration = timedelta(days=90)
    # The development staff account `make run` prints; created at start-up in development only.
    dev_account_username: str = "manager"
    dev_account_password: SecretStr = SecretStr("dev-manager-password")
    dev_account_role: Role = Role.privacy_manager

    @model_validator(mode="after")
    def _destruction_periods_of_known_classes(self) -> DsrSettings:
        unknown = sorted(set(self.destruction_periods) - set(RETENTION_CLASSES))
        if unknown:
            raise ValueError(f"DSR_DESTRUCTION_PERIODS: unknown retention class(es) {unknown}; "
                             f"known: {sorted(RETENTION_CLASSES)}")
        return self

    @model_validator(mode="after")
    def _no_dev_consent_key_outside_development(self) -> DsrSettings:
        if self.environment is not Environment.development and self.consent_api_key.get_secret_value().startswith("dev-"):
            raise ValueError("DSR_CONSENT_API_KEY is a development key; give the request service a key of its own")
        return self

    @model_validator(mode="after")
    def _no_dev_dashboard_secrets_outside_development(self) -> DsrSettings:
        if self.dev_account_role not in (Role.staff, Role.privacy_manager):
            raise ValueError("DSR_DEV_ACCOUNT_ROLE must be staff or privacy_manager")
        if self.environment is Environment.development:
            return self
        for name in ("consent_manager_api_key", "notifier_api_key"):
            if getattr(self, name).get_secret_value().startswith("dev-"):
                raise ValueError(f"DSR_{name.upper()} is a development key; give the dashboard a key of its own")
        dev_fields = {"dev_account_username", "dev_account_password", "dev_account_role"} & self.model_fields_set
        if dev_fields:
            raise ValueError(
                "the development staff account (DSR_DEV_ACCOUNT_*) exists only in development; create real "
                "accounts with: python -m services.dsr.dashboard.accounts create --username ... --role ..."
            )
        return self
