"""The AsyncAPI 3.0 document of the Dongui events, generated from :mod:`shared.events`.

``python -m shared.asyncapi > docs/asyncapi.yaml`` (``make asyncapi``) writes it, and a test fails
when the committed file and the models disagree. Channels come from :class:`~shared.events.Topic`,
messages, schemas and examples from :data:`~shared.events.CATALOGUE` (each model's ``example``,
written in ``shared/event_examples.py``); who sends and receives what from
:data:`shared.operations.OPERATIONS`.

Each model's schema is its pydantic JSON Schema with nested ``$defs`` moved to
``components.schemas``. One change is made for AsyncAPI: pydantic writes an OpenAPI-style
``discriminator`` object on tagged unions, which the AsyncAPI Schema Object does not allow (its
``discriminator`` is a property name, and must be a property of that very schema), so it is
dropped; every branch of such a union still pins the tag with ``const``.
"""

from __future__ import annotations

import copy
import inspect
import json
import re
import uuid
from typing import Any

import yaml

from shared import recordsig, servicesig
from shared.delegation import DEVELOPMENT_SECRET as DEVELOPMENT_DELEGATION_SECRET
from shared.delegation import parse_secret as parse_delegation_secret
from shared.event_examples import DEAD_LETTER_EXAMPLE, EventExample
from shared.events import CATALOGUE, SIGNED_TOPICS, TOPIC_DESCRIPTIONS, EventData, Topic
from shared.operations import OPERATIONS, PARTIES

ASYNCAPI_VERSION = "3.0.0"
KAFKA_BINDING_VERSION = "0.5.0"
#: As ``shared.cloudevents.STRUCTURED_CONTENT_TYPE``.
STRUCTURED_CONTENT_TYPE = "application/cloudevents+json"
ENVELOPE = "CloudEventEnvelope"
SCHEMA_REF = "#/components/schemas/{model}"
#: What AsyncAPI 3 allows as a key of ``components.*``.
COMPONENT_KEY = re.compile(r"^[a-zA-Z0-9\.\-_]+$")
#: ``datacontenttype`` values the services accept (JSON only); as in shared.cloudevents.
JSON_CONTENT_TYPE = r"^application/([a-z0-9.+-]*\+)?json(;.*)?$"

#: Topics on which binary content mode (attributes in ``ce_*`` headers) is accepted too.
BINARY_TOPICS = frozenset({Topic.consent_inbound})
#: Topics written by the Dongui services themselves, through their outbox (``shared.outbox``):
#: their events always carry ``subject`` (= the Kafka key) and ``time``. The others
#: (``consent.inbound``, ``dsr.task-results``) are written by the clinic systems.
SERVICE_TOPICS = frozenset({Topic.consent_events, Topic.dsr_events, Topic.dsr_tasks})
#: The key of the models that override ``EventData.kafka_key`` (by the name of the class that
#: overrides it, so that its subclasses share the entry): the ``data`` fields it is taken from,
#: the first that is not null.
KEY_FIELDS: dict[str, tuple[str, ...]] = {
    "PolicyPublished": ("policy_id",),
    "RequestEvent": ("subject_id", "request_id"),
    "SystemChanged": ("system_id",),
    "SystemKeyChanged": ("key_id",),
    "BreachEvent": ("breach_id",),
}
#: What each key field stands for, in the key's description.
KEY_MEANINGS = {
    "subject_id": "the data subject, so that one subject's events stay in order",
    "policy_id": "the policy, so that one policy's versions stay in order",
    "system_id": "the clinic system: compaction keeps its newest state",
    "key_id": "the key: compaction keeps its newest state (a key id is never a system id)",
    "breach_id": "the breach, so that one breach's events stay in order (they name no person)",
    "request_id": (
        "the request, while the subject is not yet identified (`data.subject_id` null). Once "
        "they are, the key becomes `data.subject_id`, which may be another partition: one "
        "request's events from before and after that point may be read out of order "
        "(`data.occurred_at` orders them)"
    ),
}

