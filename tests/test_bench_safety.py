"""bench/safety.py stays runnable: a tiny run reports every row, with figures that add up."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_safety_bench_runs(tmp_path: Path) -> None:
    out = tmp_path / "result.json"
    command = [sys.executable, str(ROOT / "bench" / "safety.py"), "--tiny", "--json", str(out)]
    done = subprocess.run(command, capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert done.returncode == 0, done.stderr
    result = json.loads(out.read_text())

    assert result["repeats"] == 1 and result["classifier_load_ms"] > 0
    render = result["tiny_render"]
    assert (render["model"], render["frames"], render["size"]) == ("cogvideox-2b", 9, "96x64")
    assert 0 < render["median_ms"] <= render["p90_ms"]
    rows = {(row["clip"], row["samples"]): row for row in result["rows"]}
    assert set(rows) == {(clip, n) for clip in ("tiny", "full") for n in (4, 8, 16)}
    for (clip, samples), row in rows.items():
        assert row["frames"] == (9 if clip == "tiny" else 49)
        assert row["size"] == ("96x64" if clip == "tiny" else "720x480")
        assert row["scored"] == min(samples, row["frames"])
        assert 0 < row["median_ms"] <= row["p90_ms"]
        assert row["per_frame_ms"] == row["median_ms"] / row["scored"]
        assert row["ratio_to_tiny_render"] == row["median_ms"] / render["median_ms"]
        assert len(result["runs"][f"{clip}/{samples}"]) == 1
    assert "| clip | frames sampled | frames scored | filter ms |" in done.stdout
    assert "| full (49f 720x480) | 8 | 8 |" in done.stdout
