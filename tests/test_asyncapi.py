"""docs/asyncapi.yaml: current with the event models, well formed, and true to the code.

Pure tests: no database and no broker. Schemas are checked with jsonschema (Draft 2020-12), with
``#/components/...`` references resolved against the whole document.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from aiokafka import ConsumerRecord
from jsonschema import Draft202012Validator, FormatChecker
from pydantic import ValidationError
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from shared import asyncapi, recordsig
from shared.cloudevents import InvalidEvent, from_kafka, new_event, parse_envelope, to_kafka
from shared.consumer import dead_letter_headers
from shared.event_examples import EXAMPLES
from shared.events import CATALOGUE, SIGNED_TOPICS, TOPIC_DESCRIPTIONS, EventData, Topic
from shared.rules.retention import RETENTION_CLASSES

DOC_PATH = Path(__file__).resolve().parent.parent / "docs" / "asyncapi.yaml"
DOC_URI = "urn:dongui:asyncapi"
KEY = re.compile(r"^[a-zA-Z0-9\.\-_]+$")
RFC3339 = re.compile(
    r"^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$"
)
MODEL_IDS = [m.__name__ for m in CATALOGUE]

#: One minimal valid ``data`` per model (required fields only), written here independently of
#: the examples in the document, so that neither can hide a mistake in the other.
MINIMAL: dict[str, dict[str, Any]] = {
    "ConsentGranted": {
        "subject_id": "p-1",
        "purpose": "marketing_email",
        "policy_id": "privacy",
        "policy_version": "3",
        "language": "vi",
        "method": "kiosk",
        "actor": {"role": "self"},
    },
    "ConsentDeclined": {
        "subject_id": "p-1",
        "purpose": "cookies_analytics",
        "policy_id": "privacy",
        "policy_version": "3",
        "language": "en",
        "method": "phone",
        "actor": {"role": "legal_representative", "name": "Tran Thi B", "relationship": "guardian"},
    },
    "ConsentWithdrawn": {
        "subject_id": "clinic-2:p@1",
        "purpose": "marketing_email",
        "policy_id": "privacy",
        "policy_version": "3",
        "language": "ko",
        "method": "email",
        "actor": {"role": "self"},
    },
    **{
        name: {
            "record_id": "r-1",
            "subject_id": "p-1",
            "sequence": 4,
            "purpose": "marketing_email",
            "decision": decision,
            "policy_id": "privacy",
            "policy_version": "3",
            "language": "vi",
            "notice_hash": "ab" * 32,
            "method": "kiosk",
            "actor_role": "legal_representative",
            "jurisdiction": "VN",
            "occurred_at": "2025-05-01T10:00:00+07:00",
            "recorded_at": "2025-05-01T03:00:01Z",
            "source_event_id": "e-1",
            "source": "clinic/crm",
            "record_hash": "cd" * 32,
        }
        for name, decision in (
            ("ConsentGrantRecorded", "granted"),
            ("ConsentDeclineRecorded", "declined"),
            ("ConsentWithdrawalRecorded", "withdrawn"),
        )
    },
    "PolicyPublished": {
        "policy_id": "privacy",
        "version": "3",
        "effective_at": "2025-06-01T00:00:00Z",
        "published_at": "2025-05-20T00:00:00Z",
        "published_by": "admin",
        "purposes": [],
        "text_hashes": {},
    },
    "SubjectHoldPlaced": {
        "subject_id": "p-1",
        "hold_id": "h-1",
        "request_id": "q-1",
        "reason": "restriction",
        "placed_at": "2025-05-02T00:00:00Z",
    },
    "SubjectHoldReleased": {
        "subject_id": "p-1",
        "hold_id": "h-1",
        "request_id": "q-1",
        "released_at": "2025-05-03T00:00:00Z",
    },
}

#: The fields every request lifecycle event requires (``subject_id`` is not among them).
_REQUEST = {
    "request_id": "q-2",
    "reference": "DSR-2025-ABCDE",
    "type": "access",
    "jurisdiction": "EU",
    "language": "en",
    "status": "received",
    "by_guardian": False,
    "child_own_request": True,
    "due_at": "2025-06-30T23:59:59+02:00",
    "occurred_at": "2025-05-30T08:00:00+02:00",
}
#: The fields every task requires.
_TASK = {
    "task_id": "t-1",
    "request_id": "q-2",
    "reference": "DSR-2025-ABCDE",
    "system_id": "crm",
    "subject_id": "p-2",
    "jurisdiction": "VN",
    "attempt": 1,
    "due_at": "2025-06-20T00:00:00Z",
}
#: A breach with nothing known beyond its discovery (no person: a breach event names none).
_BREACH: dict[str, Any] = {
    "breach_id": "b-1", "reference": "BR-2025-2345K", "status": "open", "occurred_at": None,
    "discovered_at": "2025-06-01T00:00:00Z", "notify_by": "2025-06-04T00:00:00Z", "subject_count": None,
    "data_categories": [], "sensitive": False, "unique_identifiers": False, "external_access": False,
    "regulator_required": False, "regulator_reasons": [], "people_told": 0, "outstanding": [],
    "at": "2025-06-01T00:00:00Z",
}
_BREACHES: dict[str, dict[str, Any]] = {
    "BreachRecorded": _BREACH,
    "BreachUpdated": {**_BREACH, "changed": []},
    "BreachDeadlineApproaching": {**_BREACH, "hours_elapsed": 48},
    "BreachOverdue": _BREACH,
    "BreachPeopleNotified": {**_BREACH, "notified_at": "2025-06-02T00:00:00Z", "count": 1, "channels": []},
    "BreachRegulatorReported": {**_BREACH, "reported_at": "2025-06-02T00:00:00Z", "regulator": "KISA"},
    "BreachClosed": {**_BREACH, "status": "closed", "outcome": "not_a_breach"},
}

_DESTRUCTION = {
    "destruction_id": "d-1", "reference": "DST-2026-AAAAA", "subject_id": "p-1", "trigger": "retention_expired",
    "purposes": [], "categories": [], "classes": ["access_log"], "due_at": "2026-03-18T01:00:00Z",
    "at": "2026-03-13T01:00:00Z",
}

MINIMAL.update({
    "RequestReceived": {**_REQUEST, "channel": "email", "waiting_for": []},
    "RequestVerified": {**_REQUEST, "status": "in_review", "method": "email"},
    "RequestApproved": {**_REQUEST, "status": "approved", "decided_by": "dpo"},
    "RequestRejected": {
        **_REQUEST, "status": "rejected", "decided_by": "dpo", "legal_ground": "GDPR 12(5)"
    },
    "RequestExtended": {
        **_REQUEST, "status": "in_progress", "previous_due_at": "2025-06-15T00:00:00Z",
        "reason": "complex",
    },
    "RequestCompleted": {**_REQUEST, "status": "completed", "outcome": "completed"},
    "RequestWithdrawn": {**_REQUEST, "status": "withdrawn"},
    "RequestDeadlineApproaching": {**_REQUEST, "status": "verifying", "threshold": 50},
    "RequestOverdue": {**_REQUEST, "status": "approved"},
    "RequestTaskUnanswered": {
        **_REQUEST, "status": "in_progress", "task_id": "t-1", "system_id": "crm", "attempts": 1
    },
    "RequestInformationNeeded": {**_REQUEST, "status": "verifying", "needed": "clarification", "asked_by": "s"},
    "RequestAcknowledged": {
        **_REQUEST, "status": "verifying", "acknowledge_by": "2025-06-03T00:00:00Z",
        "acknowledged_at": "2025-06-02T00:00:00Z", "acknowledged_via": "staff",
    },
    "RequestAcknowledgementOverdue": {**_REQUEST, "status": "verifying", "acknowledge_by": "2025-06-03T00:00:00Z"},
    "SubjectErasureApproved": {
        "subject_id": "p-2", "request_id": "q-2", "approved_at": "2025-06-01T00:00:00Z"
    },
    "SubjectConsentWithdrawalRequested": {
        "subject_id": "p-2",
        "request_id": "q-2",
        "purposes": None,
        "actor_role": "self",
        "method": "email",
        "requested_at": "2025-06-01T00:00:00Z",
    },
    **_BREACHES,
    "ExportTask": _TASK,
    "EraseTask": {**_TASK, "retain_classes": []},
    "RectifyTask": {**_TASK, "corrections": [{"item": "email", "corrected": "a@example.org"}],
                    "amend_classes": []},
    "RestrictTask": _TASK,
    "LiftTask": {**_TASK, "attempt": 3},
    "DestroyTask": {**_TASK, "trigger": "retention_expired", "purposes": [], "categories": [], "classes": ["access_log"],
                    "retain_classes": [], "kept": [], "rule": "Protection of Communications Secrets Act Art. 15-2"},
    "RetentionExpired": {**_DESTRUCTION, "systems": []},
    "DataDestroyed": {**_DESTRUCTION, "system_id": "crm", "outcome": "no_data", "erased": []},
    "DestructionOverdue": {**_DESTRUCTION, "outstanding": ["crm"]},
    "TaskResult": {
        "task_id": "t-1", "request_id": "q-2", "system_id": "crm", "subject_id": "p-2",
        "outcome": "no_data",
    },
    "SystemChanged": {
        "system_id": "emr", "source": None, "purposes": [], "rights": [], "retired_at": None,
        "updated_at": "2026-03-01T00:00:00Z",
    },
    "SystemKeyChanged": {
        "key_id": "key.0a", "system_id": "emr", "name": "k", "key_sha256": "0" * 64,
        "created_at": "2026-03-01T00:00:00Z", "expires_at": None, "revoked_at": None,
    },
})


# --- helpers -------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def doc() -> dict[str, Any]:
    return asyncapi.build_document()


def _pointer(doc: dict[str, Any], ref: str) -> Any:
    """Follow a local ``#/a/b`` reference; KeyError when it does not resolve."""
    assert ref.startswith("#/"), f"only local references are used: {ref}"
    node: Any = doc
    for part in ref[2:].split("/"):
        part = part.replace("~1", "/").replace("~0", "~")
        if isinstance(node, list):
            node = node[int(part)]
        elif isinstance(node, dict) and part in node:
            node = node[part]
        else:
            raise KeyError(ref)
    return node


