"""bench/gpu.py: its CPU smoke mode reports sane figures, and without a GPU it says what to do."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[1]
SCRIPT = ROOT / "bench" / "gpu.py"


def run_script(script: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(script), *args], cwd=ROOT, capture_output=True, text=True, timeout=120
    )


def test_a_tiny_run_of_the_script_copied_alone_reports_steps_decodes_and_projections(tmp_path: Path) -> None:
    # Copied alone, as onto a bare GPU machine: it must need nothing else from this repository.
    script = Path(shutil.copy(SCRIPT, tmp_path / "gpu.py"))
    out = tmp_path / "results" / "gpu.json"

    result = run_script(script, "--tiny", "--steps", "3", "--warmup", "1", "--json", str(out))

    assert result.returncode == 0, result.stderr
    report = json.loads(out.read_text())
    assert report["tiny"] and report["text_encoder"] == "not built"
    assert [model["model"] for model in report["models"]] == ["2b", "5b"]
    for model in report["models"]:
        decode = model["decode"]
        assert decode["seconds"] > 0 and decode["tiling"] and decode["finite"]
        assert decode["video_shape"] == [1, 3, 9, 64, 64]
        assert [run["mode"] for run in model["runs"]] == ["eager"]  # --tiny leaves compile off
        for run in model["runs"]:
            assert run["step_s"] > 0 and len(run["step_samples_s"]) == 3 and run["finite"]
            assert run["projected_total_s"] == pytest.approx(50 * run["step_s"] + decode["seconds"])
    assert "| CogVideoX-2b |" in result.stdout and "| CogVideoX-5b |" in result.stdout
    assert "Published" in result.stdout and "T5-XXL text encoder not built" in result.stdout


def test_without_a_gpu_it_exits_2_and_points_to_tiny() -> None:
    torch = pytest.importorskip("torch")
    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU")

    # Run from bench/, next to bench/queue.py, which must not shadow the standard library's queue.
    result = run_script(SCRIPT, "--models", "5b")

    assert result.returncode == 2
    assert "needs a CUDA GPU" in result.stderr and "--tiny" in result.stderr
    assert result.stdout == ""
