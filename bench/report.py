"""Markdown tables of a run's figures, each beside its ceiling and its target (met or not)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

#: The consent.inbound section's figures (2, 7, 7b): at the top of a run's figures for the broker of
#: the stack every figure runs on (Tansu; where they were before other brokers came), and under
#: ``figures[<broker key>]`` for each broker they are measured on beside it (figure 11).
INBOUND_KEYS = ("kafka_seed_concurrent", "kafka", "kafka_replicas")
#: The brokers' names in the report, by key (``bench.stack.BROKERS``).
BROKER_NAMES = {"tansu": "Tansu", "apache_kafka": "Apache Kafka"}


def _n(value: Any, digits: int = 0) -> str:
    if value is None:
        return "–"
    if isinstance(value, float) and value != value:  # NaN
        return "–"
    if isinstance(value, (int, float)):
        return f"{value:,.{digits}f}"
    return str(value)


def _met(ok: bool | None) -> str:
    return "–" if ok is None else ("yes" if ok else "**no**")


def _rounds(figure: dict[str, Any]) -> str:
    """Each alternating round's ratio (bench.runner.alternating), when there were several."""
    ratios = figure.get("round_ratios") or []
    return f" (rounds: {', '.join(f'{x:.2f}×' for x in ratios)})" if len(ratios) > 1 else ""


def _ratio(a: float | None, b: float | None) -> float | None:
    return a / b if a and b else None