def _refs(node: Any, path: str = "#") -> list[tuple[str, str]]:
    found = []
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref" and isinstance(value, str):
                found.append((path, value))
            else:
                found += _refs(value, f"{path}/{key}")
    elif isinstance(node, list):
        for index, value in enumerate(node):
            found += _refs(value, f"{path}/{index}")
    return found


def _format_checker() -> FormatChecker:
    checker = FormatChecker()

    @checker.checks("date-time")
    def _date_time(value: object) -> bool:  # rfc3339-validator is not installed: check here
        return not isinstance(value, str) or bool(RFC3339.match(value))

    return checker


def _validator(doc: dict[str, Any], pointer: str) -> Draft202012Validator:
    """A validator for the schema at ``pointer`` (``/components/...``) inside the document."""
    registry = Registry().with_resource(
        DOC_URI, Resource.from_contents(doc, default_specification=DRAFT202012)
    )
    return Draft202012Validator(
        {"$ref": f"{DOC_URI}#{pointer}"}, registry=registry, format_checker=_format_checker()
    )


def _channel(doc: dict[str, Any], topic: Topic) -> tuple[str, dict[str, Any]]:
    matches = [(cid, ch) for cid, ch in doc["channels"].items() if ch["address"] == topic]
    assert len(matches) == 1, f"expected one channel with address {topic}, found {len(matches)}"
    return matches[0]