#: The header with which a clinic system signs each record it produces (``shared.recordsig``).
SIGNATURE_HEADER: dict[str, Any] = {
    "type": "string",
    "pattern": r"^v1\.[A-Za-z0-9._-]+\.[A-Za-z0-9_-]{43}$",
    "description": (
        "The clinic system's signature of the record: `v1.<key_id>.<mac>`, `key_id` the id of the "
        "system's API key (`key.<hex>` for a key `dgk_<hex>.<secret>`) and `mac` the base64url "
        "(without padding) HMAC-SHA256, keyed with HMAC-SHA256(the API key as UTF-8, "
        "`dongui-kafka-signing-v1`), of the record's signed input: the topic name and a newline; "
        "each `ce_*`, `content-type` and `dongui-dlq-*` header sorted by name as `name=` + the "
        "base64url (no padding) of its value + a newline; a newline; the value bytes "
        "(shared/recordsig.py). A "
        "record without it, signed by a revoked, expired or unknown key, changed since it was "
        "signed, or speaking for another system than the key's, is dead-lettered with the reason."
    ),
}
#: The services' signature of every record they produce (``shared.servicesig``).
SERVICE_SIGNATURE_HEADER: dict[str, Any] = {
    "type": "string",
    "pattern": r"^v1\.svc\.[0-9a-f]{16}\.[A-Za-z0-9_-]{43}$",
    "description": (
        "The services' signature of the record: `v1.<key_id>.<mac>`, `mac` the base64url (without "
        "padding) HMAC-SHA256 of the record's signed input (as for `dongui-signature`) with a key "
        "derived (HKDF) from `DONGUI_DELEGATION_SECRET`, which only the services hold. A service "
        "consumer refuses (dead-letters; the notifier ignores on privacy.dead-letter) a record "
        "without it or whose MAC does not match."
    ),
}
#: The request service's Ed25519 signature of each task (``shared.servicesig``).
TASK_SIGNATURE_HEADER: dict[str, Any] = {
    "type": "string",
    "pattern": r"^v1\.ed25519\.[0-9a-f]{16}\.[A-Za-z0-9_-]{86}$",
    "description": (
        "The request service's Ed25519 signature of the record's signed input (as for "
        "`dongui-signature`), base64url without padding; the public key is "
        "`GET /v1/tasks/signing-key` of the request service. A clinic system carries out only a "
        "task whose signature verifies."
    ),
}


def _service_signature(topic: str) -> dict[str, dict[str, Any]]:
    """The signature headers of a record the services produce on ``topic``."""
    headers = {servicesig.HEADER: copy.deepcopy(SERVICE_SIGNATURE_HEADER)}
    if topic == Topic.dsr_tasks:
        headers[servicesig.TASK_HEADER] = copy.deepcopy(TASK_SIGNATURE_HEADER)
    return headers


#: The services' signatures of the examples: the development DONGUI_DELEGATION_SECRET's.
EXAMPLE_SERVICES = servicesig.ServiceRecords(parse_delegation_secret(DEVELOPMENT_DELEGATION_SECRET))
#: An example API key, for the signatures of the examples (it is no key of any deployment).
EXAMPLE_SYSTEM_KEY = "dgk_0123456789abcdef.exampleexampleexampleexampleexampleexample0"

#: The headers ``shared.consumer.dead_letter_headers`` adds to a dead letter.
DEAD_LETTER_HEADERS: dict[str, dict[str, Any]] = {
    "dongui-dlq-reason": {
        "type": "string",
        "maxLength": 4000,
        "description": "Why the message could not be processed, written for a person to read.",
    },
    "dongui-dlq-topic": {"type": "string", "description": "The topic the message was read from."},
    "dongui-dlq-partition": {
        "type": "string",
        "pattern": "^[0-9]+$",
        "description": "Its partition there, in decimal.",
    },
    "dongui-dlq-offset": {
        "type": "string",
        "pattern": "^[0-9]+$",
        "description": "Its offset there, in decimal.",
    },
    "dongui-dlq-consumer": {
        "type": "string",
        "description": (
            "The consumer that refused it, as `<service>/<consumer>` (e.g. `consent/inbound`)."
        ),
    },
    "dongui-dlq-at": {
        "type": "string",
        "format": "date-time",
        "description": "When it was dead-lettered (UTC, ISO 8601).",
    },
}


