"""The ledger: append-only, hash-chained, personal data sealed per subject, receipts."""

from __future__ import annotations

import asyncio
import random

import asyncpg
import pytest

from services.consent import domain
from shared.cloudevents import parse_envelope
from tests.support import MANAGER, STAFF, SYSTEM, consent_event, eventually, guardian, produce, structured


async def record_three(consent, subject: str) -> None:
    for purpose in ("marketing_email", "marketing_sms", "membership"):
        response = await consent.client.post(
            "/v1/consent-events", json=consent_event(subject_id=subject, purpose=purpose), headers=SYSTEM
        )
        assert response.status_code == 201


async def test_the_chain_of_an_untouched_ledger_verifies(consent, policy):
    await record_three(consent, "chain-ok")
    body = (await consent.client.get("/v1/subjects/chain-ok/consents/verify", headers=STAFF)).json()
    assert body == {"subject_id": "chain-ok", "valid": True, "records": 3,
                    "head_hash": body["head_hash"], "problems": []}


async def test_concurrent_writers_of_the_same_subjects_chain_every_event_once(consent, policy):
    """Transactions that each write several of the same subjects, taken in different orders,
    wait for each other's heads (no deadlock) and each appends after the other's last row."""
    subjects = [f"busy-{i}" for i in range(4)]
    purposes = ["marketing_email", "marketing_sms", "membership", "cookies_analytics"]

    async def writer(n: int) -> None:
        order = random.Random(n).sample(subjects, len(subjects))
        events = [parse_envelope(consent_event(subject_id=s, purpose=purposes[n % 4])) for s in order]
        async with consent.pool.acquire() as conn, conn.transaction():
            outcomes = await consent.service.recording.record_many(conn, events, via="http")
            await asyncio.sleep(0.01)  # hold the heads a moment, so that the others queue behind
        assert all(o.created for o in outcomes), outcomes

    await asyncio.wait_for(asyncio.gather(*(writer(n) for n in range(8))), timeout=60)
    for subject in subjects:
        body = (await consent.client.get(f"/v1/subjects/{subject}/consents/verify", headers=STAFF)).json()
        assert body["valid"] and body["records"] == 8, body


async def test_the_ledger_refuses_updates_and_deletes(consent, policy):
    await record_three(consent, "append-only")
    async with consent.pool.acquire() as conn:
        with pytest.raises(asyncpg.InsufficientPrivilegeError, match="append-only"):
            await conn.execute("UPDATE consent_records SET decision = 'granted'")
        with pytest.raises(asyncpg.InsufficientPrivilegeError, match="append-only"):
            await conn.execute("DELETE FROM consent_records")


async def test_the_hash_chain_detects_a_changed_row(consent, policy, database_url):
    await record_three(consent, "tampered")
    # A superuser can switch triggers off; the chain still shows what they did.
    conn = await asyncpg.connect(database_url, server_settings={"search_path": "consent"})
    try:
        await conn.execute("SET session_replication_role = replica")
        await conn.execute(
            "UPDATE consent_records SET decision = 'granted', method = 'paper' "
            "WHERE subject_id = 'tampered' AND sequence = 2"
        )
    finally:
        await conn.close()

    body = (await consent.client.get("/v1/subjects/tampered/consents/verify", headers=STAFF)).json()

    assert body["valid"] is False
    assert [(p["sequence"], p["problem"]) for p in body["problems"]] == [
        (2, "the record was changed after it was written")
    ]


async def test_the_hash_chain_detects_a_deleted_row(consent, policy, database_url):
    await record_three(consent, "truncated")
    conn = await asyncpg.connect(database_url, server_settings={"search_path": "consent"})
    try:
        await conn.execute("SET session_replication_role = replica")
        await conn.execute("DELETE FROM consent_records WHERE subject_id = 'truncated' AND sequence = 3")
    finally:
        await conn.close()

    body = (await consent.client.get("/v1/subjects/truncated/consents/verify", headers=STAFF)).json()

    assert body["valid"] is False
    assert "missing from the end" in body["problems"][0]["problem"]


async def test_personal_data_is_stored_encrypted_and_gone_once_the_key_is_destroyed(consent, policy):
    event = consent_event(subject_id="shred-me", birth_date="2015-03-03", actor=guardian("Kim Minji", "mother"))
    assert (await consent.client.post("/v1/consent-events", json=event, headers=SYSTEM)).status_code == 201

    async with consent.pool.acquire() as conn:
        dump = await conn.fetchval("SELECT string_agg(t::text, ' ') FROM consent_records t")
        assert "Kim Minji" not in dump and "2015-03-03" not in dump and "203.0.113.7" not in dump
        await consent.service.keys.destroy(conn, "shred-me")

    [record] = (await consent.client.get("/v1/subjects/shred-me/consents/history", headers=STAFF)).json()["records"]
    assert record["actor"] == {"role": "legal_representative", "name": None, "relationship": None, "contact": None}
    assert record["subject_birth_date"] is None and record["evidence"] is None
    assert record["purpose"] == "marketing_email"  # the de-identified ledger remains as evidence
    verify = (await consent.client.get("/v1/subjects/shred-me/consents/verify", headers=STAFF)).json()
    assert verify["valid"] is True


