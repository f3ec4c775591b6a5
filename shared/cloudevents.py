"""CloudEvents 1.0 envelopes and their Kafka protocol binding.

Outgoing events are written in structured content mode (``content-type:
application/cloudevents+json``), keyed by the data subject. Incoming messages may be structured or
binary (``ce_*`` headers); the CloudEvents SDK's Kafka binding reads both, and both end as the same
:class:`CloudEvent`, so one event has one digest whichever way it came.
"""

from __future__ import annotations

import hashlib
import re
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from cloudevents.core.bindings import kafka as ce_kafka
from cloudevents.core.formats.json import JSONFormat
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from shared import jsonbytes
from shared.dates import Timestamp

STRUCTURED_CONTENT_TYPE = "application/cloudevents+json"
_EXTENSION_NAME = re.compile(r"^[a-z0-9]{1,20}$")


class InvalidEvent(Exception):
    """A message that is not a usable CloudEvent. ``reason`` is for a person to read."""

    def __init__(self, reason: str, errors: list[dict[str, Any]] | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.errors = errors or []


_OWN: Any = object()  # CloudEvent.digest: the event's own data


class CloudEvent(BaseModel):
    """A CloudEvents 1.0 envelope. ``data`` is validated later, against the model of ``type``."""

    model_config = ConfigDict(extra="allow")

    specversion: str = Field("1.0", pattern=r"^1\.0$")
    id: str = Field(min_length=1, max_length=256)
    source: str = Field(min_length=1, max_length=1024)
    type: str = Field(min_length=1, max_length=256)
    subject: str | None = Field(default=None, max_length=256)
    time: Timestamp | None = None
    datacontenttype: str | None = "application/json"
    dataschema: str | None = None
    data: Any = None

    @field_validator("datacontenttype")
    @classmethod
    def _json_data_only(cls, value: str | None) -> str | None:
        if value is not None and not re.match(r"^application/([a-z0-9.+-]*\+)?json(;.*)?$", value):
            raise ValueError("only JSON data is accepted (datacontenttype application/json)")
        return value

    @model_validator(mode="after")
    def _extension_names(self) -> CloudEvent:
        for name in self.model_extra or {}:
            if not _EXTENSION_NAME.match(name):
                raise ValueError(
                    f"'{name}' is not a valid CloudEvents attribute name (lower-case letters and "
                    f"digits, at most 20)"
                )
        return self

    def canonical(self) -> dict[str, Any]:
        return self.model_dump(mode="json", exclude_none=True)

    def digest(self, *, data: Any = _OWN) -> str:
        """SHA-256 of the canonical JSON: equal for the same event, whatever mode it came in.

        ``data`` (JSON-ready): the digest of this event with that data in place of its own, e.g.
        its data in normalised form, without copying the model: ``exclude_none`` stops at ``data``
        (an ``Any`` field), so the canonical form is the other attributes plus ``data`` as it is.
        """
        if data is _OWN:
            return hashlib.sha256(canonical_json(self.canonical())).hexdigest()
        value = self.model_dump(mode="json", exclude_none=True, exclude={"data"})
        if data is not None:
            value["data"] = data
        return hashlib.sha256(canonical_json(value)).hexdigest()


def canonical_json(value: Any) -> bytes:
    """Sorted keys, no whitespace, UTF-8 (:func:`shared.jsonbytes.canonical`)."""
    return jsonbytes.canonical(value)


def _validation_reason(exc: ValidationError, prefix: str = "") -> InvalidEvent:
    errors = [
        {"field": prefix + ".".join(str(p) for p in err["loc"]), "message": err["msg"]}
        for err in exc.errors()
    ]
    text = "; ".join(f"{e['field'] or 'event'}: {e['message']}" for e in errors)
    return InvalidEvent(f"invalid CloudEvent: {text}", errors)


def parse_envelope(raw: dict[str, Any]) -> CloudEvent:
    if not isinstance(raw, dict):
        raise InvalidEvent("a CloudEvent must be a JSON object")
    try:
        return CloudEvent.model_validate(raw)
    except ValidationError as exc:
        raise _validation_reason(exc) from None


def from_kafka(value: bytes | None, headers: list[tuple[str, bytes]] | None, key: bytes | None) -> CloudEvent:
    """Read a Kafka message in either content mode; raise :class:`InvalidEvent` with the reason."""
    if not value:
        raise InvalidEvent("the message is empty")
    # Before any reader sees it (pydantic's, the standard library's, the SDK's): each recurses per
    # level and fails past a few hundred with an error of its own (RecursionError is no ValueError).
    if jsonbytes.too_deep(value):
        raise InvalidEvent(f"the message is {jsonbytes.TooDeep(jsonbytes.MAX_DEPTH)}")
    header_map = {name: val or b"" for name, val in (headers or [])}
    binary = any(name.lower().startswith("ce_") for name in header_map)
    if not binary:
        # Structured mode: the SDK would accept any JSON; reading it ourselves keeps the
        # error messages specific (not JSON, not an object) and the digest exact. Pydantic
        # reads the bytes straight into the model (one pass in Rust, a third of the time); what it
        # refuses is read again the standard library's way, which decides and names the problem
        # (and reads what only it reads, such as UTF-16 or a lone surrogate, as it always did).
        try:
            return CloudEvent.model_validate_json(value)
        except ValidationError:
            pass
        try:
            raw = jsonbytes.loads(value)
        except (UnicodeDecodeError, ValueError) as exc:
            raise InvalidEvent(f"the message is not JSON: {exc}") from None
        return parse_envelope(raw)
    # The SDK fills in a random id and the current time when their headers are missing, which
    # would make a redelivered message a new event (or a conflicting one): refuse instead.
    present = {name.lower() for name in header_map}
    missing = [h for h in ("ce_specversion", "ce_id", "ce_source", "ce_type") if h not in present]
    if missing:
        raise InvalidEvent(f"invalid binary-mode CloudEvent: missing headers {', '.join(missing)}")
    try:
        event = ce_kafka.from_binary(
            ce_kafka.KafkaMessage(headers=header_map, key=key, value=value), JSONFormat()
        )
    except Exception as exc:  # the SDK raises several types for a bad binary message
        raise InvalidEvent(f"invalid binary-mode CloudEvent: {exc}") from None
    attributes = dict(event.get_attributes())
    attributes.pop("partitionkey", None)  # the Kafka key, added by the SDK: not part of the event
    if "ce_time" not in present:
        attributes.pop("time", None)
    data = event.get_data()
    if isinstance(data, (str, bytes)):
        raise InvalidEvent("the message value is not JSON data")
    attributes["data"] = data
    return parse_envelope(attributes)


def to_kafka(event: CloudEvent) -> tuple[bytes, list[tuple[str, bytes]]]:
    """Structured content mode: the whole envelope as JSON in the value."""
    return jsonbytes.compact(event.canonical()), [("content-type", STRUCTURED_CONTENT_TYPE.encode())]


def json_time(moment: datetime) -> str:
    """Pydantic's JSON form of an aware datetime, as ``model_dump(mode="json")`` writes it ("Z" for UTC)."""
    if moment.utcoffset() == timedelta(0):
        return moment.replace(tzinfo=None).isoformat() + "Z"
    return moment.isoformat()


def structured_value(*, source: str, type: str, subject: str | None, data: Any,
                     time: datetime | None = None) -> tuple[str, bytes]:
    """A new event's id and structured-mode value, built directly: the same JSON as
    ``to_kafka(new_event(...))`` without building and validating a :class:`CloudEvent`, for the
    many events a consumer batch makes from values it has validated itself. ``data`` must already
    be JSON-ready (``model_dump(mode="json")``)."""
    event_id = str(uuid.uuid4())
    envelope = {"specversion": "1.0", "id": event_id, "source": source, "type": type}
    if subject is not None:
        envelope["subject"] = subject
    envelope["time"] = json_time(time or datetime.now(UTC))
    envelope["datacontenttype"] = "application/json"
    envelope["data"] = data
    return event_id, jsonbytes.compact(envelope)


def new_event(*, source: str, type: str, subject: str | None, data: Any, time: datetime | None = None) -> CloudEvent:
    return CloudEvent(
        id=str(uuid.uuid4()),
        source=source,
        type=type,
        subject=subject,
        time=time or datetime.now(UTC),
        datacontenttype="application/json",
        data=data,
    )