# --- names ---------------------------------------------------------------------------------------


def _camel(words: list[str]) -> str:
    return words[0] + "".join(w[:1].upper() + w[1:] for w in words[1:])


def channel_id(topic: Topic) -> str:
    """``consent_inbound`` -> ``consentInbound``."""
    return _camel(topic.name.split("_"))


def channel_message_key(event_type: str, *, binary: bool = False) -> str:
    """``consent.granted`` -> ``consentGranted`` (``consentGrantedBinary``): unique per channel."""
    return _camel(re.split(r"[._-]", event_type)) + ("Binary" if binary else "")


def component_message_key(topic: Topic, event_type: str, *, binary: bool = False) -> str:
    """``consent_inbound.consent.granted``: the topic keeps equal type names apart."""
    return f"{topic.name}.{event_type}" + (".binary" if binary else "")


def key_fields(model: type[EventData]) -> tuple[str, ...]:
    """The ``data`` fields the Kafka key (and the CloudEvent ``subject``) is taken from: the
    first of them that is not null."""
    owner = next(c for c in model.__mro__ if "kafka_key" in vars(c))
    if owner is EventData:
        return ("subject_id",)
    try:
        return KEY_FIELDS[owner.__name__]
    except KeyError:
        raise ValueError(
            f"{owner.__name__} overrides kafka_key(): add the fields it returns to "
            f"KEY_FIELDS in shared/asyncapi.py"
        ) from None


def key_of(model: type[EventData], data: dict[str, Any]) -> str:
    """The key of an event of ``model`` with this ``data``, as documented."""
    return next(data[f] for f in key_fields(model) if data.get(f) is not None)


def _key_text(model: type[EventData]) -> str:
    """``data.subject_id``, or ``data.subject_id`` (``data.request_id`` while it is null)."""
    first, *fallbacks = key_fields(model)
    text = f"`data.{first}`"
    for field in fallbacks:
        text += f", or `data.{field}` while that is null"
    return text


def _title(model: type) -> str:
    """``ConsentGrantRecorded`` -> ``Consent grant recorded``."""
    return re.sub(r"(?<!^)(?=[A-Z])", " ", model.__name__).capitalize()


def _markdown(text: str) -> str:
    """reStructuredText literals (````x````) to CommonMark (```x```)."""
    return re.sub(r"``(.+?)``", r"`\1`", text)


def _docstring(model: type) -> tuple[str, str]:
    """(summary: the first paragraph on one line, description: the whole docstring)."""
    text = _markdown(inspect.cleandoc(model.__doc__ or ""))
    summary = " ".join(text.split("\n\n", 1)[0].split())
    return summary, text


# --- schemas -------------------------------------------------------------------------------------


def _strip_openapi_discriminators(value: Any) -> Any:
    if isinstance(value, dict):
        return {
            k: _strip_openapi_discriminators(v)
            for k, v in value.items()
            if not (k == "discriminator" and isinstance(v, dict))
        }
    if isinstance(value, list):
        return [_strip_openapi_discriminators(v) for v in value]
    return value


def model_schemas(model: type[EventData]) -> dict[str, dict[str, Any]]:
    """The model's JSON Schema and its nested definitions, by ``components.schemas`` key."""
    schema = model.model_json_schema(ref_template=SCHEMA_REF)
    defs = schema.pop("$defs", {})
    return {
        name: _strip_openapi_discriminators(value)
        for name, value in {model.__name__: schema, **defs}.items()
    }


