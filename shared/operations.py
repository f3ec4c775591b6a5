"""Who sends and receives what on Kafka: each party's operations on each topic.

Written once here, read by ``shared/asyncapi.py`` (the AsyncAPI document's operations),
``shared/kafka_access.py`` (each service's topics and consumer groups) and ``deploy/kafka_acls.py``
(the ACLs a clinic applies): a topic a party sends to or receives from is named here or nowhere.
"""

from __future__ import annotations

from dataclasses import dataclass

from shared.events import Topic

#: Tags of the parties that send or receive (``info.tags``; each operation carries one).
PARTIES: dict[str, str] = {
    "clinic-systems": (
        "The clinics' own systems: EMR, reservations, website, model-application form, CRM. They "
        "send consent decisions, and carry out the tasks of data-subject requests."
    ),
    "consent": "The consent service (services/consent).",
    "dsr": (
        "The request service: data-subject requests, their tasks for the clinic systems, and "
        "processing holds (services/dsr)."
    ),
    "notifier": "The notifier: tells the privacy manager what needs attention (services/notifier).",
}


@dataclass(frozen=True)
class Operation:
    id: str
    action: str  # "send" or "receive"
    topic: Topic
    party: str
    summary: str
    #: Only these event types (all of the channel's messages when None).
    event_types: tuple[str, ...] | None = None
    #: More than the summary says, when there is more to say.
    description: str | None = None


OPERATIONS: tuple[Operation, ...] = (
    Operation(
        "clinicSendsInbound", "send", Topic.consent_inbound, "clinic-systems",
        "A clinic system sends each consent decision a person made, one purpose per event.",
    ),
    Operation(
        "consentReceivesInbound", "receive", Topic.consent_inbound, "consent",
        "The consent service records each consent event once (by CloudEvent id); an event it "
        "cannot record goes to privacy.dead-letter with the reason.",
    ),
    Operation(
        "consentSendsEvents", "send", Topic.consent_events, "consent",
        "The consent service publishes every consent event it recorded and every policy version "
        "it published.",
    ),
    Operation(
        "notifierReceivesConsentEvents", "receive", Topic.consent_events, "notifier",
        "The notifier reads recorded consent events and policy publications.",
    ),
    Operation(
        "dsrSendsEvents", "send", Topic.dsr_events, "dsr",
        "The request service publishes the lifecycle of data-subject requests, processing holds, "
        "and what the consent service must do for a request (erase a subject, withdraw "
        "consents).",
    ),
    Operation(
        "consentReceivesHolds", "receive", Topic.dsr_events, "consent",
        "The consent service honours processing holds: while a subject has a hold, their data "
        "may not be used. It ignores the request lifecycle events.",
        event_types=("subject.hold.placed", "subject.hold.released"),
    ),
    Operation(
        "consentReceivesSubjectRequests", "receive", Topic.dsr_events, "consent",
        "The consent service carries out what a data-subject request asks of it: on an approved "
        "erasure it destroys the subject's key and keeps only the de-identified ledger; on a "
        "requested withdrawal it records a withdrawal for each purpose.",
        event_types=("subject.erasure.approved", "subject.consent_withdrawal.requested"),
    ),
    Operation(
        "notifierReceivesDsrEvents", "receive", Topic.dsr_events, "notifier",
        "The notifier reads the lifecycle of data-subject requests and holds.",
    ),
    Operation(
        "dsrSendsTasks", "send", Topic.dsr_tasks, "dsr",
        "Once a request is approved, the request service sends each registered clinic system "
        "the task it must carry out (export, erase, rectify, restrict, lift), and re-sends a "
        "task that was not answered in time.",
    ),
    Operation(
        "clinicReceivesTasks", "receive", Topic.dsr_tasks, "clinic-systems",
        "Each clinic system carries out the tasks addressed to it: those whose `data.system_id` "
        "is its own.",
        description=(
            "A system ignores the tasks of other systems (the topic carries them all). A task is "
            "re-sent with the same `task_id` and a higher `attempt` when it was not answered in "
            "time: treat it idempotently (carry out each `task_id` once). Answer on "
            "`dsr.task-results`, or by HTTP (`POST /v1/tasks/{task_id}/result`)."
        ),
    ),
    Operation(
        "clinicSendsTaskResults", "send", Topic.dsr_task_results, "clinic-systems",
        "A clinic system answers each task it carried out: what it exported, erased, corrected "
        "or restricted, and what the law made it keep.",
        description=(
            "One `dsr.task.result` per task, in structured content mode only (no `ce_*` "
            "headers), with the task's `task_id`, `request_id`, `system_id` and `subject_id`. "
            "Instead of this topic, a system may answer by HTTP: `POST "
            "/v1/tasks/{task_id}/result` on the request service."
        ),
    ),
    Operation(
        "dsrReceivesTaskResults", "receive", Topic.dsr_task_results, "dsr",
        "The request service records each system's answer to a task; when every task of a "
        "request is answered, the request is completed (partially when something was kept). "
        "A result it cannot record goes to privacy.dead-letter with the reason.",
    ),
    Operation(
        "dsrReceivesWithdrawals", "receive", Topic.consent_events, "dsr",
        "The request service acts on each recorded withdrawal: what only the withdrawn purpose "
        "kept is destroyed, by destroy tasks to the systems that hold it (services/dsr/"
        "destruction). It skips every other event of the channel.",
        event_types=("consent.withdrawn",),
    ),
    Operation(
        "dsrSendsSystems", "send", Topic.dsr_systems, "dsr",
        "The request service publishes the whole state of a clinic system when the privacy "
        "manager registers, updates or retires it, and of a key when it is issued or revoked.",
    ),
    Operation(
        "consentReceivesSystems", "receive", Topic.dsr_systems, "consent",
        "The consent service copies the systems and their keys' hashes: it authenticates each "
        "clinic system by its own key, and knows the source it publishes as and the purposes it "
        "may check.",
    ),
    Operation(
        "notifierReceivesSystems", "receive", Topic.dsr_systems, "notifier",
        "The notifier copies the systems and their keys' hashes, to authenticate clinic systems.",
    ),
    Operation(
        "consentSendsDeadLetters", "send", Topic.dead_letter, "consent",
        "The consent service's consumers send each message they cannot process, unchanged, "
        "with the reason.",
    ),
    Operation(
        "dsrSendsDeadLetters", "send", Topic.dead_letter, "dsr",
        "The request service's consumers of dsr.task-results and consent.events send each "
        "message they cannot process, unchanged, with the reason.",
    ),
    Operation(
        "notifierSendsDeadLetters", "send", Topic.dead_letter, "notifier",
        "The notifier's consumers send each message they cannot process, unchanged, with the "
        "reason.",
    ),
    Operation(
        "notifierReceivesDeadLetters", "receive", Topic.dead_letter, "notifier",
        "The notifier tells the privacy manager about every dead letter.",
    ),
)
