"""The benchmark run: every figure beside a ceiling measured in the same run (docs/benchmarks.md).

``python -m bench`` (full) or ``python -m bench --quick``; counts can be overridden with
``BENCH_EVENTS``, ``BENCH_SEED_SUBJECTS``, ``BENCH_DURATION``, ``BENCH_CONNECTIONS``,
``BENCH_THREADS``, ``BENCH_DSR_REQUESTS``, ``BENCH_EMAILS``, ``BENCH_REPLICA_EVENTS``. Results go to ``bench/results/``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import email
import email.policy
import json
import os
import resource
import shutil
import statistics
import sys
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg
import httpx
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiosmtpd.smtp import SMTP, Envelope, Session

from bench.stack import REPO, ApacheKafka, Broker, Stack, cpu_ticks, dumps, machine, steal_share
from deploy.local_infra import free_port
from shared import recordsig

LUA = Path(__file__).resolve().parent / "lua"
RESULTS = Path(__file__).resolve().parent / "results"
DEV_SYSTEM_KEY = "dev-system"
SYSTEM = {"Authorization": f"Bearer {DEV_SYSTEM_KEY}"}
STAFF = {"Authorization": "Bearer dev-staff"}
MANAGER = {"Authorization": "Bearer dev-manager"}
PURPOSES = ["treatment", "membership", "sensitive_health", "marketing_email", "marketing_sms",
            "marketing_night", "cookies_analytics", "model_photos", "third_party_provision"]


@dataclass
class Config:
    mode: str
    events: int
    seed_subjects: int
    duration: int
    warmup: int
    connections: int
    threads: int
    dsr_requests: int
    emails: int
    replica_events: int
    rounds: int

    @classmethod
    def load(cls, quick: bool) -> Config:
        def env(name: str, full: int, small: int) -> int:
            return int(os.environ.get(name) or (small if quick else full))

        return cls(
            mode="quick" if quick else "full",
            events=env("BENCH_EVENTS", 1_000_000, 20_000),
            seed_subjects=env("BENCH_SEED_SUBJECTS", 10_000, 10_000),
            duration=env("BENCH_DURATION", 15, 4),
            warmup=env("BENCH_WARMUP", 3, 1),
            connections=env("BENCH_CONNECTIONS", 8, 8),
            threads=env("BENCH_THREADS", 2, 2),
            dsr_requests=env("BENCH_DSR_REQUESTS", 20, 5),
            emails=env("BENCH_EMAILS", 20, 5),
            replica_events=env("BENCH_REPLICA_EVENTS", 200_000, 20_000),
            rounds=env("BENCH_ROUNDS", 3, 2),
        )


def log(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))]


# --- wrk -------------------------------------------------------------------------------------------


def ensure_wrk() -> str:
    found = shutil.which("wrk")
    if not found:
        raise SystemExit("wrk is missing: `make bench` installs it with apt-get (apt-get install wrk).")
    return found


async def wrk(url: str, script: str, cfg: Config, *, env: dict[str, str] | None = None,
              connections: int | None = None, threads: int | None = None, duration: int | None = None,
              warmup: bool = True, cpu: dict[str, list[int] | Callable[[], float]] | None = None) -> dict[str, Any]:
    """Run wrk (closed loop: each connection sends its next request when the answer came).
    ``cpu``: processes whose CPU per request to report (:class:`CpuBudget`); wrk's own is added."""
    c = connections or cfg.connections
    t = min(threads or cfg.threads, c)
    run_env = {**os.environ, "BENCH_LUA_DIR": str(LUA), **(env or {})}

    async def once(seconds: int) -> dict[str, Any]:
        proc = await asyncio.create_subprocess_exec(
            ensure_wrk(), f"-t{t}", f"-c{c}", f"-d{seconds}s", "--timeout", "10s", "-s", str(LUA / script), url,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, env=run_env,
        )
        out, err = await proc.communicate()
        line = next((ln for ln in out.decode().splitlines() if ln.startswith("BENCH_JSON ")), None)
        if proc.returncode != 0 or line is None:
            raise RuntimeError(f"wrk failed ({proc.returncode}): {out.decode()[-2000:]} {err.decode()[-2000:]}")
        return json.loads(line.removeprefix("BENCH_JSON "))

    if warmup and cfg.warmup:
        await once(cfg.warmup)
    budget = CpuBudget({**cpu, "wrk": _reaped_children_cpu}) if cpu else None
    if budget:
        budget.sample(0)
    raw = await once(duration or cfg.duration)
    if budget:
        budget.sample(raw["requests"])
    lat = raw["latency_us"]
    errors = sum(raw["errors"].values())
    return {
        "rps": round(raw["requests"] / (raw["duration_us"] / 1e6), 1),
        "requests": raw["requests"],
        "errors": errors,
        "error_detail": raw["errors"],
        "p50_ms": round(lat["p50"] / 1000, 2),
        "p90_ms": round(lat["p90"] / 1000, 2),
        "p99_ms": round(lat["p99"] / 1000, 2),
        "max_ms": round(lat["max"] / 1000, 2),
        "connections": c,
        "threads": t,
        "seconds": round(raw["duration_us"] / 1e6, 2),
        **({"cpu": budget.result()} if budget else {}),
    }