def render(out: dict[str, Any]) -> str:
    m = out["machine"]
    f = out.get("figures", {})
    cfg = out["config"]
    lines = [
        f"# Dongui benchmark ({cfg['mode']} run, {out['started_at']})",
        "",
        f"Machine: {m.get('cpu')}, {m.get('cores')} cores, {m.get('memory_gib')} GiB; Python {m.get('python')}; "
        f"PostgreSQL {m.get('postgresql', '?')} (embedded, fsync on); broker {m.get('broker', '?')} (in memory)"
        + "".join(f", and for the consent.inbound figures also {b.get('version', key)} (below)"
                  for key, b in list((m.get("brokers") or {}).items())[1:]) + "; "
        f"commit {m.get('git_commit')}{' (uncommitted changes)' if m.get('git_dirty') else ''}. "
        f"Load average at start {m.get('loadavg_at_start')}, at end {m.get('loadavg_at_end')} "
        f"(the 2 cores are shared with other work: a load well above the benchmark's own means a busy machine)"
        + (f"; CPU steal over the run {m['steal_share'] * 100:.1f} % of the cores' time (the hypervisor ran "
           f"other machines then)" if m.get("steal_share") is not None else "") + ".",
        "",
        f"wrk: {cfg['threads']} threads, {cfg['connections']} connections, {cfg['duration']} s after a "
        f"{cfg['warmup']} s warm-up, closed loop"
        + (f"; the permission and HTTP consent figures in {cfg['rounds']} rounds alternating with their ceiling, "
           f"the {cfg['duration']} s split between them" if cfg.get("rounds", 1) > 1 else "")
        + ". Services: one uvicorn process each (`shared.runtime.serve`, "
        f"as in production), workers on, log level INFO. Run took {_n(out.get('run_seconds'))} s. "
        "How each figure is measured: [docs/benchmarks.md](../../docs/benchmarks.md).",
        "",
    ]
    if out.get("error"):
        lines += [f"**The run failed:** `{out['error']}`; the figures below are those measured before.", ""]

    rows: list[tuple[str, str, str, str, str]] = []  # figure, value, ceiling, target, met

    k = f.get("kafka")
    if k:
        rows.append((
            f"consent.inbound recorded durably (events/s, {_n(k['events'])} events pre-loaded, first→last row)",
            _n(k["rate"]),
            f"produce {_n(k['ceiling_produce']['rate'])}/s · raw consume {_n(k['ceiling_consume']['rate'])}/s · "
            f"COPY {_n(k['ceiling_copy']['rate'])} rows/s"
            + (f" · bare consumer {_n(k['ceiling_bare']['rate'])}/s" if k.get("ceiling_bare") else ""),
            "≥ 10,000/s", _met(k["rate"] is not None and k["rate"] >= 10_000)))
        rows.extend(_cpu_rows(k.get("cpu"), "one consent process", k["rate"]))
        if k.get("ceiling_bare"):
            rows.extend(_cpu_rows(k["ceiling_bare"].get("cpu"), "the bare consumer (no rules)",
                                  k["ceiling_bare"]["rate"], who="bare consumer"))
    kr = f.get("kafka_replicas")
    if kr:
        rows.append((f"consent.inbound, {kr['replicas']} consent replicas in one consumer group "
                     f"({_n(kr['events'])} events pre-loaded)", _n(kr["rate"]),
                     f"one replica {_n(kr['single_rate'])}/s → {_n(_ratio(kr['rate'], kr['single_rate']), 2)}×",
                     "–", "–"))
        rows.extend(_cpu_rows(kr.get("cpu"), "two consent processes", kr["rate"]))
    s = f.get("kafka_seed_concurrent")
    if s:
        rows.append((f"consent.inbound, producer running concurrently ({_n(s['events'])} events)",
                     _n(s["rate"]), "–", "–", "–"))
    h = f.get("http_consent")
    if h:
        r = _ratio(h["real"]["rps"], h["ceiling"]["rps"])
        rows.append(("POST /v1/consent-events (requests/s)", _n(h["real"]["rps"]),
                     f"{_n(h['ceiling']['rps'])} (same body validated, no database) → {_n(r, 2)}×"
                     f"{_rounds(h)}",
                     "≥ 0.6× ceiling", _met(r is not None and r >= 0.6)))
        rows.append(("POST /v1/consent-events p50 / p99 (ms)",
                     f"{_n(h['real']['p50_ms'], 1)} / {_n(h['real']['p99_ms'], 1)}",
                     f"{_n(h['ceiling']['p50_ms'], 1)} / {_n(h['ceiling']['p99_ms'], 1)}", "–", "–"))
        rows.extend(_request_cpu_rows("POST /v1/consent-events", h["real"], h["ceiling"]))
    for key, _label in (("permission_small", "small"), ("permission_large", "large")):
        p = f.get(key)
        if not p:
            continue
        r = _ratio(p["check"]["rps"], p["ceiling"]["rps"])
        rows.append((f"permission check, {_n(p['subjects'])} subjects (requests/s)", _n(p["check"]["rps"]),
                     f"{_n(p['ceiling']['rps'])} (hello world) → {_n(r, 2)}×{_rounds(p)}", "≥ 0.7× ceiling",
                     _met(r is not None and r >= 0.7)))
        rows.append((f"permission check, {_n(p['subjects'])} subjects p50 / p99 (ms)",
                     f"{_n(p['check']['p50_ms'], 1)} / {_n(p['check']['p99_ms'], 1)}",
                     f"{_n(p['ceiling']['p50_ms'], 1)} / {_n(p['ceiling']['p99_ms'], 1)}",
                     "p99 ≤ 20 ms", _met(p["check"]["p99_ms"] <= 20)))
        rows.extend(_request_cpu_rows(f"permission check, {_n(p['subjects'])} subjects", p["check"], p["ceiling"]))
    small, large = f.get("permission_small"), f.get("permission_large")
    if small and large:
        rps = _ratio(small["check"]["rps"], large["check"]["rps"])
        p99 = _ratio(large["check"]["p99_ms"], small["check"]["p99_ms"])
        rows.append(("permission check, large vs small database (rps small/large, p99 large/small)",
                     f"{_n(rps, 2)}× / {_n(p99, 2)}×", "–", "≤ 1.3×",
                     _met(rps is not None and p99 is not None and rps <= 1.3 and p99 <= 1.3)))
    d = f.get("dsr_intake")
    if d:
        one, loaded = d["one_connection"], d["loaded"]
        rows.append(("POST /v1/requests, one connection: p50 / p99 (ms)",
                     f"{_n(one['p50_ms'], 1)} / {_n(one['p99_ms'], 1)}", f"{_n(one['rps'])} requests/s",
                     "≤ 10 ms (peer ~55 ms)", _met(one["p99_ms"] <= 10)))
        rows.append((f"POST /v1/requests, {loaded['connections']} connections: p50 / p99 (ms)",
                     f"{_n(loaded['p50_ms'], 1)} / {_n(loaded['p99_ms'], 1)}", f"{_n(loaded['rps'])} requests/s",
                     "–", "–"))
    a = f.get("approval_to_completion")
    if a:
        rows.append((f"approval → completed, {a['systems']} clinic systems answering ({a['samples']} requests)",
                     f"p50 {_n(a['p50_ms'])} ms, max {_n(a['max_ms'])} ms", "–", "–", "–"))
    e = f.get("email")
    if e:
        rows.append((f"request filed → privacy manager's email ({e['samples']} requests)",
                     f"p50 {_n(e['p50_ms'])} ms, max {_n(e['max_ms'])} ms", "–", "–", "–"))
    st = f.get("startup")
    if st:
        parts = ", ".join(f"{k.removesuffix('_s')} {v:.1f}" for k, v in st.items() if k != "total_s")
        rows.append(("stack start-up until every /healthz is 200 (s)", f"{st['total_s']:.1f}", parts, "–", "–"))
    rss = f.get("rss_mib")
    if rss:
        rows.append(("resident memory after the load (MiB)", ", ".join(f"{k} {v:.0f}" for k, v in rss.items()),
                     "–", "–", "–"))

    lines += ["| figure | measured | ceiling (same run) | target | met? |", "|---|---|---|---|---|"]
    lines += [f"| {a} | {b} | {c} | {d_} | {e_} |" for a, b, c, d_, e_ in rows]
    errors = {name: fig for name, fig in _wrk_runs(f) if fig.get("errors")}
    if errors:
        lines += ["", "wrk errors (non-2xx answers, timeouts, socket errors): " +
                  "; ".join(f"{n}: {v['error_detail']}" for n, v in errors.items())]
    if k:
        lines += ["", f"consent.inbound detail: {_n(k['events'])} events recorded in {k['first_to_last_s']} s "
                  f"(first to last recorded row); {k['wall_s']} s from starting the consent service (start-up "
                  f"and group join included); the outbox (consent.events) drained {k['outbox_drained_after_s']} s "
                  f"after the last row."]
    lines += brokers_table(out)
    return "\n".join(lines) + "\n"


