"""The smoke-test model renders calm noise: whatever the seed, the output filter never flags it.

Before, its VAE decoded random weights to full-contrast colour noise, which the real open_nsfw
classifier now and then scored above the 50 % line on one frame (0.506 in a smoke test), so a
smoke test of the compose cpu profile failed at random. Every seed here goes through the real
tiny pipeline (saved by ``make_tiny_model``, loaded by the worker's loader) and the real
classifier, in batches: one pipeline call renders many seeds, each with its own generator.
The CogVideoX 1.5 stand-ins (temporal patches, 112 x 64 frames) are held to the same line.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from PIL import Image

from inference.cli import main
from inference.contract import ModelId
from inference.generator import to_uint8
from inference.pipelines import LoadedModel, detect_model, load_models
from inference.safety import NsfwClassifier
from inference.settings import WorkerSettings

#: the output filter's line: a clip whose highest frame score reaches it goes to a moderator
FLAG_LINE = 0.5
BATCH = 32


@pytest.fixture(scope="module")
def tiny_models(tiny_dirs: dict[str, Path], tiny15_dirs: dict[str, Path]) -> dict[ModelId, LoadedModel]:
    dirs = (*map(str, tiny_dirs.values()), *map(str, tiny15_dirs.values()))
    return load_models(WorkerSettings(models=dirs, device="cpu", output_filter=False))


def render_seeds(loaded: LoadedModel, seeds: range) -> np.ndarray[Any, np.dtype[np.uint8]]:
    """uint8 clips shaped (seeds, frames, height, width, 3), as the worker renders them."""
    recipe, clips = loaded.recipe, []
    for start in range(seeds.start, seeds.stop, BATCH):
        batch = range(start, min(start + BATCH, seeds.stop))
        extra: dict[str, Any] = {}
        if loaded.model.image_to_video:  # a skin-toned picture: the worst case for the filter
            extra["image"] = [Image.new("RGB", (recipe.width, recipe.height), (224, 172, 140))] * len(batch)
        with torch.inference_mode():
            output = loaded.pipe(
                prompt=["a bee on a flower"] * len(batch),
                num_inference_steps=recipe.steps,
                guidance_scale=recipe.guidance,
                use_dynamic_cfg=recipe.dynamic_cfg,
                num_frames=recipe.frames,
                height=recipe.height,
                width=recipe.width,
                max_sequence_length=recipe.max_tokens,
                generator=[torch.Generator("cpu").manual_seed(seed) for seed in batch],
                output_type="np",
                **extra,
            )
        clips.append(to_uint8(np.asarray(output.frames)))
    return np.concatenate(clips)


@pytest.mark.parametrize(
    ("model", "seeds"),
    [
        (ModelId.COGVIDEOX_2B, range(128)),  # what `reelbot make-tiny-model` writes by default
        (ModelId.COGVIDEOX_5B, range(1000, 1024)),
        (ModelId.COGVIDEOX_5B_I2V, range(2000, 2024)),
        (ModelId.COGVIDEOX15_5B, range(3000, 3016)),
        (ModelId.COGVIDEOX15_5B_I2V, range(4000, 4016)),
    ],
)
def test_no_seed_of_the_tiny_model_is_flagged_by_the_output_filter(
    model: ModelId, seeds: range, tiny_models: dict[ModelId, LoadedModel], classifier: NsfwClassifier
) -> None:
    clips = render_seeds(tiny_models[model], seeds)
    width = (
        112 if model in (ModelId.COGVIDEOX15_5B, ModelId.COGVIDEOX15_5B_I2V) else 96
    )  # 1360 x 768's aspect
    assert clips.shape == (len(seeds), 9, 64, width, 3) and clips.dtype == np.uint8
    # every frame of every clip scored (the worker samples 8 of the 9)
    highest = {
        seed: classifier.score_frames(clip, samples=9).max for seed, clip in zip(seeds, clips, strict=True)
    }
    flagged = {seed: round(score, 3) for seed, score in highest.items() if score >= FLAG_LINE}
    assert not flagged, f"flagged seeds: {flagged}"
    assert max(highest.values()) < 0.3, "well under the line, not just under it"
    # calm: near mid-grey and low-contrast, but each seed its own clip
    assert abs(float(clips.mean()) - 127.5) < 20 and float(clips.std()) < 25
    assert len({clip.tobytes() for clip in clips}) == len(seeds)
    assert all(float(clip.std()) > 1 for clip in clips), "noise, not a blank frame"


@pytest.mark.parametrize("like", [ModelId.COGVIDEOX15_5B, ModelId.COGVIDEOX15_5B_I2V])
def test_make_tiny_model_stands_in_for_cogvideox15_with_its_own_transformer(
    tmp_path: Path, like: ModelId
) -> None:
    directory = tmp_path / "tiny"
    assert main(["make-tiny-model", str(directory), "--like", like.value]) == 0
    (directory / "reelbot.json").unlink()  # recognised from its configs, as the published weights are
    assert detect_model(directory) is like
    transformer = json.loads((directory / "transformer" / "config.json").read_text())
    # what the 1.5 pipelines read: temporal patches (odd latent frame counts padded), rotary
    # embeddings sliced from a square grid as long as the frame's long side, no learned positions
    assert transformer["patch_size_t"] == 2 and transformer["patch_bias"] is False
    assert transformer["use_rotary_positional_embeddings"] is True
    assert transformer["use_learned_positional_embeddings"] is False
    assert transformer["sample_height"] == transformer["sample_width"] == 112 // 8
    assert transformer["ofs_embed_dim"] == (transformer["time_embed_dim"] if like.image_to_video else None)
    assert json.loads((directory / "vae" / "config.json").read_text())["invert_scale_latents"] is True
