"""A tiny, random-weight CogVideoX pipeline, built offline, for smoke tests (Wan: :mod:`inference.tiny_wan`).

It has the real components (a T5 tokenizer and encoder, the CogVideoX transformer and
3D VAE, the scheduler) at toy sizes, saved with ``save_pretrained`` so that the worker
loads it through the same code as the published weights. It renders noise, not video,
in about a second on a CPU: it proves that the plumbing works, nothing about quality.

The CogVideoX 1.5 stand-ins keep what makes 1.5 different to the code that runs it, as in
diffusers' conversion of the published weights: patches of 2 latent frames (``patch_size_t``,
so the pipeline pads an odd latent frame count), rotary embeddings sliced from a square
``sample_height`` x ``sample_width`` grid (any frame shape up to it, portrait included), no
learned positional embeddings, no patch bias, a VAE with inverted latent scaling, and for the
image-to-video one the "ofs" embedding. Their frame is 112 x 64 (the 1360 x 768 aspect), so a
portrait or image-shaped frame differs from a landscape one.

The noise is calm: low-contrast and near mid-grey whatever the seed (the VAE decoder's last
layer is scaled down, see :data:`CALM`), so the worker's NSFW filter never flags a smoke test.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from inference.contract import ModelId
from inference.recipes import OVERRIDES_FILE, recipe_for

#: what the tiny models can stand in for: every model Reelbot serves
TINY_LIKE = tuple(ModelId)
_COGVIDEOX15 = (ModelId.COGVIDEOX15_5B, ModelId.COGVIDEOX15_5B_I2V)
_WORDS = "a an the of on in with and at bee flower cat dog city night rain sea sky".split()  # noqa: SIM905
_TEXT_TOKENS = 32
_FRAMES, _HEIGHT = 9, 64
_TIME_EMBED = 4
#: what the VAE decoder's output layer (weights and bias) is scaled by. Random weights at full
#: scale decode to saturated colours that open_nsfw now and then scores above the filter's 50 %
#: line (0.506 seen in a smoke test; up to 0.81 over 200 seeds even at a tenth of the scale).
#: At this scale frames sit near mid-grey (about 130) with a standard deviation of about 5
#: levels, and no clip's highest frame score passed 0.14 (200 seeds of the 2b stand-in, 150 of
#: the 5b, 100 of the I2V); tests/test_tiny_model.py keeps it under 0.3.
CALM = 0.005


def make_tiny_model(
    directory: Path,
    like: ModelId = ModelId.COGVIDEOX_2B,
    *,
    seed: int = 0,
    layers: int = 1,
    heads: int = 2,
    head_dim: int = 16,
) -> Path:
    """Write a tiny pipeline shaped like ``like`` into ``directory`` and return it.

    ``layers`` sets the transformer's block count (step caches that treat the first block
    apart, and work counts per block, need more than one); ``heads`` x ``head_dim`` its
    width (48 x 64 is the real 5b's, for benchmarks of a mid-size model).

    Models of one family built with the same seed share identical text encoder and VAE
    weights, as the published 5b and 5b-I2V do, so one worker can share them.

    Raises:
        ValueError: ``like`` is a model the tiny builder cannot imitate.
    """
    import diffusers
    import torch

    if like not in TINY_LIKE:
        raise ValueError(f"a tiny model can stand in for {', '.join(TINY_LIKE)}, not {like}")
    if like.family == "wan":
        from inference.tiny_wan import make_tiny_wan

        return make_tiny_wan(directory, seed=seed, layers=layers, heads=heads, head_dim=head_dim)
    recipe = recipe_for(like)
    width = round(_HEIGHT * recipe.aspect / 16) * 16
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        tokenizer, text_encoder = _text_parts()
        torch.manual_seed(seed + 1)
        vae = _vae(invert_scale_latents=like in _COGVIDEOX15)
        torch.manual_seed(seed + 2)
        transformer = _transformer(like, width, layers, heads, head_dim)
    pipeline_class = (
        diffusers.CogVideoXImageToVideoPipeline if like.image_to_video else diffusers.CogVideoXPipeline
    )
    scheduler_class = (
        diffusers.CogVideoXDDIMScheduler if recipe.scheduler == "ddim" else diffusers.CogVideoXDPMScheduler
    )
    pipe: Any = pipeline_class(
        tokenizer=tokenizer,
        text_encoder=text_encoder,
        vae=vae,
        transformer=transformer,
        scheduler=scheduler_class(),
    )
    directory.mkdir(parents=True, exist_ok=True)
    pipe.save_pretrained(directory)
    overrides = {"model": like.value, "frames": _FRAMES, "height": _HEIGHT, "width": width, "steps": 4}
    (directory / OVERRIDES_FILE).write_text(json.dumps(overrides, indent=2) + "\n")
    return directory


def tiny_tokenizer(model_max_length: int = _TEXT_TOKENS) -> Any:
    """A T5 tokenizer made in-process (a Unigram vocabulary of letters and a few words)."""
    from transformers import T5Tokenizer

    # T5's layout: <pad>=0, </s>=1, <unk>=2, then the pieces; letters spell out any word
    pieces = [("<pad>", 0.0), ("</s>", 0.0), ("<unk>", 0.0), ("\u2581", -2.0)]
    pieces += [(chr(c), -4.0) for c in range(ord("a"), ord("z") + 1)]
    pieces += [(str(d), -4.0) for d in range(10)]
    pieces += [("\u2581" + w, -1.0) for w in _WORDS]
    return T5Tokenizer(vocab=pieces, extra_ids=0, model_max_length=model_max_length)


def _text_parts() -> tuple[Any, Any]:
    """The in-process T5 tokenizer and a one-layer T5 encoder."""
    from transformers import T5Config, T5EncoderModel

    tokenizer = tiny_tokenizer()
    config = T5Config(vocab_size=len(tokenizer), d_model=32, d_kv=8, num_heads=4, num_layers=1, d_ff=37)
    return tokenizer, T5EncoderModel(config)


def _vae(*, invert_scale_latents: bool = False) -> Any:
    """The 3D VAE at toy size, its decoder's output layer scaled by :data:`CALM`.

    ``invert_scale_latents``: CogVideoX 1.5's VAE config (the image latents are divided by the
    scaling factor, not multiplied: how 1.5 was trained).
    """
    import torch
    from diffusers import AutoencoderKLCogVideoX

    vae: Any = AutoencoderKLCogVideoX(  # type: ignore[no-untyped-call]
        in_channels=3,
        out_channels=3,
        down_block_types=("CogVideoXDownBlock3D",) * 4,
        up_block_types=("CogVideoXUpBlock3D",) * 4,
        block_out_channels=(8, 8, 8, 8),
        latent_channels=4,
        layers_per_block=1,
        norm_num_groups=2,
        temporal_compression_ratio=4,
        invert_scale_latents=invert_scale_latents,
    )
    # the decoder ends in this convolution; its output 0 decodes to mid-grey, so scaling it
    # down pulls every frame towards grey while each seed still makes its own pattern
    with torch.no_grad():
        vae.decoder.conv_out.conv.weight.mul_(CALM)
        vae.decoder.conv_out.conv.bias.mul_(CALM)
    return vae


def _transformer(like: ModelId, width: int, layers: int = 1, heads: int = 2, head_dim: int = 16) -> Any:
    from diffusers import CogVideoXTransformer3DModel

    five_b = like != ModelId.COGVIDEOX_2B
    # rotary embeddings split each head into 1/4 time, 3/8 height, 3/8 width: 16 divides evenly
    config: dict[str, Any] = {
        "num_attention_heads": heads,
        "attention_head_dim": head_dim,
        # image-to-video models see the image latents stacked on the noise
        "in_channels": 8 if like.image_to_video else 4,
        "out_channels": 4,
        "time_embed_dim": _TIME_EMBED,
        "text_embed_dim": 32,
        "num_layers": layers,
        "sample_width": width // 8,
        "sample_height": _HEIGHT // 8,
        "sample_frames": _FRAMES,
        "patch_size": 2,
        "temporal_compression_ratio": 4,
        "max_text_seq_length": _TEXT_TOKENS,
        "use_rotary_positional_embeddings": five_b,
        "use_learned_positional_embeddings": like.image_to_video,
    }
    if like in _COGVIDEOX15:
        config |= _cogvideox15_transformer(like, width)
    return CogVideoXTransformer3DModel(**config)  # type: ignore[no-untyped-call]


def _cogvideox15_transformer(like: ModelId, width: int) -> dict[str, Any]:
    """What 1.5 changes in the transformer's config (diffusers' convert_cogvideox_to_diffusers.py,
    version "1.5": temporal patches of 2, no patch bias, a square 300 x 300 sample grid, and the
    "ofs" embedding, as wide as the time embedding, in the image-to-video model)."""
    # the rotary grid is sliced from sample_height x sample_width: square and as long as the
    # frame's long side, so that a portrait frame fits it as the published 300 x 300 does
    side = max(width, _HEIGHT) // 8
    return {
        "patch_size_t": 2,
        "patch_bias": False,
        "sample_height": side,
        "sample_width": side,
        "use_learned_positional_embeddings": False,
        "ofs_embed_dim": _TIME_EMBED if like.image_to_video else None,
    }