def _structured_message(doc: dict[str, Any], model: type[EventData]) -> tuple[str, dict[str, Any]]:
    """The component key and message of ``model``'s structured-mode event on its topic."""
    _, channel = _channel(doc, model.topic)
    found = []
    for ref in channel["messages"].values():
        message = _pointer(doc, ref["$ref"])
        if message.get("name") == model.event_type and message.get("contentType") == (
            "application/cloudevents+json"
        ):
            found.append((ref["$ref"].rsplit("/", 1)[1], message))
    assert len(found) == 1, f"{model.__name__}: {len(found)} messages on {model.topic}, not 1"
    return found[0]


def _model_schemas(model: type[EventData]) -> dict[str, Any]:
    """The model's current JSON schema and definitions, as the document must hold them.

    The one change allowed: pydantic's OpenAPI-style ``discriminator`` objects are dropped.
    """

    def strip(value: Any) -> Any:
        if isinstance(value, dict):
            return {
                k: strip(v)
                for k, v in value.items()
                if not (k == "discriminator" and isinstance(v, dict))
            }
        if isinstance(value, list):
            return [strip(v) for v in value]
        return value

    schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
    defs = schema.pop("$defs", {})
    return strip({model.__name__: schema, **defs})


def _envelope(model: type[EventData], data: dict[str, Any]) -> dict[str, Any]:
    """The envelope the services would send: built by the code, not by hand."""
    instance = model.model_validate(data)
    event = new_event(
        source="clinic/emr", type=model.event_type, subject=instance.kafka_key(),
        data=instance.model_dump(mode="json"),
    )
    return event.canonical()


def _errors(validator: Draft202012Validator, instance: Any) -> list[str]:
    return [f"{list(e.absolute_path)}: {e.message}" for e in validator.iter_errors(instance)]


# --- the committed file --------------------------------------------------------------------------


def test_committed_document_is_current(doc: dict[str, Any]) -> None:
    assert DOC_PATH.exists(), "docs/asyncapi.yaml is missing: run `make asyncapi`"
    committed = yaml.safe_load(DOC_PATH.read_text(encoding="utf-8"))
    assert committed == doc, (
        "docs/asyncapi.yaml does not match the event models in shared/events.py: run "
        "`make asyncapi` and commit the result"
    )


def test_rendering_is_deterministic_and_round_trips(doc: dict[str, Any]) -> None:
    text = asyncapi.render()
    assert text == asyncapi.render()
    assert yaml.safe_load(text) == doc
    assert "&id" not in text and "*id" not in text, "no YAML anchors or aliases"


# --- AsyncAPI 3 structure ------------------------------------------------------------------------


def test_structure_follows_asyncapi_3(doc: dict[str, Any]) -> None:
    assert doc["asyncapi"] == "3.0.0"
    assert doc["info"]["title"] == "Dongui events"
    assert doc["info"]["version"] == "1.0.0"
    for name, server in doc["servers"].items():
        assert KEY.match(name)
        assert server["host"] and server["protocol"] in {"kafka", "kafka-secure"}
        for variable in re.findall(r"\{(\w+)\}", server["host"]):
            assert variable in server.get("variables", {}), f"server {name}: variable {variable}"

    for channel_id, channel in doc["channels"].items():
        assert KEY.match(channel_id), channel_id
        assert channel["address"]
        for key, ref in channel["messages"].items():
            assert KEY.match(key), key
            assert set(ref) == {"$ref"}
            assert ref["$ref"].startswith("#/components/messages/"), ref
            _pointer(doc, ref["$ref"])

    tag_names = {tag["name"] for tag in doc["info"]["tags"]}
    for op_id, op in doc["operations"].items():
        assert KEY.match(op_id), op_id
        assert op["action"] in {"send", "receive"}, op_id
        channel_ref = op["channel"]["$ref"]
        assert channel_ref.startswith("#/channels/"), op_id
        channel_id = channel_ref.removeprefix("#/channels/")
        assert channel_id in doc["channels"], f"{op_id}: no channel {channel_id}"
        assert op["messages"], f"{op_id} names no message"
        for ref in op["messages"]:
            # AsyncAPI 3: an operation's messages are a subset of its channel's messages.
            prefix = f"#/channels/{channel_id}/messages/"
            assert ref["$ref"].startswith(prefix), f"{op_id}: {ref} is not on {channel_id}"
            assert ref["$ref"].removeprefix(prefix) in doc["channels"][channel_id]["messages"]
        assert {tag["name"] for tag in op["tags"]} <= tag_names

    for section, entries in doc["components"].items():
        for key in entries:
            assert KEY.match(key), f"components.{section}: '{key}' is not a valid component key"
    for key, message in doc["components"]["messages"].items():
        assert "payload" in message, key
        assert message["headers"].get("type") == "object", key


