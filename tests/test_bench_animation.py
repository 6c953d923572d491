"""bench/animation.py stays runnable: its smoke run prints a row per upload limit and per smoothing rate."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).parents[1]


def test_the_smoke_run_reports_each_limit() -> None:
    done = subprocess.run(
        [sys.executable, "bench/animation.py", "--tiny"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    rows = [line for line in done.stdout.splitlines() if line.startswith("| 9x96x64")]
    gif_rows, smooth_rows = rows[:3], rows[3:]
    assert all("96x64, 8 fps, 9 frames | nothing |" in row for row in gif_rows)
    assert [row.split(" | ")[1:3] for row in smooth_rows] == [["16 fps", "17"], ["24 fps", "25"]]
