"""Buttons and forms that are answered from their custom id alone, whoever sent them and whenever.

Every button and form of the bot has the custom id ``reelbot:<action>:<target>`` (the target
is a job, approval or draft id). The bot registers one :class:`Component` template for all
buttons, so a button on a message posted before a restart still works after it, and answers
every form submission itself (:meth:`Router.submit`) instead of keeping the open form in
memory: discord.py drops a form after its first submission and forgets it on a restart, so
two moderators submitting the same Reject form, or one submitting after a restart, would
otherwise get no answer at all.

Features register a handler per action (:meth:`Router.on_click`, :meth:`Router.on_submit`);
the router runs it through the error funnel, so every failure gets a reply.
"""

from __future__ import annotations

import re
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Self

import discord

from bot.funnel import Funnel
from bot.i18n import _

if TYPE_CHECKING:
    from bot.languages import Languages

CUSTOM_ID = re.compile(r"reelbot:(?P<action>[a-z][a-z-]{1,30}):(?P<target>[0-9a-z]{6,33})")

ClickHandler = Callable[[discord.Interaction, str], Awaitable[None]]
SubmitHandler = Callable[[discord.Interaction, str, Mapping[str, str]], Awaitable[None]]


def custom_id(action: str, target: str) -> str:
    return f"reelbot:{action}:{target}"


class Component(discord.ui.DynamicItem[discord.ui.Button[Any]], template=CUSTOM_ID.pattern):
    """Every Reelbot button: its action and target travel in its custom id."""

    def __init__(
        self,
        action: str,
        target: str,
        *,
        label: str = "",
        emoji: str | None = None,
        style: discord.ButtonStyle = discord.ButtonStyle.secondary,
    ) -> None:
        button: discord.ui.Button[Any] = discord.ui.Button(
            label=label or None, emoji=emoji, style=style, custom_id=custom_id(action, target)
        )
        super().__init__(button)
        self.action, self.target = action, target

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction, item: discord.ui.Item[Any], match: re.Match[str], /
    ) -> Self:
        return cls(match["action"], match["target"])

    async def callback(self, interaction: discord.Interaction) -> None:
        router: Router = interaction.client.router  # type: ignore[attr-defined]
        await router.click(interaction, self.action, self.target)


@dataclass(frozen=True, slots=True)
class Field:
    """One text field of a form."""

    id: str
    label: str
    default: str = ""
    max_length: int = 2000
    min_length: int = 1
    paragraph: bool = True


def form(action: str, target: str, title: str, *fields: Field) -> discord.ui.Modal:
    """A form to send with ``interaction.response.send_modal``; its submission reaches the
    handler registered for ``action`` (discord.py does not keep it)."""
    modal = discord.ui.Modal(title=title, custom_id=custom_id(action, target), timeout=None)
    for spec in fields:
        modal.add_item(
            discord.ui.TextInput(
                label=spec.label,
                custom_id=spec.id,
                style=discord.TextStyle.paragraph if spec.paragraph else discord.TextStyle.short,
                default=spec.default[: spec.max_length] or None,
                max_length=spec.max_length,
                min_length=spec.min_length,
            )
        )
    modal.stop()  # a stopped form is not kept by discord.py: Router.submit answers it
    return modal


def form_values(data: Mapping[str, Any]) -> dict[str, str]:
    """The text fields of a form submission, by custom id, wherever Discord nests them."""
    values: dict[str, str] = {}

    def walk(components: Any) -> None:
        for component in components or ():
            if "value" in component and "custom_id" in component:
                values[str(component["custom_id"])] = str(component["value"])
            walk(component.get("components"))
            if "component" in component:
                walk([component["component"]])

    walk(data.get("components"))
    return values


class SeenInteractions:
    """Interactions already taken up: Discord may deliver one twice (a resumed gateway replays
    it), and the copy must not be answered (Discord refuses a second response with 400)."""

    def __init__(self, keep_seconds: float = 15 * 60, most: int = 20_000) -> None:
        self.keep, self.most = keep_seconds, most
        self._seen: OrderedDict[int, float] = OrderedDict()

    def first_time(self, interaction_id: int) -> bool:
        """True the first time an interaction id is seen (within ``keep_seconds``)."""
        now = time.monotonic()
        while self._seen and (
            len(self._seen) >= self.most or next(iter(self._seen.values())) < now - self.keep
        ):
            self._seen.popitem(last=False)
        if interaction_id in self._seen:
            return False
        self._seen[interaction_id] = now
        return True


class Router:
    """Which handler answers each button and form action; every answer goes through the funnel."""

    def __init__(self, funnel: Funnel, languages: Languages | None = None) -> None:
        self.funnel = funnel
        #: sets each click's and form's languages (the member's, the server's) before it is answered
        self.languages = languages
        self.buttons: dict[str, ClickHandler] = {}
        self.forms: dict[str, SubmitHandler] = {}
        self.seen = SeenInteractions()

    def on_click(self, action: str, handler: ClickHandler) -> None:
        if action in self.buttons:
            raise ValueError(f"two handlers for the button action {action!r}")
        self.buttons[action] = handler

    def on_submit(self, action: str, handler: SubmitHandler) -> None:
        if action in self.forms:
            raise ValueError(f"two handlers for the form action {action!r}")
        self.forms[action] = handler

    async def click(self, interaction: discord.Interaction, action: str, target: str) -> None:
        if not self.seen.first_time(interaction.id):
            return  # the same click delivered again: answered already
        if self.languages is not None:
            await self.languages.enter(interaction)
        handler = self.buttons.get(action)
        if handler is None:
            await self.funnel.reply(
                interaction, _("This button no longer does anything; run the command again.")
            )
            return
        await self.funnel.guard(interaction, lambda: handler(interaction, target))

    async def submit(self, interaction: discord.Interaction) -> bool:
        """Answer a form submission; False when it is not one of ours."""
        data: dict[str, Any] = dict(interaction.data or {})
        match = CUSTOM_ID.fullmatch(str(data.get("custom_id", "")))
        if match is None:
            return False
        if not self.seen.first_time(interaction.id):
            return True  # the same submission delivered again: answered already
        if self.languages is not None:
            await self.languages.enter(interaction)
        handler = self.forms.get(match["action"])
        if handler is None:
            await self.funnel.reply(
                interaction, _("This form no longer does anything; run the command again.")
            )
            return True
        values = form_values(data)
        await self.funnel.guard(interaction, lambda: handler(interaction, match["target"], values))
        return True