def test_every_reference_resolves(doc: dict[str, Any]) -> None:
    refs = _refs(doc)
    assert len(refs) > 20
    unresolved = []
    for where, ref in refs:
        try:
            _pointer(doc, ref)
        except (KeyError, IndexError, ValueError):
            unresolved.append(f"{where}: {ref}")
    assert not unresolved, "unresolved references:\n" + "\n".join(unresolved)


def test_operations_say_who_sends_and_receives(doc: dict[str, Any]) -> None:
    ops = {
        (op["action"], op["channel"]["$ref"].removeprefix("#/channels/"), op["tags"][0]["name"])
        for op in doc["operations"].values()
    }
    ch = {topic: _channel(doc, topic)[0] for topic in Topic}
    expected = {
        ("send", ch[Topic.consent_inbound], "clinic-systems"),
        ("receive", ch[Topic.consent_inbound], "consent"),
        ("send", ch[Topic.consent_events], "consent"),
        ("send", ch[Topic.dsr_events], "dsr"),
        ("receive", ch[Topic.dsr_events], "consent"),
        ("send", ch[Topic.dead_letter], "consent"),
        ("send", ch[Topic.dead_letter], "notifier"),
        ("receive", ch[Topic.consent_events], "notifier"),
        ("receive", ch[Topic.consent_events], "dsr"),
        ("receive", ch[Topic.dsr_events], "notifier"),
        ("receive", ch[Topic.dead_letter], "notifier"),
        ("send", ch[Topic.dsr_tasks], "dsr"),
        ("receive", ch[Topic.dsr_tasks], "clinic-systems"),
        ("send", ch[Topic.dsr_task_results], "clinic-systems"),
        ("receive", ch[Topic.dsr_task_results], "dsr"),
        ("send", ch[Topic.dead_letter], "dsr"),
        ("send", ch[Topic.dsr_systems], "dsr"),
        ("receive", ch[Topic.dsr_systems], "consent"),
        ("receive", ch[Topic.dsr_systems], "notifier"),
    }
    assert ops == expected
    holds = doc["operations"]["consentReceivesHolds"]["messages"]
    names = {_pointer(doc, _pointer(doc, ref["$ref"])["$ref"])["name"] for ref in holds}
    assert names == {"subject.hold.placed", "subject.hold.released"}


def _operation_types(doc: dict[str, Any], op: dict[str, Any]) -> set[str]:
    """The CloudEvent types (message names) an operation names."""
    return {_pointer(doc, _pointer(doc, ref["$ref"])["$ref"])["name"] for ref in op["messages"]}


def _operations(
    doc: dict[str, Any], action: str, topic: Topic, party: str
) -> list[dict[str, Any]]:
    channel = f"#/channels/{_channel(doc, topic)[0]}"
    return [
        op for op in doc["operations"].values()
        if op["action"] == action and op["channel"]["$ref"] == channel
        and [tag["name"] for tag in op["tags"]] == [party]
    ]


def test_consent_receives_only_holds_and_its_commands_from_dsr_events(
    doc: dict[str, Any],
) -> None:
    operations = _operations(doc, "receive", Topic.dsr_events, "consent")
    received = set().union(*(_operation_types(doc, op) for op in operations))
    assert received == {
        "subject.hold.placed",
        "subject.hold.released",
        "subject.erasure.approved",
        "subject.consent_withdrawal.requested",
    }
    commands = doc["operations"]["consentReceivesSubjectRequests"]
    assert _operation_types(doc, commands) == {
        "subject.erasure.approved", "subject.consent_withdrawal.requested"
    }


def test_the_notifier_receives_every_dsr_event(doc: dict[str, Any]) -> None:
    (op,) = _operations(doc, "receive", Topic.dsr_events, "notifier")
    dsr_events = {m.event_type for m in CATALOGUE if m.topic == Topic.dsr_events}
    assert _operation_types(doc, op) == dsr_events
    assert any(t.startswith("request.") for t in _operation_types(doc, op))


def test_every_channel_has_a_sender_and_a_receiver(doc: dict[str, Any]) -> None:
    for topic in Topic:
        channel_id, channel = _channel(doc, topic)
        actions = {
            op["action"] for op in doc["operations"].values()
            if op["channel"]["$ref"] == f"#/channels/{channel_id}"
        }
        assert actions == {"send", "receive"}, f"{topic}: {sorted(actions)}"
        named = {
            ref["$ref"].rsplit("/", 1)[1]
            for op in doc["operations"].values()
            if op["channel"]["$ref"] == f"#/channels/{channel_id}" and op["action"] == "send"
            for ref in op["messages"]
        }
        assert named == set(channel["messages"]), f"{topic}: messages nobody sends"


