"""A reduced chaos run (docs/chaos.md): every service killed, PostgreSQL restarted, and on the
three-broker Apache Kafka cluster the leaders of consent.inbound and consent.events killed, one
broker away and two stopped, under load; nothing may be lost or done twice.

Sizes are the runner's environment variables (``CHAOS_*``); ``make chaos`` runs the full size.
``CHAOS_BROKER=tansu`` runs it on Tansu on S3 (its kill -9 and outage) instead: not part of
``make test`` any more (docs/chaos.md).
"""

from __future__ import annotations

import os

from chaos.report import table
from chaos.runner import Config, run
from chaos.stack import Stack

#: The reduced run: 6,000 events over 30 s, faults 4 s apart (each after the last recovered), an
#: 8-second broker outage. The timeouts are generous: they cost time only on a failure.
REDUCED = {
    "CHAOS_EVENTS": "6000",
    "CHAOS_SUBJECTS": "500",
    "CHAOS_REQUESTS": "24",
    "CHAOS_LOAD_SECONDS": "30",
    "CHAOS_FIRST_FAULT": "3",
    "CHAOS_FAULT_GAP": "4",
    "CHAOS_DOWN_SECONDS": "2",
    "CHAOS_OUTAGE_SECONDS": "8",
    "CHAOS_MINORITY_SECONDS": "8",
    "CHAOS_RECOVERY_TIMEOUT": "90",
    "CHAOS_DRAIN_TIMEOUT": "150",
}

#: The kind of part each fault hits, in order (``CHAOS_BROKER``: the cluster's two leader kills,
#: one node away and two stopped; Tansu's kill and outage).
TARGETS = {
    "apache": ["broker", "broker", "consent", "dsr", "notifier", "postgres", "broker", "broker"],
    "tansu": ["consent", "dsr", "notifier", "broker", "postgres", "broker"],
}


def test_nothing_is_lost_or_done_twice_when_every_part_is_killed_under_load(monkeypatch):
    for name, value in REDUCED.items():
        monkeypatch.setenv(name, os.environ.get(f"TEST_{name}", value))
    cfg = Config.from_env()
    report = run(cfg)
    print(table(report))
    assert [f.target for f in report.faults] == TARGETS[cfg.broker], table(report)
    assert all(f.recovered for f in report.faults), table(report)
    assert report.consent["sent"] == report.consent["recorded"] == cfg.events, table(report)
    assert report.consent["duplicates"] == report.consent["missing"] == 0, table(report)
    assert report.requests["by_state"] and report.notifications["made"] == report.notifications["expected"]
    assert report.ok, table(report)


def test_each_broker_has_its_faults_in_order(tmp_path):
    """The schedule, without starting anything: the cluster's leader kills first, under load."""
    for broker, targets in TARGETS.items():
        stack = Stack(tmp_path / broker, broker)
        planned = stack.faults(3, 60, 30)
        assert [kind for kind, _ in planned] == targets
        assert [f.down for _, f in planned][-2:] == ([60, 30] if broker == "apache" else [3, 60])
    names = [f.name for _, f in Stack(tmp_path / "c", "apache").faults(3, 60, 30)]
    assert names[:2] == ["kill -9 leader of consent.inbound[0]", "kill -9 leader of consent.events[0]"]
    assert names[-2:] == ["one broker away 60 s", "two brokers stopped 30 s"]
