"""The ledger as it is read: records as the API shows them, the hash chain verified, receipts."""

from __future__ import annotations

import uuid
from typing import Any
from zoneinfo import ZoneInfo

import asyncpg

from services.consent import domain, store
from services.consent.policies import Policies
from services.consent.schemas import ActorOut, ChainProblem, ChainVerification, ConsentRecordOut
from services.consent.settings import ConsentSettings
from shared.crypto import SubjectCipher, SubjectKeys
from shared.digests import sha256_hex
from shared.problems import NotFound
from shared.rules.retention import RETENTION_CLASSES

#: Ledger columns shown as they are stored (the personal ones are opened separately).
_RECORD_OUT_COLUMNS = (
    "subject_id", "sequence", "decision", "purpose", "policy_id", "policy_version", "language",
    "notice_hash", "method", "jurisdiction", "requirement", "occurred_at", "recorded_at",
    "event_id", "source", "received_via", "prev_hash", "record_hash", "legal_basis",
)


class Ledger:
    def __init__(self, settings: ConsentSettings, policies: Policies, keys: SubjectKeys, zone: ZoneInfo) -> None:
        self.settings = settings
        self.policies = policies
        self.keys = keys
        self.zone = zone

    async def render_records(self, conn: asyncpg.Connection | None, subject_id: str, rows: list[Any],
                             *, cipher: SubjectCipher | None = None, with_personal: bool = True) -> list[ConsentRecordOut]:
        """Ledger rows as the API shows them, personal fields opened with the subject's key (read
        on ``conn`` unless ``cipher`` is given; none once the subject was erased, nor when
        ``with_personal`` is False: a clinic system without the consent_history right)."""
        if not with_personal:
            conn = cipher = None
        if cipher is None and conn is not None:
            cipher = await self.keys.cipher(conn, subject_id, create=False)
        out = []
        for row in rows:
            personal = cipher.open(row["personal"], context=str(row["record_id"])) if cipher else None
            personal = personal or {}
            actor = personal.get("actor") or {"role": row["actor_role"]}
            out.append(
                ConsentRecordOut(
                    **{name: row[name] for name in _RECORD_OUT_COLUMNS},
                    record_id=str(row["record_id"]),
                    actor=ActorOut(**actor),
                    subject_birth_date=personal.get("subject_birth_date"),
                    evidence=personal.get("evidence"),
                )
            )
        return out

    async def history(self, conn: asyncpg.Connection, subject_id: str) -> list[ConsentRecordOut]:
        """Every recorded event of the subject, oldest first, as the API shows them."""
        return await self.render_records(conn, subject_id, await store.history(conn, subject_id))

    async def verify_chain(self, conn: asyncpg.Connection, subject_id: str) -> ChainVerification:
        rows = await store.history(conn, subject_id)
        head = await store.subject_head(conn, subject_id)
        if not rows and head is None:
            raise NotFound(f"No consent has been recorded for subject '{subject_id}'.")
        problems: list[ChainProblem] = []
        prev = domain.GENESIS_HASH
        for expected_seq, row in enumerate(rows, start=1):
            record = dict(row)
            rid = str(record["record_id"])
            if record["sequence"] != expected_seq:
                problems.append(ChainProblem(sequence=record["sequence"], record_id=rid, problem=f"sequence {expected_seq} is missing"))
            if record["prev_hash"] != prev:
                problems.append(ChainProblem(sequence=record["sequence"], record_id=rid, problem="prev_hash does not match the previous record"))
            if record["personal"] is not None and sha256_hex(record["personal"]) != record["personal_digest"]:
                problems.append(ChainProblem(sequence=record["sequence"], record_id=rid, problem="the sealed personal data was changed"))
            if domain.chain_hash(record["prev_hash"], domain.chained_view(record)) != record["record_hash"]:
                problems.append(ChainProblem(sequence=record["sequence"], record_id=rid, problem="the record was changed after it was written"))
            prev = record["record_hash"]
        if head is not None and (head["last_sequence"] != len(rows) or head["last_hash"] != prev):
            problems.append(ChainProblem(sequence=head["last_sequence"], record_id="", problem="records are missing from the end of the chain"))
        return ChainVerification(
            subject_id=subject_id,
            valid=not problems,
            records=len(rows),
            head_hash=prev if rows else None,
            problems=problems,
        )

    async def receipt(self, conn: asyncpg.Connection, record_id: str) -> dict[str, Any]:
        """A consent receipt with the fields of ISO/IEC TS 27560:2023 (and Kantara CR v1.1 names)."""
        try:
            uuid.UUID(record_id)
        except ValueError:
            raise NotFound(f"There is no consent record '{record_id}'.") from None
        row = await store.record(conn, record_id)
        if row is None:
            raise NotFound(f"There is no consent record '{record_id}'.")
        [record] = await self.render_records(conn, row["subject_id"], [row])
        policy = await self.policies.version(conn, row["policy_id"], row["policy_version"])
        purpose = self.policies.purposes.get(row["purpose"])
        retention = RETENTION_CLASSES[purpose.retention_class] if purpose else None
        # Calendar years/months (shared/rules/retention.py), counted here from the record's day.
        day = record.occurred_at.astimezone(self.zone).date()
        retention_ends = retention.ends_on(day) if retention and retention.fixed else None
        language = row["language"]
        return {
            "schema": "ISO/IEC TS 27560:2023 consent record (Kantara Consent Receipt v1.1 compatible)",
            "record_id": record.record_id,
            "record_hash": record.record_hash,
            "principal": {"id": record.subject_id, "birth_date": record.subject_birth_date},
            "controller": {
                "name": self.settings.controller_name,
                "contact": self.settings.controller_contact,
                "privacy_manager": self.settings.privacy_manager_name,
            },
            "notice": {
                "policy_id": record.policy_id,
                "version": record.policy_version,
                "language": language,
                "content_hash": record.notice_hash,
                "effective_at": policy["effective_at"] if policy else None,
            },
            "purpose": {
                "id": record.purpose,
                "name": purpose.names.get(language) if purpose else None,
                "description": purpose.descriptions.get(language) if purpose else None,
                "dpv_purpose": purpose.dpv_purpose if purpose else None,
                # As kept (and chained) with the record; a record made before says the catalogue's.
                "legal_basis": record.legal_basis or (purpose.legal_basis if purpose else None),
                "legal_basis_recorded": record.legal_basis is not None,
                "required": purpose.required if purpose else None,
            },
            "data_categories": purpose.data_categories if purpose else [],
            "recipients": purpose.recipients if purpose else [],
            "retention": {
                "class": purpose.retention_class if purpose else None,
                "period_days": (retention_ends - day).days if retention_ends is not None else None,
                "until": retention.until if retention else None,
                "legal_ground": retention.citation if retention else None,
            },
            "jurisdiction": record.jurisdiction,
            "collection_method": record.method,
            "actor": record.actor.model_dump(),
            "withdrawal_method": (
                "Withdraw at any time, as easily as consent was given: through the channel used to give it "
                "(web, paper, phone, email or kiosk), or by asking the privacy manager; it takes effect at once."
            ),
            "event": {
                "type": f"consent.{record.decision}",
                "state": record.decision,
                "time": record.occurred_at,
                "recorded_at": record.recorded_at,
                "event_id": record.event_id,
                "source": record.source,
            },
        }
