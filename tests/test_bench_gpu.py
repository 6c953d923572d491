"""bench/gpu.py: its CPU smoke run goes through the worker's loader and renderer per speed preset,
reports a row for every model and preset (a refused preset with the worker's reason), merges
split runs into one table, and without a GPU it says what to do."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).parents[1]
SCRIPT = ROOT / "bench" / "gpu.py"
MODELS = ["2b", "5b", "1.5-5b", "wan2.2-5b"]
# 12 steps: TaylorSeer computes the first and last two and every second one between, so the
# balanced preset skips some block forwards (at 4 steps it would compute them all)
STEPS = 12


def run_script(*args: str) -> subprocess.CompletedProcess[str]:
    # from the repository root, as the docstring says; the script imports the inference package
    return subprocess.run(
        [sys.executable, str(SCRIPT.relative_to(ROOT)), *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[subprocess.CompletedProcess[str], Path]:
    out = tmp_path_factory.mktemp("gpu") / "results" / "gpu.json"
    result = run_script("--tiny", "--steps", str(STEPS), "--json", str(out))
    assert result.returncode == 0, result.stderr
    return result, out


def rows(report: dict[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
    return {(run["model"], run["preset"]): run for run in report["runs"]}


def test_a_tiny_run_renders_every_model_per_preset_through_the_worker(
    tiny_run: tuple[subprocess.CompletedProcess[str], Path],
) -> None:
    result, out = tiny_run
    report = json.loads(out.read_text())

    assert report["tiny"] and report["settings"]["steps"] == STEPS
    assert [model["model"] for model in report["models"]] == MODELS
    assert set(rows(report)) == {
        (model, preset) for model in MODELS for preset in ("exact", "balanced", "fast")
    }
    for model in MODELS:
        exact, balanced = rows(report)[model, "exact"], rows(report)[model, "balanced"]
        for run in (exact, balanced):
            assert run["status"] == "ok" and run["seconds"] > 0 and run["warm_up_s"] >= 0
            # the whole clip came back from Generator.render: 9 frames of 64 x 64 RGB
            assert run["frames_shape"] == [9, 64, 64, 3]
            assert run["decode_s"] > 0 and run["until_last_step_s"] > 0
        assert exact["ratio_to_exact"] == 1.0 and exact["work"] == 1.0
        assert exact["speed"] == "exact: plain"
        assert 0 < balanced["work"] < 1.0 and "taylorseer" in balanced["speed"]
        assert balanced["ratio_to_exact"] == pytest.approx(balanced["seconds"] / exact["seconds"])
    assert "| cogvideox-2b | exact |" in result.stdout and "| cogvideox1.5-5b | balanced |" in result.stdout
    assert "| wan2.2-ti2v-5b | balanced |" in result.stdout and "Wan2.2-TI2V-5B" in result.stdout
    assert "Published" in result.stdout and "112.4" in result.stdout
    assert "Text encoder: a stand-in" in result.stdout
    assert "[bench/gpu" in result.stderr and "warm-up" in result.stderr  # progress lines


def test_on_a_cpu_the_fast_preset_is_a_refused_row_with_the_workers_reason(
    tiny_run: tuple[subprocess.CompletedProcess[str], Path],
) -> None:
    result, out = tiny_run
    report = json.loads(out.read_text())

    for model in MODELS:
        fast = rows(report)[model, "fast"]
        assert fast["status"] == "refused" and "CUDA" in fast["message"]
        assert "seconds" not in fast and fast["ratio_to_exact"] is None
    assert result.stdout.count("| fast | refused: REELBOT_SPEED=fast") == len(MODELS)


def test_split_runs_merge_into_one_table_with_ratios_to_exact(
    tiny_run: tuple[subprocess.CompletedProcess[str], Path],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from bench.gpu import main

    report = json.loads(tiny_run[1].read_text())
    # as if exact and balanced had been measured by two invocations
    for preset in ("exact", "balanced"):
        runs = [run | {"ratio_to_exact": None} for run in report["runs"] if run["preset"] == preset]
        (tmp_path / f"{preset}.json").write_text(json.dumps(report | {"runs": runs}))

    assert main(["--table", str(tmp_path / "exact.json"), str(tmp_path / "balanced.json")]) == 0

    balanced = rows(report)["5b", "balanced"]
    ratio = f"{balanced['seconds'] / rows(report)['5b', 'exact']['seconds']:.2f}"
    assert f"| cogvideox-5b | balanced | {balanced['seconds']:.2f} | {ratio} |" in capsys.readouterr().out


def test_without_a_gpu_it_exits_2_and_points_to_tiny() -> None:
    torch = pytest.importorskip("torch")
    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU")

    # bench/queue.py sits next to the script and must not shadow the standard library's queue
    result = run_script("--models", "5b")

    assert result.returncode == 2
    assert "needs a CUDA GPU" in result.stderr and "--tiny" in result.stderr
    assert result.stdout == ""
