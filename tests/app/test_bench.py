"""The benchmark's arithmetic: slices alternating with the ceiling, their sums and the ratios.

wrk and the servers are not started here (``make bench`` does that); what is checked is how
the script turns wrk's figures into the printed ones and the PASS/FAIL of the targets.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from bench import run as bench
from bench.run import Bench, Result, Sample, Scenario, ServerProcess


def _figures(requests: int, seconds: float, p50: int, p99: int, non2xx: int = 0) -> dict[str, Any]:
    return {
        "requests": requests,
        "duration_us": int(seconds * 1e6),
        "latency_us": {"p50": p50, "p90": p50 * 2, "p99": p99, "p999": p99 * 2, "max": p99 * 3},
        "non2xx": non2xx,
        "connect_errors": 0,
        "read_errors": 0,
        "write_errors": 0,
        "timeouts": 0,
        "bytes": requests * 100,
    }


def _sample(requests: int, seconds: float, server_cpu: float, p50: int = 10_000, p99: int = 20_000) -> Sample:
    return Sample(
        _figures(requests, seconds, p50, p99),
        wall=seconds,
        wrk_cpu=0.1 * seconds,
        cpu={"machine": server_cpu + 0.1 * seconds, "server": server_cpu},
    )


def _scenario(key: str, path: str = "/api/v1/notes", cached: bool = True) -> Scenario:
    return Scenario(key, f"GET {path} ({key})", f"{key}.lua", path, 64, 10, 0, 2, cached=cached)


@pytest.fixture
def harness(tmp_path: Path) -> Bench:
    return Bench(bench.parse_args([]), redis=None, mongo=None, logdir=tmp_path)  # type: ignore[arg-type]


def _server(name: str, tmp_path: Path) -> ServerProcess:
    return ServerProcess(name, [], {}, 1234, tmp_path)


def test_runs_are_summed_and_the_p99_is_the_worst_runs(harness: Bench, tmp_path: Path) -> None:
    # GIVEN three 2 s slices of one scenario, the second one slower
    samples = [
        _sample(8000, 2.0, 1.0, p50=10_000, p99=20_000),
        _sample(6000, 2.0, 1.0, p50=14_000, p99=45_000),
        _sample(7000, 2.0, 1.0, p50=12_000, p99=30_000),
    ]
    # WHEN they are made into one result
    result = harness.result(_scenario("list"), _server("api-w1", tmp_path), 1, samples)
    # THEN requests and time are summed: 21000 requests over 6 s
    assert result.requests == 21000 and result.duration_s == 6
    assert result.rps == pytest.approx(3500)
    # AND the CPU per request is the summed CPU over the summed requests (3 s / 21000)
    assert result.server_cpu_us_per_request == pytest.approx(142.9, abs=0.1)
    assert result.cpu_cores["server"] == pytest.approx(0.5)
    # AND the p50 is the median slice's, the p99 and max the worst slice's
    assert result.p50_ms == 12.0
    assert result.p99_ms == 45.0 and result.max_ms == 135.0
    # AND the command shown is one slice's
    assert "-d2s" in result.command


def test_a_cached_read_runs_whole_for_its_latency_then_in_abba_slices_for_its_ratio(
    harness: Bench, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN a ceiling that does 6000 req/s and a scenario that does 3000, recorded per run;
    # the full run has a p99 of 30 ms, the slices 80 ms (each starts with wrk's connection
    # burst), and one slice answers 2 requests with a 5xx
    order: list[tuple[str, int]] = []

    def fake_sample(scenario: Scenario, server: ServerProcess, duration: int) -> Sample:
        order.append((scenario.key, duration))
        rate = 6000 if scenario.key == "hello" else 3000
        cpu = 0.2 * duration * (1 if scenario.key == "hello" else 2)
        sampled = _sample(rate * duration, duration, cpu, p99=30_000 if duration == 10 else 80_000)
        if scenario.key == "list" and len(order) == 3:  # its first slice
            sampled.figures["non2xx"] = 2
        return sampled

    monkeypatch.setattr(harness, "sample", fake_sample)
    monkeypatch.setattr(harness, "warm_up", lambda scenario, server: None)
    monkeypatch.setattr(harness, "wait_for_quiet", lambda: None)
    monkeypatch.setattr(bench, "scrape", lambda base: {})
    # WHEN the scenario is measured with 5 slices
    result = harness.measure(
        _scenario("list"),
        _server("api-w1", tmp_path),
        1,
        paired=(_scenario("hello", "/hello", cached=False), _server("hello-w1", tmp_path)),
    )
    # THEN it ran once for 10 s, then alternated with the ceiling, each going first in turn
    assert order[0] == ("list", 10)
    assert order[1:] == [
        (key, 2)
        for key in ["hello", "list", "list", "hello", "hello", "list", "list", "hello", "hello", "list"]
    ]
    # AND its latency is the full run's, its failures those of every run
    assert result.p99_ms == 30.0 and result.duration_s == 10
    assert result.non2xx == 2
    # AND it carries both sides' figures from the slices
    assert result.slices == 5
    assert result.paired_rps == pytest.approx(3000)
    assert result.paired_ceiling_rps == pytest.approx(6000)
    assert result.paired_cpu_us_per_request == pytest.approx(400 / 3000 * 1000, abs=0.1)
    assert result.paired_ceiling_cpu_us_per_request == pytest.approx(200 / 6000 * 1000, abs=0.1)


def _result(key: str, rps: float, cpu_us: float, **paired: float) -> Result:
    return Result(
        key=key,
        label=key,
        workers=1,
        connections=64,
        threads=1,
        duration_s=10,
        warmup_s=2,
        command="wrk",
        requests=int(rps * 10),
        rps=rps,
        p50_ms=10.0,
        p90_ms=15.0,
        p99_ms=30.0,
        p999_ms=40.0,
        max_ms=50.0,
        non2xx=0,
        socket_errors=0,
        timeouts=0,
        server_cpu_us_per_request=cpu_us,
        **paired,  # type: ignore[arg-type]
    )


def test_a_sliced_result_is_compared_with_its_own_ceiling_slices_the_rest_with_the_mean() -> None:
    # GIVEN full ceiling runs of 4000 and 6000 req/s (a drifting machine) ...
    before, after = _result("hello", 4000, 250), _result("hello-after", 6000, 167)
    # ... a cached read that did 3000 req/s in its full run and 2800 in slices next to a
    # ceiling doing 5600 there, and a write
    sliced = _result(
        "list",
        3000,
        280,
        paired_rps=2800,
        paired_cpu_us_per_request=300,
        paired_ceiling_rps=5600,
        paired_ceiling_cpu_us_per_request=150,
    )
    write = _result("create", 500, 2000)
    # WHEN the ratios are assigned
    drift = bench.assign_ratios([before, after], [sliced, write])
    # THEN the sliced read is at 50% of the ceiling, from the slices alone (by CPU too) ...
    assert sliced.ratio == pytest.approx(0.5) and sliced.cpu_ratio == pytest.approx(0.5)
    # ... the write at 10% of the mean of the full runs (5000 req/s)
    assert write.ratio == pytest.approx(0.1)
    # AND the drift between the full runs is reported as a share of their mean
    assert drift == pytest.approx(0.4)


@pytest.mark.parametrize(("ratio", "passed"), [(0.49, False), (0.5, True), (0.7, True)])
def test_the_ratio_target_is_half_of_the_ceiling(ratio: float, passed: bool) -> None:
    read = _result("get", 1000, 300)
    read.ratio = ratio
    checks = {check.what: check.passed for check in bench.evaluate([read], 1)}
    assert checks[">= 50% of ceiling"] is passed
    assert checks["p99 < 50 ms"] and checks["no non-2xx responses"]