def test_tasks_go_from_dsr_to_the_clinic_systems_and_back(doc: dict[str, Any]) -> None:
    tasks = {m.event_type for m in CATALOGUE if m.topic == Topic.dsr_tasks}
    assert tasks == {
        "dsr.task.export", "dsr.task.erase", "dsr.task.rectify", "dsr.task.restrict",
        "dsr.task.lift", "dsr.task.destroy",
    }
    (sends_tasks,) = _operations(doc, "send", Topic.dsr_tasks, "dsr")
    (receives_tasks,) = _operations(doc, "receive", Topic.dsr_tasks, "clinic-systems")
    assert _operation_types(doc, sends_tasks) == _operation_types(doc, receives_tasks) == tasks
    assert "`data.system_id`" in receives_tasks["summary"]
    assert not _operations(doc, "send", Topic.dsr_tasks, "clinic-systems")

    # Clinic systems send only TaskResult on dsr.task-results, and only in structured mode.
    (sends_results,) = _operations(doc, "send", Topic.dsr_task_results, "clinic-systems")
    (receives_results,) = _operations(doc, "receive", Topic.dsr_task_results, "dsr")
    assert _operation_types(doc, sends_results) == {"dsr.task.result"}
    assert _operation_types(doc, receives_results) == {"dsr.task.result"}
    _, channel = _channel(doc, Topic.dsr_task_results)
    (ref,) = channel["messages"].values()
    message = _pointer(doc, ref["$ref"])
    assert message["contentType"] == "application/cloudevents+json"
    assert message["payload"]["allOf"][1]["properties"]["data"] == {
        "$ref": "#/components/schemas/TaskResult"
    }
    assert not _operations(doc, "send", Topic.dsr_task_results, "dsr")
    # They may answer by HTTP instead, and the document says so.
    assert "POST /v1/tasks/{task_id}/result" in sends_results["description"]


def test_dsr_dead_letters_what_it_cannot_take_from_task_results(doc: dict[str, Any]) -> None:
    (op,) = _operations(doc, "send", Topic.dead_letter, "dsr")
    assert _operation_types(doc, op) == {"deadLetter"}
    assert "dsr.task-results" in op["summary"] and "consent.events" in op["summary"]
    assert _operations(doc, "receive", Topic.dsr_task_results, "dsr")


# --- the catalogue in the document ---------------------------------------------------------------


@pytest.mark.parametrize("topic", list(Topic), ids=str)
def test_every_topic_has_a_channel(doc: dict[str, Any], topic: Topic) -> None:
    _, channel = _channel(doc, topic)
    assert channel["description"] == TOPIC_DESCRIPTIONS[topic]
    assert channel["messages"], f"{topic} has no message"


@pytest.mark.parametrize("model", CATALOGUE, ids=MODEL_IDS)
def test_every_model_is_a_message_on_its_topic(doc: dict[str, Any], model: type[EventData]) -> None:
    _, message = _structured_message(doc, model)
    envelope_ref, specific = message["payload"]["allOf"]
    assert envelope_ref == {"$ref": "#/components/schemas/CloudEventEnvelope"}
    assert specific["properties"]["type"]["const"] == model.event_type
    assert specific["properties"]["data"] == {"$ref": f"#/components/schemas/{model.__name__}"}
    assert "data" in specific["required"]
    assert message["summary"] and message["summary"] in " ".join(message["description"].split())

    if model.topic in asyncapi.BINARY_TOPICS:
        _, channel = _channel(doc, model.topic)
        data_ref = {"$ref": f"#/components/schemas/{model.__name__}"}
        binary = [
            message
            for message in (_pointer(doc, ref["$ref"]) for ref in channel["messages"].values())
            if message["payload"] == data_ref
        ]
        assert len(binary) == 1, f"{model.__name__}: expected one binary-mode message"
        assert binary[0]["headers"]["properties"]["ce_type"]["const"] == model.event_type


@pytest.mark.parametrize("model", CATALOGUE, ids=MODEL_IDS)
def test_document_schema_is_the_models_current_schema(
    doc: dict[str, Any], model: type[EventData]
) -> None:
    for name, schema in _model_schemas(model).items():
        assert doc["components"]["schemas"].get(name) == schema, (
            f"components.schemas.{name} differs from {model.__name__}'s JSON schema: run "
            f"`make asyncapi`"
        )


def test_same_type_names_on_two_topics_are_distinct_messages(doc: dict[str, Any]) -> None:
    by_name = {m.__name__: m for m in CATALOGUE}
    inbound = _structured_message(doc, by_name["ConsentGranted"])
    recorded = _structured_message(doc, by_name["ConsentGrantRecorded"])
    assert inbound[0] != recorded[0]
    assert inbound[1]["name"] == recorded[1]["name"] == "consent.granted"
    assert inbound[1]["payload"] != recorded[1]["payload"]


# --- events validate against the document --------------------------------------------------------


def test_every_model_has_a_minimal_sample() -> None:
    assert set(MINIMAL) == set(MODEL_IDS)


