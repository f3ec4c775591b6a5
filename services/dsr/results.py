"""Answers: a system's sealed answer opened (the one place that opens one), and the result the
requester reads."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import asyncpg
from pydantic import ValidationError

from services.dsr import errors, store
from services.dsr.context import Context
from services.dsr.model import Request
from services.dsr.provisions import Provisions
from services.dsr.reading import ground_out, how_to_object, remedies
from shared import sealing
from shared.events import TaskResult
from shared.rules.retention import RETENTION_CLASSES

#: Reads a subject's consent history from the consent service (for an access request's result).
ConsentHistory = Callable[[str], Awaitable[list[dict[str, Any]]]]


def open_result(result: TaskResult, key: bytes | None) -> TaskResult:
    """A system's answer with its ``sealed`` part opened (``key``: the subject's transit root, or
    None when it was destroyed; the system sealed it to the subject's public key). Raises :class:`~services.dsr.errors.UnusableSealedAnswer` (or
    :class:`~services.dsr.errors.InvalidSealedAnswer`) for a sealed part that cannot be used.

    With the key destroyed (the subject was erased) the personal part can never be read: the
    answer keeps its clear fields (the outcome), and its note says what happened.
    """
    if result.sealed is None:
        return result
    given = result.model_dump(mode="json", exclude_unset=True)
    token = given.pop("sealed")
    if key is None:
        note = ("The personal part of this answer was sealed with the subject's transit key, which was "
                "destroyed when their erasure was approved: it cannot be read.")
        return TaskResult.model_validate({**given, "note": note})
    try:
        sealing.check_kid(token, result.subject_id, field="sealed", subject_field="subject_id")
        fields = sealing.open_sealed(token, key, field="sealed")
    except sealing.SealedDataError as exc:
        raise errors.UnusableSealedAnswer(str(exc)) from None
    unknown = sorted(set(fields) - TaskResult.SEALABLE)
    if unknown:
        raise errors.UnusableSealedAnswer(
            f"sealed may hold only {', '.join(sorted(TaskResult.SEALABLE))}, not {', '.join(unknown)}.")
    clash = sorted(set(fields) & set(given))
    if clash:
        raise errors.UnusableSealedAnswer(f"sealed repeats fields that are also given in the clear: {', '.join(clash)}.")
    try:
        return TaskResult.model_validate({**given, **fields})
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(map(str, first["loc"]))
        raise errors.InvalidSealedAnswer(f"sealed, once opened: {where}: {first['msg']}",
                                         field=f"sealed.{where}", reason=first["msg"]) from None


class Results:
    def __init__(self, ctx: Context, provisions: Provisions | None = None) -> None:
        self.ctx = ctx
        #: The provision log, whose entries for the subject an access report lists.
        self.provisions = provisions or Provisions(ctx)

    async def result(self, conn: asyncpg.Connection, req: Request,
                     consent_history: ConsentHistory | None) -> dict[str, Any]:
        """The answer to the requester: what each system did, and for access, everything held."""
        req.check_result_ready()
        cipher = await self.ctx.cipher(conn, req)
        personal = cipher.open(req.personal, context=req.context) or {}
        systems = []
        kept_by_law = []
        for t in await store.tasks(conn, req.request_id):
            answer = cipher.open(t.result, context=t.context) or {}
            for item in answer.get("retained", []):
                rc = RETENTION_CLASSES.get(item["retention_class"])
                kept_by_law.append({**item, "system_id": t.system_id, "system": t.system_name,
                                    "legal_ground": rc.citation if rc else None})
            systems.append({
                "system_id": t.system_id, "name": t.system_name, "processor": t.processor,
                "task": t.kind, "status": t.status, "outcome": t.outcome,
                "exported": answer.get("exported", []), "erased": answer.get("erased", []),
                "retained": answer.get("retained", []), "note": answer.get("note"),
            })
        report: dict[str, Any] = {
            "request_id": str(req.request_id),
            "reference": req.reference,
            "type": req.type,
            "status": req.status,
            "subject_id": req.subject_id,
            "closed_at": req.closed_at,
            "ground": ground.model_dump() if (ground := ground_out(req.ground, req.language)) else None,
            "legal_ground": req.legal_ground,
            "how_to_object": how_to_object(req),
            "remedies": [remedy.model_dump() for remedy in remedies(req)],
            "systems": systems,
            "kept_by_law": kept_by_law,
        }
        if req.type == "complaint":
            answer = personal.get("answer") or {}
            report.update(answer=answer.get("text"), answered_at=answer.get("at"))
        if req.type == "access" and req.status in ("completed", "partially_completed"):
            report.update(await self._access_report(req, systems, consent_history))
            registry = {r["system_id"]: r for r in await store.systems(conn)}
            # To whom the clinic entrusted the data, for what and until when (PIPA Art. 26(2)).
            report["processors"] = [
                {"system_id": sid, "name": r["name"], "entrusted_duty": r["entrusted_duty"],
                 "contract_from": r["contract_from"], "contract_until": r["contract_until"]}
                for sid in sorted({s["system_id"] for s in systems if s["processor"]}) if (r := registry.get(sid))]
            report["provided_by_law"] = (await self.provisions.of_subject(conn, req.subject_id, req.language)
                                         if req.subject_id else [])
        return report

    @staticmethod
    async def _access_report(req: Request, systems: list[dict[str, Any]],
                             consent_history: ConsentHistory | None) -> dict[str, Any]:
        """Everything held about the subject, why, for how long, and who received it (PIPA 35)."""
        exported = [item for s in systems for item in s["exported"]]
        retention = sorted({(item["category"], item["retention_class"]) for item in exported
                            if item.get("retention_class")})
        return {
            "items_held": sorted({item["category"] for item in exported}),
            "purposes": sorted({p for item in exported for p in item.get("purposes", [])}),
            "retention": [
                {"category": c, "retention_class": rc,
                 "legal_ground": RETENTION_CLASSES[rc].citation if rc in RETENTION_CLASSES else None}
                for c, rc in retention
            ],
            # A processor received data only if it holds some: one that holds nothing is no recipient.
            "recipients": sorted({r for item in exported for r in item.get("recipients", [])}
                                 | {s["name"] for s in systems if s["processor"] and s["exported"]}),
            "consents": await consent_history(req.subject_id) if consent_history and req.subject_id else None,
        }


#: What a requester gives about the subject that a system's records can contradict (exact values).
CHECKED_FIELDS = ("birth_date",)


def disagreements(subject: dict[str, Any] | None, systems: list[dict[str, Any]]) -> list[dict[str, str]]:
    """Where a system's exported records disagree with what the requester gave (a different birth
    date: perhaps another person's records, or a mistake on either side), for staff to look at
    before the answer goes out. Names are not compared: the same name is written in Hangul, in
    Latin letters, in different orders."""
    given = {f: str(subject[f]) for f in CHECKED_FIELDS if subject and subject.get(f)}
    found: list[dict[str, str]] = []
    for system in systems:
        for item in system.get("exported", []):
            records = item.get("items") if isinstance(item.get("items"), list) else [item.get("items")]
            for record in records:
                if not isinstance(record, dict):
                    continue
                for name, value in given.items():
                    held = record.get(name)
                    if held is not None and str(held) != value:
                        found.append({"system": system.get("name") or system.get("system_id", ""), "field": name,
                                      "given": value, "held": str(held)})
    return found
