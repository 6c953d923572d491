"""A tiny, random-weight Wan 2.2 TI2V-5B pipeline, built offline, for smoke tests.

It has Wan 2.2's components at toy sizes: a T5 tokenizer made in-process and a tiny umT5
encoder, Wan 2.2's VAE layout (48 latent channels, residual up and down blocks, 2 x 2 pixels
patched into 12 channels before 3 downsamplings: 16 x 16 pixels and 4 frames per latent), a
transformer that reads and writes those 48 channels in 1 x 2 x 2 patches, and UniPC. It is saved
as a ``WanPipeline`` with ``expand_timesteps`` (Wan 2.2 TI2V's per-token timesteps, whose first
latent frame can hold an input image), so the worker loads it as it loads the published weights.

Its ``reelbot.json`` keeps the recipe's 512-token window and shrinks the clip to 9 frames of
128 x 64 (a frame side must be a multiple of 32: the VAE's 16 times the patch's 2), so portrait
(64 x 128) differs from landscape, and a render takes about a second on a CPU. Like the CogVideoX
stand-ins it renders calm noise (:data:`CALM`), which the output filter never flags.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from inference import wan
from inference.contract import ModelId
from inference.recipes import OVERRIDES_FILE, recipe_for
from inference.tiny import tiny_tokenizer

#: the tiny clip: 9 frames (3 latent frames) of 128 x 64, 4 steps
FRAMES, HEIGHT, WIDTH, STEPS = 9, 64, 128, 4
#: Wan 2.2's VAE: 48 latent channels
Z_DIM = 48
_TEXT_DIM = 32
#: what the VAE decoder's output layer is scaled by (the CogVideoX stand-ins' :data:`inference.tiny.CALM`
#: for Wan's decoder): frames near mid-grey with a standard deviation of about 5 levels (0.1 gave
#: 3.6, 0.2 gave 7.3 over four seeds), well under the output filter's line (tests/test_wan.py)
CALM = 0.15


def make_tiny_wan(
    directory: Path, *, seed: int = 0, layers: int = 1, heads: int = 2, head_dim: int = 12
) -> Path:
    """Write a tiny Wan 2.2 TI2V-5B stand-in into ``directory`` and return it.

    ``layers`` sets the transformer's block count (step caches need more than one); ``heads`` x
    ``head_dim`` its width (``head_dim`` a multiple of 6: rotary embeddings split it over time,
    height and width in pairs).
    """
    import diffusers
    import torch

    with torch.random.fork_rng():
        torch.manual_seed(seed)
        tokenizer, text_encoder = _text_parts()
        torch.manual_seed(seed + 1)
        vae = tiny_wan_vae()
        torch.manual_seed(seed + 2)
        transformer = diffusers.WanTransformer3DModel(  # type: ignore[no-untyped-call]
            patch_size=(1, 2, 2),
            num_attention_heads=heads,
            attention_head_dim=head_dim,
            in_channels=Z_DIM,
            out_channels=Z_DIM,
            text_dim=_TEXT_DIM,
            freq_dim=16,
            ffn_dim=32,
            num_layers=layers,
            rope_max_seq_len=64,
        )
    scheduler = wan.scheduler(recipe_for(ModelId.WAN22_TI2V_5B).flow_shift)
    pipe: Any = diffusers.WanPipeline(  # type: ignore[no-untyped-call]
        tokenizer=tokenizer,
        text_encoder=text_encoder,
        vae=vae,
        transformer=transformer,
        scheduler=scheduler,
        expand_timesteps=True,
    )
    directory.mkdir(parents=True, exist_ok=True)
    pipe.save_pretrained(directory)
    overrides = {
        "model": ModelId.WAN22_TI2V_5B.value,
        "frames": FRAMES,
        "height": HEIGHT,
        "width": WIDTH,
        "steps": STEPS,
    }
    (directory / OVERRIDES_FILE).write_text(json.dumps(overrides, indent=2) + "\n")
    return directory


def _text_parts() -> tuple[Any, Any]:
    """The in-process T5 tokenizer (umT5 uses T5's) and a one-layer umT5 encoder."""
    from transformers import UMT5Config, UMT5EncoderModel

    tokenizer = tiny_tokenizer(model_max_length=512)
    config = UMT5Config(
        vocab_size=len(tokenizer), d_model=_TEXT_DIM, d_kv=8, num_heads=4, num_layers=1, d_ff=37
    )
    return tokenizer, UMT5EncoderModel(config)


def tiny_wan_vae(base_dim: int = 8) -> Any:
    """Wan 2.2's VAE at toy width, its decoder's output layer scaled by :data:`CALM`.

    Wan 2.2's own flags (its vae/config.json): 48 latent channels, ``is_residual`` blocks, RGB
    patched 2 x 2 into 12 channels, 16 x spatial and 4 x temporal compression.
    """
    import torch
    from diffusers import AutoencoderKLWan

    vae: Any = AutoencoderKLWan(  # type: ignore[no-untyped-call]
        base_dim=base_dim,
        decoder_base_dim=base_dim,
        z_dim=Z_DIM,
        dim_mult=[1, 2, 4, 4],
        num_res_blocks=1,
        temperal_downsample=[False, True, True],
        is_residual=True,
        in_channels=12,
        out_channels=12,
        patch_size=2,
        scale_factor_temporal=4,
        scale_factor_spatial=16,
        latents_mean=[0.0] * Z_DIM,
        latents_std=[1.0] * Z_DIM,
    )
    # as in the CogVideoX stand-ins: the decoder's last convolution decides how far from grey
    # the frames stray, so scaling it down keeps every seed calm and still its own pattern
    with torch.no_grad():
        vae.decoder.conv_out.weight.mul_(CALM)
        vae.decoder.conv_out.bias.mul_(CALM)
    return vae
