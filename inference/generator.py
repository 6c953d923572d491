"""Rendering one clip with a loaded pipeline: the recipe, the prompt limit, the step hook.

The clip's length and frame shape come from the spec (``length``, ``shape``) and the model's
recipe: a length-2 clip has ``recipe.frames_for(2)`` frames (161 for CogVideoX 1.5, at least
twice the render time), and an image-to-video frame follows the input image's shape where the
model offers it ("image"), else the image is cropped to the frame.

Runs synchronously (the daemon calls it on its GPU thread). Progress and cancel reach
it through ``on_step``, which diffusers calls after every denoising step: raising there
stops the job at once. (Setting the pipeline's interrupt flag instead would still pay
for the VAE decode, the slowest single stage of a short clip.)
"""

from __future__ import annotations

import gc
import logging
import secrets
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
from PIL import Image

from inference.contract import GenerationSpec, ModelId
from inference.images import fit_to_frame
from inference.pipelines import LoadedModel
from inference.recipes import Recipe

log = logging.getLogger(__name__)

StepHook = Callable[[int, int], None]


class OutOfMemory(Exception):
    """The GPU ran out of memory; the cache was emptied and the worker can go on."""


class CannotRender(ValueError):
    """The model does not make the clip asked for (its length or shape); the message says what
    it makes."""


@dataclass(frozen=True, slots=True)
class Rendered:
    """A finished clip, before encoding."""

    #: uint8 RGB, shaped (frames, height, width, 3)
    frames: np.ndarray[Any, np.dtype[np.uint8]]
    fps: int
    seed: int
    steps: int
    guidance: float
    prompt: str
    #: the prompt was longer than the model's token window and was cut at a word boundary
    prompt_shortened: bool
    render_seconds: float
    #: the worker's speed preset and levers, in one line
    speed: str = "plain"
    #: share of the transformer's work that ran (caches skip some), when the worker counts it
    work: float | None = None

    @property
    def width(self) -> int:
        return int(self.frames.shape[2])

    @property
    def height(self) -> int:
        return int(self.frames.shape[1])


class Generator:
    """Renders specs with the models a worker loaded."""

    def __init__(self, models: Mapping[ModelId, LoadedModel]) -> None:
        self.models = dict(models)

    def render(
        self,
        spec: GenerationSpec,
        image: Image.Image | None,
        on_step: StepHook,
        *,
        size: tuple[int, int] | None = None,
    ) -> Rendered:
        """Render ``spec`` (with ``image`` for image-to-video models).

        Args:
            size: the ``(width, height)`` the clip must have (Extend: the earlier clip's). The
                frame keeps its shape where the model makes it; where the model's frame
                differs, the rendered frames are fitted to ``size`` (:func:`fit_frames`).

        Raises:
            CannotRender: the model does not make this length or shape (nothing was rendered).
            OutOfMemory: the GPU ran out of memory (already cleaned up).
            Whatever ``on_step`` raises, unchanged (cancel, lost lease, stop).
        """
        import torch

        loaded = self.models[spec.model]
        recipe = loaded.recipe
        if spec.model.image_to_video and image is None:
            raise ValueError(f"{spec.model} needs an input image")
        if not spec.model.takes_image:
            image = None  # a text-to-video model has no use for one
        pipe = loaded.pipe_for(image)
        frames_count = recipe.frames_for(spec.length)
        width, height = frame_for(recipe, spec, image, size)
        steps = spec.steps or recipe.steps
        guidance = recipe.guidance if spec.guidance is None else spec.guidance
        seed = secrets.randbelow(2**32) if spec.seed is None else spec.seed
        prompt, shortened = fit_prompt(pipe.tokenizer, spec.prompt, recipe.max_tokens)
        # the model authors' negative prompt (Wan's) when the member gave none
        negative, _ = fit_prompt(pipe.tokenizer, spec.negative_prompt or recipe.negative, recipe.max_tokens)

        def step_end(_pipe: Any, index: int, _timestep: Any, tensors: dict[str, Any]) -> dict[str, Any]:
            on_step(index + 1, steps)
            return tensors

        kwargs = pipeline_kwargs(loaded, prompt, negative, guidance, image)
        kwargs |= {
            "num_inference_steps": steps,
            "num_frames": frames_count,
            "height": height,
            "width": width,
            # a CPU generator: the same seed gives the same clip on any GPU
            "generator": torch.Generator("cpu").manual_seed(seed),
            "output_type": "np",
            "callback_on_step_end": step_end,
        }
        if image is not None:
            kwargs["image"] = fit_to_frame(image, width, height)
        if loaded.speed is not None:
            # fresh cache hooks for this job's step count: a cancelled render leaves state behind
            loaded.speed.prepare(steps)
        started = time.monotonic()
        try:
            with torch.inference_mode():
                output = pipe(**kwargs)
        except torch.cuda.OutOfMemoryError as exc:  # torch.OutOfMemoryError since 2.5
            del exc  # the traceback holds the tensors that filled the GPU
            release_memory()
            raise OutOfMemory(
                f"the GPU ran out of memory rendering {spec.model} ({frames_count} frames at "
                f"{width}x{height})"
            ) from None
        frames = to_uint8(np.asarray(output.frames[0]))
        if size is not None and size != (width, height):
            frames = fit_frames(frames, *size)
        return Rendered(
            frames=frames,
            fps=recipe.fps,
            seed=seed,
            steps=steps,
            guidance=guidance,
            prompt=prompt,
            prompt_shortened=shortened,
            render_seconds=time.monotonic() - started,
            speed=loaded.speed.speed.describe() if loaded.speed is not None else "plain",
            work=_work(loaded),
        )

    def warm_up(self) -> None:
        """Render two steps of every model whose levers compile, so the first job does not pay
        for compiling (each model's warm-up time is logged)."""
        import torch

        from inference.speed import warm_up

        for model, loaded in self.models.items():
            if loaded.speed is None or not loaded.speed.speed.levers.compile:
                continue
            recipe = loaded.recipe
            # image-to-video models warm up with an image; Wan's text pipeline shares the compiled
            # blocks (and shapes) with its image one, so text alone warms both
            image = Image.new("RGB", (recipe.width, recipe.height), (128, 128, 128))
            image_or_none = image if model.image_to_video else None
            kwargs = pipeline_kwargs(loaded, "warm-up", recipe.negative, recipe.guidance, image_or_none)
            kwargs |= {
                "num_inference_steps": 2,
                "num_frames": recipe.frames,
                "height": recipe.height,
                "width": recipe.width,
                "generator": torch.Generator("cpu").manual_seed(0),
                "output_type": "latent",  # the VAE is not compiled: no need to decode
            }
            if image_or_none is not None:
                kwargs["image"] = image_or_none
            loaded.speed.prepare(2)
            pipe = loaded.pipe_for(image_or_none)

            def render(kwargs: dict[str, Any] = kwargs, pipe: Any = pipe) -> None:
                with torch.inference_mode():
                    pipe(**kwargs)

            warm_up(render, f"{model} ({loaded.speed.speed.describe()})")


