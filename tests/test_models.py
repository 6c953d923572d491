"""The generator side without the queue: recipes, loading from disk, prompts, images, steps."""

from __future__ import annotations

import io
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from inference.contract import GenerationSpec, ModelId
from inference.generator import Generator, fit_prompt
from inference.images import ImageRejected, decode_image, fit_to_frame
from inference.pipelines import LoadedModel, ModelLoadError, detect_model, load_models, resolve
from inference.recipes import RECIPES, recipe_for
from inference.settings import WorkerSettings


@pytest.fixture(scope="module")
def family(tiny_dirs: dict[str, Path]) -> dict[ModelId, LoadedModel]:
    """A worker's view: the 5b text model and its image model, loaded together."""
    return load_models(WorkerSettings(models=(str(tiny_dirs["i2v"]), str(tiny_dirs["5b"]))))


def test_recipes_follow_cogvideo_guidance() -> None:
    two_b, five_b = recipe_for("cogvideox-2b"), recipe_for("cogvideox-5b")
    assert (two_b.dtype, two_b.scheduler, two_b.dynamic_cfg) == ("float16", "ddim", False)
    assert (five_b.dtype, five_b.scheduler, five_b.dynamic_cfg) == ("bfloat16", "dpm", True)
    for model in (ModelId.COGVIDEOX_2B, ModelId.COGVIDEOX_5B, ModelId.COGVIDEOX_5B_I2V):
        r = RECIPES[model]
        assert (r.frames, r.fps, r.width, r.height, r.max_tokens) == (49, 8, 720, 480, 226)
    for model in (ModelId.COGVIDEOX15_5B, ModelId.COGVIDEOX15_5B_I2V):
        r = RECIPES[model]
        assert (r.frames, r.fps, r.width, r.height, r.max_tokens, r.dtype) == (
            81,
            16,
            1360,
            768,
            224,
            "bfloat16",
        )
    assert all(r.steps == 50 and r.guidance == 6.0 for m, r in RECIPES.items() if m.family == "cogvideox")
    assert set(RECIPES) == set(ModelId)


def test_the_wan_recipe_follows_its_model_card() -> None:
    wan = RECIPES[ModelId.WAN22_TI2V_5B]
    assert (wan.hub_id, wan.frames, wan.fps, wan.width, wan.height) == (
        "Wan-AI/Wan2.2-TI2V-5B-Diffusers",
        121,
        24,
        1280,
        704,
    )
    assert (wan.frames - 1) % 4 == 0 and wan.seconds_for(1) == pytest.approx(5.04, abs=0.01)
    assert (wan.scheduler, wan.flow_shift, wan.guidance, wan.steps) == ("unipc", 5.0, 5.0, 50)
    assert (wan.dtype, wan.vae_float32, wan.max_tokens) == ("bfloat16", True, 512)
    assert wan.negative and not wan.dynamic_cfg
    # one model, text or image: landscape or portrait, an image picks by its orientation
    assert ModelId.WAN22_TI2V_5B.takes_image and not ModelId.WAN22_TI2V_5B.image_to_video
    assert wan.frame_size(None) == (1280, 704) and wan.frame_size("portrait") == (704, 1280)
    assert wan.frame_size(None, 3 / 4) == (704, 1280) and wan.frame_size(None, 16 / 9) == (1280, 704)


def test_model_ids_load_from_the_hub_or_a_named_mirror() -> None:
    published = resolve("cogvideox-5b-i2v")
    assert (published.model, published.source) == (ModelId.COGVIDEOX_5B_I2V, "THUDM/CogVideoX-5b-I2V")
    assert published.recipe == RECIPES[ModelId.COGVIDEOX_5B_I2V]
    mirror = resolve("cogvideox-2b=our-org/CogVideoX-2b-mirror")
    assert (mirror.model, mirror.source) == (ModelId.COGVIDEOX_2B, "our-org/CogVideoX-2b-mirror")


def test_unknown_model_is_a_clear_startup_error() -> None:
    with pytest.raises(ModelLoadError, match=r"unknown model .cogvideox-9b..*cogvideox-2b"):
        resolve("cogvideox-9b")
    with pytest.raises(ModelLoadError, match="not a directory"):
        resolve("cogvideox-2b=/no/such/dir")


