"""Each clinic system its own key: issued by the privacy manager, shown once, stored hashed, working
on all three services, refused everywhere soon after it is revoked (issue 18)."""

from __future__ import annotations

import base64
import json
import time
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from deploy.local_infra import free_port
from services.dsr.app import build_app as build_dsr
from services.notifier.app import build_app as build_notifier
from shared.digests import sha256_hex
from tests.dsr.conftest import dsr_settings
from tests.notifier.conftest import notifier_settings
from tests.support import MANAGER, STAFF, Served, eventually

EMR = {"system_id": "emr", "name": "EMR", "data_categories": ["medical_record"], "retention_classes": ["medical_record"],
       "source": "clinic/emr", "purposes": ["treatment"]}
CRM = {"system_id": "crm", "name": "Marketing list", "data_categories": ["email"], "retention_classes": ["marketing"],
       "processor": True, "source": "agency/crm", "purposes": ["marketing_email", "marketing_sms"]}


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


async def issue(stack, system_id: str, name: str = "test key", **body) -> dict:
    response = await stack.dsr.post(f"/v1/systems/{system_id}/keys", json={"name": name, **body}, headers=MANAGER)
    assert response.status_code == 201, response.text
    assert response.headers["cache-control"] == "no-store"
    return response.json()


async def test_a_key_is_shown_once_stored_hashed_and_works_until_revoked(stack):
    assert (await stack.dsr.post("/v1/systems", json=EMR, headers=MANAGER)).status_code == 201
    issued = await issue(stack, "emr", "emr production")
    key = issued["key"]
    assert issued["system_id"] == "emr" and key.startswith("dgk_")
    # A year by default.
    expires = datetime.fromisoformat(issued["expires_at"])
    assert timedelta(days=364) < expires - datetime.now(UTC) <= timedelta(days=365)

    async with stack.dsr_app.state.runtime.pool.acquire() as conn:
        row = await conn.fetchrow("SELECT * FROM system_keys WHERE key_id = $1", issued["key_id"])
    assert row["key_sha256"] == sha256_hex(key) and key not in str(dict(row))
    listed = (await stack.dsr.get("/v1/systems/emr/keys", headers=MANAGER)).json()
    assert [k["key_id"] for k in listed] == [issued["key_id"]] and "key" not in listed[0]

    # The system updates its own registration with it (narrowing is allowed).
    narrowed = await stack.dsr.post("/v1/systems", json={**EMR, "purposes": []}, headers=bearer(key))
    assert narrowed.status_code == 200, narrowed.text
    assert narrowed.json()["purposes"] == [] and narrowed.json()["source"] == "clinic/emr"

    revoked = await stack.dsr.delete(f"/v1/systems/emr/keys/{issued['key_id']}", headers=MANAGER)
    assert revoked.status_code == 204
    refused = await stack.dsr.post("/v1/systems", json=EMR, headers=bearer(key))
    assert refused.status_code == 401 and refused.headers["content-type"] == "application/problem+json"
    again = await stack.dsr.delete(f"/v1/systems/emr/keys/{issued['key_id']}", headers=MANAGER)
    assert again.status_code == 204  # revoking twice changes nothing


async def test_only_the_privacy_manager_issues_and_revokes_keys(stack):
    await stack.dsr.post("/v1/systems", json=EMR, headers=MANAGER)
    key = (await issue(stack, "emr"))["key"]
    for headers in (STAFF, bearer(key)):
        assert (await stack.dsr.post("/v1/systems/emr/keys", json={"name": "x"}, headers=headers)).status_code == 403
        assert (await stack.dsr.get("/v1/systems/emr/keys", headers=headers)).status_code == 403
    assert (await stack.dsr.post("/v1/systems/nobody/keys", json={"name": "x"}, headers=MANAGER)).status_code == 404
    assert (await stack.dsr.delete("/v1/systems/emr/keys/key.00", headers=MANAGER)).status_code == 404
    past = await stack.dsr.post("/v1/systems/emr/keys", json={"name": "x", "expires_at": "2020-01-01T00:00:00Z"},
                                headers=MANAGER)
    assert past.status_code == 422 and past.json()["errors"][0]["field"] == "expires_at"