async def alternating(cfg: Config, ceiling: Callable[..., Awaitable[dict[str, Any]]],
                      real: Callable[..., Awaitable[dict[str, Any]]]) -> tuple[dict[str, Any], dict[str, Any], list[float]]:
    """A figure and its ceiling in ``cfg.rounds`` alternating rounds (ceiling, figure, ceiling, …),
    the duration split between them, each merged (:func:`merge_runs`); and each round's ratio.

    On a shared machine the speed changes within a minute: one run of each can catch the ceiling in
    a fast moment and the figure in a slow one. Alternating puts both in the same moments."""
    seconds = max(1, round(cfg.duration / cfg.rounds))
    ceilings, reals = [], []
    for n in range(cfg.rounds):
        ceilings.append(await ceiling(duration=seconds, warmup=n == 0))
        reals.append(await real(duration=seconds, warmup=n == 0))
    ratios = [round(r["rps"] / c["rps"], 2) if c["rps"] else 0.0 for c, r in zip(ceilings, reals, strict=False)]
    return merge_runs(ceilings), merge_runs(reals), ratios


def merge_runs(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """wrk runs of one endpoint as one: requests, errors and CPU summed (CPU per request weighted
    by each run's requests); p50 and p90 the median of the runs', p99 and max the highest."""
    if len(runs) == 1:
        return runs[0]
    requests = sum(r["requests"] for r in runs)
    seconds = sum(r["seconds"] for r in runs)
    merged: dict[str, Any] = {
        "rps": round(requests / seconds, 1) if seconds else 0.0,
        "requests": requests,
        "errors": sum(r["errors"] for r in runs),
        "error_detail": {k: sum(r["error_detail"].get(k, 0) for r in runs) for k in runs[0]["error_detail"]},
        "p50_ms": statistics.median(r["p50_ms"] for r in runs),
        "p90_ms": statistics.median(r["p90_ms"] for r in runs),
        "p99_ms": max(r["p99_ms"] for r in runs),
        "max_ms": max(r["max_ms"] for r in runs),
        "connections": runs[0]["connections"],
        "threads": runs[0]["threads"],
        "seconds": round(seconds, 2),
        "runs": len(runs),
    }
    budgets = [r["cpu"] for r in runs if r.get("cpu")]
    if budgets:
        events = sum(b["events"] for b in budgets)
        merged["cpu"] = cpu_result(events, {
            name: round(sum(b["us_per_event"][name] * b["events"] for b in budgets) / events, 1)
            for name in budgets[0]["us_per_event"]})
    return merged


def _reaped_children_cpu() -> float:
    """CPU seconds of the runner's children that have exited (wrk, once a run is over)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


# --- SMTP sink ------------------------------------------------------------------------------------


class SmtpSink:
    """A real SMTP server (aiosmtpd) in the runner's event loop; notes when each message arrived."""

    def __init__(self) -> None:
        self.port = free_port()
        self.arrivals: list[tuple[float, str]] = []
        self._server: asyncio.Server | None = None
        self.changed = asyncio.Event()

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        body = message.get_body(("plain",))
        text = f"{message['Subject']}\n{body.get_content() if body else ''}"
        self.arrivals.append((time.time(), text))
        self.changed.set()
        return "250 OK"

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(lambda: SMTP(self, hostname="bench.smtp"), "127.0.0.1", self.port)

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    async def wait_for(self, needle: str, timeout: float) -> float:
        deadline = time.monotonic() + timeout
        while True:
            for at, text in self.arrivals:
                if needle in text:
                    return at
            self.changed.clear()
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"no email mentioning {needle} within {timeout}s")
            try:
                await asyncio.wait_for(self.changed.wait(), left)
            except TimeoutError:
                pass


# --- Kafka ----------------------------------------------------------------------------------------


#: Every event's CloudEvents source: that of the example website, the system ``dev-system`` acts
#: for (only an active clinic system's source is recorded). Runs are told apart by their ids.
SOURCE = "clinic/website"


def consent_event(i: int, run: str) -> bytes:
    subject = f"bench-{i:07d}"
    return json.dumps({
        "specversion": "1.0", "id": f"{run}-{i:07d}", "source": SOURCE, "type": "consent.granted",
        "subject": subject, "datacontenttype": "application/json",
        "data": {"subject_id": subject, "subject_birth_date": "1990-04-01", "purpose": "marketing_email",
                 "policy_id": "privacy-notice", "policy_version": "1", "language": "ko", "method": "web",
                 "actor": {"role": "self"}, "evidence": {"form_id": "signup-v3", "ip": "203.0.113.7"}},
    }, separators=(",", ":")).encode()


def topic_partitions() -> int:
    """The partitions a service gives the topics it creates (``KAFKA_TOPIC_PARTITIONS``, default 3)."""
    return int(os.environ.get("KAFKA_TOPIC_PARTITIONS") or 3)