@pytest.mark.parametrize("model", CATALOGUE, ids=MODEL_IDS)
@pytest.mark.parametrize("sample", ["minimal", "example"])
def test_sample_event_validates(doc: dict[str, Any], model: type[EventData], sample: str) -> None:
    data = MINIMAL[model.__name__] if sample == "minimal" else model.example.data
    instance = model.model_validate(data)  # the sample is valid for the code first
    key, _ = _structured_message(doc, model)
    payload = _validator(doc, f"/components/messages/{key}/payload")

    envelope = _envelope(model, data)
    assert not _errors(payload, envelope)
    assert not _errors(_validator(doc, f"/components/schemas/{model.__name__}"), data)

    # What goes over Kafka (structured mode) reads back as the same event.
    value, headers = to_kafka(parse_envelope(envelope))
    if model.topic in SIGNED_TOPICS:  # as a clinic system sends it (shared/recordsig.py)
        headers += recordsig.sign_headers(model.topic, value, asyncapi.EXAMPLE_SYSTEM_KEY, headers)
    elif model.topic in asyncapi.SERVICE_TOPICS:  # as the services send it (shared/servicesig.py)
        headers = asyncapi.EXAMPLE_SERVICES.signed(model.topic, value, headers)
    decoded = {name: raw.decode() for name, raw in headers}
    assert not _errors(_validator(doc, f"/components/messages/{key}/headers"), decoded)
    again = from_kafka(value, headers, instance.kafka_key().encode())
    assert again.canonical() == envelope
    assert model.model_validate(again.data) == instance


@pytest.mark.parametrize(
    "mutate",
    [
        pytest.param(lambda e: e["data"].update(unexpected=1), id="unknown-data-field"),
        pytest.param(lambda e: e.update(type="consent.nonsense"), id="other-type"),
        pytest.param(lambda e: e.pop("id"), id="no-id"),
        pytest.param(lambda e: e.update(specversion="0.3"), id="old-specversion"),
        pytest.param(lambda e: e["data"].update(subject_id="has space"), id="bad-subject-id"),
        pytest.param(lambda e: e["data"].update(language="fr"), id="unknown-language"),
        pytest.param(lambda e: e["data"].pop("purpose"), id="no-purpose"),
        pytest.param(
            lambda e: e["data"].update(actor={"role": "legal_representative"}),
            id="representative-without-name",
        ),
        pytest.param(lambda e: e["data"].update(actor={"role": "friend"}), id="unknown-actor-role"),
        pytest.param(lambda e: e.update(time="yesterday"), id="bad-time"),
        pytest.param(lambda e: e.update(Bad_Name="x"), id="bad-extension-name"),
    ],
)
def test_invalid_events_fail_the_schema_and_the_code(doc: dict[str, Any], mutate) -> None:
    """The schema refuses what the service refuses: it is not vacuously true."""
    model = next(m for m in CATALOGUE if m.__name__ == "ConsentGranted")
    key, _ = _structured_message(doc, model)
    envelope = _envelope(model, MINIMAL["ConsentGranted"])
    mutate(envelope)
    assert _errors(_validator(doc, f"/components/messages/{key}/payload"), envelope)
    with pytest.raises((InvalidEvent, ValidationError, ValueError)):
        event = parse_envelope(envelope)
        if event.type != model.event_type:
            raise ValueError("another type")
        model.model_validate(event.data)


def test_every_example_in_the_document_validates(doc: dict[str, Any]) -> None:
    checked = 0
    for key, message in doc["components"]["messages"].items():
        assert message.get("examples"), f"{key} has no example"
        for example in message["examples"]:
            base = f"/components/messages/{key}"
            assert not _errors(_validator(doc, f"{base}/headers"), example["headers"]), key
            assert not _errors(_validator(doc, f"{base}/payload"), example["payload"]), key
            checked += 1
    assert checked == len(doc["components"]["messages"])


@pytest.mark.parametrize(
    "model", [m for m in CATALOGUE if m.topic in asyncapi.BINARY_TOPICS], ids=lambda m: m.__name__
)
def test_binary_example_is_the_same_event_as_the_structured_one(doc: dict[str, Any], model) -> None:
    _, structured = _structured_message(doc, model)
    binary = doc["components"]["messages"][
        asyncapi.component_message_key(model.topic, model.event_type, binary=True)
    ]
    s, b = structured["examples"][0], binary["examples"][0]
    from_structured = from_kafka(
        json.dumps(s["payload"]).encode(), [(k, v.encode()) for k, v in s["headers"].items()], None
    )
    from_binary = from_kafka(
        json.dumps(b["payload"]).encode(), [(k, v.encode()) for k, v in b["headers"].items()], None
    )
    assert from_binary.digest() == from_structured.digest()


# --- Kafka keys and dead letters -----------------------------------------------------------------


@pytest.mark.parametrize("model", CATALOGUE, ids=MODEL_IDS)
def test_documented_kafka_key_is_the_models_key(
    doc: dict[str, Any], model: type[EventData]
) -> None:
    fields = asyncapi.key_fields(model)
    assert fields and fields[-1] in model.model_json_schema()["required"], "a key never missing"

    def documented(data: dict[str, Any]) -> Any:  # the first of the fields that is not null
        return next(data[f] for f in fields if data.get(f) is not None)

    for data in (MINIMAL[model.__name__], model.example.data):
        instance = model.model_validate(data)
        assert instance.kafka_key() == documented(data)
    # Each field of the rule is the key when those before it are null.
    for position, field in enumerate(fields):
        data = {**MINIMAL[model.__name__], **dict.fromkeys(fields[:position])}
        data[field] = f"key-{position}"
        assert model.model_validate(data).kafka_key() == f"key-{position}", (model, field)

    _, message = _structured_message(doc, model)
    for field in fields:
        assert f"`data.{field}`" in message["bindings"]["kafka"]["key"]["description"]
        assert f"`data.{field}`" in message["description"]
    example = message["examples"][0]["payload"]
    assert example["subject"] == documented(example["data"])
    assert example["subject"] == model.model_validate(example["data"]).kafka_key()