async def test_an_expired_key_is_refused(stack):
    await stack.dsr.post("/v1/systems", json=EMR, headers=MANAGER)
    soon = datetime.now(UTC) + timedelta(seconds=1)
    key = (await issue(stack, "emr", expires_at=soon.isoformat()))["key"]
    keyring = stack.dsr_app.state.keyring
    keyring.clock = lambda: soon + timedelta(seconds=1)
    refused = await stack.dsr.post("/v1/systems", json=EMR, headers=bearer(key))
    assert refused.status_code == 401 and "expired" in refused.json()["detail"]


async def test_a_system_registers_and_updates_only_itself_and_never_widens_its_grants(stack):
    for body in (EMR, CRM):
        assert (await stack.dsr.post("/v1/systems", json=body, headers=MANAGER)).status_code == 201
    crm = (await issue(stack, "crm"))["key"]

    takeover = await stack.dsr.post("/v1/systems", json={**EMR, "name": "Mine now"}, headers=bearer(crm))
    assert takeover.status_code == 403 and takeover.json()["errors"][0]["field"] == "system_id"
    new = await stack.dsr.post("/v1/systems", json={**CRM, "system_id": "crm2", "source": "agency/crm2"},
                               headers=bearer(crm))
    assert new.status_code == 403
    for wider in ({"purposes": ["marketing_email", "treatment"]}, {"source": "clinic/emr"},
                  {"rights": ["consent_history"]}):
        refused = await stack.dsr.post("/v1/systems", json={**CRM, **wider}, headers=bearer(crm))
        assert refused.status_code == 403, (wider, refused.text)
    systems = {s["system_id"]: s for s in (await stack.dsr.get("/v1/systems", headers=STAFF)).json()}
    assert systems["emr"]["name"] == "EMR" and systems["crm"]["purposes"] == CRM["purposes"]
    # A description update leaves the grants as they are.
    kept = await stack.dsr.post("/v1/systems", json={k: v for k, v in CRM.items() if k not in ("source", "purposes")}
                                | {"description": "now with SMS"}, headers=bearer(crm))
    assert kept.status_code == 200 and kept.json()["purposes"] == CRM["purposes"], kept.text
    # Two systems never share a source.
    clash = await stack.dsr.post("/v1/systems", json={**CRM, "source": "clinic/emr"}, headers=MANAGER)
    assert clash.status_code == 409 and clash.json()["errors"][0]["field"] == "source"


async def test_a_revoked_key_is_refused_by_every_replica_of_every_service(stack):
    """Two replicas of the request service, the consent service and the notifier: a key issued on
    one works on all, and once revoked is refused by all; the time it took is printed."""
    await stack.dsr.post("/v1/systems", json=CRM, headers=MANAGER)
    replica = build_dsr(dsr_settings(stack.database_url, stack.bootstrap, str(stack.consent.base_url)))
    notifier = build_notifier(notifier_settings(stack.database_url, stack.bootstrap))
    async with Served(replica, free_port()) as second, Served(notifier, free_port()) as note, \
            httpx.AsyncClient(base_url=second.url) as second_dsr, httpx.AsyncClient(base_url=note.url) as notes:
        issued = await issue(stack, "crm")
        key = bearer(issued["key"])

        async def answers() -> list[int]:
            # What each service answers the key on a route it may not use (403) or may (200).
            return [
                (await stack.dsr.get("/v1/systems", headers=key)).status_code,
                (await second_dsr.get("/v1/systems", headers=key)).status_code,
                (await stack.consent.get("/v1/purposes", headers=key)).status_code,
                (await notes.get("/v1/notifications", headers=key)).status_code,
            ]

        await eventually(lambda: _all_known(answers()), timeout=20)
        revoked_at = time.monotonic()
        assert (await stack.dsr.delete(f"/v1/systems/crm/keys/{issued['key_id']}", headers=MANAGER)).status_code == 204
        await eventually(lambda: _all_refused(answers()), timeout=20, interval=0.02)
        took = time.monotonic() - revoked_at
        print(f"revoked key refused everywhere after {took * 1000:.0f} ms")
        assert took < 5, f"a revoked key still worked somewhere after {took:.1f}s"


async def _all_known(answers) -> bool:
    return all(status != 401 for status in await answers)


async def _all_refused(answers) -> bool:
    return all(status == 401 for status in await answers)