def test_a_directory_is_recognised_from_its_configs(tiny_dirs: dict[str, Path], tmp_path: Path) -> None:
    for name, expected in (
        ("2b", ModelId.COGVIDEOX_2B),
        ("5b", ModelId.COGVIDEOX_5B),
        ("i2v", ModelId.COGVIDEOX_5B_I2V),
    ):
        copy = tmp_path / name
        shutil.copytree(tiny_dirs[name], copy)
        overrides = json.loads((copy / "reelbot.json").read_text())
        del overrides["model"]  # make the configs speak for themselves
        (copy / "reelbot.json").write_text(json.dumps(overrides))
        assert detect_model(copy) == expected
        assert resolve(str(copy)).recipe.frames == 9  # the directory's frame grid applies
    (tmp_path / "empty").mkdir()
    with pytest.raises(ModelLoadError, match=r"model_index\.json is missing"):
        detect_model(tmp_path / "empty")


def test_bad_overrides_are_refused(tiny_dirs: dict[str, Path], tmp_path: Path) -> None:
    copy = tmp_path / "m"
    shutil.copytree(tiny_dirs["2b"], copy)
    (copy / "reelbot.json").write_text(json.dumps({"frames": 10}))
    with pytest.raises(ModelLoadError, match=r"4k\+1"):
        resolve(str(copy))


def test_loading_applies_recipe_and_shares_text_encoder_and_vae(family: dict[ModelId, LoadedModel]) -> None:
    t2v, i2v = family[ModelId.COGVIDEOX_5B], family[ModelId.COGVIDEOX_5B_I2V]
    assert type(t2v.pipe).__name__ == "CogVideoXPipeline"
    assert type(i2v.pipe).__name__ == "CogVideoXImageToVideoPipeline"
    for loaded in (t2v, i2v):
        assert type(loaded.pipe.scheduler).__name__ == "CogVideoXDPMScheduler"
        assert loaded.pipe.scheduler.config.timestep_spacing == "trailing"
        assert loaded.pipe.vae.use_tiling and loaded.pipe.vae.use_slicing
        assert loaded.recipe.max_tokens == 32  # the tiny transformer's window, below 226
    assert i2v.pipe.text_encoder is t2v.pipe.text_encoder
    assert i2v.pipe.vae is t2v.pipe.vae
    assert i2v.pipe.transformer is not t2v.pipe.transformer


def test_2b_gets_ddim_and_memory_modes_apply(tiny_dirs: dict[str, Path]) -> None:
    settings = WorkerSettings(
        models=(str(tiny_dirs["2b"]),), vae_tiling=False, vae_slicing=False, compile="true", offload="model"
    )
    loaded = load_models(settings)[ModelId.COGVIDEOX_2B]
    assert type(loaded.pipe.scheduler).__name__ == "CogVideoXDDIMScheduler"
    assert not loaded.pipe.vae.use_tiling and not loaded.pipe.vae.use_slicing
    assert loaded.speed is not None and loaded.speed.speed.levers.compile
    # each block's own forward is compiled (regional: one graph for the identical blocks), lazily
    assert all(
        hasattr(block.forward, "_torchdynamo_orig_callable")
        for block in loaded.pipe.transformer.transformer_blocks
    )
    assert loaded.pipe._all_hooks  # model CPU offload installed its hooks


def test_listing_a_model_twice_is_refused(tiny_dirs: dict[str, Path]) -> None:
    with pytest.raises(ModelLoadError, match="twice"):
        load_models(WorkerSettings(models=(str(tiny_dirs["2b"]), "cogvideox-2b")))


def test_long_prompt_is_cut_at_a_word_boundary(family: dict[ModelId, LoadedModel]) -> None:
    tokenizer = family[ModelId.COGVIDEOX_5B].pipe.tokenizer
    text = " ".join(f"bee{i} flower" for i in range(40))
    fitted, shortened = fit_prompt(tokenizer, text, 32)
    assert shortened
    assert text.startswith(fitted) and text[len(fitted)] == " "  # whole words only
    assert len(tokenizer(fitted).input_ids) <= 32
    assert len(tokenizer(text[: text.index(" ", len(fitted) + 1)]).input_ids) > 32  # the longest that fits
    assert fit_prompt(tokenizer, "a bee", 32) == ("a bee", False)
    one_word, cut = fit_prompt(tokenizer, "x" * 200, 32)
    assert cut and 0 < len(tokenizer(one_word).input_ids) <= 32


