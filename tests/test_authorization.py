"""Who may call what: every route of every service, called as every kind of caller; and who may
produce what a service consumes on Kafka.

The routes come from the apps themselves (``app.routes``), so a new endpoint fails
``test_every_route_is_declared`` until its expected access is written in the table of its
service's README ("Who may call what"), which ``read_table`` reads. Each API route is then called with no key, an unknown key
and a key of each role, a revoked and an expired key, and the issued keys of two clinic systems
(A, granted what may be granted; B, a processor granted nothing, which may never exceed a
system's role) (and, for the request service's requester-token routes, with a wrong token
and another request's token): a caller that is not allowed gets exactly 401 (no or unknown key)
or 403 (a key of another role, a token that does not open this request); an allowed caller is
never refused. Dashboard pages without a session redirect to the sign-in page, and its form posts
without the session's CSRF token are refused.

On Kafka (``KAFKA_ACCESS``, the README's Kafka tables), each topic a clinic system can write and a
service consumes gets a record speaking for system A (its source, its task) signed as each kind of
signer: none, an unknown key, A's revoked and expired keys, the development key (the example
website's), A's and B's keys. Only what the table accepts is recorded; everything else reaches
``privacy.dead-letter`` with a 401 or 403 reason, or, on ``dsr.systems``, the "not signed by the
request service" one.

Below the signatures, the broker's ACLs (``deploy/kafka_acls.py``): on Apache Kafka with SASL/SCRAM
and only the declared ACLs (the ``acl_kafka`` fixture), a clinic system's principal is refused
writing the services' topics, reading other systems' records and joining a service's or another
system's consumer group, and a service's principal a topic or group that is not its own; each with
aiokafka's ``TopicAuthorizationFailedError`` or ``GroupAuthorizationFailedError``.
tests/test_kafka_acls.py shows the same ACLs are enough for the services and a system to work.
"""

from __future__ import annotations

import asyncio
import functools
import json
import re
import uuid
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from fastapi.routing import APIRoute

from shared import recordsig
from shared.events import Topic
from tests.dashboard.conftest import MANAGER_PASSWORD, DashStack, dash, sign_in  # noqa: F401 (fixture)
from tests.dsr.factories import approved_request, request_body
from tests.support import consent_event, eventually, processed_to_end, produce, random_id, read_to_end, signed

REPO = Path(__file__).resolve().parents[1]
ROLES = ("system", "staff", "privacy_manager")
KEYS = {"system": "dev-system", "staff": "dev-staff", "privacy_manager": "dev-manager"}
EVERYONE = frozenset(ROLES)
PEOPLE = frozenset({"staff", "privacy_manager"})


@dataclass(frozen=True)
class Access:
    """Who an endpoint admits: API-key roles; ``public``: anyone, without a key; ``token``: the
    requester's token (request service) also opens it."""

    roles: frozenset[str] = frozenset()
    public: bool = False
    token: bool = False
    #: A clinic system's right that also opens it (granted by the privacy manager).
    right: str | None = None
    #: The request service's own key (``opens_sealed``) also opens it.
    service: bool = False
    #: The notifier's own key (``tells_requesters``) also opens it.
    notifier: bool = False


def _a(*roles: str, public: bool = False, token: bool = False, right: str | None = None,
       service: bool = False, notifier: bool = False) -> Access:
    return Access(frozenset(roles), public, token, right, service, notifier)


#: Where each service's table of who may call what is: the docs are the authority the matrix
#: checks the services against (a service README's "Who may call what").
TABLES = {service: REPO / "services" / service / "README.md" for service in ("consent", "dsr", "notifier")}
TABLE_HEADING = "## Who may call what"


def _cell_roles(system: str, staff: str, manager: str) -> tuple[set[str], str | None]:
    roles, right = set(), None
    if system != "–":
        granted = re.fullmatch(r"with right `(\w+)`", system)
        if granted:
            right = granted.group(1)
        else:
            roles.add("system")
    roles |= {role for role, cell in (("staff", staff), ("privacy_manager", manager)) if cell != "–"}
    return roles, right