def inbound_by_broker(out: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Each broker's consent.inbound figures by broker key, the first stack's broker first (a run
    from before figure 11, or one that failed before it, has only that one)."""
    f = out.get("figures", {})
    brokers = list(out.get("machine", {}).get("brokers") or {"tansu": {}})
    found: dict[str, dict[str, Any]] = {}
    first = {key: f[key] for key in INBOUND_KEYS if f.get(key)}
    if first:
        found[brokers[0]] = first
    for broker in brokers[1:]:
        section = {key: value for key, value in (f.get(broker) or {}).items() if key in INBOUND_KEYS and value}
        if section:
            found[broker] = section
    return found


def _get(section: dict[str, Any], *path: str) -> Any:
    value: Any = section
    for key in path:
        value = value.get(key) if isinstance(value, dict) else None
    return value


def _us(part: str | None, *budget: str) -> Callable[[dict[str, Any]], float | None]:
    """CPU per event of one process (``part``), or of all of them (None), in the CPU budget at
    ``budget`` (a path in a broker's section; default the one-process recording's)."""
    path = budget or ("kafka", "cpu")

    def get(section: dict[str, Any]) -> float | None:
        cpu = _get(section, *path)
        if not cpu:
            return None
        return cpu["total_us"] if part is None else cpu["us_per_event"].get(part)
    return get


#: The rows of the side-by-side table: label, the value in one broker's section, digits, unit.
BROKER_ROWS: list[tuple[str, Callable[[dict[str, Any]], Any], int, str]] = [
    ("recorded durably, pre-loaded (events/s, first→last row)", lambda s: _get(s, "kafka", "rate"), 0, ""),
    ("… CPU per recorded event: consent service (µs)", _us("consent"), 0, ""),
    ("… CPU per recorded event: PostgreSQL (µs)", _us("postgresql"), 0, ""),
    ("… CPU per recorded event: broker (µs)", _us("broker"), 0, ""),
    ("… CPU per recorded event, all three (µs)", _us(None), 0, ""),
    ("… the most these cores could record at that cost (events/s)",
     lambda s: _get(s, "kafka", "cpu", "cores_ceiling_rate"), 0, ""),
    ("… measured, as a share of that", lambda s: _ratio(_get(s, "kafka", "rate"),
                                                         _get(s, "kafka", "cpu", "cores_ceiling_rate")), 2, "×"),
    ("ceiling: the broker's raw produce rate, acks=all (events/s)",
     lambda s: _get(s, "kafka", "ceiling_produce", "rate"), 0, ""),
    ("ceiling: the broker's raw consume rate (events/s)", lambda s: _get(s, "kafka", "ceiling_consume", "rate"), 0, ""),
    ("ceiling: bare durable consumer, no rules (events/s)", lambda s: _get(s, "kafka", "ceiling_bare", "rate"), 0, ""),
    ("… its CPU per event, all three (µs)", _us(None, "kafka", "ceiling_bare", "cpu"), 0, ""),
    ("… its CPU per event: broker (µs)", _us("broker", "kafka", "ceiling_bare", "cpu"), 0, ""),
    ("… recorded, as a share of the bare consumer's rate",
     lambda s: _ratio(_get(s, "kafka", "rate"), _get(s, "kafka", "ceiling_bare", "rate")), 2, "×"),
    ("ceiling: PostgreSQL COPY, same server (rows/s; the machine's speed then)",
     lambda s: _get(s, "kafka", "ceiling_copy", "rate"), 0, ""),
    ("from starting the consent service to the last row (s)", lambda s: _get(s, "kafka", "wall_s"), 1, ""),
    ("the outbox (consent.events) drained after the last row (s)",
     lambda s: _get(s, "kafka", "outbox_drained_after_s"), 1, ""),
    ("two consent replicas in one group (events/s)", lambda s: _get(s, "kafka_replicas", "rate"), 0, ""),
    ("… two replicas against one", lambda s: _ratio(_get(s, "kafka_replicas", "rate"),
                                                     _get(s, "kafka_replicas", "single_rate")), 2, "×"),
    ("… CPU per recorded event with two replicas, all three (µs)", _us(None, "kafka_replicas", "cpu"), 0, ""),
    ("producer running concurrently (events/s)", lambda s: _get(s, "kafka_seed_concurrent", "rate"), 0, ""),
]


def brokers_table(out: dict[str, Any]) -> list[str]:
    """The consent.inbound figures of each broker side by side, and the second's over the first's.
    Nothing when only one broker's figures are there."""
    sections = inbound_by_broker(out)
    if len(sections) < 2:
        return []
    described = out.get("machine", {}).get("brokers") or {}
    keys = list(sections)
    first = keys[0]
    names = [BROKER_NAMES.get(key, key) for key in keys]

    def cell(value: Any, digits: int, unit: str) -> str:
        return "–" if value is None else f"{_n(value, digits)}{unit}"

    header = ["figure", *(described.get(key, {}).get("version") or name for name, key in zip(names, keys, strict=True))]
    header += [f"{name} ÷ {names[0]}" for name in names[1:]]
    lines = ["", "## consent.inbound on each broker (same run)", "",
             f"The figures 2, 7 and 7b on each broker: {names[0]}'s in the stack of every figure above, "
             + ", ".join(f"{name}'s in a stack of its own" for name in names[1:])
             + " (a fresh database on the same PostgreSQL server, the consent and dsr services, started after "
             "the figures above were done and their stack stopped). "
             f"{_n(_get(sections[first], 'kafka', 'events'))} events pre-loaded on each. The COPY ceiling is "
             "PostgreSQL's alone: where it differs between the brokers' columns, the machine's speed did.", "",
             "| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines.append("| how the broker keeps the events | " + " | ".join(
        described.get(key, {}).get("storage", "?") for key in keys) + " |" + " – |" * (len(keys) - 1))
    lines.append("| producers (the services' and the benchmark's) | " + " | ".join(
        described.get(key, {}).get("producer", "?") for key in keys) + " |" + " – |" * (len(keys) - 1))
    for label, get, digits, unit in BROKER_ROWS:
        values = [get(sections[key]) for key in keys]
        if all(v is None for v in values):
            continue
        ratios = [cell(_ratio(v, values[0]), 2, "×") for v in values[1:]]
        lines.append(f"| {label} | " + " | ".join(cell(v, digits, unit) for v in values) + " | "
                     + " | ".join(ratios) + " |")
    return lines