def envelope_schema() -> dict[str, Any]:
    return {
        "type": "object",
        "title": "CloudEvent envelope",
        "description": (
            "A CloudEvents 1.0 event in the JSON event format. `type` names the event and `data` "
            "is the object of that type on that topic. Extension attributes are allowed (names of "
            "1 to 20 lower-case letters and digits) and kept as they are."
        ),
        "required": ["specversion", "id", "source", "type"],
        "properties": {
            "specversion": {"type": "string", "const": "1.0"},
            "id": {
                "type": "string",
                "minLength": 1,
                "maxLength": 256,
                "description": (
                    "Unique per event. Consumers de-duplicate on it: send the same id again "
                    "only to retry the very same event."
                ),
            },
            "source": {
                "type": "string",
                "format": "uri-reference",
                "minLength": 1,
                "maxLength": 1024,
                "description": (
                    "The system that produced the event, e.g. `clinic/emr` or `dongui/consent`."
                ),
            },
            "type": {"type": "string", "minLength": 1, "maxLength": 256},
            "subject": {
                "type": "string",
                "maxLength": 256,
                "description": (
                    "The Kafka key: `data.subject_id` (`data.policy_id` for `policy.published`; "
                    "`data.request_id` for a `request.*` event whose `data.subject_id` is null; "
                    "`data.breach_id` for a `breach.*` event). "
                    "On the topics the clinic systems write (`consent.inbound`, "
                    "`dsr.task-results`) it may be left out; when given it must equal "
                    "`data.subject_id`."
                ),
            },
            "time": {
                "type": "string",
                "format": "date-time",
                "description": (
                    "When it happened, with a UTC offset. On `consent.inbound`: when the person "
                    "decided (the time of receipt when left out); never in the future."
                ),
            },
            "datacontenttype": {
                "type": "string",
                "pattern": JSON_CONTENT_TYPE,
                "default": "application/json",
                "description": "`data` is always JSON.",
            },
            "dataschema": {"type": "string", "format": "uri"},
            "data": {
                "description": "The event's data; its schema depends on `type` and the topic."
            },
        },
        "propertyNames": {"pattern": "^[a-z0-9]{1,20}$"},
    }


def _structured_headers(topic: Topic) -> dict[str, Any]:
    headers: dict[str, Any] = {
        "type": "object",
        "properties": {
            "content-type": {
                "type": "string",
                "const": STRUCTURED_CONTENT_TYPE,
                "description": "Structured content mode: the value is the whole event as JSON.",
            }
        },
        # A ce_* header makes a message binary mode (shared.cloudevents.from_kafka).
        "patternProperties": {"^[Cc][Ee]_": False},
    }
    if topic in SERVICE_TOPICS:
        signatures = _service_signature(topic)
        headers["properties"].update(signatures)
        headers["required"] = ["content-type", *signatures]
    else:
        headers["description"] = (
            "`content-type` is recommended. A message without `ce_*` headers is read as "
            "structured mode whatever its `content-type`."
        )
    if topic in SIGNED_TOPICS:
        headers["properties"][recordsig.HEADER] = copy.deepcopy(SIGNATURE_HEADER)
        headers["required"] = [recordsig.HEADER]
    return headers


def _binary_headers(model: type[EventData]) -> dict[str, Any]:
    envelope = envelope_schema()["properties"]
    headers = {
        f"ce_{name}": {k: v for k, v in envelope[name].items() if k != "default"}
        for name in ("specversion", "id", "source", "type", "subject", "time", "dataschema")
    }
    headers["ce_type"] = {"type": "string", "const": model.event_type}
    return {
        "type": "object",
        "description": (
            "Binary content mode: each CloudEvent attribute in a `ce_<name>` header (UTF-8), "
            "`datacontenttype` in `content-type`."
        ),
        "required": ["ce_specversion", "ce_id", "ce_source", "ce_type"]
        + ([recordsig.HEADER] if model.topic in SIGNED_TOPICS else []),
        "properties": {
            **headers,
            "content-type": {
                "type": "string",
                "pattern": JSON_CONTENT_TYPE,
                "description": "The `datacontenttype`: JSON only, normally `application/json`.",
            },
            **({recordsig.HEADER: copy.deepcopy(SIGNATURE_HEADER)} if model.topic in SIGNED_TOPICS else {}),
        },
    }


