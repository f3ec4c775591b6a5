"""What a withdrawal destroys, what it keeps and why, and which systems are told: pure rules.

A purpose's data is its data categories, kept under its retention class. When consent to it is
withdrawn (or membership, which withdraws the purposes that come with it), what only that consent
justified must go (PIPA Art. 21(1); the seed policies, section 4: "destroy … without delay"):

- only a purpose kept "until withdrawal" is destroyed by its withdrawal; one with a fixed legal
  period (access logs' 3 months) waits for its period to end (the retention clock);
- a data category another purpose in force also uses stays, cited: treatment (the medical record,
  kept by the Medical Service Act whatever is withdrawn) or a consent still given;
- the retention class goes unless another purpose in force is kept under it;
- every system in service holding the class or a category gets a destroy task, processors
  included, and keeps what a law makes it keep (its fixed-period classes, as for an erasure).
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from shared.rules.purposes import PURPOSES, Purpose
from shared.rules.retention import RETENTION_CLASSES


@dataclass(frozen=True)
class Kept:
    """What stays on purpose, and why: ``because`` a purpose in force or a law, cited."""

    because: str
    citation: str
    category: str | None = None
    retention_class: str | None = None

    def as_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"because": self.because, "citation": self.citation}
        if self.category is not None:
            out["category"] = self.category
        if self.retention_class is not None:
            out["retention_class"] = self.retention_class
        return out


@dataclass(frozen=True)
class Plan:
    trigger: str
    purposes: tuple[str, ...]
    categories: tuple[str, ...]
    classes: tuple[str, ...]
    kept: tuple[Kept, ...]
    rule: str
    #: The retention class whose destruction period applies (DSR_DESTRUCTION_PERIODS).
    period_class: str


@dataclass(frozen=True)
class Holder:
    """A system told to destroy: ``retain_classes``, its classes a law keeps for a fixed period."""

    system_id: str
    retain_classes: tuple[str, ...]


def after_withdrawal(purpose_id: str, in_force: Collection[str],
                     catalogue: Mapping[str, Purpose] = PURPOSES) -> Plan | None:
    """What the withdrawal of ``purpose_id`` destroys, given the subject's purposes still granted
    (``in_force``); None when nothing goes (an unknown purpose, one granted again since, one a law
    keeps for a fixed period, or one whose every category and class another purpose still uses)."""
    purpose = catalogue.get(purpose_id)
    if purpose is None or purpose_id in in_force:
        return None
    kept_class = RETENTION_CLASSES[purpose.retention_class]
    if kept_class.fixed:
        return None  # its period runs on: the retention clock destroys it when it ends
    # Purposes that still justify data: those granted, and those no consent is needed for (treatment).
    others = [q for q in catalogue.values() if q.id != purpose_id and (q.id in in_force or not q.needs_consent)]
    categories: list[str] = []
    kept: list[Kept] = []
    for category in purpose.data_categories:
        covering = next((q for q in others if category in q.data_categories), None)
        if covering is None:
            categories.append(category)
        else:
            kept.append(Kept(covering.id, RETENTION_CLASSES[covering.retention_class].citation, category=category))
    sharing = next((q for q in others if q.retention_class == kept_class.id), None)
    classes: tuple[str, ...] = ()
    if sharing is None:
        classes = (kept_class.id,)
    else:
        kept.append(Kept(sharing.id, kept_class.citation, retention_class=kept_class.id))
    if not categories and not classes:
        return None
    trigger = "membership_withdrawal" if kept_class.until == "membership_withdrawal" else "consent_withdrawal"
    return Plan(trigger=trigger, purposes=(purpose_id,), categories=tuple(categories), classes=classes,
                kept=tuple(kept), rule=kept_class.citation, period_class=kept_class.id)


def after_expiry(retention_class: str) -> Plan:
    """What the end of a subject's period for ``retention_class`` destroys: the class, everywhere it
    is held (each system keeps a record of it still within its own period, answered as retained)."""
    kept_class = RETENTION_CLASSES[retention_class]
    assert kept_class.fixed, "only a class with a legal period has a clock"
    return Plan(trigger="retention_expired", purposes=(), categories=(), classes=(retention_class,), kept=(),
                rule=kept_class.citation, period_class=retention_class)


def holders(plan: Plan, systems: Iterable[Mapping[str, Any]]) -> list[Holder]:
    """The systems in service that hold a class or a category the plan destroys, processors
    included (a processor holds the clinic's data on its behalf: PIPA Art. 26)."""
    out = []
    for system in systems:
        if system["retired_at"] is not None:
            continue
        classes = list(system["retention_classes"])
        if set(classes) & set(plan.classes) or set(system["data_categories"]) & set(plan.categories):
            legal = tuple(c for c in classes if c in RETENTION_CLASSES and RETENTION_CLASSES[c].fixed)
            out.append(Holder(system["system_id"], legal))
    return out