async def produce(broker: Broker, first: int, count: int, run: str) -> float:
    """Send consent events bench-<first>… keyed by subject, wait for every ack; returns seconds.
    acks=all, idempotent where the broker supports it (:meth:`Broker.producer_options`)."""
    await broker.ensure_topic("consent.inbound", topic_partitions())  # the consent service may not have run yet
    producer = AIOKafkaProducer(**broker.producer_options(), linger_ms=5, max_batch_size=256 * 1024)
    await producer.start()
    headers = [("content-type", b"application/cloudevents+json")]
    try:
        began = time.perf_counter()
        pending = []
        for i in range(first, first + count):
            value = consent_event(i, run)
            # Signed as the website's system signs (shared/recordsig.py), with the development key.
            pending.append(await producer.send("consent.inbound", value=value, key=f"bench-{i:07d}".encode(),
                                               headers=recordsig.signed("consent.inbound", value, headers,
                                                                        DEV_SYSTEM_KEY)))
            if len(pending) >= 20_000:
                await asyncio.gather(*pending)
                pending.clear()
        await asyncio.gather(*pending)
        return time.perf_counter() - began
    finally:
        await producer.stop()


async def consume_raw(broker: Broker, expected: int) -> float:
    """Read ``expected`` messages of consent.inbound with a bare aiokafka consumer; returns seconds."""
    consumer = AIOKafkaConsumer("consent.inbound", **broker.client_options(), group_id=None,
                                auto_offset_reset="earliest", enable_auto_commit=False,
                                max_partition_fetch_bytes=4 * 1024 * 1024, fetch_max_bytes=16 * 1024 * 1024)
    await consumer.start()
    try:
        seen = 0
        began = time.perf_counter()  # from the first fetch: the same start a service's consumer has
        while seen < expected:
            batches = await consumer.getmany(timeout_ms=1000, max_records=5000)
            seen += sum(len(records) for records in batches.values())
        return time.perf_counter() - began
    finally:
        await consumer.stop()


async def wait_idle(svc, timeout: float, *, busy: float = 0.05) -> float:
    """Wait until the service's process uses under ``busy`` of a core over two seconds in a row
    (the notifier has read what the seeding made, the consent process has nothing left to do);
    returns the seconds waited."""
    def cpu_seconds() -> float:
        return tree_cpu_seconds(svc.proc.pid)

    began = time.perf_counter()
    quiet = 0
    last = cpu_seconds()
    while quiet < 2:
        await asyncio.sleep(1.0)
        now = cpu_seconds()
        quiet = quiet + 1 if now - last < busy else 0
        last = now
        if time.perf_counter() - began > timeout:
            raise TimeoutError(f"{svc.name} still busy after {timeout:.0f}s")
    return time.perf_counter() - began


async def wait_autovacuum(db: asyncpg.Connection, timeout: float) -> float:
    """Wait until no autovacuum worker runs (PostgreSQL catching up after a bulk load takes the
    same cores as the reads measured next); returns the seconds waited."""
    began = time.perf_counter()
    while await db.fetchval("SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'autovacuum worker'"):
        if time.perf_counter() - began > timeout:
            break
        await asyncio.sleep(1.0)
    return round(time.perf_counter() - began, 1)


async def recorded(db: asyncpg.Connection, run: str) -> tuple[int, datetime | None, datetime | None]:
    row = await db.fetchrow(
        "SELECT count(*) AS n, min(recorded_at) AS first, max(recorded_at) AS last "
        "FROM consent.consent_records WHERE starts_with(event_id, $1)", f"{run}-")
    return row["n"], row["first"], row["last"]


def _processes() -> tuple[dict[int, int], dict[int, int]]:
    """Every process's parent and CPU ticks (utime, stime, cutime, cstime), read from /proc once."""
    parent: dict[int, int] = {}
    ticks: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:  # gone meanwhile
            continue
        parent[int(entry.name)] = int(fields[1])
        ticks[int(entry.name)] = sum(int(f) for f in fields[11:15])
    return parent, ticks


def tree_cpu_seconds(pid: int, table: tuple[dict[int, int], dict[int, int]] | None = None) -> float:
    """CPU seconds (user and system) of a process and all its descendants, the reaped ones
    included (a parent's cutime/cstime holds its waited-for children's)."""
    parent, ticks = table or _processes()
    tree, grew = {pid}, True
    while grew:
        more = {child for child, ppid in parent.items() if ppid in tree} - tree
        tree |= more
        grew = bool(more)
    return sum(ticks.get(p, 0) for p in tree) / os.sysconf("SC_CLK_TCK")


class CpuBudget:
    """CPU per recorded event of each process of the stack, between two moments of a recording:
    where the cores go, and so how many events per second these cores could record at most.
    ``processes``: a name, and the process ids whose trees it covers, or a function giving its
    CPU seconds (the runner's own: ``time.process_time``, as its tree holds every service)."""

    def __init__(self, processes: dict[str, list[int] | Callable[[], float]]) -> None:
        self.processes = processes
        self.start: tuple[int, dict[str, float]] | None = None
        self.end: tuple[int, dict[str, float]] | None = None

    def sample(self, recorded: int) -> None:
        table = _processes()
        snapshot = (recorded, {name: what() if callable(what) else sum(tree_cpu_seconds(pid, table) for pid in what)
                               for name, what in self.processes.items()})
        if self.start is None:
            self.start = snapshot
        self.end = snapshot

    def result(self) -> dict[str, Any] | None:
        if self.start is None or self.end is None or self.end[0] <= self.start[0]:
            return None
        events = self.end[0] - self.start[0]
        return cpu_result(events, {name: round((self.end[1][name] - self.start[1][name]) / events * 1e6, 1)
                                   for name in self.processes})


