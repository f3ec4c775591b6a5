"""The benchmark report puts the consent.inbound figures of each broker side by side."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from bench.report import brokers_table, inbound_by_broker, render

RESULTS = Path(__file__).resolve().parent.parent / "bench" / "results"


def _cpu(events: int, **us: float) -> dict[str, Any]:
    total = sum(us.values())
    return {"events": events, "us_per_event": us, "total_us": total, "cores": 2, "cores_ceiling_rate": 2e6 / total}


def _section(rate: float, broker_us: float, replicas: float) -> dict[str, Any]:
    return {
        "kafka_seed_concurrent": {"events": 10_000, "rate": rate * 0.9},
        "kafka": {
            "events": 20_000, "first_to_last_s": 4.0, "rate": rate, "wall_s": 9.0, "outbox_drained_after_s": 0.5,
            "cpu": _cpu(19_000, consent=200.0, postgresql=100.0, broker=broker_us),
            "ceiling_bare": {"events": 20_000, "seconds": 1.0, "rate": 20_000.0,
                             "cpu": _cpu(20_000, **{"bare consumer": 40.0}, postgresql=10.0, broker=broker_us / 5)},
            "ceiling_produce": {"messages": 20_000, "seconds": 1.0, "rate": 20_000.0},
            "ceiling_consume": {"messages": 30_000, "seconds": 0.2, "rate": 150_000.0},
            "ceiling_copy": {"rows": 20_000, "seconds": 0.2, "rate": 100_000.0},
        },
        "kafka_replicas": {"events": 20_000, "rate": replicas, "replicas": 2, "single_rate": rate,
                           "cpu": _cpu(19_000, consent=150.0, postgresql=90.0, broker=broker_us)},
    }


def _run(with_apache: bool) -> dict[str, Any]:
    brokers = {"tansu": {"version": "tansu 0.6.0", "storage": "in memory", "producer": "acks=all, not idempotent"}}
    tansu = _section(5_000.0, 10.0, 6_000.0)
    figures: dict[str, Any] = dict(tansu)
    if with_apache:
        brokers["apache_kafka"] = {"version": "Apache Kafka 4.4.0 (Java 17.0.15)", "storage": "log on disk",
                                   "producer": "acks=all, idempotent"}
        figures["apache_kafka"] = _section(4_000.0, 50.0, 4_800.0)
    return {"started_at": "2026-12-05T00:00:00+00:00", "run_seconds": 60.0,
            "config": {"mode": "quick", "threads": 2, "connections": 8, "duration": 4, "warmup": 1, "rounds": 2},
            "machine": {"cpu": "test", "cores": 2, "broker": "tansu 0.6.0", "brokers": brokers}, "figures": figures}


def _row(table: list[str], label: str) -> list[str]:
    line = next(line for line in table if line.startswith(f"| {label} |"))
    return [cell.strip() for cell in line.strip("|").split("|")][1:]


def test_each_brokers_figures_stand_side_by_side_with_the_second_over_the_first():
    out = _run(with_apache=True)
    assert list(inbound_by_broker(out)) == ["tansu", "apache_kafka"]  # the first stack's broker first

    table = brokers_table(out)
    assert "| figure | tansu 0.6.0 | Apache Kafka 4.4.0 (Java 17.0.15) | Apache Kafka ÷ Tansu |" in table
    assert _row(table, "recorded durably, pre-loaded (events/s, first→last row)") == ["5,000", "4,000", "0.80×"]
    assert _row(table, "… CPU per recorded event: broker (µs)") == ["10", "50", "5.00×"]
    assert _row(table, "… CPU per recorded event, all three (µs)") == ["310", "350", "1.13×"]
    assert _row(table, "… its CPU per event: broker (µs)") == ["2", "10", "5.00×"]  # the bare consumer's
    # The two replicas' own CPU budget, not another figure's.
    assert _row(table, "… CPU per recorded event with two replicas, all three (µs)") == ["250", "290", "1.16×"]
    assert _row(table, "… two replicas against one") == ["1.20×", "1.20×", "1.00×"]
    assert _row(table, "producer running concurrently (events/s)") == ["4,500", "3,600", "0.80×"]
    assert _row(table, "producers (the services' and the benchmark's)") == [
        "acks=all, not idempotent", "acks=all, idempotent", "–"]
    assert "\n## consent.inbound on each broker (same run)\n" in render(out)


def test_a_section_cut_short_shows_what_was_measured():
    out = _run(with_apache=True)
    del out["figures"]["apache_kafka"]["kafka"], out["figures"]["apache_kafka"]["kafka_replicas"]

    table = brokers_table(out)
    assert _row(table, "producer running concurrently (events/s)") == ["4,500", "3,600", "0.80×"]
    assert _row(table, "recorded durably, pre-loaded (events/s, first→last row)") == ["5,000", "–", "–"]


def test_one_brokers_run_has_no_side_by_side_table():
    assert brokers_table(_run(with_apache=False)) == []
    assert "on each broker" not in render(_run(with_apache=False))


def test_stored_results_from_before_render_as_they_did():
    # Runs from before the figures on Apache Kafka (not latest-*: the next run replaces those).
    for stored in (RESULTS / "20261205T085829Z-quick.json", RESULTS / "20261204T011559Z-full.json"):
        out = json.loads(stored.read_text(encoding="utf-8"))
        assert "brokers" not in out["machine"]

        assert list(inbound_by_broker(out)) == ["tansu"]
        # A stored report may start with a line of its own (which code it measured).
        assert stored.with_suffix(".md").read_text(encoding="utf-8").endswith(render(out))