async def test_a_receipt_carries_the_iso_27560_fields(consent, policy):
    event = consent_event(subject_id="receipt-1", language="vi", purpose="model_photos")
    record = (await consent.client.post("/v1/consent-events", json=event, headers=SYSTEM)).json()

    receipt = (await consent.client.get(f"/v1/consent-records/{record['record_id']}/receipt", headers=MANAGER)).json()

    assert receipt["principal"]["id"] == "receipt-1"
    assert receipt["notice"]["language"] == "vi"
    assert receipt["notice"]["content_hash"] == record["notice_hash"]
    assert receipt["purpose"]["name"] == "Ảnh đăng ký làm người mẫu"
    assert receipt["purpose"]["legal_basis"] == "dpv:Consent"
    assert receipt["retention"]["until"] == "consent_withdrawal"
    assert receipt["event"]["state"] == "granted"
    assert {"controller", "data_categories", "recipients", "jurisdiction", "withdrawal_method"} <= receipt.keys()
    missing = await consent.client.get("/v1/consent-records/not-a-uuid/receipt", headers=MANAGER)
    assert missing.status_code == 404


async def test_each_record_keeps_its_legal_basis_chained_whatever_the_catalogue_says_later(consent, policy,
                                                                                          database_url):
    event = consent_event(subject_id="basis-1", purpose="model_photos")
    record = (await consent.client.post("/v1/consent-events", json=event, headers=SYSTEM)).json()
    assert record["legal_basis"] == "dpv:Consent"

    # The catalogue is edited afterwards (CONSENT_PURPOSES_FILE): the record still says what it was based on.
    purposes = consent.service.ledger.policies.purposes
    before = purposes["model_photos"]
    purposes["model_photos"] = before.model_copy(update={"legal_basis": "dpv:LegitimateInterest"})
    try:
        receipt = (await consent.client.get(f"/v1/consent-records/{record['record_id']}/receipt",
                                            headers=MANAGER)).json()
    finally:
        purposes["model_photos"] = before
    assert receipt["purpose"]["legal_basis"] == "dpv:Consent" and receipt["purpose"]["legal_basis_recorded"] is True

    # Changed in the table behind the service's back, it breaks the chain like any other field.
    conn = await asyncpg.connect(database_url, server_settings={"search_path": "consent"})
    try:
        await conn.execute("SET session_replication_role = replica")
        await conn.execute("UPDATE consent_records SET legal_basis = 'dpv:LegalObligation' WHERE subject_id = 'basis-1'")
    finally:
        await conn.close()
    body = (await consent.client.get("/v1/subjects/basis-1/consents/verify", headers=STAFF)).json()
    assert body["valid"] is False and body["problems"][0]["problem"] == "the record was changed after it was written"


def test_a_record_made_before_legal_bases_were_kept_hashes_as_it_was_made():
    row = {name: f"v-{name}" for name in domain.CHAINED_FIELDS}
    old = domain.chain_hash(domain.GENESIS_HASH, domain.chained_view(row))
    assert domain.chain_hash(domain.GENESIS_HASH, domain.chained_view({**row, "legal_basis": None})) == old
    assert domain.chain_hash(domain.GENESIS_HASH, domain.chained_view({**row, "legal_basis": "dpv:Consent"})) != old


async def test_kafka_events_are_recorded_one_transaction_per_batch(consent, policy, kafka_bootstrap):
    events = [consent_event(subject_id=f"batch-{i % 7}", purpose=p)
              for i, p in enumerate(["marketing_email", "marketing_sms", "membership", "cookies_analytics"] * 25)]
    # Sent together, as a clinic system's producer batches them: the consumer takes them in a few
    # fetches (sent one by one, each could come alone: Apache Kafka answers a fetch at once).
    await produce(kafka_bootstrap, "consent.inbound", [structured(e) for e in events], together=True)

    async def recorded() -> int:
        async with consent.pool.acquire() as conn:
            return await conn.fetchval("SELECT count(*) FROM consent_records WHERE received_via = 'kafka'")

    await eventually(lambda: _at_least(recorded(), len(events)))
    async with consent.pool.acquire() as conn:
        transactions = await conn.fetchval(
            "SELECT count(DISTINCT xmin::text) FROM consent_records WHERE received_via = 'kafka'"
        )
    assert transactions < len(events) / 5, f"{transactions} transactions for {len(events)} events"


async def _at_least(awaitable, n: int) -> bool:
    return (await awaitable) >= n


async def test_a_batch_sends_rows_in_the_tables_own_column_order(consent):
    """``store.write_batch`` passes the ledger rows and states as arrays of the tables' row types:
    the code's column lists must be the tables' columns, in order, or the batch would not encode
    (or, worse, a column would land in its neighbour)."""
    from services.consent import store

    async with consent.pool.acquire() as conn:
        async def columns(table: str) -> tuple[str, ...]:
            return tuple(await conn.fetchval(
                "SELECT array_agg(attname ORDER BY attnum) FROM pg_attribute "
                "WHERE attrelid = $1::regclass AND attnum > 0 AND NOT attisdropped", table))

        assert await columns("consent_records") == store._RECORD_COLUMN_NAMES
        assert await columns("consent_state") == store._STATE_FIELDS
