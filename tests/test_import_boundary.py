"""Nothing calls backwards: the bot never loads torch or diffusers, workers never load discord."""

from __future__ import annotations

import json
import subprocess
import sys
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


def test_importing_inference_never_loads_discord() -> None:
    modules, loaded = import_everything("inference")
    assert {"inference.contract", "inference.jobqueue.client", "inference.jobqueue.worker"} <= set(modules)
    assert "discord" not in loaded


# the bot reads model recipes (frames, fps, limits) and worker settings without torch
@pytest.mark.parametrize("module", ["inference.contract", "inference.recipes", "inference.settings"])
def test_shared_modules_load_no_third_party_package(module: str) -> None:
    out = subprocess.run(
        [sys.executable, "-c", CONTRACT_PROBE, module],
        cwd=ROOT, capture_output=True, text=True, check=True,
    )  # fmt: skip
    new = {name.split(".")[0] for name in out.stdout.split()}
    assert new - set(sys.stdlib_module_names) == {"inference"}
