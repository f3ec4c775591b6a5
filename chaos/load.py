"""The load: clinic systems sending consent events and people filing requests, all retrying.

* :class:`KafkaConsents` is a clinic system's producer on ``consent.inbound``: it keeps every
  event until the broker acknowledged it and sends it again after any failure (a broker killed
  or away, a timeout). An acknowledgement lost on the way makes a duplicate on the topic; the
  consent service must record that CloudEvent id once.
* :class:`HttpConsents` is the website: ``POST /v1/consent-events`` until 200/201.
* :class:`Requests` files data-subject requests (``POST /v1/requests``, public) until 201, and
  works the staff queue: verifies what waits for verification and approves what waits for a
  decision, from the list endpoints, so a filing whose answer was lost is worked like any other.
  The example clinic systems (a separate process) answer the tasks.

Every part paces itself on a shared schedule (so many events by such a second) and retries
with a short backoff; nothing here gives up before the runner says stop.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

import httpx
from aiokafka import AIOKafkaProducer

from shared import recordsig

log = logging.getLogger("chaos.load")

DEV_SYSTEM_KEY = "dev-system"
SYSTEM = {"Authorization": f"Bearer {DEV_SYSTEM_KEY}"}
STAFF = {"Authorization": "Bearer dev-staff"}
MANAGER = {"Authorization": "Bearer dev-manager"}
POLICY_ID = "privacy-notice"
PURPOSES = ["membership", "marketing_email", "marketing_sms", "cookies_analytics", "model_photos",
            "third_party_provision", "sensitive_health"]
ALL_PURPOSES = ["treatment", *PURPOSES, "marketing_night"]
TYPES = ["consent.granted"] * 7 + ["consent.withdrawn"] * 2 + ["consent.declined"]
REQUEST_TYPES = ["access", "access", "rectification", "erasure"]


def policy() -> dict[str, Any]:
    return {
        "policy_id": POLICY_ID, "version": "1", "effective_at": "2026-01-01T00:00:00+09:00",
        "texts": {"ko": "개인정보 처리방침", "en": "Privacy notice", "vi": "Chính sách quyền riêng tư"},
        "purposes": ALL_PURPOSES,
    }


def consent_events(count: int, subjects: int, seed: int) -> list[dict[str, Any]]:
    """``count`` valid consent events over ``subjects`` adults, in a reproducible order."""
    rng = random.Random(seed)
    events = []
    for _ in range(count):
        subject = f"chaos-subject-{rng.randrange(subjects):06d}"
        events.append({
            "specversion": "1.0",
            "id": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
            "source": "clinic/website",  # dev-system's system (only an active system's source is recorded)
            "type": rng.choice(TYPES),
            "subject": subject,
            "datacontenttype": "application/json",
            "data": {
                "subject_id": subject, "subject_birth_date": "1990-04-01",
                "purpose": rng.choice(PURPOSES), "policy_id": POLICY_ID, "policy_version": "1",
                "language": rng.choice(["ko", "en", "vi"]), "method": "web", "actor": {"role": "self"},
                "evidence": {"form_id": "chaos"},
            },
        })
    return events


class Pace:
    """How many items may have gone by now: ``total`` spread evenly over ``seconds``."""

    def __init__(self, total: int, seconds: float) -> None:
        self.total = total
        self.seconds = max(seconds, 0.001)
        self.started = time.monotonic()

    def allowed(self) -> int:
        return min(self.total, int(self.total * (time.monotonic() - self.started) / self.seconds) + 1)


@dataclass
class Tally:
    sent: int = 0  # distinct items the system acknowledged
    attempts: int = 0  # sends, re-sends included
    failures: int = 0  # attempts that failed (and were retried)
    ambiguous: int = 0  # attempts whose outcome is unknown (sent, no answer)
    refused: list[str] = field(default_factory=list)  # answered with a definite "no"


def _message(event: dict[str, Any], binary: bool) -> tuple[bytes, bytes, list[tuple[str, bytes]]]:
    key = event["data"]["subject_id"].encode()
    if not binary:
        return key, json.dumps(event).encode(), [("content-type", b"application/cloudevents+json")]
    headers = [(f"ce_{k}", str(v).encode()) for k, v in event.items() if k not in ("data", "datacontenttype")]
    headers.append(("content-type", b"application/json"))
    return key, json.dumps(event["data"]).encode(), headers


class KafkaConsents:
    """A clinic system's producer: every event is re-sent until the broker acknowledged it."""

    CHUNK = 250

    def __init__(self, bootstrap: str, events: list[dict[str, Any]], seconds: float) -> None:
        self.bootstrap = bootstrap
        self.events = events
        self.pace = Pace(len(events), seconds)
        self.tally = Tally()
        self.acked: set[str] = set()
        self.done = asyncio.Event()

    async def run(self) -> None:
        pending: list[int] = []  # indexes not yet acknowledged, oldest first
        next_index = 0
        producer: AIOKafkaProducer | None = None
        backoff = 0.2
        while next_index < len(self.events) or pending:
            allowed = self.pace.allowed()
            while next_index < allowed:
                pending.append(next_index)
                next_index += 1
            if not pending:
                await asyncio.sleep(0.02)
                continue
            chunk, pending = pending[: self.CHUNK], pending[self.CHUNK:]
            try:
                if producer is None:
                    # linger 100 ms: a batching clinic producer. The chaos broker stores every
                    # produce request as an object in moto's S3, whose listings slow down with
                    # each object (docs/chaos.md): fewer, larger batches keep it up with the load.
                    producer = AIOKafkaProducer(bootstrap_servers=self.bootstrap, acks="all",
                                                enable_idempotence=False, linger_ms=100,
                                                request_timeout_ms=5000, client_id="chaos-clinic")
                    await asyncio.wait_for(producer.start(), timeout=10)
                failed = await asyncio.wait_for(self._send(producer, chunk), timeout=20)
                backoff = 0.2
            except Exception as exc:  # any failure: keep the events, start over
                log.info("consent producer: %r; re-sending %d events", exc, len(chunk))
                failed = chunk
                if producer is not None:
                    try:
                        await asyncio.wait_for(producer.stop(), timeout=10)
                    except Exception:
                        pass
                    producer = None
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 2.0)
            if failed:
                self.tally.failures += len(failed)
                pending = failed + pending
        if producer is not None:
            await producer.stop()
        self.done.set()

    async def _send(self, producer: AIOKafkaProducer, chunk: list[int]) -> list[int]:
        futures = []
        for i in chunk:
            key, value, headers = _message(self.events[i], binary=i % 5 == 0)
            # Signed as the website's system signs (shared/recordsig.py), with the development key.
            headers = recordsig.signed("consent.inbound", value, headers, DEV_SYSTEM_KEY)
            futures.append(await producer.send("consent.inbound", value=value, key=key, headers=headers))
            self.tally.attempts += 1
        results = await asyncio.gather(*futures, return_exceptions=True)
        failed = []
        for i, result in zip(chunk, results, strict=True):
            if isinstance(result, BaseException):
                failed.append(i)
            else:
                event_id = self.events[i]["id"]
                if event_id not in self.acked:
                    self.acked.add(event_id)
                    self.tally.sent += 1
        return failed


