"""The rules of data-subject requests, as pure functions: the state machine, verification, and
what work each request type sends to which clinic system (deadlines, ages and purposes are in
:mod:`shared.rules`)."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

# The rules of law this service applies are defined once, in shared/rules.
from shared.rules.ages import MINOR_BELOW, age_on, is_minor  # noqa: F401
from shared.rules.calendar import add_working_days  # noqa: F401
from shared.rules.deadlines import Deadlines, applicable_laws, deadlines, extend  # noqa: F401
from shared.rules.grounds import GROUNDS, extension_grounds, refusal_grounds, remedies  # noqa: F401
from shared.rules.purposes import MEMBERSHIP_PURPOSES  # noqa: F401
from shared.rules.retention import RETENTION_CLASSES

OPEN_STATES = ("received", "verifying", "in_review", "approved", "in_progress")
CLOSED_STATES = ("completed", "partially_completed", "rejected", "withdrawn")

#: Allowed transitions of the workflow (rejected and withdrawn from any open state).
TRANSITIONS: dict[str, tuple[str, ...]] = {
    "received": ("verifying", "rejected", "withdrawn"),
    "verifying": ("in_review", "rejected", "withdrawn"),
    # A complaint is answered, not approved: it completes from review (Workflow.answer).
    "in_review": ("approved", "completed", "rejected", "withdrawn"),
    "approved": ("in_progress", "completed", "rejected", "withdrawn"),
    "in_progress": ("completed", "partially_completed", "rejected", "withdrawn"),
    # An approved objection re-opens the request it objected to.
    "rejected": ("in_review",),
}

#: Requests that are the requester's own act, carried out as soon as they are verified, with no
#: decision: withdrawing consent, or membership, is as easy as giving it (PIPA 37; seed policies,
#: section 8: "withdraw from membership directly on-line").
TAKES_EFFECT_ON_VERIFICATION = frozenset({"consent_withdrawal", "membership_withdrawal"})

#: Verification methods accepted for identity and for a representative's authority
#: (Decree 17-2(1) and 46): a signed document, mobile-phone identity verification, SMS or email
#: confirmation, in person with an ID, a written power of attorney for an agent.
VERIFICATION_METHODS = ("signed_document", "mobile_phone", "sms", "email", "in_person", "power_of_attorney")

#: Classes whose records are amended, never overwritten (Medical Service Act 22(2)).
AMEND_CLASSES = frozenset(c.id for c in RETENTION_CLASSES.values() if c.amend_only)

TaskKind = Literal["export", "erase", "rectify", "restrict", "lift"]


def can_move(current: str, target: str) -> bool:
    return target in TRANSITIONS.get(current, ())


def new_reference(now: datetime, prefix: str = "DSR") -> str:
    """A reference a person can read out on the phone: no 0/O or 1/I/L to confuse."""
    alphabet = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"
    return f"{prefix}-{now.year}-" + "".join(secrets.choice(alphabet) for _ in range(5))


@dataclass(frozen=True)
class PlannedTask:
    system_id: str
    kind: TaskKind
    retain_classes: tuple[str, ...] = ()
    amend_classes: tuple[str, ...] = ()


def plan_tasks(request_type: str, systems: list[dict]) -> list[PlannedTask]:
    """What each registered system must do for an approved request of ``request_type``.

    A withdrawal (of consent or of membership) sends no task of its own: each withdrawal the consent
    service records is a destruction (:mod:`services.dsr.destruction`), whoever recorded it, sent to
    every system holding the purpose's data, processors included, within its time, with evidence."""
    tasks: list[PlannedTask] = []
    for system in systems:
        classes = tuple(system["retention_classes"])
        # Classes kept for a fixed legal period are retained while within it; the rest may go.
        legal = tuple(c for c in classes if c in RETENTION_CLASSES and RETENTION_CLASSES[c].fixed)
        if request_type == "access":
            tasks.append(PlannedTask(system["system_id"], "export"))
        elif request_type == "erasure":
            tasks.append(PlannedTask(system["system_id"], "erase", retain_classes=legal))
        elif request_type == "rectification":
            tasks.append(PlannedTask(system["system_id"], "rectify",
                                     amend_classes=tuple(c for c in classes if c in AMEND_CLASSES)))
        elif request_type == "restriction":
            tasks.append(PlannedTask(system["system_id"], "restrict"))
    return tasks