def cpu_result(events: int, per_event: dict[str, float]) -> dict[str, Any]:
    """CPU microseconds per event of each process, their sum, and the most events per second these
    cores could give at that cost."""
    total = sum(per_event.values())
    cores = os.cpu_count() or 1
    return {"events": events, "us_per_event": per_event, "total_us": round(total, 1), "cores": cores,
            "cores_ceiling_rate": round(cores * 1e6 / total, 1) if total else None}


def next_poll_in(remaining: int, rate: float | None) -> float:
    """Seconds until the next count of the recorded rows: half the time the rest should take at
    the rate seen so far, between 0.2 and 30 s (1 s while no rate is known yet).

    Each count reads the whole ledger (its cost grows with every row), on the cores the recording
    runs on, and inside the CPU budget's window: counting every second took a few percent of
    PostgreSQL's time at 150,000 rows and, over a million, a share that grew with every row. Halving
    the interval keeps the counts to a dozen or two per figure, and the last one within about
    0.2 s of the last row."""
    if not rate:
        return 1.0
    return max(0.2, min(30.0, 0.5 * remaining / rate))


async def wait_recorded(db: asyncpg.Connection, run: str, expected: int, timeout: float,
                        budget: CpuBudget | None = None) -> dict[str, Any]:
    began = time.perf_counter()
    deadline = time.monotonic() + timeout
    last_n = -1
    seen_first: tuple[float, int] | None = None  # (when, rows) at the first count that found rows
    while True:
        n, first, last = await recorded(db, run)
        now = time.monotonic()
        if budget is not None and n > 0:
            budget.sample(n)  # from the first row seen to the last: start-up and group join left out
        if n >= expected:
            break
        if now > deadline:
            raise TimeoutError(f"only {n} of {expected} events recorded within {timeout:.0f}s")
        if n // 100_000 != last_n // 100_000:
            log(f"  {n} of {expected} recorded")
        last_n = n
        if seen_first is None and n > 0:
            seen_first = (now, n)
        rate = (n - seen_first[1]) / (now - seen_first[0]) if seen_first and now > seen_first[0] else None
        await asyncio.sleep(min(next_poll_in(expected - n, rate), max(0.0, deadline - now)))
    span = (last - first).total_seconds() if first and last else 0.0
    out = {"events": n, "first_to_last_s": round(span, 2),
           "rate": round((n - 1) / span, 1) if span > 0 else None,
           "wall_s": round(time.perf_counter() - began, 2)}
    if budget is not None:
        out["cpu"] = budget.result()
    return out


async def wait_outbox_empty(db: asyncpg.Connection, timeout: float) -> float:
    began = time.perf_counter()
    while await db.fetchval("SELECT EXISTS (SELECT 1 FROM consent.outbox)"):
        if time.perf_counter() - began > timeout:
            return float("nan")
        await asyncio.sleep(0.5)
    return time.perf_counter() - began


@contextlib.asynccontextmanager
async def scratch_ledger(db: asyncpg.Connection, schema: str) -> AsyncIterator[list[str]]:
    """A table ``<schema>.ledger`` like the ledger (its columns, defaults, constraints and indexes)
    for the time of the block, which gets the ledger's column names in order; dropped after."""
    columns = [a["attname"] for a in await db.fetch(
        "SELECT attname FROM pg_attribute WHERE attrelid = 'consent.consent_records'::regclass "
        "AND attnum > 0 AND NOT attisdropped ORDER BY attnum")]
    await db.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE; CREATE SCHEMA {schema}; "
                     f"CREATE TABLE {schema}.ledger (LIKE consent.consent_records "
                     "INCLUDING DEFAULTS INCLUDING CONSTRAINTS INCLUDING INDEXES)")
    try:
        yield columns
    finally:
        await db.execute(f"DROP SCHEMA {schema} CASCADE")


async def copy_ceiling(db: asyncpg.Connection, rows: int) -> dict[str, Any]:
    """COPY ``rows`` ledger-shaped rows (real rows of this run, new ids) into a scratch table with the
    ledger's columns, defaults, constraints and indexes: PostgreSQL's own write ceiling here."""
    sample = [list(r.values()) for r in await db.fetch(
        "SELECT * FROM consent.consent_records WHERE received_via = 'kafka' LIMIT 5000")]
    async with scratch_ledger(db, "bench_ceiling") as names:
        idx = {name: names.index(name) for name in ("record_id", "event_id", "subject_id")}
        data = []
        for k in range(rows):
            row = list(sample[k % len(sample)])
            row[idx["record_id"]] = uuid.uuid4()
            row[idx["event_id"]] = f"copy-{k}"
            row[idx["subject_id"]] = f"copy-{k:07d}"
            data.append(tuple(row))
        began = time.perf_counter()
        await db.copy_records_to_table("ledger", schema_name="bench_ceiling", records=data, columns=names)
        seconds = time.perf_counter() - began
    return {"rows": rows, "seconds": round(seconds, 2), "rate": round(rows / seconds, 1)}


