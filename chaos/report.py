"""The chaos run's table (printed) and its results file (``chaos/results/``)."""

from __future__ import annotations

import json
from pathlib import Path

from chaos.runner import Report


def _s(value: float | None) -> str:
    return "never" if value is None else f"{value:.1f} s"


def table(report: Report) -> str:
    c, r, n = report.consent, report.requests, report.notifications
    lines = [
        "| fault | hit | at | down | /healthz 200 after | work resumed after |",
        "|---|---|---|---|---|---|",
    ]
    lines += [f"| {f.fault} | {f.hit} | {f.at:.0f} s | {f.down:.0f} s | {_s(f.healthy_after)} | {_s(f.progress_after)} |"
              for f in report.faults]
    lines += [
        "",
        "| consent events | sent | recorded | duplicates | missing |",
        "|---|---|---|---|---|",
        f"| all | {c.get('sent', '?')} | {c.get('recorded', '?')} | {c.get('duplicates', '?')} | {c.get('missing', '?')} |",
        f"| over Kafka (send attempts {c.get('kafka_attempts', '?')}, re-sent {c.get('kafka_resent', '?')}) "
        f"| {c.get('sent_kafka', '?')} | | | acknowledged but not on the topic: {c.get('acked_not_on_topic', '?')} "
        f"(of them never recorded: {c.get('acked_not_on_topic_unrecorded', '?')}) |",
        f"| over HTTP (attempts {c.get('http_attempts', '?')}) | {c.get('sent_http', '?')} | | | |",
        "",
        f"Hash chains verified: {c.get('subjects', '?')} subjects, {c.get('chains_invalid', '?')} invalid. "
        f"Withdrawals recorded {c.get('withdrawn_recorded', '?')}, reached the notifier "
        f"{c.get('withdrawals_notified', '?')}. Outbox rows left: {c.get('outbox_left', '?')}.",
        "",
        f"Requests: filed {r.get('filed', '?')}, acknowledged {r.get('acknowledged', '?')}, in the database "
        f"{r.get('in_database', '?')} (filing attempts {r.get('filing_attempts', '?')}, "
        f"unanswered {r.get('ambiguous_filings', '?')}); by final state: {r.get('by_state', '?')}.",
        "",
        f"Notifications: expected {n.get('expected', '?')}, made {n.get('made', '?')}, duplicates "
        f"{n.get('duplicates', '?')}, requests missing one {n.get('missing_or_wrong', '?')}; by kind: "
        f"{n.get('by_kind', '?')}.",
        "",
        "Seconds: " + ", ".join(f"{k} {v}" for k, v in report.seconds.items()),
        "",
        "RESULT: " + ("PASS (nothing lost, nothing duplicated, every fault recovered without a human)"
                      if report.ok else "FAIL\n" + "\n".join(f"  - {p}" for p in report.problems)),
    ]
    return "\n".join(lines)


def write(report: Report, folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "latest.json").write_text(json.dumps(report.as_dict(), indent=2, ensure_ascii=False, default=str) + "\n")
    m = report.machine
    cfg = report.config
    broker = {"apache": "Apache Kafka, three nodes (KRaft; replication factor 3, min.insync.replicas 2)",
              "tansu": "Tansu on moto's S3"}.get(cfg.get("broker", "tansu"), cfg.get("broker"))
    head = [
        f"# Chaos run of {report.started_at}",
        "",
        f"Broker: {broker}.",
        f"Machine: {m.get('cpu', '?')}, {m.get('cpus')} CPUs, {m.get('memory_gb', '?')} GB, "
        f"{m.get('system')}, Python {m.get('python')}.",
        f"Load: {cfg['events']} consent events ({cfg['http_share']:.0%} over HTTP) for {cfg['subjects']} "
        f"subjects and {cfg['requests']} requests, spread over {cfg['load_seconds']:.0f} s; a killed "
        f"process stays down {cfg['down_seconds']:.0f} s; broker outage {cfg['outage_seconds']:.0f} s"
        + (f"; two brokers stopped {cfg['minority_seconds']:.0f} s." if cfg.get("broker") == "apache" else "."),
        "",
    ]
    (folder / "latest.md").write_text("\n".join(head) + "\n" + table(report) + "\n")
