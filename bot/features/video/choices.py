"""What ``/video``'s autocompleted options offer: only what a running model can do. Pure."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from discord import app_commands

from bot.i18n import _
from bot.models import SHAPE_NAMES, lengths_text
from inference.contract import ModelId
from inference.recipes import recipe_for

#: what an option offers, from the running models and what the member typed so far
Offer = Callable[[Sequence[ModelId], str], list[app_commands.Choice[str]]]
#: Discord shows at most 25 choices
_MOST = 25


def models(served: Sequence[ModelId], current: str) -> list[app_commands.Choice[str]]:
    """The running models, with what each makes from."""
    return [
        app_commands.Choice(
            name=_("{model} (image to video)", model=m)
            if m.image_to_video
            else _("{model} (text or image to video)", model=m)
            if m.takes_image
            else _("{model} (text to video)", model=m),
            value=m.value,
        )
        for m in served
        if current.lower() in m.value
    ][:_MOST]


def lengths(served: Sequence[ModelId], current: str) -> list[app_commands.Choice[str]]:
    """The lengths the running models make, each with the models that make it and its cost."""
    offered: dict[int, list[str]] = {}
    for model in served:
        for length in recipe_for(model).lengths:
            offered.setdefault(length, []).append(model.value)
    found = []
    for length in sorted(offered):
        # whole seconds, in the order of their English text ("10 s" before "5 s") in every language
        seconds = sorted({round(recipe_for(m).seconds_for(length)) for m in offered[length]}, key=str)
        said = lengths_text(seconds)
        makers = ", ".join(offered[length])
        if length == 1:
            name = _("{lengths} ({models})", lengths=said, models=makers)
        else:
            name = _(
                "{lengths} ({models}, takes {length}x as long, counts as {length} videos)",
                lengths=said,
                models=makers,
                length=length,
            )
        if current.lower() in name.lower():
            found.append(app_commands.Choice(name=name[:100], value=str(length)))
    return found[:_MOST]


def shapes(served: Sequence[ModelId], current: str) -> list[app_commands.Choice[str]]:
    """The frame shapes the running models make, each with the models that make it."""
    offered: dict[str, list[str]] = {}
    for model in served:
        for shape in recipe_for(model).shapes:
            offered.setdefault(shape, []).append(model.value)
    found = []
    for shape in SHAPE_NAMES:
        if shape not in offered:
            continue
        name = _("{shape} ({models})", shape=_(SHAPE_NAMES[shape]), models=", ".join(offered[shape]))
        if current.lower() in name.lower():
            found.append(app_commands.Choice(name=name[:100], value=shape))
    return found[:_MOST]
