"""The benchmark's alternating rounds are merged into one figure without inventing anything."""

from __future__ import annotations

from bench.runner import merge_runs


def _run(requests: int, seconds: float, p50: float, p99: float, consent_us: float) -> dict:
    return {"rps": requests / seconds, "requests": requests, "errors": 1, "error_detail": {"status": 1, "timeout": 0},
            "p50_ms": p50, "p90_ms": p50 * 2, "p99_ms": p99, "max_ms": p99 * 2, "connections": 8, "threads": 2,
            "seconds": seconds,
            "cpu": {"events": requests, "us_per_event": {"consent": consent_us, "wrk": 50.0},
                    "total_us": consent_us + 50, "cores": 2, "cores_ceiling_rate": 2e6 / (consent_us + 50)}}


def test_rounds_are_summed_and_the_cpu_per_request_weighted_by_requests():
    merged = merge_runs([_run(1000, 5, 4.0, 9.0, 900.0), _run(3000, 5, 6.0, 30.0, 500.0), _run(2000, 5, 5.0, 12.0, 700.0)])

    assert merged["requests"] == 6000 and merged["seconds"] == 15 and merged["rps"] == 400.0
    assert merged["errors"] == 3 and merged["error_detail"] == {"status": 3, "timeout": 0}
    assert merged["p50_ms"] == 5.0  # the median round's
    assert merged["p99_ms"] == 30.0 and merged["max_ms"] == 60.0  # the worst round's: never better than measured
    assert merged["cpu"]["events"] == 6000
    assert merged["cpu"]["us_per_event"]["consent"] == round((1000 * 900 + 3000 * 500 + 2000 * 700) / 6000, 1)
    assert merged["cpu"]["total_us"] == merged["cpu"]["us_per_event"]["consent"] + 50
    assert merged["runs"] == 3


def test_a_single_run_is_left_as_it_was():
    run = _run(1000, 5, 4.0, 9.0, 900.0)
    assert merge_runs([run]) is run


def test_the_row_count_is_polled_less_often_the_further_the_end_is():
    from bench.runner import next_poll_in

    assert next_poll_in(1_000_000, None) == 1.0  # no rate yet
    assert next_poll_in(1_000_000, 5_000) == 30.0  # capped
    assert next_poll_in(50_000, 5_000) == 5.0  # half of the 10 s the rest should take
    assert next_poll_in(100, 5_000) == 0.2  # near the end: the floor
