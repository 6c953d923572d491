"""Each CogVideoX model's recommended recipe: weights, precision, scheduler, frame grid.

Standard library only, so that the bot can show frames, fps and limits without loading
torch. The values follow the CogVideo project's own guidance (model cards and its
``cli_demo.py``); the generator applies them, and a model directory may override the
frame grid and step count with a ``reelbot.json`` file (the smoke-test model does, so
that it renders on a CPU in seconds).
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from inference.contract import SHAPES, ModelId

#: the file in a model directory that overrides recipe fields (see :meth:`Recipe.with_overrides`)
OVERRIDES_FILE = "reelbot.json"


@dataclass(frozen=True, slots=True)
class Recipe:
    """How to load and run one model."""

    model: ModelId
    #: Hugging Face Hub id of the published weights
    hub_id: str
    #: the precision the model was trained in: "float16" or "bfloat16"
    dtype: str
    #: "ddim" (CogVideoXDDIMScheduler) or "dpm" (CogVideoXDPMScheduler), both with trailing spacing
    scheduler: str
    frames: int
    fps: int
    height: int
    width: int
    #: the text encoder's window: longer prompts are shortened at a word boundary
    max_tokens: int
    steps: int = 50
    guidance: float = 6.0
    #: guidance that ramps up over the steps; CogVideo's demo pairs it with the DPM
    #: scheduler and turns it off with DDIM ("for DDIM scheduler, it should be False")
    dynamic_cfg: bool = True
    #: models whose text encoder and VAE are the same weights can share them in one worker
    family: str = ""
    #: the lengths it makes, in standard clips (1: ``frames``; 2: twice as long, one frame shared)
    lengths: tuple[int, ...] = (1,)
    #: the frame shapes it makes (see :meth:`frame_size`); the first is the default
    shapes: tuple[str, ...] = ("landscape",)

    @property
    def image_to_video(self) -> bool:
        return self.model.image_to_video

    @property
    def aspect(self) -> float:
        return self.width / self.height

    @property
    def seconds(self) -> float:
        return self.frames / self.fps

    def frames_for(self, length: int | None) -> int:
        """The frame count of a clip ``length`` standard clips long (161 for 1.5's 10 s)."""
        return (self.frames - 1) * (length or 1) + 1

    def seconds_for(self, length: int | None) -> float:
        return self.frames_for(length) / self.fps

    def frame_size(self, shape: str | None, image_aspect: float | None = None) -> tuple[int, int]:
        """``(width, height)`` of a frame of ``shape``.

        "landscape" is the recipe's own frame; "portrait" turns it on its side; "square" is the
        short side squared; "image" keeps the input image's aspect: the short side stays, the
        long side follows the image (a multiple of 16, no longer than the recipe's long side).

        Raises:
            ValueError: the model does not make frames of ``shape``.
        """
        shape = shape or self.shapes[0]
        if shape not in self.shapes:
            raise ValueError(f"{self.model} makes {', '.join(self.shapes)} frames, not {shape}")
        short, long = min(self.width, self.height), max(self.width, self.height)
        if shape == "portrait":
            return short, long
        if shape == "square":
            return short, short
        if shape == "landscape" or image_aspect is None:
            return self.width, self.height
        stretch = image_aspect if image_aspect >= 1 else 1 / image_aspect
        side = min(long, max(short, round(short * stretch / 16) * 16))
        return (side, short) if image_aspect >= 1 else (short, side)

    def check_request(self, length: int | None, shape: str | None) -> None:
        """Raise ValueError, saying what the model can do, when it cannot make this clip."""
        if length is not None and length not in self.lengths:
            seconds = " or ".join(f"{self.seconds_for(n):.0f} s" for n in self.lengths)
            raise ValueError(f"{self.model} makes {seconds} clips, not {self.seconds_for(length):.0f} s")
        if shape is not None and shape not in self.shapes:
            raise ValueError(f"{self.model} makes {', '.join(self.shapes)} frames, not {shape}")

    def with_overrides(self, overrides: Mapping[str, Any]) -> Recipe:
        """A copy with frame grid, steps or guidance changed (from a ``reelbot.json``).

        Raises:
            ValueError: an unknown field, or a value that does not fit the model.
        """
        allowed = {"frames", "fps", "height", "width", "steps", "guidance", "max_tokens"}
        unknown = set(overrides) - allowed - {"model"}
        if unknown:
            raise ValueError(
                f"{OVERRIDES_FILE}: unknown fields {sorted(unknown)}; allowed: {sorted(allowed)}"
            )
        changed = dataclasses.replace(self, **{k: v for k, v in overrides.items() if k in allowed})
        changed.check()
        return changed

    def check(self) -> None:
        """Raise ValueError when the frame grid cannot be rendered by CogVideoX."""
        # the VAE compresses 4 frames into one latent frame and 8x8 pixels into one latent
        # pixel, and the transformer patches 2x2 latent pixels: the grid must divide evenly
        if (self.frames - 1) % 4 != 0:
            raise ValueError(f"{self.model}: frames must be 4k+1 (e.g. 49 or 81), not {self.frames}")
        if self.height % 16 or self.width % 16:
            raise ValueError(f"{self.model}: height and width must be multiples of 16")
        if self.fps < 1 or self.steps < 1 or self.max_tokens < 2:
            raise ValueError(f"{self.model}: fps, steps and max_tokens must be positive")
        if not self.shapes or set(self.shapes) - set(SHAPES) or 1 not in self.lengths:
            raise ValueError(f"{self.model}: shapes must come from {SHAPES} and lengths include 1")


def _cogvideox1(
    model: ModelId, hub_id: str, *, dtype: str = "bfloat16", scheduler: str = "dpm", dynamic_cfg: bool = True
) -> Recipe:
    """CogVideoX 1.0: 6 s at 8 fps, 720 x 480; the 5b models in bf16 with DPM."""
    family = "cogvideox-2b" if model is ModelId.COGVIDEOX_2B else "cogvideox-5b"
    return Recipe(
        model,
        hub_id,
        dtype,
        scheduler,
        frames=49,
        fps=8,
        height=480,
        width=720,
        max_tokens=226,
        dynamic_cfg=dynamic_cfg,
        family=family,
    )


def _cogvideox15(model: ModelId, hub_id: str) -> Recipe:
    """CogVideoX 1.5: 5 s (81 frames) or 10 s (161) at 16 fps, 1360 x 768, passed explicitly
    (the pipeline's default is wrong). Its image-to-video model takes any frame whose short
    side is 768 and long side 768 to 1360, so an image keeps its shape by default."""
    shapes = ("image", "landscape", "portrait", "square") if model.image_to_video else ("landscape",)
    return Recipe(
        model,
        hub_id,
        "bfloat16",
        "dpm",
        frames=81,
        fps=16,
        height=768,
        width=1360,
        max_tokens=224,
        family="cogvideox1.5-5b",
        lengths=(1, 2),
        shapes=shapes,
    )


RECIPES: dict[ModelId, Recipe] = {
    ModelId.COGVIDEOX_2B: _cogvideox1(
        ModelId.COGVIDEOX_2B, "THUDM/CogVideoX-2b", dtype="float16", scheduler="ddim", dynamic_cfg=False
    ),
    ModelId.COGVIDEOX_5B: _cogvideox1(ModelId.COGVIDEOX_5B, "THUDM/CogVideoX-5b"),
    ModelId.COGVIDEOX_5B_I2V: _cogvideox1(ModelId.COGVIDEOX_5B_I2V, "THUDM/CogVideoX-5b-I2V"),
    ModelId.COGVIDEOX15_5B: _cogvideox15(ModelId.COGVIDEOX15_5B, "THUDM/CogVideoX1.5-5B"),
    ModelId.COGVIDEOX15_5B_I2V: _cogvideox15(ModelId.COGVIDEOX15_5B_I2V, "THUDM/CogVideoX1.5-5B-I2V"),
}


#: the image-to-video model that continues a clip of each model (Extend): the one of its
#: family, or for CogVideoX-2b (which has none) the 1.0 5b one, whose frames match
EXTEND_MODEL: dict[ModelId, ModelId] = {
    ModelId.COGVIDEOX_2B: ModelId.COGVIDEOX_5B_I2V,
    ModelId.COGVIDEOX_5B: ModelId.COGVIDEOX_5B_I2V,
    ModelId.COGVIDEOX_5B_I2V: ModelId.COGVIDEOX_5B_I2V,
    ModelId.COGVIDEOX15_5B: ModelId.COGVIDEOX15_5B_I2V,
    ModelId.COGVIDEOX15_5B_I2V: ModelId.COGVIDEOX15_5B_I2V,
}


def recipe_for(model: ModelId | str) -> Recipe:
    """The recipe of ``model``.

    Raises:
        ValueError: not a model Reelbot knows; the message lists the ones it does.
    """
    try:
        return RECIPES[ModelId(model)]
    except ValueError:
        known = ", ".join(m.value for m in ModelId)
        raise ValueError(f"unknown model {model!r}; Reelbot serves {known}") from None


def read_overrides(directory: Path) -> dict[str, Any]:
    """The ``reelbot.json`` of a model directory, or ``{}`` when it has none.

    Raises:
        ValueError: the file is not a JSON object.
    """
    path = directory / OVERRIDES_FILE
    if not path.is_file():
        return {}
    try:
        data = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path} is not valid JSON: {exc}") from None
    if not isinstance(data, dict):
        raise ValueError(f"{path} must hold a JSON object")
    return data