def _key_binding(model: type[EventData]) -> dict[str, Any]:
    first, *fallbacks = key_fields(model)
    description = f"`data.{first}`: {KEY_MEANINGS[first]}."
    for field in fallbacks:
        description += f" `data.{field}`: {KEY_MEANINGS[field]}."
    return {
        "kafka": {
            "key": {
                "type": "string",
                "description": description,
            },
            "bindingVersion": KAFKA_BINDING_VERSION,
        }
    }


def _example_envelope(model: type[EventData], example: EventExample) -> dict[str, Any]:
    return {
        "specversion": "1.0",
        "id": str(uuid.uuid5(uuid.NAMESPACE_URL, f"dongui:example:{model.topic}:{model.event_type}")),
        "source": example.source,
        "type": model.event_type,
        "subject": key_of(model, example.data),
        "time": example.time,
        "datacontenttype": "application/json",
        "data": copy.deepcopy(example.data),
    }


def _example(model: type[EventData]) -> EventExample:
    """The model's own example (a subclass does not show its parent's, of another type)."""
    example = vars(model).get("example")
    if not isinstance(example, EventExample):
        raise ValueError(
            f"add an example of {model.__name__} to EXAMPLES in shared/event_examples.py"
        )
    model.model_validate(example.data)  # a wrong example is an error here, not in the document
    return example


# --- messages ------------------------------------------------------------------------------------


def _event_message(model: type[EventData]) -> dict[str, Any]:
    summary, docstring = _docstring(model)
    required = ["specversion", "id", "source", "type", "data"]
    if model.topic in SERVICE_TOPICS:
        required += ["subject", "time"]
    example = _example(model)
    return {
        "name": model.event_type,
        "title": _title(model),
        "summary": summary,
        "description": (
            f"{docstring}\n\nOn `{model.topic}` as CloudEvent type `{model.event_type}`, with "
            f"`data` as in `{model.__name__}`; keyed by {_key_text(model)}."
        ),
        "contentType": STRUCTURED_CONTENT_TYPE,
        "headers": _structured_headers(model.topic),
        "payload": {
            "allOf": [
                {"$ref": SCHEMA_REF.format(model=ENVELOPE)},
                {
                    "type": "object",
                    "required": required,
                    "properties": {
                        "type": {"type": "string", "const": model.event_type},
                        "data": {"$ref": SCHEMA_REF.format(model=model.__name__)},
                    },
                },
            ]
        },
        "bindings": _key_binding(model),
        "examples": [
            {
                "name": channel_message_key(model.event_type),
                "summary": f"A {model.event_type} event in structured content mode.",
                "headers": _example_headers(model.topic, {"content-type": STRUCTURED_CONTENT_TYPE},
                                            _example_envelope(model, example)),
                "payload": _example_envelope(model, example),
            }
        ],
    }


def _example_headers(topic: Topic, headers: dict[str, str], payload: Any) -> dict[str, str]:
    """An example's headers, with its signature on the topics clinic systems sign: made with
    :data:`EXAMPLE_SYSTEM_KEY` over the payload as compact JSON (the bytes a producer sends)."""
    value = json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode()
    if topic in SERVICE_TOPICS:  # as the services of a development deployment sign it
        return {k: v.decode() for k, v in EXAMPLE_SERVICES.signed(topic, value, [(k, v.encode())
                                                                                  for k, v in headers.items()])}
    if topic not in SIGNED_TOPICS:
        return headers
    listed = [(k, v.encode()) for k, v in headers.items()]
    return {**headers, recordsig.HEADER: recordsig.header_value(topic, value, EXAMPLE_SYSTEM_KEY, listed).decode()}