def _cpu_rows(cpu: dict[str, Any] | None, label: str, rate: float | None,
              who: str = "consent service") -> list[tuple[str, str, str, str, str]]:
    """Where the cores went per recorded event, and the most these cores could record at that cost."""
    if not cpu:
        return []
    parts = " · ".join(f"{name} {_n(us)}" for name, us in cpu["us_per_event"].items())
    return [(f"… CPU per recorded event, {label} (µs: {who} · PostgreSQL · broker)",
             f"{parts} = {_n(cpu['total_us'])}",
             f"{cpu['cores']} cores ÷ {_n(cpu['total_us'])} µs = {_n(cpu['cores_ceiling_rate'])}/s at most"
             f" → measured {_n(_ratio(rate, cpu['cores_ceiling_rate']), 2)}× of it", "–", "–")]


def _request_cpu_rows(label: str, real: dict[str, Any], ceiling: dict[str, Any]) -> list[tuple[str, str, str, str, str]]:
    """CPU per request of the endpoint and of its ceiling, and the ratio the cores allow at that cost:
    however the work is scheduled, the endpoint cannot answer more than cores ÷ its CPU per request."""
    rc, cc = real.get("cpu"), ceiling.get("cpu")
    if not rc or not cc:
        return []

    def parts(cpu: dict[str, Any]) -> str:
        return " · ".join(f"{name} {_n(us)}" for name, us in cpu["us_per_event"].items()) + f" = {_n(cpu['total_us'])}"

    most = _ratio(rc["cores_ceiling_rate"], ceiling["rps"])
    return [(f"… {label}: CPU per request (µs, with wrk's own)", parts(rc),
             f"{parts(cc)} · {rc['cores']} cores ÷ {_n(rc['total_us'])} µs = {_n(rc['cores_ceiling_rate'])}/s at "
             f"most → at most {_n(most, 2)}× of the ceiling's rate", "–", "–")]


def _wrk_runs(f: dict[str, Any]):
    for key, fig in f.items():
        if isinstance(fig, dict):
            for sub, value in fig.items():
                if isinstance(value, dict) and "rps" in value:
                    yield f"{key}.{sub}", value
