"""Every way into the bot goes through the access policy, and every way that asks for a video goes
through the request pipeline.

The table below lists each slash command, autocomplete, button and form the bot answers, with
the access check it must make and whether it must hand a request to the pipeline. The test
first compares the table with what the running bot registers, so a new entry point that is not
in the table fails here; then it drives each one through the Discord double as a member who may
or may not be allowed, and watches the access policy and the pipeline of the running bot.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import Any

import pytest
from discord import app_commands

from tests.bot_box import Box, answered, moderated, reply_text, review_message

pytestmark = pytest.mark.timeout(300)

#: entry point -> (the access check it must make, whether it hands a request to the pipeline)
ENTRY_POINTS: dict[str, tuple[str, bool]] = {
    "/video": ("in_guild", True),
    "/video model autocomplete": ("in_guild", False),
    "/video length autocomplete": ("in_guild", False),
    "/video shape autocomplete": ("in_guild", False),
    "/limits": ("in_guild", False),
    "/cancel": ("job", False),
    "/job": ("job", False),
    "/queue show": ("in_guild", False),
    "/queue pause": ("operator", False),
    "/queue drain": ("operator", False),
    "/queue resume": ("operator", False),
    "/status": ("admin_or_operator", False),
    "/settings show": ("server_admin", False),
    "/settings limits": ("server_admin", False),
    "/settings enhance": ("server_admin", False),
    "/settings language": ("server_admin", False),
    "/settings moderation": ("server_admin", False),
    "/settings words": ("server_admin", False),
    "/settings channels": ("server_admin", False),
    "/settings tier": ("server_admin", False),
    "/settings untier": ("server_admin", False),
    "/blocklist add": ("moderator", False),
    "/blocklist remove": ("moderator", False),
    "/blocklist show": ("moderator", False),
    "button cancel": ("job", False),
    "button reroll": ("job", True),
    "button remix": ("job", False),
    "form remix-form": ("job", True),
    "button extend": ("job", False),
    "form extend-form": ("job", True),
    "button delete": ("job", False),
    "button gif": ("job", False),
    "button draft-go": ("draft", True),
    "button draft-orig": ("draft", True),
    "button draft-edit": ("draft", False),
    "form draft-form": ("draft", True),
    # drafts shown before drafts had their own name still answer
    "button review-go": ("draft", True),
    "button review-orig": ("draft", True),
    "button review-edit": ("draft", False),
    "form review-form": ("draft", True),
    "button approve": ("approval", True),
    "button reject": ("approval", False),
    "form reject-form": ("approval", False),
    "button appeal": ("appeal", False),
    "/history": ("history", False),
    "button history": ("history", False),
}

ACCESS_CHECKS = ("in_guild", "job", "approval", "appeal", "draft", "moderator", "server_admin", "operator",
                 "admin_or_operator", "history")  # fmt: skip


def registered(box: Box) -> set[str]:
    """Every entry point the running bot answers."""
    assert box.bot is not None
    found: set[str] = set()
    for command in box.bot.tree.walk_commands():
        if isinstance(command, app_commands.Command):
            found.add(f"/{command.qualified_name}")
            found |= {
                f"/{command.qualified_name} {p.name} autocomplete"
                for p in command.parameters
                if p.autocomplete
            }
    found |= {f"button {action}" for action in box.bot.router.buttons}
    found |= {f"form {action}" for action in box.bot.router.forms}
    return found


class Spy:
    """Records which access checks and pipeline runs the bot made."""

    def __init__(self, box: Box) -> None:
        self.calls: list[str] = []
        access, pipeline = box.parts.access, box.parts.pipeline
        for name in ACCESS_CHECKS:
            setattr(access, name, self._wrap(name, getattr(access, name)))
        pipeline.run = self._wrap("pipeline", pipeline.run)  # type: ignore[method-assign]

    def _wrap(self, name: str, method: Callable[..., Any]) -> Callable[..., Any]:
        def call(*args: Any, **kwargs: Any) -> Any:
            self.calls.append(name)
            return method(*args, **kwargs)

        return call


def settled(interaction: Any) -> bool:
    """The bot answered: a message, a form, choices, or a deferral followed by a message."""
    if not interaction.responses:
        return False
    return interaction.responses[0]["type"] != 5 or bool(interaction.followups)


async def test_every_entry_point_goes_through_the_access_policy_and_requests_through_the_pipeline(
    box: Box,
) -> None:
    assert registered(box) == set(ENTRY_POINTS), "add the new entry point to ENTRY_POINTS with its checks"

    # things to act on: a clip, a held request, and an appealable refusal (drafts are made per use)
    assert "Changed" in await box.ask(box.admin, "settings limits", rate=0, active=0)
    review = await moderated(box, before_generation="flagged")
    clip_job = (await answered(box, await box.video(prompt="a paper boat"))).split("`")[1]
    await box.clip_message(clip_job, 90)
    held = (await answered(box, await box.video(box.other, prompt="a nude statue"))).split("`")[1]
    await review_message(box, review)
    refusal = await box.video(box.other, prompt="a porn set")
    await answered(box, refusal)
    appeal = refusal.followups[0].components[0]["components"][0]["custom_id"].split(":")[-1]

    targets = {"job": clip_job, "approval": f"r{held}", "appeal": appeal, "history": f"{box.member}p1"}
    spy = Spy(box)
    for entry, (check, through_pipeline) in ENTRY_POINTS.items():
        kind, _, action = entry.partition(" ")
        if kind in ("button", "form") and TARGET.get(action, "draft") == "draft":
            targets["draft"] = await new_draft(box)  # a draft is used up by deciding it
        spy.calls.clear()
        interaction = await trigger(box, entry, targets)
        await box.double.wait_for(lambda i=interaction: settled(i), 30)
        if through_pipeline:
            # a button answered with a deferred update (type 6) settles before the pipeline runs
            with contextlib.suppress(TimeoutError):  # the assertion below says what was missing
                await box.double.wait_for(lambda: "pipeline" in spy.calls, 30)
        assert check in spy.calls, f"{entry} did not ask the access policy ({check}): {spy.calls}"
        if through_pipeline:
            assert "pipeline" in spy.calls, f"{entry} did not hand its request to the pipeline: {spy.calls}"
        else:
            assert "pipeline" not in spy.calls, f"{entry} ran the pipeline: {spy.calls}"
    assert box.double.violations == []


async def trigger(box: Box, entry: str, targets: dict[str, str]) -> Any:
    """Drive one entry point as a member who is allowed to use it (where it makes a video)."""
    kind, _, rest = entry.partition(" ")
    if kind == "button" or kind == "form":
        return await _component(box, kind, rest, targets)
    if entry.endswith("autocomplete"):
        name, option, _ = entry.removeprefix("/").split(" ")
        return await box.double.autocomplete(box.guild, box.channel, box.member, name, {option: ""}, option)
    name = entry.removeprefix("/")
    options = COMMAND_OPTIONS.get(name, lambda b, t: {})(box, targets)
    return await box.double.slash(box.guild, box.channel, box.member, name, options)


async def new_draft(box: Box) -> str:
    """A fresh prompt draft of the member's (enhancement is unavailable: the draft is their words)."""
    drafted = await box.video(prompt="a paper plane", enhance="review")
    await answered(box, drafted)
    assert drafted.followups[0].embeds, reply_text(drafted)
    return str(drafted.id)