async def _post_until_answered(client: httpx.AsyncClient, url: str, body: dict[str, Any],
                               headers: dict[str, str], tally: Tally, ok: tuple[int, ...]) -> httpx.Response | None:
    """POST until a definite answer: one of ``ok`` (returned), or a 4xx other than 429 (refused)."""
    backoff = 0.1
    while True:
        tally.attempts += 1
        try:
            response = await client.post(url, json=body, headers=headers)
        except httpx.TransportError as exc:
            tally.failures += 1
            if not isinstance(exc, (httpx.ConnectError, httpx.ConnectTimeout)):
                tally.ambiguous += 1  # it may have been carried out
        else:
            if response.status_code in ok:
                return response
            if 400 <= response.status_code < 500 and response.status_code != 429:
                tally.refused.append(f"{response.status_code} {response.text[:300]}")
                return None
            tally.failures += 1
        await asyncio.sleep(backoff)
        backoff = min(backoff * 2, 1.0)


class HttpConsents:
    """The website: consent events over HTTP, each POSTed until answered 200/201."""

    def __init__(self, url: str, events: list[dict[str, Any]], seconds: float, workers: int = 4) -> None:
        self.url = url
        self.events = events
        self.pace = Pace(len(events), seconds)
        self.workers = workers
        self.tally = Tally()
        self.recorded: set[str] = set()

    async def run(self) -> None:
        queue: asyncio.Queue[int] = asyncio.Queue()

        async def feed() -> None:
            for i in range(len(self.events)):
                while self.pace.allowed() <= i:  # noqa: ASYNC110  (pacing to a rate)
                    await asyncio.sleep(0.02)
                await queue.put(i)

        async def work(client: httpx.AsyncClient) -> None:
            while True:
                i = await queue.get()
                event = self.events[i]
                if await _post_until_answered(client, "/v1/consent-events", event, SYSTEM, self.tally, (200, 201)):
                    self.recorded.add(event["id"])
                    self.tally.sent += 1
                queue.task_done()

        async with httpx.AsyncClient(base_url=self.url, timeout=10, trust_env=False) as client:
            workers = [asyncio.create_task(work(client)) for _ in range(self.workers)]
            await feed()
            await queue.join()
            for w in workers:
                w.cancel()
            await asyncio.gather(*workers, return_exceptions=True)