def _binary_event_message(model: type[EventData]) -> dict[str, Any]:
    summary, _ = _docstring(model)
    envelope = _example_envelope(model, _example(model))
    headers = {
        f"ce_{name}": envelope[name]
        for name in ("specversion", "id", "source", "type", "subject", "time")
    }
    headers["content-type"] = envelope["datacontenttype"]
    return {
        "name": model.event_type,
        "title": f"{_title(model)} (binary content mode)",
        "summary": summary,
        "description": (
            f"The same `{model.event_type}` event in CloudEvents binary content mode, accepted on "
            f"`{model.topic}` only: the attributes travel in `ce_*` headers and the value is "
            f"`data` alone (`{model.__name__}`). The service reads it as the very same event as "
            f"its structured form."
        ),
        "contentType": "application/json",
        "headers": _binary_headers(model),
        "payload": {"$ref": SCHEMA_REF.format(model=model.__name__)},
        "bindings": _key_binding(model),
        "examples": [
            {
                "name": channel_message_key(model.event_type, binary=True),
                "summary": f"A {model.event_type} event in binary content mode.",
                "headers": _example_headers(model.topic, headers, envelope["data"]),
                "payload": envelope["data"],
            }
        ],
    }


def _dead_letter_message() -> dict[str, Any]:
    return {
        "name": "deadLetter",
        "title": "Dead letter",
        "summary": "A message a consumer could not process, as it was, with the reason.",
        "description": (
            "The original value, key and headers of a message that could not be processed (not "
            "JSON, not a valid CloudEvent, invalid data, refused by the service), byte for byte, "
            "plus `dongui-dlq-*` headers saying why and where it came from. The rest of its batch "
            "was processed: a dead letter never blocks its partition. Once the cause is fixed, the "
            "original can be sent again to its topic."
        ),
        "contentType": "application/octet-stream",
        "headers": {
            "type": "object",
            "description": (
                "The original message's headers, unchanged (any earlier `dongui-dlq-*` or "
                "services' signature header is dropped), followed by these, and the services' "
                "signature of the dead letter."
            ),
            "required": [*DEAD_LETTER_HEADERS, servicesig.HEADER],
            "properties": {**copy.deepcopy(DEAD_LETTER_HEADERS), **_service_signature(Topic.dead_letter)},
        },
        "payload": {
            "description": (
                "The original message value, byte for byte. It may not be JSON, nor a CloudEvent: "
                "that is often why it is here."
            )
        },
        "bindings": {
            "kafka": {
                "key": {
                    "description": "The original message's key, unchanged (none if it had none)."
                },
                "bindingVersion": KAFKA_BINDING_VERSION,
            }
        },
        "examples": [
            {
                "name": "notJson",
                "summary": "A message on consent.inbound that was not JSON.",
                **copy.deepcopy(DEAD_LETTER_EXAMPLE),
                "headers": {k: v.decode() for k, v in EXAMPLE_SERVICES.signed(
                    Topic.dead_letter, DEAD_LETTER_EXAMPLE["payload"].encode(),
                    [(k, v.encode()) for k, v in DEAD_LETTER_EXAMPLE["headers"].items()])},
            }
        ],
    }


# --- the document --------------------------------------------------------------------------------