def read_table(service: str) -> dict[tuple[str, str, str], Access]:
    """The service README's table, row by row: ``| `METHOD /path` | clinic system | staff |
    privacy manager | also |``, where ``–`` refuses, ``with right `x``` admits a system granted x,
    any other text admits (within what it says), and "also" may admit anyone without a key, the
    requester's token, the request service's key or the notifier's key."""
    text = TABLES[service].read_text(encoding="utf-8")
    assert TABLE_HEADING in text, f"{TABLES[service]} has no '{TABLE_HEADING}' section"
    section = text.split(TABLE_HEADING, 1)[1].split("\n## ", 1)[0]
    access: dict[tuple[str, str, str], Access] = {}
    for line in section.splitlines():
        if not line.startswith("| `"):
            continue
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        assert len(cells) == 5, f"{TABLES[service]}: a row has five cells: {line}"
        operation, system, staff, manager, also = cells
        method, path = operation.strip("`").split(" ", 1)
        roles, right = _cell_roles(system, staff, manager)
        public = "anyone" in also
        if public and roles == set(ROLES):
            roles = set()  # an operations route takes no key, and so looks at none
        key = (service, method, path)
        assert key not in access, f"{TABLES[service]}: {method} {path} twice"
        access[key] = Access(frozenset(roles), public, "token" in also, right, "request service" in also,
                             "notifier" in also)
    return access


#: (service, METHOD, path) -> access, as the service READMEs' tables say.
ACCESS: dict[tuple[str, str, str], Access] = {k: v for service in TABLES for k, v in read_table(service).items()}

#: The guardian portal: public pages; its token forms are checked in ``test_portal_tokens``.
PORTAL_PUBLIC = {
    ("GET", "/portal"), ("GET", "/portal/"), ("POST", "/portal/requests"), ("GET", "/portal/r/{request_id}"),
    ("POST", "/portal/r/{request_id}"), ("POST", "/portal/r/{request_id}/result"), ("POST", "/portal/r/{request_id}/report"),
    ("POST", "/portal/r/{request_id}/withdraw"), ("POST", "/portal/r/{request_id}/guardian"),
    ("GET", "/portal/static/{name}"),
}
#: Dashboard routes anyone may reach (signing in); every other one needs a session, and its posts
#: the session's CSRF token.
DASHBOARD_PUBLIC = {("GET", "/dashboard/signin"), ("POST", "/dashboard/signin")}


@functools.cache
def _apps():
    """The three apps as built for production (not started: only their routes are read)."""
    from services.consent.app import build_app as build_consent
    from services.dsr.app import build_app as build_dsr
    from services.notifier.app import build_app as build_notifier
    from tests.consent.conftest import consent_settings
    from tests.dsr.conftest import dsr_settings
    from tests.notifier.conftest import notifier_settings

    db, kafka = "postgresql://unused@127.0.0.1:1/unused", "127.0.0.1:1"
    return {
        "consent": build_consent(consent_settings(db, kafka)),
        "dsr": build_dsr(dsr_settings(db, kafka, "http://127.0.0.1:1")),
        "notifier": build_notifier(notifier_settings(db, kafka)),
    }


def all_routes() -> list[tuple[str, str, str, bool]]:
    """(service, METHOD, path, in the OpenAPI document) of every route of every app."""
    found = []
    for service, app in _apps().items():
        for route in _flat(app.routes):
            if isinstance(route.original_route if hasattr(route, "original_route") else route, APIRoute):
                for method in sorted(set(route.methods) - {"HEAD", "OPTIONS"}):
                    found.append((service, method, route.path, route.include_in_schema))
    return found


def _flat(routes):
    """The app's routes, with included routers expanded (newer FastAPI keeps them lazily)."""
    from fastapi import routing

    if hasattr(routing, "iter_route_contexts"):
        return list(routing.iter_route_contexts(routes))
    return list(routes)


def openapi_operations() -> list[tuple[str, str, str, Access]]:
    """(service, METHOD, path, access) of every operation in the services' OpenAPI documents."""
    ops = []
    for service, app in _apps().items():
        for path, methods in app.openapi()["paths"].items():
            for method in methods:
                ops.append((service, method.upper(), path, ACCESS.get((service, method.upper(), path))))
    return ops


def declared_access(service: str, method: str, path: str) -> Access:
    access = ACCESS.get((service, method, path))
    assert access is not None, f"{service} {method} {path}: say who may call it in {TABLES[service]}"
    return access


