"""Which model renders a request: the one the member asked for, or the best one running."""

from __future__ import annotations

from collections.abc import Sequence

from bot.errors import Refused
from inference.contract import ModelId


def choose_model(
    requested: str | None, with_image: bool, served: Sequence[ModelId], defaults: Sequence[ModelId]
) -> ModelId:
    """The model for a request.

    Args:
        requested: the model the member named, if any.
        with_image: the request animates an image.
        served: the models live workers serve now, best first.
        defaults: the deployment's models (REELBOT_MODELS): where jobs wait when no worker is up.

    Raises:
        Refused: an unknown model, the wrong kind for the input, or one nobody runs.
    """
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
    if fitting:
        return fitting[0]
    if served:  # workers are up, but none of the right kind
        raise Refused(f"No {kind} model is running right now. {offer(served)}", reason="model")
    # no worker online: queue on the deployment's model and let the job wait for a worker
    for model in defaults:
        if model.image_to_video == with_image:
            return model
    raise Refused(f"This server's Reelbot has no {kind} model set up.", reason="model")


def offer(served: Sequence[ModelId]) -> str:
    if not served:
        return "No worker is online right now."
    return "Running now: " + ", ".join(f"`{m}`" for m in served) + "."