def pipeline_kwargs(
    loaded: LoadedModel, prompt: str, negative: str, guidance: float, image: Image.Image | None
) -> dict[str, Any]:
    """The prompt and guidance arguments of ``loaded``'s pipeline for a job with ``image``.

    CogVideoX takes its dynamic guidance flag; Wan's image-to-video pipeline takes the prompts
    encoded by its text one (:func:`inference.wan.encoded_prompts`).
    """
    recipe = loaded.recipe
    if loaded.model.family == "cogvideox":
        return {
            "prompt": prompt,
            "negative_prompt": negative or None,
            "guidance_scale": guidance,
            "use_dynamic_cfg": recipe.dynamic_cfg,
            "max_sequence_length": recipe.max_tokens,
        }
    kwargs: dict[str, Any] = {"guidance_scale": guidance, "max_sequence_length": recipe.max_tokens}
    if loaded.pipe_for(image) is loaded.pipe:
        return kwargs | {"prompt": prompt, "negative_prompt": negative}
    from inference.wan import encoded_prompts

    return kwargs | encoded_prompts(loaded.pipe, prompt, negative, guidance, recipe.max_tokens)


def frame_for(
    recipe: Recipe, spec: GenerationSpec, image: Image.Image | None, size: tuple[int, int] | None = None
) -> tuple[int, int]:
    """The ``(width, height)`` to render ``spec`` at.

    The spec's shape (the model's default when it has none), with the input image's aspect for
    "image". With ``size`` (Extend), the frame keeps that clip's aspect: the "image" shape where
    the model offers it, else the model's frame for the spec's shape.

    Raises:
        CannotRender: the model does not make the spec's length or shape.
    """
    try:
        recipe.check_request(spec.length, spec.shape)
        if size is not None:
            shape = "image" if "image" in recipe.shapes else spec.shape
            return recipe.frame_size(shape, size[0] / size[1])
        aspect = image.width / image.height if image is not None else None
        return recipe.frame_size(spec.shape, aspect)
    except ValueError as exc:
        raise CannotRender(str(exc)) from None


def fit_frames(
    frames: np.ndarray[Any, np.dtype[np.uint8]], width: int, height: int
) -> np.ndarray[Any, np.dtype[np.uint8]]:
    """``frames`` (uint8 RGB, frames x height x width x 3) at ``width`` x ``height``: centre-cropped
    to its aspect where theirs differs, then resized, as an input image is (never stretched)."""
    out = np.empty((frames.shape[0], height, width, 3), np.uint8)
    for index, frame in enumerate(frames):
        out[index] = np.asarray(fit_to_frame(Image.fromarray(frame), width, height))
    return out


def _work(loaded: LoadedModel) -> float | None:
    counter = loaded.speed.counter if loaded.speed is not None else None
    return None if counter is None else counter.fraction


def fit_prompt(tokenizer: Any, text: str, max_tokens: int) -> tuple[str, bool]:
    """``text`` cut at a word boundary to fit ``max_tokens`` (end-of-text token included).

    Returns:
        The text to use and whether it was shortened.
    """
    if not text or _token_count(tokenizer, text) <= max_tokens:
        return text, False
    words = text.split()
    low, high = 0, len(words)  # the longest prefix that fits has between low and high words
    while low < high:
        middle = (low + high + 1) // 2
        if _token_count(tokenizer, " ".join(words[:middle])) <= max_tokens:
            low = middle
        else:
            high = middle - 1
    if low == 0:  # a single word longer than the window: cut the characters instead
        ids = tokenizer(text, add_special_tokens=False).input_ids[: max_tokens - 1]
        return tokenizer.decode(ids, skip_special_tokens=True).strip(), True
    return " ".join(words[:low]), True


def _token_count(tokenizer: Any, text: str) -> int:
    # verbose=False: counting a long prompt is not an error worth a warning
    return len(tokenizer(text, add_special_tokens=True, verbose=False).input_ids)


def to_uint8(frames: np.ndarray[Any, Any]) -> np.ndarray[Any, np.dtype[np.uint8]]:
    """Pipeline output (floats in [0, 1]) as uint8 RGB."""
    if frames.dtype == np.uint8:
        return frames
    return np.clip(np.rint(frames * 255.0), 0, 255).astype(np.uint8)


def release_memory() -> None:
    """Give cached GPU memory back after a failure, so the next job starts clean."""
    import torch

    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()
