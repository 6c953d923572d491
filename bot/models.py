"""Which model renders a request: the one the member asked for, or the best one running."""

from __future__ import annotations

from collections.abc import Sequence

from bot.errors import Refused
from inference.contract import ModelId
from inference.recipes import recipe_for

#: what members read for each shape
SHAPE_NAMES = {
    "image": "the image's own shape",
    "landscape": "landscape",
    "portrait": "portrait (vertical)",
    "square": "square",
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
        raise Refused(
            f"`{model}` {_cannot(model, length, shape)}. {capabilities(served)}", reason="model"
        ) from None
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
            raise Refused(
                f"There is no model called `{requested}`. {offer(served)}", reason="model"
            ) from None
        if model.image_to_video != with_image:
            need = "animates an image: attach one" if model.image_to_video else "does not take an image"
            raise Refused(f"`{model}` {need}. {offer(served)}", reason="model")
        if served and model not in served:
            raise Refused(f"No worker runs `{model}` right now. {offer(served)}", reason="model")
        return model
    kind = "image-to-video" if with_image else "text-to-video"
    fitting = [m for m in served if m.image_to_video == with_image]
    able = [m for m in fitting if can_make(m, length, shape)]
    if able:
        return able[0]
    if fitting:  # the right kind runs, but none makes this length or shape: say what does
        return fitting[0]
    if served:  # workers are up, but none of the right kind
        raise Refused(f"No {kind} model is running right now. {offer(served)}", reason="model")
    # no worker online: queue on the deployment's model and let the job wait for a worker
    kinds = [m for m in defaults if m.image_to_video == with_image]
    for model in kinds:
        if can_make(model, length, shape):
            return model
    if kinds:
        return kinds[0]
    raise Refused(f"This server's Reelbot has no {kind} model set up.", reason="model")


def _cannot(model: ModelId, length: int | None, shape: str | None) -> str:
    recipe = recipe_for(model)
    if length is not None and length not in recipe.lengths:
        made = " or ".join(f"{recipe.seconds_for(n):.0f} s" for n in recipe.lengths)
        return f"makes {made} clips only, not longer ones"
    shapes = ", ".join(SHAPE_NAMES[s] for s in recipe.shapes)
    return f"makes {shapes} frames only, not {SHAPE_NAMES.get(shape or '', shape)}"


def capabilities(served: Sequence[ModelId]) -> str:
    """What the running models can make, for a refusal of a length or shape."""
    if not served:
        return "No worker is online right now."
    parts = []
    for model in served:
        recipe = recipe_for(model)
        seconds = " or ".join(f"{recipe.seconds_for(n):.0f} s" for n in recipe.lengths)
        shapes = ", ".join(SHAPE_NAMES[s] for s in recipe.shapes)
        parts.append(f"`{model}`: {seconds}, {shapes}")
    return "Running now: " + "; ".join(parts) + "."


def offer(served: Sequence[ModelId]) -> str:
    if not served:
        return "No worker is online right now."
    return "Running now: " + ", ".join(f"`{m}`" for m in served) + "."
