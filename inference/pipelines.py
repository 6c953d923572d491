"""Loading CogVideoX and Wan pipelines once, at start, with each model's recipe applied.

A model comes from the Hugging Face Hub (its id) or from a local directory saved with
``save_pretrained``; both go through diffusers' ``from_pretrained``. A directory is
recognised from its own configs, so a worker can be pointed at a folder and told nothing
else. When one worker loads a text-to-video and an image-to-video model of the same
family, the second reuses the first's text encoder, tokenizer and VAE (on one GPU with
offload off), which saves about 9 GB for CogVideoX-5b's T5-XXL.

Wan 2.2 TI2V-5B is one model for text and image jobs: it serves its one lane with a text-to-video
pipeline and an image-to-video one over the same weights (:mod:`inference.wan`).
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from inference import wan
from inference.contract import ModelId
from inference.recipes import Recipe, read_overrides, recipe_for
from inference.settings import WorkerSettings
from inference.speed import Speed, SpeedError, SpeedPlan

log = logging.getLogger(__name__)

_PIPELINES = {False: "CogVideoXPipeline", True: "CogVideoXImageToVideoPipeline"}
_SHARED = ("tokenizer", "text_encoder", "vae")


class ModelLoadError(Exception):
    """A model could not be found or loaded; the worker cannot start. The message says why."""


def worker_speed(settings: WorkerSettings, device: str) -> Speed:
    """The speed preset and levers this worker runs on ``device``.

    Raises:
        ModelLoadError: the hardware cannot run them (fp8 on a CPU, SageAttention without CUDA,
            a missing optional package); the message says which setting to change.
    """
    from inference.speed import parse_levers, resolve

    try:
        overrides = parse_levers(settings.speed_variables())
        overrides.pop("REELBOT_SPEED", None)
        speed = resolve(settings.speed, overrides, device)
    except SpeedError as exc:
        raise ModelLoadError(str(exc)) from None
    if speed.levers.quant != "none" and settings.offload == "sequential":
        raise ModelLoadError(
            f"REELBOT_SPEED={settings.speed} quantises the transformer, which layer-by-layer offload "
            "cannot move: use REELBOT_OFFLOAD=model or none, or REELBOT_QUANT=none"
        )
    return speed


@dataclass(frozen=True, slots=True)
class ModelSource:
    """Where one model's weights come from, and the recipe to run it with."""

    model: ModelId
    #: a Hub id or a local directory
    source: str
    recipe: Recipe

    @property
    def directory(self) -> Path | None:
        path = Path(self.source)
        return path if path.is_dir() else None


@dataclass(slots=True)
class LoadedModel:
    """A pipeline in memory, ready to render."""

    source: ModelSource
    pipe: Any
    #: where the denoising runs (the GPU, also when weights wait on the CPU under offload)
    device: str
    recipe: Recipe
    #: the speed levers applied to this pipeline (None: a plain pipeline, as in older tests)
    speed: SpeedPlan | None = None
    #: the same weights as an image-to-video pipeline, for a model that takes text or an image
    #: (Wan 2.2 TI2V); None where ``pipe`` is the only one
    image_pipe: Any = None

    @property
    def model(self) -> ModelId:
        return self.source.model

    def pipe_for(self, image: object | None) -> Any:
        """The pipeline that renders a job with ``image`` (None: from text alone)."""
        return self.image_pipe if image is not None and self.image_pipe is not None else self.pipe


def resolve(entry: str) -> ModelSource:
    """Turn a ``REELBOT_MODELS`` entry (``ID``, ``DIR`` or ``ID=SOURCE``) into a source.

    Raises:
        ModelLoadError: an unknown model id, or a directory that is not a pipeline Reelbot runs.
    """
    name, sep, source = entry.partition("=")
    if sep:
        model = _model_id(name.strip())
        source = source.strip()
    elif Path(entry).is_dir():
        source = entry
        model = detect_model(Path(entry))
    else:
        model = _model_id(entry.strip())
        source = recipe_for(model).hub_id
    recipe = recipe_for(model)
    if Path(source).is_dir():
        try:
            recipe = recipe.with_overrides(read_overrides(Path(source)))
        except ValueError as exc:
            raise ModelLoadError(str(exc)) from None
    elif sep and ("/" not in source or source.startswith((".", "/"))):
        raise ModelLoadError(f"{entry!r}: {source} is not a directory (nor a Hub id like org/name)")
    return ModelSource(model, source, recipe)


