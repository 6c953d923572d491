"""bench/quality.py, the quality gate for speed presets, runs on the tiny and the mid-size random
model: the plumbing works, its metrics are right, and the work fractions are what the presets do."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from bench.quality import psnr, ssim

ROOT = Path(__file__).parents[1]


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "bench/quality.py", *args], cwd=ROOT, capture_output=True, text=True, timeout=900
    )


def test_psnr_and_ssim_are_right_on_known_cases() -> None:
    rng = np.random.default_rng(1)
    clip = rng.integers(0, 256, size=(3, 32, 32, 3), dtype=np.uint8)
    assert math.isinf(psnr(clip, clip)) and ssim(clip, clip) == pytest.approx(1.0)
    off_by_one = np.clip(clip.astype(int) + 1, 0, 255).astype(np.uint8)
    mse = np.mean((clip.astype(float) - off_by_one) ** 2)
    assert psnr(clip, off_by_one) == pytest.approx(10 * math.log10(255**2 / mse))
    noise = rng.integers(0, 256, size=clip.shape, dtype=np.uint8)
    assert ssim(clip, noise) < 0.1 < ssim(clip, off_by_one)


def test_tiny_model_reports_every_preset_against_exact(tmp_path: Path) -> None:
    out = tmp_path / "quality.json"
    done = run(
        "--tiny", "--steps", "12", "--prompts", "2", "--seeds", "1", "--no-warm-up", "--json", str(out)
    )
    assert done.returncode == 0, done.stderr
    report = json.loads(out.read_text())
    exact, balanced, fast = (report["presets"][p] for p in ("exact", "balanced", "fast"))
    assert exact["work_fraction"] == 1.0 and exact["psnr_db_median"] is None  # identical to itself
    # TaylorSeer at 12 steps: 2 full steps at each end, every 2nd of the 8 between: 8 of 12
    assert balanced["work_fraction"] == pytest.approx(8 / 12)
    assert len(balanced["clips"]) == 2 and all(c["ssim"] > 0 for c in balanced["clips"])
    assert "SageAttention" in fast["refused"]  # no CUDA here: refused with the reason, not a crash
    assert "| balanced |" in done.stdout and "Random weights" in done.stdout


def test_mid_size_model_checks_the_work_fraction_at_the_real_width(tmp_path: Path) -> None:
    out = tmp_path / "quality.json"
    done = run(
        "--mid",
        "--steps",
        "6",
        "--prompts",
        "1",
        "--seeds",
        "1",
        "--presets",
        "exact,balanced",
        "--json",
        str(out),
    )
    assert done.returncode == 0, done.stderr
    report = json.loads(out.read_text())
    assert report["model"].startswith("mid-size")
    # 6 steps: 2 full at each end, every 2nd of the 2 between: 5 of 6 block forwards
    assert report["presets"]["balanced"]["work_fraction"] == pytest.approx(5 / 6)