async def bare_consumer(db: asyncpg.Connection, stack: Stack, run: str, expected: int) -> dict[str, Any]:
    """The least a durable consumer of consent.inbound does, with none of the service's rules: read
    the events of ``run`` with aiokafka (a group of its own), parse each one's JSON, COPY a
    ledger-shaped row per event into a scratch table (the ledger's columns, constraints and
    indexes) in one transaction per batch, commit, then commit the offsets. No validation,
    sealing, chain, projection or outgoing event: what the broker, PostgreSQL and the client
    libraries cost together on these cores (CPU per event of each, as for the real figure)."""
    template = dict(await db.fetchrow(
        "SELECT * FROM consent.consent_records WHERE starts_with(event_id, $1) LIMIT 1", f"{run}-"))
    assert stack.broker is not None
    consumer = AIOKafkaConsumer("consent.inbound", **stack.broker.client_options(), group_id=f"bench-bare-{uuid.uuid4()}",
                                auto_offset_reset="earliest", enable_auto_commit=False,
                                max_partition_fetch_bytes=4 * 1024 * 1024, fetch_max_bytes=16 * 1024 * 1024)
    async with scratch_ledger(db, "bench_bare") as columns:
        await consumer.start()
        try:
            written = 0
            budget = CpuBudget({"bare consumer": time.process_time, "postgresql": [stack.postgres_pid],
                                "broker": stack.broker_pids()})
            began = None
            while written < expected:
                batches = await consumer.getmany(timeout_ms=1000, max_records=500)
                if batches and began is None:  # from the first fetch, as for the service
                    began = time.perf_counter()
                    budget.sample(0)
                rows = []
                for records in batches.values():
                    for record in records:
                        event = json.loads(record.value)
                        if not event.get("id", "").startswith(f"{run}-"):
                            continue
                        row = dict(template)
                        row.update(record_id=uuid.uuid4(), event_id=event["id"],
                                   subject_id=event["data"]["subject_id"], recorded_at=datetime.now(UTC))
                        rows.append(tuple(row[c] for c in columns))
                if rows:
                    async with db.transaction():
                        await db.copy_records_to_table("ledger", schema_name="bench_bare", records=rows,
                                                       columns=columns)
                    await consumer.commit()
                    written += len(rows)
            seconds = time.perf_counter() - began
            budget.sample(written)
            return {"events": written, "seconds": round(seconds, 2), "rate": round(written / seconds, 1),
                    "cpu": budget.result()}
        finally:
            await consumer.stop()


# --- the consent.inbound figures, on a stack's broker ----------------------------------------------


async def post_policy(client: httpx.AsyncClient, consent_url: str) -> None:
    """The privacy notice every benchmark event consents under."""
    response = await client.post(f"{consent_url}/v1/policies", headers=MANAGER, json={
        "policy_id": "privacy-notice", "version": "1", "effective_at": "2026-01-01T00:00:00+09:00",
        "texts": {"ko": "개인정보 처리방침", "en": "Privacy notice", "vi": "Chính sách quyền riêng tư"},
        "purposes": PURPOSES})
    response.raise_for_status()


async def seed_concurrent(cfg: Config, stack: Stack, db: asyncpg.Connection) -> dict[str, Any]:
    """Figure 2: ``cfg.seed_subjects`` events (a new subject each) produced while the consent
    service's consumer runs; then wait until the readers of consent.events have read what it made."""
    assert stack.broker is not None
    log(f"seeding {cfg.seed_subjects} subjects through consent.inbound on {stack.broker.key} (consumer running)")
    produce_s = await produce(stack.broker, 0, cfg.seed_subjects, "bench-seed")
    seed = await wait_recorded(db, "bench-seed", cfg.seed_subjects, timeout=1800)
    # The notifier reads every consent.events message the seeding made: let it finish first,
    # or the figures that follow share the cores with it.
    await wait_outbox_empty(db, timeout=600)
    for name in ("notifier", "dsr"):  # dsr reads consent.events too (withdrawals)
        if name in stack.services and stack.services[name].proc is not None:
            await wait_idle(stack.services[name], timeout=600)
    return {**seed, "produce_s": round(produce_s, 2)}