def detect_model(directory: Path) -> ModelId:
    """Which model a saved pipeline directory holds, read from its configs.

    ``reelbot.json`` may name it outright. Otherwise, for CogVideoX the pipeline class says T2V
    or I2V, ``patch_size_t`` marks 1.5, and rotary position embeddings mark 5b (2b has none); a
    ``WanPipeline`` with 48 latent channels is Wan 2.2 TI2V-5B.

    Raises:
        ModelLoadError: the directory is not a saved pipeline of a model Reelbot runs.
    """
    try:
        named = read_overrides(directory).get("model")
    except ValueError as exc:
        raise ModelLoadError(str(exc)) from None
    if named:
        return _model_id(str(named))
    index = _read_json(directory / "model_index.json")
    kind = index.get("_class_name")
    if isinstance(kind, str) and kind.startswith("Wan"):
        transformer = _read_json(directory / "transformer" / "config.json")
        try:
            return wan.detect(directory, index, transformer, _read_json(directory / "vae" / "config.json"))
        except wan.NotWan22 as exc:
            raise ModelLoadError(str(exc)) from None
    if kind not in _PIPELINES.values():
        raise ModelLoadError(
            f"{directory} holds a {kind or 'unknown'} pipeline; Reelbot runs CogVideoXPipeline, "
            "CogVideoXImageToVideoPipeline and (Wan 2.2 TI2V-5B) WanPipeline directories (saved with "
            "save_pretrained)"
        )
    config = _read_json(directory / "transformer" / "config.json")
    i2v = kind == _PIPELINES[True]
    if config.get("patch_size_t"):
        return ModelId.COGVIDEOX15_5B_I2V if i2v else ModelId.COGVIDEOX15_5B
    if config.get("use_rotary_positional_embeddings"):
        return ModelId.COGVIDEOX_5B_I2V if i2v else ModelId.COGVIDEOX_5B
    if i2v:
        raise ModelLoadError(f"{directory}: an image-to-video pipeline without rotary embeddings is unknown")
    return ModelId.COGVIDEOX_2B


def pick_device(setting: str) -> str:
    """The torch device for ``REELBOT_DEVICE`` ("auto": CUDA when present)."""
    import torch

    if setting == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if setting.startswith("cuda") and not torch.cuda.is_available():
        raise ModelLoadError(f"REELBOT_DEVICE={setting} but torch sees no CUDA GPU (is this a CPU build?)")
    return setting


def load_models(settings: WorkerSettings) -> dict[ModelId, LoadedModel]:
    """Load every model in ``settings.models`` with its recipe and the memory settings.

    Raises:
        ModelLoadError: a model is unknown, listed twice, missing, or fails to load.
    """
    sources = [resolve(entry) for entry in settings.models]
    seen = [s.model for s in sources]
    if len(set(seen)) != len(seen):
        raise ModelLoadError(f"REELBOT_MODELS lists a model twice: {', '.join(seen)}")
    device = pick_device(settings.device)
    speed = worker_speed(settings, device)
    log.info("speed %s", speed.describe())
    loaded: dict[ModelId, LoadedModel] = {}
    # text-to-video first, so that an image-to-video model of its family can borrow its parts
    for source in sorted(sources, key=lambda s: s.model.image_to_video):
        donor = _donor(source, loaded.values(), settings)
        loaded[source.model] = _load_one(source, device, settings, donor, speed)
    return loaded


def _donor(source: ModelSource, loaded: Any, settings: WorkerSettings) -> LoadedModel | None:
    # offload hooks are attached per pipeline: a module shared by two would get two sets
    if settings.offload != "none":
        return None
    for other in loaded:
        if other.recipe.family == source.recipe.family and other.recipe.dtype == source.recipe.dtype:
            return other  # type: ignore[no-any-return]
    return None