INFO_DESCRIPTION = """\
The events exchanged by the Dongui services (consent, data-subject requests, privacy-manager \
notifications) and the clinic systems that feed them and carry out their tasks. Generated from \
`shared/events.py` by `make asyncapi`; do not edit by hand.

**CloudEvents over Kafka.** Every event is a [CloudEvents 1.0](https://github.com/cloudevents/spec/blob/v1.0.2/cloudevents/spec.md) \
event carried by the [Kafka protocol binding](https://github.com/cloudevents/spec/blob/v1.0.2/cloudevents/bindings/kafka-protocol-binding.md). \
The services write structured content mode: the message value is the whole event as JSON and the \
header `content-type` is `application/cloudevents+json`. On `consent.inbound`, binary content mode \
(attributes in `ce_*` headers, the value is `data` alone) is accepted as well; on \
`dsr.task-results`, which the clinic systems write too, structured mode only. The CloudEvent \
`type` names the event and `data` is the object described for that type on that topic: the same \
type names carry different `data` on `consent.inbound` (what a clinic system saw) and on \
`consent.events` (what the consent service recorded, without personal data).

**Keys and order.** Messages are keyed by the data subject (`data.subject_id`; a published policy \
by `data.policy_id`; a request event by `data.request_id` until the request's subject is \
identified; a breach event, which names no person, by `data.breach_id`), so one person's events \
stay in order within a partition; the services also set the \
CloudEvent `subject` to the key. Recorded consent events carry a `sequence` per subject: \
drop one older than what you already have.

**Idempotency.** Delivery is at least once: after a failure an event may arrive again. Consumers \
de-duplicate by CloudEvent `id`: each records the ids it has handled in the same database \
transaction as the effect, so a redelivered event changes nothing. A producer that retries must \
send the same `id`; on `consent.inbound`, an `id` seen before with different content is refused \
as a conflict.

**Data-subject requests.** The request service publishes each request's lifecycle on \
`dsr.events`, with the holds and the commands for the consent service, and sends each clinic \
system its tasks on `dsr.tasks`. A system carries out the tasks whose `data.system_id` is its own \
and answers each on `dsr.task-results`, or by HTTP (`POST /v1/tasks/{task_id}/result`). A task \
not answered in time is re-sent with the same `task_id` and a higher `attempt`, as a new event: \
systems de-duplicate tasks by `task_id`, not by CloudEvent `id`.

**Signed records.** Each record a clinic system produces (`consent.inbound`, `dsr.task-results`) \
carries the header `dongui-signature`: `v1.<key_id>.<mac>`, where `mac` is the base64url (no \
padding) HMAC-SHA256 of the record's signed input (the topic name, a newline, each `ce_*`, \
`content-type` and `dongui-dlq-*` header sorted by name as `name=<base64url of the value>` and a \
newline, a newline, the value bytes), keyed with the system's signing key, HMAC-SHA256(its API \
key as UTF-8, `dongui-kafka-signing-v1`). A record is believed only from a live key of the \
system it speaks for (its `source`, its task's system); anything else is dead-lettered with the \
reason. Every record the services produce (`consent.events`, `dsr.events`, `dsr.tasks`, \
`dsr.systems`, `privacy.dead-letter`) carries `dongui-service-signature`, an HMAC of the same \
input with a key only the services hold, and their consumers refuse a record without it; a task \
on `dsr.tasks` carries besides `dongui-task-signature`, the request service's Ed25519 signature, \
which clinic systems check with `GET /v1/tasks/signing-key`. `dsr.systems` is also signed by the \
request service alone (the `dongsig` attribute).

**Dead letters.** A message a consumer cannot process goes to `privacy.dead-letter` unchanged, \
with the reason in `dongui-dlq-*` headers, and the consumer goes on with the next one."""