@pytest.mark.parametrize(
    "model", [m for m in CATALOGUE if m.event_type.startswith("request.")], ids=lambda m: m.__name__
)
def test_request_events_are_keyed_by_request_until_the_subject_is_known(
    doc: dict[str, Any], model: type[EventData]
) -> None:
    assert model.topic == Topic.dsr_events
    assert asyncapi.key_fields(model) == ("subject_id", "request_id")
    unidentified = {**MINIMAL[model.__name__], "subject_id": None}
    assert model.model_validate(unidentified).kafka_key() == unidentified["request_id"]
    identified = {**MINIMAL[model.__name__], "subject_id": "p-7"}
    assert model.model_validate(identified).kafka_key() == "p-7"


def test_an_example_shows_a_request_keyed_by_its_request_id(doc: dict[str, Any]) -> None:
    model = next(m for m in CATALOGUE if m.__name__ == "RequestReceived")
    _, message = _structured_message(doc, model)
    example = message["examples"][0]["payload"]
    assert example["data"]["subject_id"] is None
    assert example["subject"] == example["data"]["request_id"]


def test_a_model_overriding_the_key_must_say_how(monkeypatch: pytest.MonkeyPatch) -> None:
    from shared.events import TaskData

    class Keyed(TaskData):
        event_type = "dsr.task.keyed"

        def kafka_key(self) -> str:
            return self.task_id

    with pytest.raises(ValueError, match="Keyed overrides kafka_key"):
        asyncapi.key_fields(Keyed)
    monkeypatch.setitem(asyncapi.KEY_FIELDS, "Keyed", ("task_id",))
    assert asyncapi.key_fields(Keyed) == ("task_id",)


@pytest.mark.parametrize(
    "model",
    [m for m in CATALOGUE if m.topic in (Topic.dsr_tasks, Topic.dsr_task_results)],
    ids=lambda m: m.__name__,
)
def test_tasks_and_results_are_keyed_by_subject(doc: dict[str, Any], model) -> None:
    assert asyncapi.key_fields(model) == ("subject_id",)
    schema = doc["components"]["schemas"][model.__name__]
    assert {"subject_id", "system_id", "task_id", "request_id"} <= set(schema["required"])
    _, message = _structured_message(doc, model)
    assert message["bindings"]["kafka"]["key"]["description"].startswith("`data.subject_id`:")
    assert "request_id`:" not in message["bindings"]["kafka"]["key"]["description"]


def test_service_topics_and_clinic_topics(doc: dict[str, Any]) -> None:
    assert asyncapi.SERVICE_TOPICS == {Topic.consent_events, Topic.dsr_events, Topic.dsr_tasks}
    assert asyncapi.BINARY_TOPICS == {Topic.consent_inbound}
    for model in CATALOGUE:
        _, message = _structured_message(doc, model)
        required = message["payload"]["allOf"][1]["required"]
        if model.topic in asyncapi.SERVICE_TOPICS:
            # Written through the outbox: always a subject (the key) and a time.
            assert {"subject", "time"} <= set(required), model.__name__
            signatures = ["dongui-service-signature"] + (["dongui-task-signature"] if model.topic == Topic.dsr_tasks
                                                         else [])
            assert message["headers"]["required"] == ["content-type", *signatures], model.__name__
        else:
            # Written by the clinic systems: subject and time may be left out; each record is
            # signed by the system that writes it (shared/recordsig.py).
            assert not {"subject", "time"} & set(required), model.__name__
            if model.topic in SIGNED_TOPICS:
                assert message["headers"]["required"] == ["dongui-signature"], model.__name__
            else:
                assert "required" not in message["headers"], model.__name__


def test_task_results_are_structured_mode_only(doc: dict[str, Any]) -> None:
    model = next(m for m in CATALOGUE if m.__name__ == "TaskResult")
    key, _message = _structured_message(doc, model)
    _, channel = _channel(doc, Topic.dsr_task_results)
    assert len(channel["messages"]) == 1, "no binary-mode message on dsr.task-results"
    headers = _validator(doc, f"/components/messages/{key}/headers")
    signature = recordsig.header_value(Topic.dsr_task_results, b"{}", asyncapi.EXAMPLE_SYSTEM_KEY).decode()
    assert not _errors(headers, {"content-type": "application/cloudevents+json", "dongui-signature": signature})
    assert _errors(headers, {"content-type": "application/cloudevents+json"})  # unsigned
    assert _errors(headers, {"ce_specversion": "1.0", "ce_type": "dsr.task.result", "dongui-signature": signature})
    # Neither subject nor time is required of a clinic system.
    envelope = _envelope(model, MINIMAL["TaskResult"])
    del envelope["subject"], envelope["time"]
    assert not _errors(_validator(doc, f"/components/messages/{key}/payload"), envelope)
    # A service topic requires both.
    task = next(m for m in CATALOGUE if m.__name__ == "ExportTask")
    task_key, _ = _structured_message(doc, task)
    envelope = _envelope(task, MINIMAL["ExportTask"])
    del envelope["time"]
    assert _errors(_validator(doc, f"/components/messages/{task_key}/payload"), envelope)


