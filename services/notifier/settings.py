from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Any, ClassVar, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator

from services.notifier.kinds import DEFAULT_KINDS, REQUESTER_KINDS, Kind
from shared.settings import Duration, Environment, ServiceSettings, prefixed


class Recipient(BaseModel):
    """Someone (or something) to tell: a language, the channels, and which kinds they want."""

    model_config = ConfigDict(extra="forbid")

    id: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9._-]+$")
    name: str = Field(min_length=1, max_length=200)
    language: Literal["ko", "en", "vi"] = "ko"
    email: str | None = Field(default=None, max_length=254, pattern=r"^[^@\s<>]+@[^@\s<>]+$")
    webhook_url: str | None = Field(default=None, pattern=r"^https?://\S+$", max_length=2000)
    # HMAC-SHA256 key for the webhook signature; the receiver holds the same secret.
    webhook_secret: SecretStr | None = None
    # Shown in the staff inbox. A webhook-only recipient (a chat bridge) may turn it off; a
    # delivery that finally failed is shown in the inbox all the same.
    inbox: bool = True
    # None: the default kinds (services/notifier/kinds.py). A list: exactly those.
    kinds: list[Kind] | None = None

    @model_validator(mode="after")
    def _signed_webhooks_only(self) -> Recipient:
        if self.webhook_url and (self.webhook_secret is None or len(self.webhook_secret.get_secret_value()) < 16):
            raise ValueError(f"recipient {self.id}: a webhook_url needs a webhook_secret of at least 16 characters")
        return self

    @field_validator("kinds")
    @classmethod
    def _not_the_requesters(cls, kinds: list[Kind] | None) -> list[Kind] | None:
        mine = sorted(k.value for k in kinds or [] if k in REQUESTER_KINDS)
        if mine:
            raise ValueError(f"{', '.join(mine)}: what the requester is told goes to the requester alone")
        return kinds

    def wants(self, kind: Kind) -> bool:
        return kind in (DEFAULT_KINDS if self.kinds is None else self.kinds)


DEFAULT_RECIPIENTS = [Recipient(id="privacy-manager", name="Privacy manager", language="ko")]

SmtpTls = Literal["none", "starttls", "tls"]
_DEFAULT_SMTP_PORTS = {"none": 25, "starttls": 587, "tls": 465}


class NotifierSettings(ServiceSettings):
    """Settings of the notifier; environment variables start with ``NOTIFIER_``."""

    service_name: ClassVar[str] = "notifier"
    model_config = prefixed("NOTIFIER_")

    port: int = 8003
    # Who is told what: NOTIFIER_RECIPIENTS (a JSON list), or NOTIFIER_RECIPIENTS_FILE (YAML or
    # JSON, a list or {"recipients": [...]}), which wins when both are set.
    recipients: list[Recipient] = Field(default_factory=lambda: list(DEFAULT_RECIPIENTS))
    recipients_file: Path | None = None

    # Email is off while smtp_host is empty; the inbox is always on.
    smtp_host: str = ""
    smtp_port: int | None = None  # default: 25, 587 (starttls) or 465 (tls)
    smtp_tls: SmtpTls = "starttls"
    smtp_username: str | None = None
    smtp_password: SecretStr | None = None
    smtp_from: str = "Dongui notifier <privacy-notifier@localhost>"
    smtp_validate_certs: bool = True

    # Links in notifications: the request (its id is appended) and the policy (its id appended).
    dashboard_url: str = "http://127.0.0.1:8002/v1/requests/"
    policy_url: str = "http://127.0.0.1:8001/v1/policies/"
    # A breach's page on the staff dashboard (the breach id is appended).
    breach_url: str = "http://127.0.0.1:8002/dashboard/breaches/"

    # Delivery: attempts with exponential backoff (initial, doubling, capped), then a recorded failure.
    delivery_max_attempts: int = Field(default=8, ge=1)
    retry_initial: Duration = timedelta(seconds=30)
    retry_max: Duration = timedelta(hours=1)
    # One attempt (SMTP conversation or webhook POST) may take this long...
    delivery_timeout: Duration = timedelta(seconds=15)
    # ...and a claimed delivery is not attempted by another replica for this long (> the timeout).
    delivery_lease: Duration = timedelta(seconds=60)
    delivery_poll_interval: Duration = timedelta(seconds=1)
    delivery_batch: int = Field(default=20, ge=1, le=500)

    # Telling requesters: the request service gives their channel, address and private link at each
    # delivery (to this key, configured there with "tells_requesters"), and nothing is kept here.
    tell_requesters: bool = True
    dsr_url: str = "http://127.0.0.1:8002"
    dsr_api_key: SecretStr = SecretStr("dev-notifier")
    # How a text message leaves: "log" (the default: logged with the number masked, and counted), or
    # "package.module:factory", called with these settings, returning an SmsSender (the clinic's gateway).
    sms_sender: str = Field(default="log", pattern=r"^(log|[A-Za-z_][\w.]*:[A-Za-z_]\w*)$")

    # The daily digest of consent withdrawals: sent once a day, at this local hour, for the day before.
    digest_hour: int = Field(default=9, ge=0, le=23)
    digest_when_empty: bool = False
    digest_check_interval: Duration = timedelta(seconds=60)

    @field_validator("recipients", mode="before")
    @classmethod
    def _recipients_json(cls, value: Any) -> Any:
        if isinstance(value, str):
            return json.loads(value) if value.strip() else []
        return value

    @model_validator(mode="after")
    def _load_and_check(self) -> NotifierSettings:
        if self.recipients_file is not None:
            raw = yaml.safe_load(self.recipients_file.read_text(encoding="utf-8"))
            if isinstance(raw, dict):
                raw = raw.get("recipients", [])
            self.recipients = [Recipient.model_validate(r) for r in raw or []]
        ids = [r.id for r in self.recipients]
        if len(ids) != len(set(ids)):
            raise ValueError(f"recipient ids must be unique: {ids}")
        if self.delivery_lease <= self.delivery_timeout * 2:
            raise ValueError("NOTIFIER_DELIVERY_LEASE must be more than twice NOTIFIER_DELIVERY_TIMEOUT "
                             "(an SMTP attempt is a connection, a greeting, TLS and the message)")
        if self.environment is not Environment.development and self.dsr_api_key.get_secret_value().startswith("dev-"):
            raise ValueError("NOTIFIER_DSR_API_KEY is a development key; give the notifier a key of its own "
                             "(configured in the request service with \"tells_requesters\": true)")
        if self.retry_max < self.retry_initial:
            raise ValueError("NOTIFIER_RETRY_MAX must not be shorter than NOTIFIER_RETRY_INITIAL")
        return self

    @property
    def email_enabled(self) -> bool:
        return bool(self.smtp_host.strip())

    @property
    def effective_smtp_port(self) -> int:
        return self.smtp_port or _DEFAULT_SMTP_PORTS[self.smtp_tls]

    def recipient(self, recipient_id: str) -> Recipient | None:
        return next((r for r in self.recipients if r.id == recipient_id), None)

    def backoff(self, attempts: int) -> timedelta:
        """How long to wait after the ``attempts``-th failed attempt: initial, doubling, capped."""
        return min(self.retry_max, self.retry_initial * (2 ** min(max(attempts - 1, 0), 30)))
