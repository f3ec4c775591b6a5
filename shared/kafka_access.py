"""Who is who on Kafka: each service's and each clinic system's principal, topics and groups.

One declaration, derived from the code: the topics from :data:`shared.operations.OPERATIONS` (a
party reads what it receives and writes what it sends), the consumer groups from :data:`GROUPS`,
which the services' consumers take their group ids from. ``deploy/kafka_acls.py`` turns it into
the ACLs a clinic applies (docs/deployment.md); the services create only their own topics
(``shared/runtime.py``), so a service needs ``Create`` on nothing else.

Names:

* a service's SASL user is ``dongui-<service>`` (principal ``User:dongui-consent``);
* a clinic system's is ``clinic-<system_id>`` (``User:clinic-emr``), and its consumer groups are
  named ``clinic-<system_id>.<anything>`` (``clinic-emr.tasks``): a system id never holds a dot
  (``^[a-z0-9][a-z0-9_-]*$``), so one system's group prefix never covers another's groups.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from shared.events import Topic
from shared.operations import OPERATIONS

SERVICES = ("consent", "dsr", "notifier")
#: The party that stands for every clinic system in :data:`OPERATIONS`.
CLINIC_SYSTEMS = "clinic-systems"
#: A clinic system's id, as the request service registers it (services/dsr/system_schemas.py).
SYSTEM_ID = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")


@dataclass(frozen=True)
class Group:
    """One consumer of a service: its name (as in dead letters' ``dongui-dlq-consumer``) and topics."""

    service: str
    consumer: str
    topics: tuple[Topic, ...]

    @property
    def group_id(self) -> str:
        return f"dongui-{self.service}-{self.consumer}"

    def consumer_options(self) -> dict[str, Any]:
        """``name``, ``topics`` and ``group_id`` of the consumer (``shared.consumer.Consumer``)."""
        return {"name": self.consumer, "topics": list(self.topics), "group_id": self.group_id}


#: Every consumer group of the services (their consumers are built from these).
GROUPS: tuple[Group, ...] = (
    Group("consent", "inbound", (Topic.consent_inbound,)),
    Group("consent", "dsr-events", (Topic.dsr_events,)),
    Group("consent", "systems", (Topic.dsr_systems,)),
    Group("dsr", "task-results", (Topic.dsr_task_results,)),
    Group("dsr", "withdrawals", (Topic.consent_events,)),
    Group("notifier", "events", (Topic.consent_events, Topic.dsr_events)),
    Group("notifier", "systems", (Topic.dsr_systems,)),
    Group("notifier", "dead-letters", (Topic.dead_letter,)),
)


def group(service: str, consumer: str) -> Group:
    """The declared group of ``service``'s consumer ``consumer`` (KeyError if undeclared)."""
    for declared in GROUPS:
        if (declared.service, declared.consumer) == (service, consumer):
            return declared
    raise KeyError(f"{service} has no consumer '{consumer}' in shared/kafka_access.py GROUPS")


def reads(party: str) -> frozenset[Topic]:
    """The topics ``party`` (a service, or :data:`CLINIC_SYSTEMS`) receives from."""
    return frozenset(op.topic for op in OPERATIONS if op.party == party and op.action == "receive")


def writes(party: str) -> frozenset[Topic]:
    """The topics ``party`` sends to."""
    return frozenset(op.topic for op in OPERATIONS if op.party == party and op.action == "send")


def topics_of(party: str) -> frozenset[Topic]:
    """Every topic ``party`` uses: the ones a service creates when missing."""
    return reads(party) | writes(party)


def service_user(service: str) -> str:
    """The SASL user (and principal name) of ``service``."""
    if service not in SERVICES:
        raise ValueError(f"no service '{service}' (one of {', '.join(SERVICES)})")
    return f"dongui-{service}"


def system_user(system_id: str) -> str:
    """The SASL user (and principal name) of the clinic system ``system_id``."""
    if not SYSTEM_ID.match(system_id):
        raise ValueError(f"'{system_id}' is no system id: lower-case letters, digits, '_' and '-', at most 64")
    return f"clinic-{system_id}"


def system_group_prefix(system_id: str) -> str:
    """What every consumer group of the clinic system ``system_id`` begins with."""
    return f"{system_user(system_id)}."
