"""What ``/video``'s autocompleted options offer: only what a running model can do. Pure."""

from __future__ import annotations

from collections.abc import Sequence

from discord import app_commands

from bot.models import SHAPE_NAMES
from inference.contract import ModelId
from inference.recipes import recipe_for

#: Discord shows at most 25 choices
_MOST = 25


def models(served: Sequence[ModelId], current: str) -> list[app_commands.Choice[str]]:
    """The running models, with what each makes from."""
    return [
        app_commands.Choice(name=f"{m} ({'image' if m.image_to_video else 'text'} to video)", value=m.value)
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
        seconds = sorted({f"{recipe_for(m).seconds_for(length):.0f} s" for m in offered[length]})
        cost = "" if length == 1 else f", takes {length}x as long, counts as {length} videos"
        name = f"{' or '.join(seconds)} ({', '.join(offered[length])}{cost})"
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
        name = f"{SHAPE_NAMES[shape]} ({', '.join(offered[shape])})"
        if current.lower() in name.lower():
            found.append(app_commands.Choice(name=name[:100], value=shape))
    return found[:_MOST]