def request_body(n: int) -> dict[str, Any]:
    kind = REQUEST_TYPES[n % len(REQUEST_TYPES)]
    guardian = n % 5 == 4
    body: dict[str, Any] = {
        "type": kind, "jurisdiction": "KR", "language": ["ko", "en", "vi"][n % 3],
        "subject": {"subject_id": f"chaos-person-{n:06d}", "name": "김민수",
                    "birth_date": "2016-05-05" if guardian else "1985-03-02"},
        "requester": {"relationship": "legal_representative" if guardian else "self",
                      "contact": f"person{n}@example.com"},
    }
    if guardian:
        body["requester"].update(name="Nguyễn Thị Lan", relationship_detail="mother")
    if kind == "rectification":
        body["details"] = {"corrections": [{"item": "contact.phone", "current": "010-1111-2222",
                                            "corrected": "010-3333-4444"}]}
    return body


class Requests:
    """People file requests; staff verify them and the privacy manager approves them."""

    def __init__(self, url: str, count: int, seconds: float) -> None:
        self.url = url
        self.count = count
        self.pace = Pace(count, seconds)
        self.filing = Tally()
        self.verified = 0
        self.approved = 0
        self.staff_errors = 0
        self.filed_ids: set[str] = set()

    async def file_all(self) -> None:
        async with httpx.AsyncClient(base_url=self.url, timeout=10, trust_env=False) as client:
            for n in range(self.count):
                while self.pace.allowed() <= n:  # noqa: ASYNC110  (pacing to a rate)
                    await asyncio.sleep(0.05)
                response = await _post_until_answered(client, "/v1/requests", request_body(n), {},
                                                      self.filing, (201,))
                if response is not None:
                    self.filing.sent += 1
                    self.filed_ids.add(response.json()["request_id"])

    async def work_queue(self) -> None:
        """Until cancelled: verify every request waiting for it, approve every one in review."""
        async with httpx.AsyncClient(base_url=self.url, timeout=10, trust_env=False) as client:
            while True:
                try:
                    await self._pass(client)
                except httpx.HTTPError:
                    self.staff_errors += 1
                await asyncio.sleep(0.5)

    async def _pass(self, client: httpx.AsyncClient) -> None:
        for status in ("received", "verifying"):
            for req in await self._list(client, status):
                body = {"method": "mobile_phone", "evidence_ref": "CHAOS-1",
                        "representative_checked": req["by_guardian"]}
                r = await client.post(f"/v1/requests/{req['request_id']}/verification", json=body, headers=STAFF)
                if r.status_code == 200:
                    self.verified += 1
                elif r.status_code != 409:  # 409: done meanwhile (an answer lost, a second pass)
                    self.staff_errors += 1
        for req in await self._list(client, "in_review"):
            r = await client.post(f"/v1/requests/{req['request_id']}/decision", json={"decision": "approve"},
                                  headers=MANAGER)
            if r.status_code == 200:
                self.approved += 1
            elif r.status_code != 409:
                self.staff_errors += 1

    async def _list(self, client: httpx.AsyncClient, status: str) -> list[dict[str, Any]]:
        r = await client.get("/v1/requests", params={"status": status, "limit": 500}, headers=STAFF)
        if r.status_code != 200:
            self.staff_errors += 1
            return []
        return r.json()