def build_document() -> dict[str, Any]:
    """The AsyncAPI 3.0 document, as plain dicts, lists and strings, in a stable order."""
    schemas: dict[str, Any] = {ENVELOPE: envelope_schema()}
    for model in CATALOGUE:
        for name, schema in model_schemas(model).items():
            if name in schemas and schemas[name] != schema:
                raise ValueError(f"two different schemas are both named {name}")
            schemas[name] = schema

    messages: dict[str, Any] = {}
    channels: dict[str, Any] = {}
    for topic in Topic:
        channel_messages: dict[str, Any] = {}
        models = [m for m in CATALOGUE if m.topic == topic]
        variants = [(m, False) for m in models]
        if topic in BINARY_TOPICS:
            variants += [(m, True) for m in models]
        for model, binary in variants:
            key = channel_message_key(model.event_type, binary=binary)
            component = component_message_key(topic, model.event_type, binary=binary)
            if key in channel_messages or component in messages:
                raise ValueError(f"{topic} has two messages of type {model.event_type}")
            messages[component] = _binary_event_message(model) if binary else _event_message(model)
            channel_messages[key] = {"$ref": f"#/components/messages/{component}"}
        if topic == Topic.dead_letter:
            messages["deadLetter"] = _dead_letter_message()
            channel_messages["deadLetter"] = {"$ref": "#/components/messages/deadLetter"}
        channels[channel_id(topic)] = {
            "address": str(topic),
            "title": str(topic),
            "description": TOPIC_DESCRIPTIONS[topic],
            "messages": channel_messages,
        }

    operations: dict[str, Any] = {}
    for op in OPERATIONS:
        channel = channel_id(op.topic)
        keys = list(channels[channel]["messages"])
        if op.event_types is not None:
            known = {m.event_type for m in CATALOGUE if m.topic == op.topic}
            if not set(op.event_types) <= known:
                raise ValueError(f"{op.id}: {set(op.event_types) - known} not on {op.topic}")
            keys = [
                k for k in keys
                if any(k in (channel_message_key(t), channel_message_key(t, binary=True))
                       for t in op.event_types)
            ]
        operations[op.id] = {
            "action": op.action,
            "channel": {"$ref": f"#/channels/{channel}"},
            "summary": op.summary,
            **({"description": op.description} if op.description else {}),
            "tags": [{"name": op.party}],
            "messages": [{"$ref": f"#/channels/{channel}/messages/{k}"} for k in keys],
        }

    for section in (schemas, messages):
        for key in section:
            if not COMPONENT_KEY.match(key):
                raise ValueError(f"'{key}' is not a valid AsyncAPI component key")

    return {
        "asyncapi": ASYNCAPI_VERSION,
        "info": {
            "title": "Dongui events",
            "version": "1.0.0",
            "description": INFO_DESCRIPTION,
            "tags": [{"name": name, "description": text} for name, text in PARTIES.items()],
        },
        "defaultContentType": STRUCTURED_CONTENT_TYPE,
        "servers": {
            "development": {
                "host": "127.0.0.1:9092",
                "protocol": "kafka",
                "description": (
                    "The embedded Kafka-protocol broker (Tansu, in memory) that `make run` starts; "
                    "plaintext, no authentication."
                ),
            },
            "production": {
                "host": "{bootstrap}",
                "protocol": "kafka-secure",
                "description": (
                    "Apache Kafka over TLS, with SASL when required. The services read "
                    "`KAFKA_BOOTSTRAP_SERVERS` (these brokers), `KAFKA_SECURITY_PROTOCOL` "
                    "(`SSL` or `SASL_SSL`), `KAFKA_SASL_MECHANISM`, `KAFKA_SASL_USERNAME` and "
                    "`KAFKA_SASL_PASSWORD`."
                ),
                "variables": {
                    "bootstrap": {
                        "description": (
                            "The bootstrap brokers as `host:port[,host:port...]`, as in "
                            "`KAFKA_BOOTSTRAP_SERVERS`."
                        )
                    }
                },
            },
        },
        "channels": channels,
        "operations": operations,
        "components": {"schemas": schemas, "messages": messages},
    }


class _Dumper(yaml.SafeDumper):
    """Safe YAML, no anchors or aliases, multi-line strings as literal blocks."""

    def ignore_aliases(self, data: Any) -> bool:
        return True


def _represent_str(dumper: yaml.SafeDumper, value: str) -> yaml.Node:
    if "\n" in value:
        return dumper.represent_scalar("tag:yaml.org,2002:str", value, style="|")
    return dumper.represent_str(value)


_Dumper.add_representer(str, _represent_str)


def render() -> str:
    return yaml.dump(
        build_document(), Dumper=_Dumper, allow_unicode=True, sort_keys=False, width=100
    )


if __name__ == "__main__":
    print(render(), end="")
