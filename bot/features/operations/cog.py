"""Commands for running the deployment: /status (server admins) and /queue (members see their jobs;
operators pause, resume or drain the queue for maintenance).

Maintenance is deployment-wide, so pausing and draining are for the operators named in
``REELBOT_OPERATOR_IDS``, checked when the command runs. While the queue is paused or draining,
new requests are refused with the operator's reason; paused workers start nothing new (running
jobs finish), draining workers empty the queue.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import discord
from discord import app_commands

from bot.errors import UserFacingError
from bot.messages import MAX_CONTENT, relative
from bot.observability import oldest_wait
from inference.contract import JobStatus, ModelId

if TYPE_CHECKING:
    from bot.app import ReelBot


def _bot(interaction: discord.Interaction) -> ReelBot:
    return interaction.client  # type: ignore[return-value]


def _require_operator(interaction: discord.Interaction) -> None:
    operators = _bot(interaction).settings.operator_ids
    if not operators:
        raise UserFacingError(
            "No operators are set up for this Reelbot: its host lists their Discord user ids in "
            "REELBOT_OPERATOR_IDS."
        )
    if str(interaction.user.id) not in operators:
        raise UserFacingError("Pausing, resuming and draining the queue is for this Reelbot's operators.")


def maintenance_line(state: dict[str, str]) -> str:
    """What members are told while the queue is under maintenance ("" when it is not)."""
    if not state:
        return ""
    reason = f": {state['reason']}" if state.get("reason") else "."
    what = "paused" if state.get("mode") == "paused" else "being drained"
    return f"Reelbot's queue is {what} for maintenance{reason}"


queue = app_commands.Group(name="queue", description="The video queue", guild_only=True)


@queue.command(name="show")
async def queue_show(interaction: discord.Interaction) -> None:
    """Your videos in the queue, and how busy this server's queue is."""
    await interaction.response.defer(ephemeral=True, thinking=True)
    bot = _bot(interaction)
    mine = await bot.service.member_jobs(str(interaction.guild_id), str(interaction.user.id))
    waiting = await bot.service.queue.guild_depth(str(interaction.guild_id))
    lines = [f"This server has {waiting} video{'s' if waiting != 1 else ''} waiting."]
    notice = maintenance_line(await bot.service.queue.maintenance())
    if notice:
        lines.append(notice)
    if not mine:
        lines.append("You have nothing queued. Start one with /video.")
    for job, position in mine:
        if job.status is JobStatus.RUNNING:
            lines.append(f"• `{job.id}` ({job.spec.model}) is rendering now.")
        elif position is not None:
            eta = f", expected to start {relative(position.eta)}" if position.eta else ""
            lines.append(f"• `{job.id}` ({job.spec.model}): {position.ahead} ahead{eta}.")
    await interaction.followup.send("\n".join(lines)[:MAX_CONTENT], ephemeral=True)


@queue.command(name="pause")
@app_commands.describe(reason="Why (members see it when they ask for a video)")
async def queue_pause(interaction: discord.Interaction, reason: app_commands.Range[str, 1, 200]) -> None:
    """Operators: start nothing new (running videos finish) and refuse new requests."""
    await _set(interaction, "paused", reason)


@queue.command(name="drain")
@app_commands.describe(reason="Why (members see it when they ask for a video)")
async def queue_drain(interaction: discord.Interaction, reason: app_commands.Range[str, 1, 200]) -> None:
    """Operators: finish what is queued but take nothing new (before an upgrade)."""
    await _set(interaction, "draining", reason)


@queue.command(name="resume")
async def queue_resume(interaction: discord.Interaction) -> None:
    """Operators: take requests and start videos again."""
    await _set(interaction, None, "")


async def _set(interaction: discord.Interaction, mode: str | None, reason: str) -> None:
    await interaction.response.defer(ephemeral=True, thinking=True)
    _require_operator(interaction)
    bot = _bot(interaction)
    await bot.service.queue.set_maintenance(mode, reason, str(interaction.user.id))
    await bot.service.limits.audit.record(
        str(interaction.guild_id), "maintenance", str(interaction.user.id), mode or "resumed", reason
    )
    if mode is None:
        text = "The queue runs again: new requests are taken and workers start videos."
    elif mode == "paused":
        text = f"Paused ({reason}). Running videos finish; nothing new starts; new requests are refused."
    else:
        depth = (await bot.service.queue.depth()).get("all", 0)
        text = f"Draining ({reason}): {depth} queued video(s) will still be made; new requests are refused."
    await interaction.followup.send(text, ephemeral=True)


@app_commands.command(name="status")
@app_commands.guild_only()
@app_commands.default_permissions(manage_guild=True)
async def status(interaction: discord.Interaction) -> None:
    """Workers, models, queue depth and the oldest wait (server admins)."""
    await interaction.response.defer(ephemeral=True, thinking=True)
    permissions = interaction.permissions
    bot = _bot(interaction)
    if not (permissions.manage_guild or permissions.administrator) and (
        str(interaction.user.id) not in bot.settings.operator_ids
    ):
        raise UserFacingError("/status needs the Manage Server permission.")
    await interaction.followup.send(await status_text(bot, str(interaction.guild_id)), ephemeral=True)


async def status_text(bot: ReelBot, guild_id: str) -> str:
    """The /status report."""
    queue_ = bot.service.queue
    lines = ["**Reelbot status**"]
    notice = maintenance_line(await queue_.maintenance())
    lines.append(notice or "Queue: running.")
    loaded, total = [], 0
    for model in ModelId:
        stats = await queue_.lane_stats(model.value)
        total += stats.depth
        if stats.workers:
            loaded.append(model.value)
        if stats.workers or stats.depth:
            wait = await oldest_wait(queue_, model.value) if stats.depth else 0.0
            here = await queue_.guild_depth(guild_id, model.value)
            lines.append(
                f"• `{model.value}`: {stats.workers} worker(s), {stats.depth} waiting ({here} from this "
                f"server), oldest waiting {_duration(wait)}"
            )
    lines.insert(2, f"Models loaded: {', '.join(f'`{m}`' for m in loaded) or 'none (no worker is up)'}")
    lines.insert(3, f"Waiting in all: {total}; rendering now: {await queue_.running()}")
    return "\n".join(lines)[:MAX_CONTENT]


def _duration(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


COMMANDS: tuple[app_commands.Command[Any, ..., None], ...] = (status,)
GROUPS: tuple[app_commands.Group, ...] = (queue,)