def test_render_follows_the_recipe_and_the_seed(family: dict[ModelId, LoadedModel]) -> None:
    generator = Generator(family)
    steps: list[tuple[int, int]] = []
    spec = GenerationSpec(prompt="a bee on a flower " * 20, model=ModelId.COGVIDEOX_5B, seed=7)
    first = generator.render(spec, None, lambda s, t: steps.append((s, t)))
    again = generator.render(spec, None, lambda s, t: None)
    assert first.frames.shape == (9, 64, 96, 3) and first.frames.dtype == np.uint8
    assert (first.fps, first.seed, first.steps) == (8, 7, 4)
    assert steps == [(1, 4), (2, 4), (3, 4), (4, 4)]
    assert first.prompt_shortened and len(first.prompt) < len(spec.prompt)
    assert np.array_equal(first.frames, again.frames)  # same seed, same clip
    other = generator.render(
        GenerationSpec(prompt=spec.prompt, model=spec.model, seed=8), None, lambda s, t: None
    )
    assert not np.array_equal(first.frames, other.frames)


def test_image_to_video_uses_the_image(family: dict[ModelId, LoadedModel]) -> None:
    generator = Generator(family)
    spec = GenerationSpec(
        prompt="a cat", model=ModelId.COGVIDEOX_5B_I2V, image_ref="redis:x/inputs/a.png", seed=1
    )
    red = generator.render(spec, Image.new("RGB", (300, 200), "red"), lambda s, t: None)
    blue = generator.render(spec, Image.new("RGB", (300, 200), "blue"), lambda s, t: None)
    assert red.frames.shape == (9, 64, 96, 3)
    assert not np.array_equal(red.frames, blue.frames)


def test_a_raising_step_hook_stops_within_one_step(family: dict[ModelId, LoadedModel]) -> None:
    class Stop(Exception):
        pass

    seen: list[int] = []

    def hook(step: int, total: int) -> None:
        seen.append(step)
        if step == 2:
            raise Stop

    spec = GenerationSpec(prompt="a bee", model=ModelId.COGVIDEOX_5B, steps=20)
    with pytest.raises(Stop):
        Generator(family).render(spec, None, hook)
    assert seen == [1, 2]


def test_images_are_centre_cropped_never_stretched() -> None:
    wide = Image.new("RGB", (900, 300), "red")
    wide.paste(Image.new("RGB", (300, 300), "lime"), (300, 0))  # red | green | red
    fitted = fit_to_frame(wide, 96, 64)
    assert fitted.size == (96, 64)
    pixels = np.asarray(fitted)
    assert pixels[:, 20:76, 1].mean() > 250 and pixels[:, 20:76, 0].mean() < 5  # the centre: green
    assert pixels[:, :10, 0].mean() > 200  # a little red each side: 450 px kept of 900
    tall = Image.new("RGB", (300, 900), "blue")
    tall.paste(Image.new("RGB", (300, 300), "white"), (0, 0))  # white band on top gets cropped
    assert np.asarray(fit_to_frame(tall, 96, 64))[..., 0].max() < 10


def test_image_decoding_refuses_what_it_should() -> None:
    gif = io.BytesIO()
    Image.new("RGB", (8, 8)).save(gif, format="GIF")
    with pytest.raises(ImageRejected, match="PNG, JPEG or WEBP"):
        decode_image(gif.getvalue())
    with pytest.raises(ImageRejected, match="send a PNG"):
        decode_image(b"\x89PNG\r\n\x1a\n" + b"garbage" * 10)
    big = io.BytesIO()
    Image.new("RGB", (300, 200)).save(big, format="PNG")
    with pytest.raises(ImageRejected, match=r"300x200.*at most 100x100"):
        decode_image(big.getvalue(), max_pixels=100 * 100)
    tagged = io.BytesIO()
    exif = Image.Exif()
    exif[0x010E] = "secret description"
    Image.new("RGBA", (20, 10), (255, 0, 0, 128)).save(tagged, format="PNG", exif=exif)
    clean = decode_image(tagged.getvalue())
    assert clean.mode == "RGB" and clean.size == (20, 10) and not clean.getexif() and not clean.info
    assert clean.getpixel((0, 0)) == (128, 0, 0)  # half-transparent red over black