def test_every_route_is_declared() -> None:
    """A new endpoint fails here until its access is declared (and so tested below)."""
    missing = []
    for service, method, path, in_schema in all_routes():
        if in_schema:
            if (service, method, path) not in ACCESS:
                missing.append(f"{service} {method} {path}")
        elif path.startswith("/portal"):
            if (method, path) not in PORTAL_PUBLIC:
                missing.append(f"{service} {method} {path} (portal)")
        elif not path.startswith("/dashboard"):
            missing.append(f"{service} {method} {path} (neither in the OpenAPI document nor a page)")
    assert not missing, "routes without a declared access:\n  " + "\n  ".join(missing)
    stale = set(ACCESS) - {(s, m, p) for s, m, p, _ in all_routes()}
    assert not stale, f"declared but no longer routes: {sorted(stale)}"


def _fill(path: str, ids: dict[str, str]) -> str:
    return re.sub(r"\{(\w+)\}", lambda m: ids.get(m.group(1), "x"), path)


def _key(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


async def _two_requests(dash: DashStack) -> list[dict]:
    """Two requests filed on the portal's API: one whose token the caller holds, and another's."""
    filed = []
    for _ in range(2):
        response = await dash.dsr.post("/v1/requests", json=request_body(subject_id=random_id("patient")))
        assert response.status_code == 201, response.text
        filed.append(response.json())
    return filed


#: Clinic system A: granted what a system may be granted for the seeded ids. B: a processor
#: registered for nothing; it may never get more than a system's role allows (less is its grants).
SYSTEM_A = {"system_id": "system-a", "name": "System A", "data_categories": ["email"],
            "retention_classes": ["marketing"], "source": "clinic/system-a", "purposes": ["marketing_email"],
            "rights": ["consent_history"]}
SYSTEM_B = {"system_id": "system-b", "name": "System B (processor)", "data_categories": ["email"],
            "retention_classes": ["marketing"], "processor": True, "source": "agency/system-b"}


async def _issued_keys(dash: DashStack) -> dict[str, str]:
    """Keys of systems A and B, one of A's revoked and one expired, known to all three services."""
    from datetime import UTC, datetime, timedelta

    async def issue(system_id: str, **body) -> dict:
        response = await dash.dsr.post(f"/v1/systems/{system_id}/keys", headers=_key("dev-manager"),
                                       json={"name": "matrix", **body})
        assert response.status_code == 201, response.text
        return response.json()

    for system in (SYSTEM_A, SYSTEM_B):
        assert (await dash.dsr.post("/v1/systems", json=system, headers=_key("dev-manager"))).status_code == 201
    keys = {"system A": (await issue("system-a"))["key"], "system B": (await issue("system-b"))["key"]}
    revoked = await issue("system-a")
    expires = datetime.now(UTC) + timedelta(seconds=1)
    keys["expired key"] = (await issue("system-a", expires_at=expires.isoformat()))["key"]
    assert (await dash.dsr.delete(f"/v1/systems/system-a/keys/{revoked['key_id']}",
                                  headers=_key("dev-manager"))).status_code == 204
    keys["revoked key"] = revoked["key"]

    async def everywhere() -> bool:  # the live keys work, the revoked one nowhere, on every service
        answers = [await client.get(path, headers=_key(key))
                   for client, path in ((dash.consent, "/v1/purposes"), (dash.notifier, "/v1/notifications"),
                                        (dash.dsr, "/v1/systems"))
                   for key in (keys["system A"], keys["system B"], keys["revoked key"])]
        return [a.status_code != 401 for a in answers] == [True, True, False] * 3

    await eventually(everywhere)
    # An expired key: wait out the second it was issued for.
    await asyncio.sleep(max(0.0, (expires - datetime.now(UTC)).total_seconds()) + 0.05)
    return keys


async def test_api_access_matrix(dash: DashStack) -> None:
    urls = {"consent": str(dash.consent.base_url), "dsr": str(dash.dsr.base_url),
            "notifier": str(dash.notifier.base_url)}
    mine, other = await _two_requests(dash)
    issued = await _issued_keys(dash)
    ids = {"request_id": mine["request_id"], "task_id": str(uuid.uuid4()), "notification_id": str(uuid.uuid4()),
           "subject_id": random_id("patient"), "policy_id": "privacy-notice", "purpose": "marketing_email",
           "record_id": str(uuid.uuid4())}
    wrong: list[str] = []
    checked = 0
    async with httpx.AsyncClient(timeout=30) as http:

        async def call(service: str, method: str, path: str, headers: dict[str, str]) -> int:
            kwargs = {"json": {}} if method == "POST" else {}
            response = await http.request(method, urls[service] + _fill(path, ids), headers=headers, **kwargs)
            if response.status_code in (401, 403):
                assert response.headers["content-type"].startswith("application/problem+json"), response.text
            return response.status_code

        def expect(label: str, got: int, want: int | None) -> None:
            """``want`` None: an allowed caller, so anything but 401/403 (and never a 5xx)."""
            nonlocal checked
            checked += 1
            if want is None and (got in (401, 403) or got >= 500):
                wrong.append(f"{label}: allowed, got {got}")
            elif want is not None and got != want:
                wrong.append(f"{label}: expected {want}, got {got}")

        for service, method, path, access in openapi_operations():
            assert access is not None, f"{service} {method} {path} is not declared"
            label = f"{service} {method} {path}"
            public = access.public
            expect(f"{label} [no key]", await call(service, method, path, {}), None if public else 401)
            # An unknown credential on a token route is a token that does not open the request.
            # (Operations routes take no key at all, so they do not look at one.)
            expect(f"{label} [unknown key]", await call(service, method, path, _key("not-a-key")),
                   None if public and not access.roles else 403 if access.token else 401)
            for role in ROLES:
                allowed = role in access.roles or (public and not access.roles)
                expect(f"{label} [{role}]", await call(service, method, path, _key(KEYS[role])),
                       None if allowed else 403)
            # The request service's key (a staff key that also opens sealed data, development: dev-dsr).
            expect(f"{label} [request service]", await call(service, method, path, _key("dev-dsr")),
                   None if "staff" in access.roles or access.service or (public and not access.roles) else 403)
            # The notifier's key (a staff key that also tells requesters, development: dev-notifier).
            expect(f"{label} [notifier]", await call(service, method, path, _key("dev-notifier")),
                   None if "staff" in access.roles or access.notifier or (public and not access.roles) else 403)
            # Revoked and expired keys are no keys; a system's own key is the system role at most.
            for gone in ("revoked key", "expired key"):
                expect(f"{label} [{gone}]", await call(service, method, path, _key(issued[gone])),
                       None if public and not access.roles else 403 if access.token else 401)
            system_allowed = "system" in access.roles or (public and not access.roles)
            granted = access.right is not None and access.right in SYSTEM_A["rights"]
            expect(f"{label} [system A]", await call(service, method, path, _key(issued["system A"])),
                   None if system_allowed or granted else 403)
            got = await call(service, method, path, _key(issued["system B"]))
            if not system_allowed:
                expect(f"{label} [system B]", got, 403)
            elif got == 401 or got >= 500:  # refused by its grants (403) is fine; never unknown
                wrong.append(f"{label} [system B]: got {got}")
            if access.token:
                expect(f"{label} [own token]", await call(service, method, path, _key(mine["token"])), None)
                expect(f"{label} [another request's token]",
                       await call(service, method, path, _key(other["token"])), 403)
                expect(f"{label} [a wrong token]", await call(service, method, path, _key("x" * 43)), 403)
    assert checked > 150
    assert not wrong, "access differs from the README's tables:\n  " + "\n  ".join(wrong)


async def test_dashboard_needs_a_session_and_csrf(dash: DashStack) -> None:
    routes = [(m, p) for s, m, p, in_schema in all_routes() if s == "dsr" and p.startswith("/dashboard")]
    ids = {"request_id": str(uuid.uuid4()), "subject_id": "patient-1", "record_id": str(uuid.uuid4()),
           "policy_id": "privacy-notice", "notification_id": str(uuid.uuid4())}
    assert len(routes) > 10
    async with dash.browser() as anonymous:
        for method, path in routes:
            if (method, path) in DASHBOARD_PUBLIC:
                continue
            response = await anonymous.request(method, _fill(path, ids), data={"csrf": "x"} if method == "POST" else None)
            assert response.status_code == 303, f"{method} {path} without a session: {response.status_code}"
            assert response.headers["location"].startswith("/dashboard/signin"), response.headers["location"]
        # Signing in itself needs the sign-in form's token.
        response = await anonymous.post("/dashboard/signin", data={"username": "kim", "password": MANAGER_PASSWORD})
        assert response.status_code == 403
    async with dash.browser() as signed_in:
        assert (await sign_in(signed_in, "kim", MANAGER_PASSWORD)).status_code == 303
        for method, path in routes:
            if method != "POST" or (method, path) in DASHBOARD_PUBLIC:
                continue
            for data in ({}, {"csrf": "forged"}):
                response = await signed_in.post(_fill(path, ids), data=data)
                assert response.status_code == 403, f"POST {path} with csrf={data}: {response.status_code}"
        # Still signed in: the refused posts changed nothing.
        assert (await signed_in.get("/dashboard/")).status_code == 200


async def test_portal_tokens(dash: DashStack) -> None:
    """The portal's private link opens only with the request's own token."""
    mine, other = await _two_requests(dash)
    for suffix in ("", "/result", "/report", "/withdraw", "/guardian"):
        path = f"/portal/r/{mine['request_id']}{suffix}"
        for token, want in ((mine["token"], None), (other["token"], 403), ("", 403), ("x" * 43, 403)):
            response = await dash.dsr.post(path, data={"token": token})
            if want is None:  # opened (the result of a request still open is a 409, a form without its
                # fields a 422: neither is a refusal)
                assert response.status_code in (200, 409, 422), f"POST {path} own token: {response.status_code}"
            else:
                assert response.status_code == want, f"POST {path} token={token[:6]}…: {response.status_code}"


# --- Kafka ---------------------------------------------------------------------------------------

#: Who signs a record (``shared/recordsig.py``): no one; a key no service knows; system A's revoked
#: and expired keys; the development key ``dev-system`` (the example website, development only);
#: systems A's and B's own keys. Each record speaks for system A.
SIGNERS = ("no key", "unknown key", "revoked key", "expired key", "development key", "system A", "system B")
UNKNOWN_KEY = "dgk_00000000deadbeef.not-a-key-of-anyone"
#: topic -> signer -> what becomes of a record speaking for system A: "accepted", or the start of
#: its dead letter's reason. As the README's Kafka tables say.
_FROM_A_ONLY = {"no key": "401", "unknown key": "401", "revoked key": "401", "expired key": "401",
                "development key": "403", "system A": "accepted", "system B": "403"}
KAFKA_ACCESS: dict[str, dict[str, str]] = {
    # A consent event with A's source: recorded only signed by A.
    Topic.consent_inbound: _FROM_A_ONLY,
    # An answer to A's task, with A's source: recorded only signed by A.
    Topic.dsr_task_results: _FROM_A_ONLY,
    # A key minted for A: only the request service signs the registry (dongsig), whoever else signs.
    Topic.dsr_systems: dict.fromkeys(SIGNERS, "not signed by the request service"),
}
#: Topics only the services write and a service consumes: not signed; in production only the
#: broker's ACLs keep a clinic system from writing them (docs/deployment.md). Known open point.
SERVICE_ONLY = {Topic.consent_events, Topic.dsr_events, Topic.dead_letter}
#: Topics no service consumes (the clinic systems read their tasks).
NOT_CONSUMED = {Topic.dsr_tasks}


def test_every_topic_is_declared() -> None:
    assert set(Topic) == set(KAFKA_ACCESS) | SERVICE_ONLY | NOT_CONSUMED
    assert all(set(signers) == set(SIGNERS) for signers in KAFKA_ACCESS.values())


def _kafka_key(topic: str, signer: str) -> bytes:
    return f"{topic}|{signer}".encode()


async def test_kafka_access_matrix(dash: DashStack) -> None:
    from shared.cloudevents import new_event
    from shared.digests import sha256_hex
    from shared.events import SystemKeyChanged

    issued = await _issued_keys(dash)
    keys = {**issued, "unknown key": UNKNOWN_KEY, "development key": recordsig.DEVELOPMENT_KEY}
    opened, approved = await approved_request(dash, subject_id=random_id("patient"))
    a_task = next(t for t in approved["tasks"] if t["system_id"] == SYSTEM_A["system_id"])
    forged_key = "dgk_f0f0f0f0f0f0f0f0.minted-by-a-producer"
    ids: dict[tuple[str, str], str] = {}

    def value(topic: str, signer: str) -> bytes:
        event_id = ids[(topic, signer)] = str(uuid.uuid4())
        if topic == Topic.consent_inbound:
            event = {**consent_event(purpose="marketing_email"), "id": event_id, "source": SYSTEM_A["source"]}
        elif topic == Topic.dsr_task_results:
            event = {"specversion": "1.0", "id": event_id, "source": SYSTEM_A["source"], "type": "dsr.task.result",
                     "data": {"task_id": a_task["task_id"], "request_id": opened["request_id"],
                              "system_id": SYSTEM_A["system_id"], "subject_id": opened["subject_id"],
                              "outcome": "no_data"}}
        else:
            data = SystemKeyChanged(key_id=f"key.{event_id[:8]}", system_id=SYSTEM_A["system_id"], name="minted",
                                    key_sha256=sha256_hex(forged_key), created_at="2026-01-01T00:00:00Z",
                                    expires_at=None, revoked_at=None)
            event = new_event(source="dongui/dsr", type=data.event_type, subject=data.key_id,
                              data=data.model_dump(mode="json")).model_dump(mode="json") | {"id": event_id}
            if signer == "unknown key":
                event["dongsig"] = "0" * 64  # a made-up registry signature
        return json.dumps(event).encode()

    for topic, expected in KAFKA_ACCESS.items():
        # The refused first: A's own answer, recorded, would make any later one a duplicate.
        messages = []
        for signer in sorted(SIGNERS, key=lambda s: expected[s] == "accepted"):
            message = (_kafka_key(topic, signer), value(topic, signer), [("content-type", b"application/cloudevents+json")])
            sign = signer != "no key" and not (topic == Topic.dsr_systems and signer == "unknown key")
            messages.append(signed(topic, message, keys[signer]) if sign else message)
        await produce(dash.bootstrap, topic, messages, signed_by=None)
    for group, topic in (("dongui-consent-inbound", Topic.consent_inbound),
                         ("dongui-dsr-task-results", Topic.dsr_task_results),
                         ("dongui-consent-systems", Topic.dsr_systems), ("dongui-notifier-systems", Topic.dsr_systems)):
        await processed_to_end(dash.bootstrap, group, topic)

    dead: dict[bytes, list[tuple[str, str]]] = {}
    for letter in await read_to_end(dash.bootstrap, Topic.dead_letter):
        headers = dict(letter.headers)
        dead.setdefault(letter.key, []).append((headers["dongui-dlq-consumer"].decode(),
                                                headers["dongui-dlq-reason"].decode()))
    async with dash.pool.acquire() as conn:
        recorded = {r["event_id"] for r in await conn.fetch("SELECT event_id FROM consent.consent_records")}
        recorded |= {r["event_id"] for r in await conn.fetch(
            "SELECT event_id FROM dsr.processed_events WHERE consumer = 'dsr-task-results'")}
    consumers = {Topic.consent_inbound: ["consent/inbound"], Topic.dsr_task_results: ["dsr/task-results"],
                 Topic.dsr_systems: ["consent/systems", "notifier/systems"]}
    wrong = []
    for topic, expected in KAFKA_ACCESS.items():
        for signer in SIGNERS:
            label, letters = f"{topic} [{signer}]", sorted(dead.get(_kafka_key(topic, signer), []))
            accepted = ids[(topic, signer)] in recorded
            if expected[signer] == "accepted":
                if not accepted or letters:
                    wrong.append(f"{label}: expected accepted, recorded {accepted}, dead letters {letters}")
            elif accepted or [c for c, _ in letters] != consumers[topic] \
                    or not all(reason.startswith(expected[signer]) or expected[signer] in reason
                               for _, reason in letters):
                wrong.append(f"{label}: expected dead-lettered '{expected[signer]}…', recorded {accepted}, "
                             f"dead letters {letters}")
    assert not wrong, "Kafka access differs from the README's tables:\n  " + "\n  ".join(wrong)
    minted = await dash.consent.get("/v1/purposes", headers=_key(forged_key))
    assert minted.status_code == 401


async def test_a_clinic_system_cannot_write_the_request_services_commands(dash: DashStack) -> None:
    """A hold (or an erasure) on dsr.events written by a clinic system, signed with its own key, is
    not the request service's (shared/servicesig.py): the consent service dead-letters it."""
    from shared.cloudevents import new_event
    from shared.events import SubjectHoldPlaced

    issued = await _issued_keys(dash)
    event = consent_event(purpose="marketing_email")
    assert (await dash.consent.post("/v1/consent-events", json=event, headers=_key("dev-system"))).status_code == 201
    subject = event["subject"]
    hold = SubjectHoldPlaced(subject_id=subject, hold_id="forged", request_id=str(uuid.uuid4()),
                             reason="restriction", placed_at="2026-01-01T00:00:00Z")
    forged = new_event(source="dongui/dsr", type=hold.event_type, subject=subject, data=hold.model_dump(mode="json"))
    value = json.dumps(forged.model_dump(mode="json")).encode()
    await produce(dash.bootstrap, Topic.dsr_events, [signed(Topic.dsr_events, (subject.encode(), value, []),
                                                            issued["system A"])], as_services=False)
    await processed_to_end(dash.bootstrap, "dongui-consent-dsr-events", Topic.dsr_events)
    permission = await dash.consent.get(f"/v1/subjects/{subject}/permissions/marketing_email",
                                        headers=_key("dev-staff"))
    assert permission.json()["reason"] == "granted", permission.json()
    letters = [dict(r.headers) for r in await read_to_end(dash.bootstrap, Topic.dead_letter) if r.key == subject.encode()]
    reasons = {(h["dongui-dlq-consumer"].decode(), h["dongui-dlq-reason"].decode().split(":")[0]) for h in letters}
    assert ("consent/dsr-events", "not signed by the services") in reasons, reasons


async def test_the_services_topics_take_only_what_the_services_signed(dash: DashStack) -> None:
    """The Kafka matrix of the topics only the services write (``SERVICE_ONLY``): a record there
    unsigned, signed by system A's key or by the development system key is dead-lettered by every
    service that consumes it, with the reason; the services' own records are what every other test
    runs on."""
    from shared.cloudevents import new_event
    from shared.events import SubjectHoldPlaced

    issued = await _issued_keys(dash)
    signers = {"nothing": None, "system A": issued["system A"], "development key": "dev-system"}
    consumers = {Topic.dsr_events: {"consent/dsr-events", "notifier/events"},
                 Topic.consent_events: {"notifier/events", "dsr/withdrawals"}}
    sent: dict[bytes, tuple[str, str]] = {}
    for topic in consumers:
        for label, signer in signers.items():
            subject = random_id("forged")
            if topic == Topic.dsr_events:  # a hold, as the request service would place it
                event_type, data = SubjectHoldPlaced.event_type, SubjectHoldPlaced(
                    subject_id=subject, hold_id="forged", request_id=str(uuid.uuid4()), reason="restriction",
                    placed_at="2026-01-01T00:00:00Z").model_dump(mode="json")
            else:  # a withdrawal, as the consent service would announce it
                event_type, data = "consent.withdrawn", {"subject_id": subject, "purpose": "marketing_email"}
            event = new_event(source="dongui/forged", type=event_type, subject=subject, data=data)
            message = (subject.encode(), json.dumps(event.model_dump(mode="json")).encode(), [])
            if signer is not None:
                message = signed(topic, message, signer)
            await produce(dash.bootstrap, topic, [message], as_services=False)
            sent[subject.encode()] = (topic, label)
    for topic in consumers:
        group = {Topic.dsr_events: "dongui-consent-dsr-events", Topic.consent_events: "dongui-dsr-withdrawals"}.get(topic)
        if group:
            await processed_to_end(dash.bootstrap, group, topic)
        await processed_to_end(dash.bootstrap, "dongui-notifier-events", topic)

    async def all_refused() -> dict | None:
        found: dict[bytes, set[str]] = {}
        for record in await read_to_end(dash.bootstrap, Topic.dead_letter):
            if record.key in sent:
                headers = dict(record.headers)
                if headers["dongui-dlq-reason"].decode().startswith("not signed by the services"):
                    found.setdefault(record.key, set()).add(headers["dongui-dlq-consumer"].decode())
        missing = {sent[k]: consumers[sent[k][0]] - found.get(k, set()) for k in sent}
        return None if any(missing.values()) else found

    assert sent
    assert await eventually(all_refused), "a record the services did not sign was taken"


# --- Kafka ACLs: each principal only its own topics and groups (deploy/kafka_acls.py) -------------

#: What the broker refuses each principal (shared/kafka_access.py names them): (user, what, topic or
#: group). The ACLs allow nothing but deploy/kafka_acls.py's rules; tests/test_kafka_acls.py runs
#: the services and a system on those rules alone.
REFUSED_WRITES = [
    *[("clinic-emr", topic) for topic in (Topic.consent_events, Topic.dsr_events, Topic.dsr_systems,
                                          Topic.dead_letter, Topic.dsr_tasks)],
    ("dongui-notifier", Topic.dsr_tasks),  # a topic it does not write
    ("dongui-consent", Topic.dsr_events),  # the request service's commands
]
REFUSED_READS = [
    ("clinic-emr", Topic.consent_inbound),  # other systems' consent events
    ("clinic-emr", Topic.dsr_task_results),  # other systems' answers
    ("clinic-emr", Topic.dead_letter),
    ("dongui-notifier", Topic.dsr_tasks),  # a topic it does not read
    ("dongui-dsr", Topic.consent_inbound),
]
#: (user, group, a topic the user may read): only the group can be refused.
REFUSED_GROUPS = [
    ("clinic-emr", "dongui-dsr-task-results", Topic.dsr_tasks),  # a service's group
    ("clinic-emr", "clinic-website.tasks", Topic.dsr_tasks),  # another system's group
    ("clinic-emr", "example-emr", Topic.dsr_tasks),  # outside its prefix clinic-emr.
    ("dongui-notifier", "dongui-dsr-withdrawals", Topic.consent_events),  # another service's group
    ("dongui-consent", "dongui-consent", Topic.dsr_events),  # not one of its declared groups
]


@pytest.fixture
async def acl_topics(acl_kafka):
    """Every topic, created by the admin if missing: a principal that may describe a missing topic is
    told it is unknown (and waits for it), not refused."""
    from tests.support import ensure_topics

    await ensure_topics(acl_kafka.bootstrap, list(Topic), **acl_kafka.client_options())
    return acl_kafka


def _acl_options(cluster, user: str) -> dict:
    from tests.conftest import sasl_password

    return {"bootstrap_servers": cluster.bootstrap, "security_protocol": "SASL_PLAINTEXT",
            "sasl_mechanism": "SCRAM-SHA-512", "sasl_plain_username": user,
            "sasl_plain_password": sasl_password(user)}


@pytest.mark.parametrize(("user", "topic"), REFUSED_WRITES, ids=lambda v: str(v))
async def test_an_acl_refuses_a_write(acl_topics, user: str, topic: str) -> None:
    """The principal may write elsewhere (its producer starts, idempotent), but not there."""
    from aiokafka import AIOKafkaProducer
    from aiokafka.errors import TopicAuthorizationFailedError

    producer = AIOKafkaProducer(acks="all", enable_idempotence=True, request_timeout_ms=10_000,
                                **_acl_options(acl_topics, user))
    await asyncio.wait_for(producer.start(), timeout=30)
    try:
        with pytest.raises(TopicAuthorizationFailedError):
            await asyncio.wait_for(producer.send_and_wait(topic, b"refused", key=b"k"), timeout=30)
    finally:
        await producer.stop()


@pytest.mark.parametrize(("user", "topic"), REFUSED_READS, ids=lambda v: str(v))
async def test_an_acl_refuses_a_read(acl_topics, user: str, topic: str) -> None:
    from aiokafka import AIOKafkaConsumer
    from aiokafka.errors import TopicAuthorizationFailedError

    consumer = AIOKafkaConsumer(topic, group_id=None, auto_offset_reset="earliest", **_acl_options(acl_topics, user))
    try:
        with pytest.raises(TopicAuthorizationFailedError):  # at start or at the first fetch
            await asyncio.wait_for(consumer.start(), timeout=30)
            await asyncio.wait_for(consumer.getone(), timeout=30)
    finally:
        await consumer.stop()


@pytest.mark.parametrize(("user", "group", "topic"), REFUSED_GROUPS, ids=lambda v: str(v))
async def test_an_acl_refuses_a_consumer_group(acl_topics, user: str, group: str, topic: str) -> None:
    from aiokafka import AIOKafkaConsumer
    from aiokafka.errors import GroupAuthorizationFailedError

    consumer = AIOKafkaConsumer(topic, group_id=group, auto_offset_reset="earliest", session_timeout_ms=2000,
                                heartbeat_interval_ms=500, **_acl_options(acl_topics, user))
    try:
        with pytest.raises(GroupAuthorizationFailedError):
            await asyncio.wait_for(consumer.start(), timeout=30)
            await asyncio.wait_for(consumer.getone(), timeout=30)
    finally:
        await consumer.stop()
