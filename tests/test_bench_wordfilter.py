"""bench/wordfilter.py stays runnable: a tiny run reports every case, before and after, and the targets."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_wordfilter_bench_runs(tmp_path: Path) -> None:
    out = tmp_path / "result.json"
    command = [sys.executable, str(ROOT / "bench" / "wordfilter.py"), "--tiny", "--json", str(out)]
    done = subprocess.run(command, capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert done.returncode == 0, done.stderr
    result = json.loads(out.read_text())

    cases = {(r["list"], r["text"], r["code"]) for r in result["rows"]}
    for name in ("default", "largest"):
        assert {(name, "prompt", "after"), (name, "prompt", "compile")} <= cases
        assert {(name, hard, "after") for hard in ("spelled out", "short words", "leetspeak")} <= cases
    for row in result["rows"]:
        assert 0 < row["median_p50_ms"] <= row["median_p99_ms"]
    if result["baseline"] is not None:  # git can show the old matcher (not in an exported tree)
        assert {("default", "prompt", "before"), ("largest", "prompt", "before")} <= cases
        assert [r["list"] for r in result["ratios"]] == ["default", "largest"]
        assert all(r["p50_ratio"] > 1 for r in result["ratios"])
    assert result["compiled_bytes_largest"] > 0
    assert isinstance(result["target"]["met"], bool)

    assert "| list | text | code | calls per repeat | p50 ms | p99 ms |" in done.stdout
    assert "Target (p99 < 5 ms against the largest lists): " in done.stdout