async def test_the_command_line_issues_lists_and_revokes_keys(stack, monkeypatch, capsys):
    import argparse

    from services.dsr import keys_cli

    await stack.dsr.post("/v1/systems", json=EMR, headers=MANAGER)
    monkeypatch.setenv("DATABASE_URL", stack.database_url)
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", stack.bootstrap)

    def args(*argv: str) -> argparse.Namespace:
        return keys_cli.parse(["--by", "kim", *argv])

    assert await keys_cli._run(args("issue", "--system", "emr", "--name", "from the shell")) == 0
    printed = capsys.readouterr().out
    key = next(line.split()[1] for line in printed.splitlines() if line.startswith("key "))
    key_id = next(line.split()[1] for line in printed.splitlines() if line.startswith("key_id"))

    async def accepted() -> bool:  # the running service learnt it from the notification
        return (await stack.dsr.post("/v1/systems", json=EMR, headers=bearer(key))).status_code == 200

    await eventually(accepted)
    assert await keys_cli._run(args("list", "--system", "emr")) == 0
    listed = capsys.readouterr().out
    assert key_id in listed and "live" in listed and "kim (command line)" in listed and key not in listed
    assert await keys_cli._run(args("revoke", "--system", "emr", "--key", key_id)) == 0

    async def refused() -> bool:
        return (await stack.dsr.post("/v1/systems", json=EMR, headers=bearer(key))).status_code == 401

    await eventually(refused)


async def test_a_keys_signing_key_is_kept_encrypted_everywhere_and_forgotten_when_revoked(stack):
    """The signing key (shared/recordsig.py) is derived when the key is issued; the request service
    and the consent service keep it under their own master keys, dsr.systems carries it encrypted
    for the services only, and a revoked key's is forgotten everywhere."""
    from shared import recordsig
    from shared.delegation import parse_secret
    from shared.directory import SigningKeys, SigningKeyUnreadable
    from shared.runtime import signing_keys
    from tests.support import drain

    await stack.dsr.post("/v1/systems", json=EMR, headers=MANAGER)
    issued = await issue(stack, "emr")
    expected = recordsig.signing_key(issued["key"])
    vault = signing_keys(stack.dsr_app.state.settings)  # every test service has the same development keys

    async def wrapped(schema: str) -> bytes | None:
        async with stack.pool.acquire() as conn:
            return await conn.fetchval(f"SELECT wrapped_signing_key FROM {schema}.system_keys WHERE key_id = $1",
                                       issued["key_id"])

    async def copied() -> bytes | None:
        return await wrapped("consent")

    for stored in (await wrapped("dsr"), await eventually(copied)):
        assert expected not in stored and vault.unwrap(issued["key_id"], stored) == expected

    [event] = [json.loads(r.value) for r in await drain(stack.bootstrap, "dsr.systems")
               if json.loads(r.value)["type"] == "system.key-changed"]
    carried = event["data"]["encrypted_signing_key"]
    assert vault.from_transit(issued["key_id"], carried) == expected
    another = SigningKeys(b"m" * 32, parse_secret(base64.b64encode(b"another deployment's secret 0000").decode()))
    with pytest.raises(SigningKeyUnreadable):
        another.from_transit(issued["key_id"], carried)
    with pytest.raises(SigningKeyUnreadable):  # bound to its key id: not movable to another key
        vault.from_transit("key.0000", carried)

    assert (await stack.dsr.delete(f"/v1/systems/emr/keys/{issued['key_id']}", headers=MANAGER)).status_code == 204
    assert await wrapped("dsr") is None

    async def forgotten() -> bool:
        async with stack.pool.acquire() as conn:
            row = await conn.fetchrow("SELECT revoked_at, wrapped_signing_key FROM consent.system_keys "
                                      "WHERE key_id = $1", issued["key_id"])
        return row["revoked_at"] is not None and row["wrapped_signing_key"] is None

    await eventually(forgotten)
    [first, revocation] = [e["data"] for e in map(json.loads, [r.value for r in await drain(stack.bootstrap, "dsr.systems")])
                           if e["type"] == "system.key-changed"]
    assert first["revoked_at"] is None and revocation["revoked_at"] is not None
    assert revocation["encrypted_signing_key"] is None
