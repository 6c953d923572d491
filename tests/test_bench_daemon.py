"""bench/daemon.py stays runnable: one job per side, and the figures it reports add up."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_daemon_overhead_bench_runs(tmp_path: Path) -> None:
    out = tmp_path / "result.json"
    command = [sys.executable, str(ROOT / "bench" / "daemon.py"), "--jobs", "2", "--warmup", "0"]
    done = subprocess.run(
        [*command, "--json", str(out)],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=ROOT,
    )
    assert done.returncode == 0, done.stderr
    result = json.loads(out.read_text())
    assert result["jobs"] == 2 and result["model"] == "cogvideox-2b"
    assert 0 < result["pipeline_median_s"] < result["direct_median_s"]  # the MP4 encode costs something
    assert result["ratio"] == result["daemon_median_s"] / result["direct_median_s"]
    assert "| cogvideox-2b | 9f 96x64 4 steps |" in done.stdout