def _load_one(
    source: ModelSource, device: str, settings: WorkerSettings, donor: LoadedModel | None, speed: Speed
) -> LoadedModel:
    import diffusers
    import torch

    from inference.speed import apply

    recipe = source.recipe
    # half precision is for GPUs: CPU kernels for it are slow or missing
    dtype = getattr(torch, recipe.dtype) if device != "cpu" else torch.float32
    shared = {name: getattr(donor.pipe, name) for name in _SHARED} if donor else {}
    log.info(
        "loading %s from %s (%s on %s%s)",
        source.model,
        source.source,
        str(dtype).removeprefix("torch."),
        device,
        f", sharing {donor.model}'s text encoder and VAE" if donor else "",
    )
    wan_family = source.model.family == "wan"
    try:
        if wan_family:
            pipe = wan.load(source.source, dtype)
        else:
            pipeline_class = getattr(diffusers, _PIPELINES[source.model.image_to_video])
            pipe = pipeline_class.from_pretrained(source.source, dtype=dtype, **shared)
    except (OSError, ValueError, TypeError) as exc:
        # TypeError: a directory whose parts do not fit the pipeline (a config from another model)
        raise ModelLoadError(
            f"could not load {source.model} from {source.source}: {exc}. Check the directory, or the "
            "Hub id and network access (HF_HOME, HF_TOKEN, HF_HUB_OFFLINE)"
        ) from exc
    if wan_family:
        try:
            wan.check_frame(pipe, recipe)
        except ValueError as exc:
            raise ModelLoadError(str(exc)) from None
    pipe.set_progress_bar_config(disable=True)  # progress goes to the queue, not to a tty
    _apply_recipe(pipe, recipe)
    image_pipe = wan.image_pipeline(pipe) if wan_family else None
    _apply_memory(pipe, device, settings, image_pipe)
    try:
        plan = apply(pipe, speed, count_work=settings.count_work, family=source.model.family, also=image_pipe)
    except SpeedError as exc:
        raise ModelLoadError(str(exc)) from None
    # CogVideoX's transformer has a text window of its own; Wan's reads the encoder's whole output
    window = getattr(pipe.transformer.config, "max_text_seq_length", None)
    limit = min(recipe.max_tokens, int(window)) if window else recipe.max_tokens
    return LoadedModel(source, pipe, device, replace(recipe, max_tokens=limit), plan, image_pipe)


def _apply_recipe(pipe: Any, recipe: Recipe) -> None:
    import diffusers

    if recipe.scheduler == "unipc":
        wan.apply_recipe(pipe, recipe)
        return
    name = {"ddim": "CogVideoXDDIMScheduler", "dpm": "CogVideoXDPMScheduler"}[recipe.scheduler]
    scheduler_class = getattr(diffusers, name)
    pipe.scheduler = scheduler_class.from_config(pipe.scheduler.config, timestep_spacing="trailing")


def _apply_memory(pipe: Any, device: str, settings: WorkerSettings, image_pipe: Any = None) -> None:
    if settings.offload == "model":
        pipe.enable_model_cpu_offload(device=device)
        if image_pipe is not None:
            # the same modules: each pipeline puts its own hooks back on them after every render
            # (maybe_free_model_hooks), so whichever ran last leaves hooks that serve both
            image_pipe.enable_model_cpu_offload(device=device)
    elif settings.offload == "sequential":
        # hooks on every layer, which the image pipeline's calls go through as well
        pipe.enable_sequential_cpu_offload(device=device)
    else:
        pipe.to(device)
    if settings.vae_tiling:
        pipe.vae.enable_tiling()
    if settings.vae_slicing:
        pipe.vae.enable_slicing()


def _model_id(name: str) -> ModelId:
    try:
        return ModelId(name)
    except ValueError:
        known = ", ".join(m.value for m in ModelId)
        raise ModelLoadError(
            f"unknown model {name!r}: Reelbot serves {known}, or give a directory saved with save_pretrained"
        ) from None


def _read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        raise ModelLoadError(f"{path} is missing: is {path.parent} a saved diffusers pipeline?") from None
    except json.JSONDecodeError as exc:
        raise ModelLoadError(f"{path} is not valid JSON: {exc}") from None
    if not isinstance(data, dict):
        raise ModelLoadError(f"{path} must hold a JSON object")
    return data
