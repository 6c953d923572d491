"""Which model renders a request: the one the member asked for, or the best one running."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from bot.errors import Refused
from bot.fmt import either
from bot.i18n import N_, _
from inference.contract import ModelId
from inference.recipes import recipe_for

#: what members read for each shape (marked: translate with ``_()`` where it is shown)
SHAPE_NAMES = {
    "image": N_("the image's own shape"),
    "landscape": N_("landscape"),
    "portrait": N_("portrait (vertical)"),
    "square": N_("square"),
}


def can_make(model: ModelId, length: int | None, shape: str | None) -> bool:
    """Whether ``model`` makes clips of this length and shape."""
    try:
        recipe_for(model).check_request(length, shape)
    except ValueError:
        return False
    return True


def choose_model(
    requested: str | None,
    with_image: bool,
    served: Sequence[ModelId],
    defaults: Sequence[ModelId],
    length: int | None = None,
    shape: str | None = None,
) -> ModelId:
    """The model for a request.

    Args:
        requested: the model the member named, if any.
        with_image: the request animates an image.
        served: the models live workers serve now, best first.
        defaults: the deployment's models (REELBOT_MODELS): where jobs wait when no worker is up.
        length, shape: what the member asked of the clip (None: the model's default).

    Raises:
        Refused: an unknown model, the wrong kind for the input, one nobody runs, or none that
            makes the length or shape asked for.
    """
    model = _pick(requested, with_image, served, defaults, length, shape)
    try:
        recipe_for(model).check_request(length, shape)
    except ValueError:
        raise Refused(f"{_cannot(model, length, shape)} {capabilities(served)}", reason="model") from None
    return model


def _pick(
    requested: str | None,
    with_image: bool,
    served: Sequence[ModelId],
    defaults: Sequence[ModelId],
    length: int | None,
    shape: str | None,
) -> ModelId:
    if requested:
        try:
            model = ModelId(requested)
        except ValueError:
            unknown = _("There is no model called `{model}`.", model=requested)
            raise Refused(f"{unknown} {offer(served)}", reason="model") from None
        if not fits_input(model, with_image):
            need = (
                _("`{model}` animates an image: attach one.", model=model)
                if model.image_to_video
                else _("`{model}` does not take an image.", model=model)
            )
            raise Refused(f"{need} {offer(served)}", reason="model")
        if served and model not in served:
            idle = _("No worker runs `{model}` right now.", model=model)
            raise Refused(f"{idle} {offer(served)}", reason="model")
        return model
    fitting = [m for m in served if fits_input(m, with_image)]
    able = [m for m in fitting if can_make(m, length, shape)]
    if able:
        return able[0]
    if fitting:  # the right kind runs, but none makes this length or shape: say what does
        return fitting[0]
    if served:  # workers are up, but none of the right kind
        none = (
            _("No image-to-video model is running right now.")
            if with_image
            else _("No text-to-video model is running right now.")
        )
        raise Refused(f"{none} {offer(served)}", reason="model")
    # no worker online: queue on the deployment's model and let the job wait for a worker
    kinds = [m for m in defaults if fits_input(m, with_image)]
    for model in kinds:
        if can_make(model, length, shape):
            return model
    if kinds:
        return kinds[0]
    raise Refused(
        _("This server's Reelbot has no image-to-video model set up.")
        if with_image
        else _("This server's Reelbot has no text-to-video model set up."),
        reason="model",
    )


def fits_input(model: ModelId, with_image: bool) -> bool:
    """Whether ``model`` renders a request with (or without) an input image: an image-to-video
    model needs one, a text-to-video model takes none, Wan 2.2's TI2V model does either."""
    return model.takes_image if with_image else not model.image_to_video


def _cannot(model: ModelId, length: int | None, shape: str | None) -> str:
    """Why ``model`` cannot make the clip asked for, as a sentence."""
    recipe = recipe_for(model)
    if length is not None and length not in recipe.lengths:
        return _(
            "`{model}` makes {lengths} clips only, not longer ones.",
            model=model,
            lengths=lengths_text(recipe.seconds_for(n) for n in recipe.lengths),
        )
    return _(
        "`{model}` makes {shapes} frames only, not {shape}.",
        model=model,
        shapes=shapes_text(recipe.shapes),
        shape=_(name) if (name := SHAPE_NAMES.get(shape or "")) else shape,
    )


def lengths_text(seconds: Iterable[float]) -> str:
    """``5 s or 10 s``."""
    return either(_("{seconds:.0f} s", seconds=s) for s in seconds)


def shapes_text(shapes: Iterable[str]) -> str:
    """``landscape, square``: shape names, in the language of the moment."""
    return ", ".join(_(SHAPE_NAMES[s]) for s in shapes)


def capabilities(served: Sequence[ModelId]) -> str:
    """What the running models can make, for a refusal of a length or shape."""
    if not served:
        return _("No worker is online right now.")
    parts = []
    for model in served:
        recipe = recipe_for(model)
        seconds = lengths_text(recipe.seconds_for(n) for n in recipe.lengths)
        parts.append(f"`{model}`: {seconds}, {shapes_text(recipe.shapes)}")
    return _("Running now: {models}.", models="; ".join(parts))


def offer(served: Sequence[ModelId]) -> str:
    """The running models, for a refusal of a model."""
    if not served:
        return _("No worker is online right now.")
    return _("Running now: {models}.", models=", ".join(f"`{m}`" for m in served))
