"""Wan 2.2 TI2V-5B: what the worker does differently from CogVideoX, in one place.

One model renders from text, and from an image when one comes (Extend's last frame included):
the loader loads ``WanPipeline`` once and builds ``WanImageToVideoPipeline`` over the same
modules (no second copy of the weights) with ``expand_timesteps``, so the image becomes the first
latent frame; TI2V-5B has no CLIP image encoder. The VAE loads in float32 whatever the
transformer's precision (the model card asks it; the pipelines cast latents to the VAE's dtype),
and the scheduler is UniPC for flow matching with the recipe's shift.

The prompt is encoded by the text-to-video pipeline for both: diffusers' image-to-video
pipeline cleans prompts with ``ftfy``, an optional package it then calls whether or not it is
installed (NameError without it), while the text-to-video one checks first.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from inference.contract import ModelId
from inference.recipes import Recipe

log = logging.getLogger(__name__)

PIPELINE = "WanPipeline"
#: Wan 2.2 TI2V-5B's VAE: 48 latent channels (Wan 2.1's and the A14B models' have 16)
TI2V_CHANNELS = 48


class NotWan22(ValueError):
    """A Wan directory that is not Wan 2.2 TI2V-5B; the message says what it holds."""


def detect(
    directory: Path, index: dict[str, Any], transformer: dict[str, Any], vae: dict[str, Any]
) -> ModelId:
    """Which Wan model a saved pipeline directory holds, from its configs.

    Raises:
        NotWan22: a Wan pipeline Reelbot does not run (Wan 2.1, the A14B pair, image-to-video-only).
    """
    kind = index.get("_class_name")
    channels = transformer.get("in_channels")
    if (
        kind == PIPELINE
        and vae.get("z_dim") == TI2V_CHANNELS
        and channels == TI2V_CHANNELS
        and not index.get("transformer_2", [None])[0]
    ):
        return ModelId.WAN22_TI2V_5B
    raise NotWan22(
        f"{directory} holds a {kind} whose transformer reads {channels} channels and VAE has "
        f"{vae.get('z_dim')} latent channels; Reelbot runs Wan 2.2 TI2V-5B (a WanPipeline with 48 "
        "latent channels and one transformer), e.g. Wan-AI/Wan2.2-TI2V-5B-Diffusers"
    )


def load(source: str, dtype: Any) -> Any:
    """``WanPipeline`` from ``source`` (a directory or Hub id), its VAE in float32.

    Raises:
        OSError, ValueError: as diffusers' ``from_pretrained`` does (the caller explains them).
    """
    import diffusers
    import torch

    vae = diffusers.AutoencoderKLWan.from_pretrained(  # type: ignore[no-untyped-call]
        source, subfolder="vae", torch_dtype=torch.float32
    )
    # Wan 2.2 TI2V's per-token timesteps (the first latent frame can be an image's): the published
    # model_index.json sets it; a directory saved without it would render as Wan 2.1 does
    return diffusers.WanPipeline.from_pretrained(  # type: ignore[no-untyped-call]
        source, vae=vae, dtype=dtype, expand_timesteps=True
    )


def check_frame(pipe: Any, recipe: Recipe) -> None:
    """Raise ValueError when the recipe's frame is not a whole number of the transformer's patches
    (Wan 2.2: 16 pixels per latent, 2 x 2 latents per patch, so multiples of 32)."""
    step = int(pipe.vae_scale_factor_spatial) * int(pipe.transformer.config.patch_size[1])
    if recipe.width % step or recipe.height % step:
        raise ValueError(
            f"{recipe.model}: frame {recipe.width}x{recipe.height} must be a multiple of {step} pixels "
            f"each way (e.g. 1280x704); fix width and height in the directory's reelbot.json"
        )


def scheduler(flow_shift: float, config: Any = None) -> Any:
    """UniPC for flow matching with ``flow_shift`` (Wan's published scheduler), from a saved
    scheduler's ``config`` or from diffusers' defaults."""
    import diffusers

    settings = {"prediction_type": "flow_prediction", "use_flow_sigmas": True, "flow_shift": flow_shift}
    unipc = diffusers.UniPCMultistepScheduler
    if config is None:
        return unipc(**settings)  # type: ignore[no-untyped-call]
    return unipc.from_config(config, **settings)  # type: ignore[no-untyped-call]


def apply_recipe(pipe: Any, recipe: Recipe) -> None:
    """UniPC for flow matching with the recipe's shift (Wan's published scheduler)."""
    pipe.scheduler = scheduler(recipe.flow_shift, pipe.scheduler.config)


def image_pipeline(pipe: Any) -> Any:
    """A ``WanImageToVideoPipeline`` over ``pipe``'s own modules (nothing is copied)."""
    import diffusers

    parts = {name: getattr(pipe, name) for name in ("tokenizer", "text_encoder", "vae", "scheduler")}
    image_pipe: Any = diffusers.WanImageToVideoPipeline(  # type: ignore[no-untyped-call]
        transformer=pipe.transformer, expand_timesteps=True, **parts
    )
    image_pipe.set_progress_bar_config(disable=True)
    return image_pipe


def encoded_prompts(
    pipe: Any, prompt: str, negative: str, guidance: float, max_tokens: int
) -> dict[str, Any]:
    """The prompt and negative prompt as the image-to-video pipeline's embedding arguments."""
    positive, negative_embeds = pipe.encode_prompt(
        prompt=prompt,
        negative_prompt=negative,
        do_classifier_free_guidance=guidance > 1.0,
        max_sequence_length=max_tokens,
    )
    return {"prompt_embeds": positive, "negative_prompt_embeds": negative_embeds}