async def inbound(cfg: Config, stack: Stack, db: asyncpg.Connection, figures: dict[str, Any]) -> None:
    """Figures 7 and 7b on the stack's broker, the consent service stopped on entry (one consent
    process running on return): pre-load, the produce, consume and COPY ceilings, the recording
    with its CPU per event, the bare consumer; then two replicas. The topic holds the seeding's
    events before. Into ``figures["kafka"]`` and ``figures["kafka_replicas"]``, each when measured."""
    broker = stack.broker
    assert broker is not None
    consent = stack.services["consent"]
    log(f"consent.inbound on {broker.key}: pre-loading {cfg.events} events (consent service stopped)")
    produce_s = await produce(broker, cfg.seed_subjects, cfg.events, "bench-main")
    in_topic = cfg.seed_subjects + cfg.events
    log("  raw consume ceiling")
    consume_s = await consume_raw(broker, in_topic)
    log("  PostgreSQL COPY ceiling")
    copy = await copy_ceiling(db, min(cfg.events, 200_000))
    log("  recording (consent service started)")
    started = time.perf_counter()
    stack.start("consent")
    assert consent.proc is not None
    budget = CpuBudget({"consent": [consent.proc.pid], "postgresql": [stack.postgres_pid],
                        "broker": stack.broker_pids()})
    main = await wait_recorded(db, "bench-main", cfg.events, timeout=3600, budget=budget)
    main["wall_s"] = round(time.perf_counter() - started, 2)  # includes start-up and the group join
    drained = await wait_outbox_empty(db, timeout=600)
    log("  bare consumer ceiling (the same events, none of the rules)")
    bare = await bare_consumer(db, stack, "bench-main", cfg.events)
    figures["kafka"] = {
        **main, "outbox_drained_after_s": round(drained, 2), "ceiling_bare": bare,
        "ceiling_produce": {"messages": cfg.events, "seconds": round(produce_s, 2),
                            "rate": round(cfg.events / produce_s, 1)},
        "ceiling_consume": {"messages": in_topic, "seconds": round(consume_s, 2),
                            "rate": round(in_topic / consume_s, 1)},
        "ceiling_copy": copy,
    }

    # 7b. the same with two consent processes: replicas sharing consent.inbound's partitions in
    # one consumer group, as a deployment scales it (docs/deployment.md).
    first = cfg.seed_subjects + cfg.events
    log(f"consent.inbound on {broker.key} with two consent replicas: pre-loading {cfg.replica_events} events")
    stack.stop("consent")
    await produce(broker, first, cfg.replica_events, "bench-replicas")
    second = stack.add("consent-2", "bench.serve_consent", prefix="CONSENT_")
    stack.start_together("consent", "consent-2")  # both join the group at once
    assert consent.proc is not None and second.proc is not None
    budget = CpuBudget({"consent": [consent.proc.pid, second.proc.pid],
                        "postgresql": [stack.postgres_pid], "broker": stack.broker_pids()})
    replicas = await wait_recorded(db, "bench-replicas", cfg.replica_events, timeout=3600, budget=budget)
    stack.stop("consent-2")
    del stack.services["consent-2"]
    figures["kafka_replicas"] = {**replicas, "replicas": 2, "single_rate": main["rate"]}


async def on_broker(cfg: Config, stack: Stack, broker: str, figures: dict[str, Any],
                    machine_info: dict[str, Any]) -> None:
    """Figure 11: figures 2, 7 and 7b again on ``broker``, by a second stack on the same PostgreSQL
    server (a fresh database of its own, so that its ledger starts as small as the first one's),
    with the same services reading and writing the broker as in those figures: consent, and dsr
    reading consent.events (the notifier was stopped for figure 7). Filled into ``figures`` as
    measured, so that a failure keeps what was."""
    log(f"consent.inbound on {broker}: a stack of its own beside the first (its own database, same PostgreSQL)")
    other = stack.beside(broker, database=f"bench_{broker}")
    try:
        assert other.broker is not None
        machine_info.setdefault("brokers", {})[broker] = other.broker.describe()
        consent = other.add("consent", "bench.serve_consent")
        other.add("dsr", "services.dsr")
        began = time.perf_counter()
        for name in other.services:
            other.start(name)
        figures["startup"] = {"total_s": round(time.perf_counter() - began, 2),
                              **{f"{n}_s": round(s.started_for, 2) for n, s in other.services.items()}}
        db = await asyncpg.connect(other.database_url)
        try:
            async with httpx.AsyncClient(timeout=30, trust_env=False) as client:
                await post_policy(client, consent.url)
            figures["kafka_seed_concurrent"] = await seed_concurrent(cfg, other, db)
            other.stop("consent")
            await inbound(cfg, other, db, figures)
        finally:
            await db.close()
    finally:
        other.close(keep=True)  # its folder lies in the first stack's, kept or removed with it


# --- the run --------------------------------------------------------------------------------------


