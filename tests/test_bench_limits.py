"""bench/limits.py stays runnable: a tiny run reports every row, with figures that add up."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_limits_bench_runs(tmp_path: Path) -> None:
    out = tmp_path / "result.json"
    command = [sys.executable, str(ROOT / "bench" / "limits.py"), "--tiny", "--json", str(out)]
    done = subprocess.run(command, capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert done.returncode == 0, done.stderr
    result = json.loads(out.read_text())

    state = result["state"]
    assert state["members"] == state["one_job"] + state["two_jobs"] + state["rate_used"] == 100
    # one job each, two for the members at the active cap, one left for those out of rate
    assert state["queued"] == state["one_job"] + 2 * state["two_jobs"] + state["rate_used"]

    assert [r["concurrency"] for r in result["check"]] == [1, 4, 8, 16, 32, 64]
    for row in result["check"]:
        assert row["median_checks_per_s"] > 0
        assert 0 < row["median_p50_ms"] <= row["median_p99_ms"]
        assert row["median_script_us"] > 0
        # the members at the active cap or out of rate are refused: one in ten
        assert 0.02 < row["median_refused"] < 0.3
        assert set(row["runs"][0]["refused_by"]) <= {"active", "rate", "cooldown"}
    for row in result["enqueue"]:
        assert row["jobs"] == 200
        assert row["median_ratio"] == row["ratios"][0] > 0
        assert row["median_with_jobs_per_s"] > 0 and row["median_without_jobs_per_s"] > 0
    assert isinstance(result["target"]["met"], bool)

    assert "| concurrency | checks | median checks/s | p50 ms | p99 ms |" in done.stdout
    assert "| enqueue concurrency | jobs | without limits jobs/s | with limits jobs/s |" in done.stdout
    assert "Target (>= 10,000 checks/s with p99 < 2 ms): " in done.stdout