def test_examples_of_requests_tasks_and_results_agree() -> None:
    """The examples follow the same fictional requests: a task belongs to a request shown on
    dsr.events, and the result answers a task shown on dsr.tasks."""
    by_name = {m.__name__: m for m in CATALOGUE}
    examples = {name: model.example.data for name, model in by_name.items()}
    requests: dict[str, dict[str, Any]] = {}
    for name, data in examples.items():
        if by_name[name].topic == Topic.dsr_events and ("request_id" in data or "destruction_id" in data):
            # A request's, or a destruction's (a destroy task carries its id as request_id); not a breach's.
            known = requests.setdefault(data.get("request_id") or data["destruction_id"], {})
            for field in ("reference", "subject_id", "jurisdiction"):
                if data.get(field) is not None:
                    assert known.setdefault(field, data[field]) == data[field], (name, field)
    tasks = {}
    for name, data in examples.items():
        if by_name[name].topic == Topic.dsr_tasks:
            request = requests[data["request_id"]]
            for field in ("reference", "subject_id", "jurisdiction"):
                assert request.get(field, data[field]) == data[field], (name, field)
            tasks[data["task_id"]] = data
            for retention_class in data.get("retain_classes", []) + data.get("amend_classes", []):
                assert retention_class in RETENTION_CLASSES, (name, retention_class)
    assert len(tasks) == len([n for n in examples if by_name[n].topic == Topic.dsr_tasks])

    result = examples["TaskResult"]
    task = tasks[result["task_id"]]
    assert {k: result[k] for k in ("request_id", "system_id", "subject_id")} == {
        k: task[k] for k in ("request_id", "system_id", "subject_id")
    }
    for kept in result["retained"]:
        assert kept["retention_class"] in task["retain_classes"]
    unanswered = examples["RequestTaskUnanswered"]
    assert tasks[unanswered["task_id"]]["system_id"] == unanswered["system_id"]
    assert tasks[unanswered["task_id"]]["request_id"] == unanswered["request_id"]


def test_dead_letter_headers_are_the_consumers(doc: dict[str, Any]) -> None:
    _, channel = _channel(doc, Topic.dead_letter)
    (ref,) = channel["messages"].values()
    key = ref["$ref"].rsplit("/", 1)[1]
    message = doc["components"]["messages"][key]
    assert message["payload"].keys() == {"description"}, "any bytes: the schema constrains nothing"

    record = ConsumerRecord(
        topic=str(Topic.consent_inbound), partition=2, offset=1187, timestamp=0, timestamp_type=0,
        key=b"p-1", value=b"not json", checksum=None, serialized_key_size=3,
        serialized_value_size=8,
        headers=[("content-type", b"application/cloudevents+json"), ("dongui-dlq-reason", b"old")],
    )
    headers = dead_letter_headers(record, "consent/inbound", "the message is not JSON")
    headers = asyncapi.EXAMPLE_SERVICES.signed(Topic.dead_letter, record.value, headers)  # as the consumer sends it
    decoded = {name: value.decode() for name, value in headers}
    assert not _errors(_validator(doc, f"/components/messages/{key}/headers"), decoded)
    produced = {name for name, _ in headers if name.startswith("dongui-dlq-")}
    assert produced | {"dongui-service-signature"} == set(message["headers"]["required"]) == set(asyncapi.DEAD_LETTER_HEADERS) | {"dongui-service-signature"}

    # A reason longer than the limit is cut by the consumer, as documented.
    long = asyncapi.EXAMPLE_SERVICES.signed(Topic.dead_letter, record.value, dead_letter_headers(record, "consent/inbound", "x" * 5000))
    assert not _errors(
        _validator(doc, f"/components/messages/{key}/headers"),
        {name: value.decode() for name, value in long},
    )


def test_every_model_has_its_own_example() -> None:
    """Each model of the catalogue carries the example written for it, and nothing else has one."""
    assert set(EXAMPLES) == set(MODEL_IDS)
    for model in CATALOGUE:
        assert vars(model).get("example") is EXAMPLES[model.__name__], model.__name__


def test_build_refuses_a_model_without_an_example(monkeypatch: pytest.MonkeyPatch) -> None:
    from shared.events import PolicyPublished

    monkeypatch.delattr(PolicyPublished, "example")
    with pytest.raises(ValueError, match="PolicyPublished"):
        asyncapi.build_document()


def test_build_refuses_a_model_showing_its_parents_example() -> None:
    from shared.events import ConsentGranted

    class ConsentGrantedAgain(ConsentGranted):
        event_type = "consent.granted_again"

    assert ConsentGrantedAgain.example is ConsentGranted.example  # inherited, but not its own
    with pytest.raises(ValueError, match="ConsentGrantedAgain"):
        asyncapi._example(ConsentGrantedAgain)


def test_build_refuses_an_invalid_example(monkeypatch: pytest.MonkeyPatch) -> None:
    from shared.event_examples import EventExample
    from shared.events import PolicyPublished

    example = PolicyPublished.example
    monkeypatch.setattr(
        PolicyPublished, "example",
        EventExample({**example.data, "unexpected": 1}, example.source, example.time),
    )
    with pytest.raises(ValidationError):
        asyncapi.build_document()
