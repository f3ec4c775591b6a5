"""Settings every service shares, read from the environment.

Each service subclasses :class:`ServiceSettings` with its own prefix (``CONSENT_``, ``DSR_``,
``NOTIFIER_``). The settings that describe the whole deployment (``DATABASE_URL``,
``KAFKA_BOOTSTRAP_SERVERS``, ``KAFKA_*``, ``DONGUI_ENVIRONMENT``, ``DONGUI_API_KEYS``) have fixed
names without a prefix, so one environment can start every service; each service still runs as its
own process, so a deployment can give each one a different value.
"""

from __future__ import annotations

import ipaddress
import json
import os
from datetime import timedelta
from enum import StrEnum
from typing import Annotated, Any, ClassVar
from zoneinfo import ZoneInfo

from pydantic import (
    AliasChoices,
    BaseModel,
    BeforeValidator,
    Field,
    FilePath,
    SecretStr,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, SettingsConfigDict

from shared.crypto import DEVELOPMENT_MASTER_KEY, parse_master_key
from shared.delegation import DEVELOPMENT_SECRET as DEVELOPMENT_DELEGATION_SECRET
from shared.delegation import parse_secret as parse_delegation_secret
from shared.digests import sha256_hex
from shared.rules.clinic import DEFAULT_TIMEZONE
from shared.rules.clinic import zone as clinic_zone
from shared.rules.deadlines import DEFAULT_CLINIC_LAW, Law


def _seconds_or_iso(value: Any) -> Any:
    """Let a duration be given as plain seconds ("0.5", "30") as well as ISO 8601 ("PT5M")."""
    if isinstance(value, str):
        try:
            return timedelta(seconds=float(value))
        except ValueError:
            return value
    return value


#: A duration setting: seconds or ISO 8601.
Duration = Annotated[timedelta, BeforeValidator(_seconds_or_iso)]


class Environment(StrEnum):
    development = "development"
    test = "test"
    production = "production"


class Role(StrEnum):
    """Who may call an endpoint. Machines use ``system``; people use the other two."""

    system = "system"
    staff = "staff"
    privacy_manager = "privacy_manager"


class ApiKey(BaseModel):
    """One API key. Only the SHA-256 of the key is configured, never the key itself."""

    name: str
    role: Role
    key_sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    #: A key of role ``system`` acts for this clinic system (with what the registry grants it).
    system_id: str | None = None
    #: The staff dashboard's key: its calls may name the signed-in person (``shared.delegation``).
    acts_for_people: bool = False
    #: The request service's key to the consent service: it alone gets subjects' private transit
    #: keys (``shared.sealing``), to open the systems' sealed answers.
    opens_sealed: bool = False
    #: The notifier's key to the request service: it alone gets a requester's channel and address
    #: (at each delivery, never kept) and records that they were told their request was received.
    tells_requesters: bool = False

    @model_validator(mode="after")
    def _system_keys_name_their_system(self) -> ApiKey:
        if self.opens_sealed and self.role is not Role.staff:
            raise ValueError(f"API key '{self.name}': only a staff key (the request service's) opens_sealed")
        if self.tells_requesters and self.role is not Role.staff:
            raise ValueError(f"API key '{self.name}': only a staff key (the notifier's) tells_requesters")
        if (self.role is Role.system) != (self.system_id is not None):
            raise ValueError(f"API key '{self.name}': a key of role system names its system_id, and only it "
                             f"(better: issue one with POST /v1/systems/{{system_id}}/keys)")
        return self


#: Keys that work only in development; a service outside development refuses to start with them.
DEVELOPMENT_API_KEYS: tuple[tuple[str, Role], ...] = (
    ("dev-system", Role.system),
    ("dev-staff", Role.staff),
    ("dev-manager", Role.privacy_manager),
    ("dev-dsr", Role.staff),  # the request service's key to the consent service (opens_sealed)
    ("dev-notifier", Role.staff),  # the notifier's key to the request service (tells_requesters)
)
#: The request service's development key to the consent service (DSR_CONSENT_API_KEY).
DEVELOPMENT_REQUEST_SERVICE_KEY = "dev-dsr"
#: The notifier's development key to the request service (NOTIFIER_DSR_API_KEY).
DEVELOPMENT_NOTIFIER_KEY = "dev-notifier"
DEVELOPMENT_KEY_HASHES = frozenset(sha256_hex(key) for key, _ in DEVELOPMENT_API_KEYS)
#: The example clinic system ``dev-system`` acts for: the website (examples/clinic_systems), which
#: publishes consent events as ``clinic/website``.
DEVELOPMENT_SYSTEM_ID = "website"
DEVELOPMENT_SYSTEM_SOURCE = "clinic/website"


class ServiceSettings(BaseSettings):
    """Base of each service's settings. Subclasses set ``service_name`` and ``model_config``."""

    service_name: ClassVar[str] = "service"
    model_config = SettingsConfigDict(extra="ignore", populate_by_name=True)

    environment: Environment = Field(
        default=Environment.development,
        validation_alias=AliasChoices("DONGUI_ENVIRONMENT", "ENVIRONMENT"),
    )
    database_url: str = Field(
        default="postgresql://postgres@127.0.0.1:54329/dongui",
        validation_alias=AliasChoices("DATABASE_URL"),
    )
    kafka_bootstrap_servers: str = Field(
        default="127.0.0.1:9092", validation_alias=AliasChoices("KAFKA_BOOTSTRAP_SERVERS")
    )
    # Apache Kafka in production: idempotent producer on; Tansu (development) does not support it.
    kafka_idempotent_producer: bool = Field(
        default=False, validation_alias=AliasChoices("KAFKA_IDEMPOTENT_PRODUCER")
    )
    kafka_security_protocol: str = Field(
        default="PLAINTEXT", validation_alias=AliasChoices("KAFKA_SECURITY_PROTOCOL")
    )
    kafka_sasl_mechanism: str | None = Field(
        default=None, validation_alias=AliasChoices("KAFKA_SASL_MECHANISM")
    )
    kafka_sasl_username: str | None = Field(
        default=None, validation_alias=AliasChoices("KAFKA_SASL_USERNAME")
    )
    kafka_sasl_password: str | None = Field(
        default=None, validation_alias=AliasChoices("KAFKA_SASL_PASSWORD")
    )
    # TLS to the brokers (SSL, SASL_SSL): the CA that signed their certificates (default: the
    # system's trust store), and a client certificate and key for mutual TLS. Checked at start-up.
    kafka_ssl_cafile: FilePath | None = Field(
        default=None, validation_alias=AliasChoices("KAFKA_SSL_CAFILE")
    )
    kafka_ssl_certfile: FilePath | None = Field(
        default=None, validation_alias=AliasChoices("KAFKA_SSL_CERTFILE")
    )
    kafka_ssl_keyfile: FilePath | None = Field(
        default=None, validation_alias=AliasChoices("KAFKA_SSL_KEYFILE")
    )
    kafka_topic_partitions: int = Field(
        default=3, validation_alias=AliasChoices("KAFKA_TOPIC_PARTITIONS")
    )
    kafka_replication_factor: int = Field(
        default=1, validation_alias=AliasChoices("KAFKA_REPLICATION_FACTOR")
    )
    # A consumer joining a group waits about half the session timeout on Tansu (tests use less).
    kafka_session_timeout_ms: int = Field(
        default=10_000, validation_alias=AliasChoices("KAFKA_SESSION_TIMEOUT_MS")
    )
    kafka_heartbeat_interval_ms: int = Field(
        default=3_000, validation_alias=AliasChoices("KAFKA_HEARTBEAT_INTERVAL_MS")
    )
    api_keys: list[ApiKey] = Field(
        default_factory=list, validation_alias=AliasChoices("DONGUI_API_KEYS")
    )
    # The clinic's time zone (shared/rules/clinic.py): the day of an age, a deadline, a record or a
    # night-time send. One for the whole deployment, so that no two services count different days.
    timezone: str = Field(default=DEFAULT_TIMEZONE, validation_alias=AliasChoices("DONGUI_TIMEZONE"))
    # The law the clinic answers requests under (shared/rules/deadlines.py): it sets every request's
    # deadline; a person's other law (where they live) may only shorten it or add rights. One for the
    # deployment, never chosen by a requester.
    clinic_jurisdiction: Law = Field(
        default=DEFAULT_CLINIC_LAW, validation_alias=AliasChoices("DONGUI_CLINIC_JURISDICTION"))
    # The reverse proxies whose X-Forwarded-For (and -Proto) are believed: addresses or networks,
    # comma-separated ("10.0.0.0/8,172.28.0.1"), or "*". Empty (the default): nobody's; the address
    # a request came from is its socket peer's. Every per-address limit counts that address.
    forwarded_allow_ips: str = Field(default="", validation_alias=AliasChoices("DONGUI_FORWARDED_ALLOW_IPS"))
    # Wraps every per-subject data key (crypto-shredding). Base64 of 32 random bytes.
    master_key: SecretStr = SecretStr(DEVELOPMENT_MASTER_KEY)
    # The services' shared secret: signs the dsr.systems events (the request service) and the person a
    # dashboard call is made for; the consent service and the notifier check both.
    delegation_secret: SecretStr = Field(default=SecretStr(DEVELOPMENT_DELEGATION_SECRET),
                                         validation_alias=AliasChoices("DONGUI_DELEGATION_SECRET"))
    host: str = "127.0.0.1"
    port: int = 8000
    db_pool_min: int = 2
    db_pool_max: int = 10
    # Connections kept for one-statement reads outside a transaction (shared.db.ReadLane:
    # consent's permission check), taken only when needed: the pool holds this many more than
    # db_pool_max, so that they never take a connection from the rest of the service's work.
    db_read_connections: int = Field(default=4, ge=1)
    # Background work (outbox relay, consumers) runs in the API process unless split out.
    run_workers: bool = True
    outbox_poll_interval: Duration = timedelta(seconds=1)
    consumer_batch_max: int = 500
    log_level: str = "INFO"
    # A consent event or a request is a few kilobytes; a policy text with three languages less
    # than a megabyte. Anything larger is refused before it is parsed.
    max_body_bytes: int = 2 * 1024 * 1024

    @field_validator("api_keys", mode="before")
    @classmethod
    def _parse_api_keys(cls, value: Any) -> Any:
        if isinstance(value, str):
            return json.loads(value) if value.strip() else []
        return value

    @field_validator("forwarded_allow_ips")
    @classmethod
    def _proxies(cls, value: str) -> str:
        entries = [entry.strip() for entry in value.split(",") if entry.strip()]
        for entry in entries:
            if entry == "*":
                continue
            try:
                ipaddress.ip_network(entry)  # an address is a network of one
            except ValueError:
                raise ValueError(
                    f"DONGUI_FORWARDED_ALLOW_IPS: '{entry}' is not an IP address or network (such as 10.0.0.0/8; "
                    f"a network's host bits must be zero)"
                ) from None
        if "*" in entries and len(entries) > 1:
            raise ValueError("DONGUI_FORWARDED_ALLOW_IPS: '*' (every peer) goes alone")
        return ",".join(entries)

    @property
    def trusted_proxies(self) -> list[str]:
        """The peers whose forwarded client address is believed (empty: none)."""
        return self.forwarded_allow_ips.split(",") if self.forwarded_allow_ips else []

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        clinic_zone(value)  # ValueError naming the zone when there is none
        return value

    @property
    def zone(self) -> ZoneInfo:
        """The clinic's time zone."""
        return clinic_zone(self.timezone)

    @model_validator(mode="before")
    @classmethod
    def _no_uvicorn_proxy_variable(cls, values: Any) -> Any:
        if os.environ.get("FORWARDED_ALLOW_IPS") is not None:
            raise ValueError(
                "FORWARDED_ALLOW_IPS (uvicorn's own) is no longer read: the proxies whose X-Forwarded-For "
                "is believed are one setting of the deployment, DONGUI_FORWARDED_ALLOW_IPS"
            )
        return values

    @model_validator(mode="before")
    @classmethod
    def _no_time_zone_per_service(cls, values: Any) -> Any:
        prefix = cls.model_config.get("env_prefix") or ""
        if prefix and os.environ.get(f"{prefix}TIMEZONE"):
            raise ValueError(
                f"{prefix}TIMEZONE is no longer read: the clinic's time zone is one setting for every "
                "service, DONGUI_TIMEZONE"
            )
        return values

    @field_validator("master_key")
    @classmethod
    def _valid_master_key(cls, value: SecretStr) -> SecretStr:
        parse_master_key(value.get_secret_value())
        return value

    @field_validator("delegation_secret")
    @classmethod
    def _valid_delegation_secret(cls, value: SecretStr) -> SecretStr:
        parse_delegation_secret(value.get_secret_value())
        return value

    @model_validator(mode="after")
    def _client_certificate_with_its_key(self) -> ServiceSettings:
        if (self.kafka_ssl_certfile is None) != (self.kafka_ssl_keyfile is None):
            raise ValueError("KAFKA_SSL_CERTFILE and KAFKA_SSL_KEYFILE go together (mutual TLS)")
        return self

    @model_validator(mode="after")
    def _development_keys_only_in_development(self) -> ServiceSettings:
        if self.environment is Environment.development:
            return self
        if self.master_key.get_secret_value() == DEVELOPMENT_MASTER_KEY:
            raise ValueError(
                f"the development master key is in use but the environment is "
                f"{self.environment.value}: set {self.model_config.get('env_prefix', '')}MASTER_KEY "
                f"to base64 of 32 random bytes"
            )
        if self.delegation_secret.get_secret_value() == DEVELOPMENT_DELEGATION_SECRET:
            raise ValueError(
                f"the development DONGUI_DELEGATION_SECRET is in use but the environment is "
                f"{self.environment.value}: set it to base64 of 32 random bytes, the same in every service "
                f"(it signs the clinic systems' registry on dsr.systems and the dashboard's calls)"
            )
        configured = {key.key_sha256 for key in self.api_keys}
        if configured & DEVELOPMENT_KEY_HASHES:
            raise ValueError(
                f"development API keys (dev-system, dev-staff, dev-manager, dev-dsr, dev-notifier) are configured but the "
                f"environment is {self.environment.value}: give every caller a key of its own"
            )
        return self

    def effective_api_keys(self) -> list[ApiKey]:
        """The keys this service accepts: the configured ones, plus the dev keys in development."""
        keys = list(self.api_keys)
        if self.environment is Environment.development:
            keys += [
                ApiKey(name=key, role=role, key_sha256=sha256_hex(key),
                       system_id=DEVELOPMENT_SYSTEM_ID if role is Role.system else None,
                       # dev-staff and dev-manager: the dashboard's, in development
                       acts_for_people=role is not Role.system
                       and key not in (DEVELOPMENT_REQUEST_SERVICE_KEY, DEVELOPMENT_NOTIFIER_KEY),
                       opens_sealed=key == DEVELOPMENT_REQUEST_SERVICE_KEY,
                       tells_requesters=key == DEVELOPMENT_NOTIFIER_KEY)
                for key, role in DEVELOPMENT_API_KEYS
            ]
        return keys

    def kafka_client_options(self) -> dict[str, Any]:
        """Connection options shared by every aiokafka client of this service."""
        options: dict[str, Any] = {
            "bootstrap_servers": self.kafka_bootstrap_servers,
            "security_protocol": self.kafka_security_protocol,
        }
        if self.kafka_security_protocol in ("SSL", "SASL_SSL"):
            from aiokafka.helpers import create_ssl_context

            options["ssl_context"] = create_ssl_context(
                cafile=self.kafka_ssl_cafile,
                certfile=self.kafka_ssl_certfile,
                keyfile=self.kafka_ssl_keyfile,
            )
        if self.kafka_sasl_mechanism:
            options["sasl_mechanism"] = self.kafka_sasl_mechanism
            options["sasl_plain_username"] = self.kafka_sasl_username
            options["sasl_plain_password"] = self.kafka_sasl_password
        return options


def prefixed(prefix: str) -> SettingsConfigDict:
    """The model_config of a service's settings: its own prefix, then the shared names."""
    return SettingsConfigDict(env_prefix=prefix, extra="ignore", populate_by_name=True)
