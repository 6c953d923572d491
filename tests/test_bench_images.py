"""bench/images.py stays runnable, and its worst case stays within the bot's memory budget."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

from bench.images import memory_row

ROOT = Path(__file__).resolve().parents[1]


def test_images_bench_runs(tmp_path: Path) -> None:
    out = tmp_path / "result.json"
    command = [sys.executable, str(ROOT / "bench" / "images.py"), "--tiny", "--json", str(out)]
    done = subprocess.run(command, capture_output=True, text=True, timeout=300, cwd=ROOT, check=False)
    assert done.returncode == 0, done.stderr
    result = json.loads(out.read_text())

    assert result["repeats"] == 1 and len(result["stored"]) == 8
    for row in result["stored"]:
        assert row["stored_size"] == row["frame"]
        assert 0 < row["stored_bytes"] <= row["budget_bytes"]
        assert row["ratio"] == row["stored_bytes"] / row["upload_bytes"]
        assert row["median_ms"] > 0
    assert [(m["upload"], m["concurrent"]) for m in result["memory"]] == [
        ("worst case (RGBA PNG, one colour)", 1),
        ("worst case (RGBA PNG, one colour)", 8),
        ("noisy JPEG", 8),
    ]
    for m in result["memory"]:
        assert m["ok"] == m["concurrent"] and m["peak_mib"] >= m["idle_mib"] > 0
    assert "| upload | upload bytes | frame | stored bytes |" in done.stdout
    assert "| upload | at once | idle MiB | above idle MiB | wall ms |" in done.stdout


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="reads the peak RSS from /proc")
def test_eight_of_the_largest_transparent_pngs_at_once_take_under_400_mb_above_idle() -> None:
    out = io.BytesIO()
    Image.new("RGBA", (4096, 4096), (40, 160, 90, 200)).save(out, format="PNG")
    assert len(out.getvalue()) < 100 * 1024  # 64 MiB of pixels in a file that downloads at once

    row = memory_row("worst case", out.getvalue(), 8)

    assert row["ok"] == 8
    assert row["above_idle_mib"] * 1024 * 1024 < 400_000_000, row  # it took 1.6 GB
