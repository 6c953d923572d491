"""Nothing calls backwards: the bot never loads torch or diffusers, workers never load discord."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[1]

PROBE = """
import importlib, json, pkgutil, sys
package = importlib.import_module(sys.argv[1])
walk = pkgutil.walk_packages(package.__path__, sys.argv[1] + ".")
names = [sys.argv[1]] + [m.name for m in walk if not m.name.endswith("__main__")]
for name in names:
    importlib.import_module(name)
print(json.dumps({"modules": names, "loaded": sorted(m.split(".")[0] for m in sys.modules)}))
"""


# the modules importing the contract adds, beyond what the interpreter had at start-up
CONTRACT_PROBE = """
import importlib, sys
before = set(sys.modules)
importlib.import_module(sys.argv[1])
print(" ".join(set(sys.modules) - before))
"""


def import_everything(package: str) -> tuple[list[str], set[str]]:
    out = subprocess.run(
        [sys.executable, "-c", PROBE, package], cwd=ROOT, capture_output=True, text=True, check=True
    )
    data = json.loads(out.stdout)
    return data["modules"], set(data["loaded"])


def test_the_heavy_packages_are_installed_so_the_boundary_test_means_something() -> None:
    for name in ("torch", "diffusers", "discord"):
        found = subprocess.run([sys.executable, "-c", f"import {name}"], capture_output=True)
        if found.returncode != 0:
            pytest.fail(f"{name} is not installed: install the bot and inference extras (bash .ci/run does)")


def test_importing_the_bot_never_loads_torch_or_diffusers() -> None:
    modules, loaded = import_everything("bot")
    assert "bot.cli" in modules
    assert not loaded & {"torch", "diffusers", "transformers"}, loaded & {
        "torch",
        "diffusers",
        "transformers",
    }


def test_importing_inference_never_loads_discord_or_the_bot() -> None:
    modules, loaded = import_everything("inference")
    assert {"inference.contract", "inference.jobqueue.client", "inference.cli"} <= set(modules)
    assert not loaded & {"discord", "bot"}, loaded & {"discord", "bot"}


# An unknown model: the worker gets past argument parsing, imports its own modules (inference.run,
# inference.pipelines) and exits with 2 at start-up, before it needs Redis or a GPU.
WORKER_ARGS = ("--model", "cogvideox-9b")
REELBOT = "import sys; from inference.cli import main; sys.exit(main(sys.argv[1:]))"
WORKER_ENTRY_POINTS = {
    "python -m inference": ["-m", "inference", *WORKER_ARGS],
    "reelbot worker": ["-c", REELBOT, "worker", *WORKER_ARGS],
}


def modules_loaded_by(args: list[str]) -> tuple[subprocess.CompletedProcess[str], set[str]]:
    """Run ``python ARGS`` and name every module it imported, as ``-X importtime`` reports them."""
    env = os.environ | {"REELBOT_OUTPUT_FILTER": "false", "REELBOT_METRICS_PORT": "0"}
    done = subprocess.run(
        [sys.executable, "-X", "importtime", *args],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    # "import time:  self [us] | cumulative | imported package", then one such line per module
    lines = [line for line in done.stderr.splitlines() if line.startswith("import time:")]
    return done, {line.rsplit("|", 1)[1].strip() for line in lines[1:]}


def test_the_reelbot_command_is_the_workers_cli() -> None:
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    assert scripts["reelbot"] == "inference.cli:main"


@pytest.mark.parametrize("entry_point", WORKER_ENTRY_POINTS)
def test_the_worker_entry_points_load_no_bot_module_and_no_discord(entry_point: str) -> None:
    done, loaded = modules_loaded_by(WORKER_ENTRY_POINTS[entry_point])
    assert done.returncode == 2, done.stderr[-3000:]
    assert "reelbot: cannot start: unknown model 'cogvideox-9b'" in done.stderr
    assert {"inference.cli", "inference.run", "inference.pipelines"} <= loaded
    forbidden = sorted(name for name in loaded if name.split(".")[0] in {"bot", "discord"})
    assert not forbidden, f"{entry_point} loaded {len(forbidden)} of them, among them {forbidden[:8]}"


# the bot reads model recipes (frames, fps, limits) and worker settings without torch
@pytest.mark.parametrize("module", ["inference.contract", "inference.recipes", "inference.settings"])
def test_shared_modules_load_no_third_party_package(module: str) -> None:
    out = subprocess.run(
        [sys.executable, "-c", CONTRACT_PROBE, module],
        cwd=ROOT, capture_output=True, text=True, check=True,
    )  # fmt: skip
    new = {name.split(".")[0] for name in out.stdout.split()}
    assert new - set(sys.stdlib_module_names) == {"inference"}