COMMAND_OPTIONS: dict[str, Callable[[Box, dict[str, str]], dict[str, Any]]] = {
    "video": lambda b, t: {"prompt": "a tin robot"},
    "cancel": lambda b, t: {"job": t["job"]},
    "job": lambda b, t: {"id": t["job"]},
    "queue pause": lambda b, t: {"reason": "test"},
    "queue drain": lambda b, t: {"reason": "test"},
    "settings tier": lambda b, t: {"role": b.double.add_role(b.guild, "patrons")},
    "settings untier": lambda b, t: {"role": b.double.add_role(b.guild, "old patrons")},
    "blocklist add": lambda b, t: {"member": b.other, "reason": "test"},
    "blocklist remove": lambda b, t: {"member": b.other},
}

#: who presses each button (the member a draft or appeal belongs to, a moderator for approvals)
PRESSER = {
    "draft": "member",
    "approval": "moderator",
    "appeal": "other",
    "job": "member",
    "history": "member",
}
TARGET = {
    "cancel": "job", "reroll": "job", "remix": "job", "remix-form": "job", "delete": "job", "gif": "job",
    "extend": "job", "extend-form": "job",
    "approve": "approval", "reject": "approval", "reject-form": "approval", "appeal": "appeal",
    "history": "history",
}  # fmt: skip


async def _component(box: Box, kind: str, action: str, targets: dict[str, str]) -> Any:
    about = TARGET.get(action, "draft")
    target = targets[about]
    user = getattr(box, PRESSER[about])
    if kind == "form":
        field = "reason" if action == "reject-form" else "prompt"
        return await box.double.submit_modal(
            box.channel, f"reelbot:{action}:{target}", {field: "a paper kite"}, user, box.guild
        )
    # a message the bot sent with this button (a card posted before an upgrade, for old names)
    message = box.double.world.new_message(
        box.channel,
        box.double.world.bot_user_id,
        content="",
        components=[{"type": 1, "components": [
            {"type": 2, "style": 2, "label": action, "custom_id": f"reelbot:{action}:{target}"}
        ]}],
    )  # fmt: skip
    return await box.double.click(box.channel, message.id, f"reelbot:{action}:{target}", user)