async def run(cfg: Config, stack: Stack, out: dict[str, Any]) -> None:
    figures: dict[str, Any] = out["figures"]
    stack.start_infra()
    out["machine"].update(stack.versions())
    assert stack.broker is not None
    out["machine"]["brokers"] = {stack.broker.key: stack.broker.describe()}
    sink = SmtpSink()
    await sink.start()
    stack.extra_env.update({
        "DSR_INTAKE_PER_MINUTE": "100000000",  # the intake benchmark files thousands from one address
        "NOTIFIER_SMTP_HOST": "127.0.0.1", "NOTIFIER_SMTP_PORT": str(sink.port), "NOTIFIER_SMTP_TLS": "none",
        "NOTIFIER_RECIPIENTS": json.dumps([{"id": "privacy-manager", "name": "개인정보 보호책임자",
                                            "language": "ko", "email": "cpo@clinic.test"}]),
    })
    consent = stack.add("consent", "bench.serve_consent")
    dsr = stack.add("dsr", "services.dsr")
    stack.add("notifier", "services.notifier")

    # 1. start-up, like make run: one service after the other, each until /healthz is 200.
    log("starting the services (fresh database: each migrates its schema)")
    began = time.perf_counter()
    for name in stack.services:
        stack.start(name)
        log(f"  {name} healthy after {stack.services[name].started_for:.2f}s")
    figures["startup"] = {"total_s": round(time.perf_counter() - began, 2),
                          **{f"{n}_s": round(s.started_for, 2) for n, s in stack.services.items()}}

    db = await asyncpg.connect(stack.database_url)
    async with httpx.AsyncClient(timeout=30, trust_env=False) as client:
        await post_policy(client, consent.url)

        # 2. seed subjects through consent.inbound, the consumer running (concurrent).
        figures["kafka_seed_concurrent"] = await seed_concurrent(cfg, stack, db)

        def serving() -> dict[str, list[int]]:
            """The processes that serve consent's HTTP figures: its own and PostgreSQL's."""
            assert consent.proc is not None
            return {"consent": [consent.proc.pid], "postgresql": [stack.postgres_pid]}

        async def permissions(subjects: int) -> dict[str, Any]:
            """Permission checks over the first ``subjects`` seeded subjects, beside hello world."""
            log(f"permission checks, {subjects} subjects")
            # Measured with nothing else at work: no autovacuum after the bulk loads, and nothing
            # left for the consent process to do (a consumer replaying a batch after a replica
            # left the group blocks its event loop for tens of milliseconds).
            settled = await wait_autovacuum(db, timeout=600)
            settled += await wait_idle(consent, timeout=600)
            hello, check, ratios = await alternating(
                cfg,
                lambda **run: wrk(f"{consent.url}/bench/hello", "get.lua", cfg, cpu=serving(), **run),
                lambda **run: wrk(consent.url, "permission.lua", cfg, env={"BENCH_SUBJECTS": str(subjects)},
                                  cpu=serving(), **run),
            )
            return {"subjects": await db.fetchval("SELECT count(*) FROM consent.subjects"),
                    "settle_wait_s": round(settled, 1), "ceiling": hello, "check": check, "round_ratios": ratios}

        # 3. permission checks with the seed subjects.
        figures["permission_small"] = await permissions(cfg.seed_subjects)

        # 4. consent events over HTTP.
        log("consent events over HTTP")
        before = await db.fetchval("SELECT count(*) FROM consent.consent_records WHERE received_via = 'http'")
        ceiling, real, ratios = await alternating(
            cfg,
            lambda **run: wrk(f"{consent.url}/bench/consent-events", "consent_post.lua", cfg,
                              env={"BENCH_RUN": "ceiling"}, cpu=serving(), **run),
            lambda **run: wrk(f"{consent.url}/v1/consent-events", "consent_post.lua", cfg, env={"BENCH_RUN": "real"},
                              cpu=serving(), **run),
        )
        after = await db.fetchval("SELECT count(*) FROM consent.consent_records WHERE received_via = 'http'")
        if after - before < real["requests"]:  # some calls were replays, answered without a write
            raise RuntimeError(f"POST /v1/consent-events: {after - before} rows for {real['requests']} requests; "
                               "every request must carry a new event id (bench/lua/consent_post.lua)")
        figures["http_consent"] = {"ceiling": ceiling, "real": real, "rows_recorded": after - before,
                                   "round_ratios": ratios}

        # 5. event → privacy manager's email.
        log(f"event to email, {cfg.emails} requests")
        latencies = []
        for k in range(cfg.emails):
            sent = time.time()
            response = await client.post(f"{dsr.url}/v1/requests", json={
                "type": "access", "jurisdiction": "KR", "language": "ko",
                "subject": {"name": "김민수", "birth_date": "1985-03-02"},
                "requester": {"relationship": "self", "contact": f"mail-{k}@example.com"}})
            response.raise_for_status()
            arrived = await sink.wait_for(response.json()["reference"], timeout=60)
            latencies.append(arrived - sent)
        figures["email"] = {"samples": len(latencies), "p50_ms": round(statistics.median(latencies) * 1000, 1),
                            "max_ms": round(max(latencies) * 1000, 1),
                            "p99_ms": round(pct(latencies, 99) * 1000, 1)}

        # 6. approval to completion with five clinic systems answering.
        log(f"approval to completion, five systems, {cfg.dsr_requests} requests")
        stack.spawn_helper("clinics", [sys.executable, "-m", "bench.clinics"])
        for _ in range(600):
            systems = (await client.get(f"{dsr.url}/v1/systems", headers=STAFF)).json()
            if len(systems if isinstance(systems, list) else systems.get("systems", [])) >= 5:
                break
            await asyncio.sleep(0.1)
        else:
            raise RuntimeError("the five clinic systems did not register")
        await asyncio.sleep(6)  # their consumer groups join (about half the session timeout)
        spans = []
        for k in range(cfg.dsr_requests):
            filed = (await client.post(f"{dsr.url}/v1/requests", json={
                "type": "access", "jurisdiction": "KR", "language": "ko",
                "subject": {"subject_id": "patient-1001", "name": "김민수", "birth_date": "1985-03-02"},
                "requester": {"relationship": "self", "contact": f"flow-{k}@example.com"}})).json()
            rid = filed["request_id"]
            (await client.post(f"{dsr.url}/v1/requests/{rid}/verification", headers=STAFF, json={
                "method": "mobile_phone", "evidence_ref": "PASS-1", "representative_checked": False})).raise_for_status()
            approve_at = datetime.now(UTC)
            (await client.post(f"{dsr.url}/v1/requests/{rid}/decision", headers=MANAGER,
                               json={"decision": "approve"})).raise_for_status()
            for _ in range(3000):
                state = (await client.get(f"{dsr.url}/v1/requests/{rid}", headers=STAFF)).json()
                if state.get("closed_at"):
                    break
                await asyncio.sleep(0.02)
            else:
                raise RuntimeError(f"request {rid} did not complete: {state.get('status')}")
            closed = datetime.fromisoformat(state["closed_at"])
            spans.append((closed - approve_at).total_seconds())
        figures["approval_to_completion"] = {
            "systems": 5, "samples": len(spans), "status": state["status"],
            "p50_ms": round(statistics.median(spans) * 1000, 1), "max_ms": round(max(spans) * 1000, 1)}

        # 7. the main consent.inbound run: pre-load the topic, then record; 7b. two replicas.
        stack.stop("consent")
        # The notifier would read each of the million consent.events messages during the figures
        # that follow, on the same two cores: it is stopped for the rest of the run (its memory
        # is taken now, after the email and approval figures).
        notifier_rss = stack.services["notifier"].rss_mib()
        stack.stop("notifier")
        await inbound(cfg, stack, db, figures)

        # 8. permission checks with every subject.
        figures["permission_large"] = await permissions(cfg.seed_subjects + cfg.events + cfg.replica_events)

        # 9. request intake (public filing), unloaded and under load.
        log("request intake")
        alone = await wrk(dsr.url + "/v1/requests", "dsr_intake.lua", cfg, connections=1, threads=1)
        loaded = await wrk(dsr.url + "/v1/requests", "dsr_intake.lua", cfg)
        figures["dsr_intake"] = {"one_connection": alone, "loaded": loaded}

    # 10. memory after the load (the notifier's from before it was stopped).
    figures["rss_mib"] = {name: round((svc.rss_mib() if svc.proc else notifier_rss) or 0, 1)
                          for name, svc in stack.services.items()}
    await db.close()
    await sink.stop()

    # 11. the consent.inbound figures again on Apache Kafka, the first stack's services and broker
    # stopped (their figures are done): only the second stack's processes share the cores.
    stack.stop_services()
    assert stack.broker is not None
    stack.broker.stop()
    figures[ApacheKafka.key] = {}
    await on_broker(cfg, stack, ApacheKafka.key, figures[ApacheKafka.key], out["machine"])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="small counts (a minute or two)")
    parser.add_argument("--no-save", action="store_true", help="print the tables; write no result files")
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory (logs)")
    args = parser.parse_args(argv)
    cfg = Config.load(args.quick)
    ensure_wrk()
    ApacheKafka.check_installed()  # figure 11 runs on it: fail now rather than after the rest
    from bench.report import render

    out: dict[str, Any] = {"started_at": datetime.now(UTC).isoformat(timespec="seconds"), "config": cfg.__dict__,
                           "machine": machine(), "figures": {}}
    stack = Stack.create()
    log(f"{cfg.mode} run, work directory {stack.root}")
    began = time.perf_counter()
    status = 0
    try:
        asyncio.run(run(cfg, stack, out))
    except BaseException as exc:
        status = 1
        out["error"] = f"{type(exc).__name__}: {exc}"
        log(f"failed: {out['error']}")
        if isinstance(exc, KeyboardInterrupt):
            raise
    finally:
        stack.close(keep=args.keep or status != 0)
        if status:
            log(f"logs kept in {stack.root}")
    out["machine"]["loadavg_at_end"] = [round(x, 2) for x in os.getloadavg()]
    out["machine"]["steal_share"] = steal_share(out["machine"].pop("cpu_ticks_at_start", []), cpu_ticks())
    out["run_seconds"] = round(time.perf_counter() - began, 1)
    markdown = render(out)
    print(markdown)
    if not args.no_save:
        RESULTS.mkdir(parents=True, exist_ok=True)
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
        name = f"{stamp}-{cfg.mode}"
        (RESULTS / f"{name}.json").write_text(dumps(out) + "\n", encoding="utf-8")
        (RESULTS / f"{name}.md").write_text(markdown, encoding="utf-8")
        for suffix in ("json", "md"):
            shutil.copyfile(RESULTS / f"{name}.{suffix}", RESULTS / f"latest-{cfg.mode}.{suffix}")
        log(f"results: {(RESULTS / name).relative_to(REPO)}.md / .json")
    return status
