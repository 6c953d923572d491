"""Each model's recommended recipe: weights, precision, scheduler, frame grid.

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
    #: "ddim" (CogVideoXDDIMScheduler) or "dpm" (CogVideoXDPMScheduler), both with trailing
    #: spacing; "unipc" (UniPCMultistepScheduler with ``flow_shift``, Wan)
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
    #: "image" keeps the image's aspect exactly (any long side up to the recipe's); False: it
    #: picks landscape or portrait by the image's orientation (models with two fixed frames)
    free_aspect: bool = True
    #: the flow-matching scheduler's shift (Wan); 0 for the CogVideoX schedulers
    flow_shift: float = 0.0
    #: the negative prompt the model's authors recommend, used when the member gives none
    negative: str = ""
    #: the VAE runs in float32 whatever the transformer's precision (Wan's model card asks it)
    vae_float32: bool = False

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
        shape = shape or self.default_shape(image_aspect is not None)
        if shape not in self.shapes:
            raise ValueError(f"{self.model} makes {', '.join(self.shapes)} frames, not {shape}")
        short, long = min(self.width, self.height), max(self.width, self.height)
        if shape == "portrait":
            return short, long
        if shape == "square":
            return short, short
        if shape == "landscape" or image_aspect is None:
            return self.width, self.height
        if not self.free_aspect:  # two fixed frames: the one the image's orientation fits
            return (short, long) if image_aspect < 1 else (self.width, self.height)
        stretch = image_aspect if image_aspect >= 1 else 1 / image_aspect
        side = min(long, max(short, round(short * stretch / 16) * 16))
        return (side, short) if image_aspect >= 1 else (short, side)

    def default_shape(self, with_image: bool) -> str:
        """The shape when none is asked for: the image's own where the model keeps it, else the
        first the model makes that needs no image."""
        if with_image and "image" in self.shapes:
            return "image"
        return next(s for s in self.shapes if s != "image")

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

    @property
    def pixel_step(self) -> int:
        """What the frame's sides must be multiples of: the VAE's spatial compression times the
        transformer's 2x2 patches (CogVideoX 8 x 2; Wan 2.2's VAE 16 x 2)."""
        return 32 if self.model.family == "wan" else 16

    def check(self) -> None:
        """Raise ValueError when the frame grid cannot be rendered by the model."""
        # the VAE compresses 4 frames into one latent frame and the pixels into latent pixels,
        # and the transformer patches 2x2 latent pixels: the grid must divide evenly
        if (self.frames - 1) % 4 != 0:
            raise ValueError(f"{self.model}: frames must be 4k+1 (e.g. 49 or 81), not {self.frames}")
        if self.height % self.pixel_step or self.width % self.pixel_step:
            raise ValueError(
                f"{self.model}: frame {self.width}x{self.height} must be a multiple of {self.pixel_step} "
                "pixels each way"
            )
        if self.fps < 1 or self.steps < 1 or self.max_tokens < 2:
            raise ValueError(f"{self.model}: fps, steps and max_tokens must be positive")
        if set(self.shapes) - set(SHAPES) or 1 not in self.lengths or not set(self.shapes) - {"image"}:
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


#: Wan's recommended negative prompt (its model card and diffusers' example), in the Chinese the
#: model was trained with: garish colours, overexposure, static, blurry details, subtitles,
#: style, artwork, painting, still frame, grey, worst and low quality, JPEG artefacts, ugly,
#: mutilated, extra fingers, badly drawn hands and face, deformed, disfigured, malformed limbs,
#: fused fingers, motionless frame, cluttered background, three legs, crowded background,
#: walking backwards
WAN_NEGATIVE = (
    "色调艳丽，过曝，静态，细节模糊不清，字幕，风格，作品，画作，画面，静止，整体发灰，最差质量，"  # noqa: RUF001 (the model's own Chinese)
    "低质量，JPEG压缩残留，丑陋的，残缺的，多余的手指，画得不好的手部，画得不好的脸部，畸形的，毁容的，"  # noqa: RUF001 (the model's own Chinese)
    "形态畸形的肢体，手指融合，静止不动的画面，杂乱的背景，三条腿，背景人很多，倒着走"  # noqa: RUF001 (the model's own Chinese)
)


def _wan22_ti2v() -> Recipe:
    """Wan 2.2 TI2V-5B: 5 s (121 frames) at 24 fps, 1280 x 704 or 704 x 1280, text or an image
    as the first frame; UniPC with a flow shift of 5, guidance 5, 50 steps, bf16 with the VAE in
    float32, umT5's 512-token window (the model card and diffusers' Wan documentation)."""
    return Recipe(
        ModelId.WAN22_TI2V_5B,
        "Wan-AI/Wan2.2-TI2V-5B-Diffusers",
        "bfloat16",
        "unipc",
        frames=121,
        fps=24,
        height=704,
        width=1280,
        max_tokens=512,
        guidance=5.0,
        dynamic_cfg=False,
        family="wan2.2-ti2v-5b",
        shapes=("landscape", "portrait", "image"),
        free_aspect=False,
        flow_shift=5.0,
        negative=WAN_NEGATIVE,
        vae_float32=True,
    )


RECIPES: dict[ModelId, Recipe] = {
    ModelId.COGVIDEOX_2B: _cogvideox1(
        ModelId.COGVIDEOX_2B, "THUDM/CogVideoX-2b", dtype="float16", scheduler="ddim", dynamic_cfg=False
    ),
    ModelId.COGVIDEOX_5B: _cogvideox1(ModelId.COGVIDEOX_5B, "THUDM/CogVideoX-5b"),
    ModelId.COGVIDEOX_5B_I2V: _cogvideox1(ModelId.COGVIDEOX_5B_I2V, "THUDM/CogVideoX-5b-I2V"),
    ModelId.COGVIDEOX15_5B: _cogvideox15(ModelId.COGVIDEOX15_5B, "THUDM/CogVideoX1.5-5B"),
    ModelId.COGVIDEOX15_5B_I2V: _cogvideox15(ModelId.COGVIDEOX15_5B_I2V, "THUDM/CogVideoX1.5-5B-I2V"),
    ModelId.WAN22_TI2V_5B: _wan22_ti2v(),
}


#: the image-to-video model that continues a clip of each model (Extend): the one of its
#: family, or for CogVideoX-2b (which has none) the 1.0 5b one, whose frames match
EXTEND_MODEL: dict[ModelId, ModelId] = {
    ModelId.COGVIDEOX_2B: ModelId.COGVIDEOX_5B_I2V,
    ModelId.COGVIDEOX_5B: ModelId.COGVIDEOX_5B_I2V,
    ModelId.COGVIDEOX_5B_I2V: ModelId.COGVIDEOX_5B_I2V,
    ModelId.COGVIDEOX15_5B: ModelId.COGVIDEOX15_5B_I2V,
    ModelId.COGVIDEOX15_5B_I2V: ModelId.COGVIDEOX15_5B_I2V,
    ModelId.WAN22_TI2V_5B: ModelId.WAN22_TI2V_5B,  # one model makes both
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
