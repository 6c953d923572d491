"""bench/enhance.py stays runnable: a tiny run reports every row, with figures that add up."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_enhance_bench_runs(tmp_path: Path) -> None:
    out = tmp_path / "result.json"
    command = [sys.executable, str(ROOT / "bench" / "enhance.py"), "--tiny", "--json", str(out)]
    done = subprocess.run(command, capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert done.returncode == 0, done.stderr
    result = json.loads(out.read_text())

    for section in ("hit_text", "hit_image"):
        row = result[section]
        assert row["calls"] == 50
        assert 0 < row["median_p50_ms"] <= row["median_p99_ms"]
    for section in ("around_text", "around_image"):
        row = result[section]
        assert row["calls"] == 10
        assert 0 < row["median_direct_p50_ms"] <= row["median_direct_p99_ms"]
        assert 0 < row["median_enhancer_p50_ms"] <= row["median_enhancer_p99_ms"]
        assert row["median_overhead_p50_ms"] == row["median_enhancer_p50_ms"] - row["median_direct_p50_ms"]
    assert result["image_png_bytes"] > 500_000  # a photo-sized frame, not a trivially compressible one
    assert isinstance(result["target"]["met"], bool)
    assert "| cache hit | calls | p50 ms | p99 ms |" in done.stdout
    assert "overhead p50 ms |" in done.stdout
