"""Running the deployment: /status (server admins) and /queue (members see their jobs; operators
pause, resume or drain the queue for maintenance).

Maintenance is deployment-wide, so pausing and draining are for the operators named in
``REELBOT_OPERATOR_IDS``, asked of the access policy when the command runs. While the queue is
paused or draining, new requests are refused with the operator's reason; paused workers start
nothing new (running jobs finish), draining workers empty the queue.
"""

from __future__ import annotations

import discord
from discord import app_commands
from discord.ext import commands

from bot.access import AccessPolicy, member_of
from bot.audit import AuditLog
from bot.fmt import MAX_CONTENT, relative
from bot.i18n import _
from bot.jobs import JobBook
from bot.observability import oldest_wait
from inference.contract import JobStatus, ModelId
from inference.jobqueue import JobQueue


def maintenance_line(state: dict[str, str]) -> str:
    """What members are told while the queue is under maintenance ("" when it is not)."""
    if not state:
        return ""
    reason = state.get("reason")
    if state.get("mode") == "paused":
        if reason:
            return _("Reelbot's queue is paused for maintenance: {reason}", reason=reason)
        return _("Reelbot's queue is paused for maintenance.")
    if reason:
        return _("Reelbot's queue is being drained for maintenance: {reason}", reason=reason)
    return _("Reelbot's queue is being drained for maintenance.")


class OperationsCog(commands.Cog, name="operations"):
    """The queue and the deployment's state."""

    queue_group = app_commands.Group(name="queue", description="The video queue", guild_only=True)

    def __init__(self, *, access: AccessPolicy, queue: JobQueue, jobs: JobBook, audit: AuditLog) -> None:
        self.access, self.queue, self.jobs, self.audit = access, queue, jobs, audit

    @queue_group.command(name="show")
    async def queue_show(self, interaction: discord.Interaction) -> None:
        """Your videos in the queue, and how busy this server's queue is."""
        await interaction.response.defer(ephemeral=True, thinking=True)
        member = self.access.in_guild(member_of(interaction))
        mine = await self.jobs.member_jobs(member.guild_id, member.user_id)
        waiting = await self.queue.guild_depth(member.guild_id)
        if waiting == 1:
            lines = [_("This server has {count} video waiting.", count=waiting)]
        else:
            lines = [_("This server has {count} videos waiting.", count=waiting)]
        notice = maintenance_line(await self.queue.maintenance())
        if notice:
            lines.append(notice)
        if not mine:
            lines.append(_("You have nothing queued. Start one with /video."))
        for job, position in mine:
            if job.status is JobStatus.RUNNING:
                lines.append(_("• `{job}` ({model}) is rendering now.", job=job.id, model=job.spec.model))
            elif position is not None and position.eta:
                lines.append(
                    _(
                        "• `{job}` ({model}): {ahead} ahead, expected to start {when}.",
                        job=job.id,
                        model=job.spec.model,
                        ahead=position.ahead,
                        when=relative(position.eta),
                    )
                )
            elif position is not None:
                lines.append(
                    _(
                        "• `{job}` ({model}): {ahead} ahead.",
                        job=job.id,
                        model=job.spec.model,
                        ahead=position.ahead,
                    )
                )
        await interaction.followup.send("\n".join(lines)[:MAX_CONTENT], ephemeral=True)

    @queue_group.command(name="pause")
    @app_commands.describe(reason="Why (members see it when they ask for a video)")
    async def queue_pause(
        self, interaction: discord.Interaction, reason: app_commands.Range[str, 1, 200]
    ) -> None:
        """Operators: start nothing new (running videos finish) and refuse new requests."""
        await self._set(interaction, "paused", reason)

    @queue_group.command(name="drain")
    @app_commands.describe(reason="Why (members see it when they ask for a video)")
    async def queue_drain(
        self, interaction: discord.Interaction, reason: app_commands.Range[str, 1, 200]
    ) -> None:
        """Operators: finish what is queued but take nothing new (before an upgrade)."""
        await self._set(interaction, "draining", reason)

    @queue_group.command(name="resume")
    async def queue_resume(self, interaction: discord.Interaction) -> None:
        """Operators: take requests and start videos again."""
        await self._set(interaction, None, "")

    @app_commands.command(name="status")
    @app_commands.guild_only()
    @app_commands.default_permissions(manage_guild=True)
    async def status(self, interaction: discord.Interaction) -> None:
        """Workers, models, queue depth and the oldest wait (server admins)."""
        await interaction.response.defer(ephemeral=True, thinking=True)
        member = member_of(interaction)
        self.access.admin_or_operator(member, "/status")
        await interaction.followup.send(await self.status_text(member.guild_id), ephemeral=True)

    async def _set(self, interaction: discord.Interaction, mode: str | None, reason: str) -> None:
        await interaction.response.defer(ephemeral=True, thinking=True)
        member = member_of(interaction)
        self.access.operator(member)
        await self.queue.set_maintenance(mode, reason, member.user_id)
        await self.audit.record(member.guild_id, "maintenance", member.user_id, mode or "resumed", reason)
        if mode is None:
            text = _("The queue runs again: new requests are taken and workers start videos.")
        elif mode == "paused":
            text = _(
                "Paused ({reason}). Running videos finish; nothing new starts; new requests are refused.",
                reason=reason,
            )
        else:
            depth = (await self.queue.depth()).get("all", 0)
            text = _(
                "Draining ({reason}): {depth} queued video(s) will still be made; new requests are refused.",
                reason=reason,
                depth=depth,
            )
        await interaction.followup.send(text, ephemeral=True)

    async def status_text(self, guild_id: str) -> str:
        """The /status report."""
        lines = [_("**Reelbot status**")]
        notice = maintenance_line(await self.queue.maintenance())
        lines.append(notice or _("Queue: running."))
        loaded, total = [], 0
        for model in ModelId:
            stats = await self.queue.lane_stats(model.value)
            total += stats.depth
            if stats.workers:
                loaded.append(model.value)
            if stats.workers or stats.depth:
                wait = await oldest_wait(self.queue, model.value) if stats.depth else 0.0
                here = await self.queue.guild_depth(guild_id, model.value)
                lines.append(
                    _(
                        "• `{model}`: {workers} worker(s), {depth} waiting ({here} from this server), "
                        "oldest waiting {wait}",
                        model=model.value,
                        workers=stats.workers,
                        depth=stats.depth,
                        here=here,
                        wait=_duration(wait),
                    )
                )
        if loaded:
            models = ", ".join(f"`{m}`" for m in loaded)
            lines.insert(2, _("Models loaded: {models}", models=models))
        else:
            lines.insert(2, _("Models loaded: none (no worker is up)"))
        running = await self.queue.running()
        lines.insert(3, _("Waiting in all: {total}; rendering now: {running}", total=total, running=running))
        return "\n".join(lines)[:MAX_CONTENT]


def _duration(seconds: float) -> str:
    if seconds < 90:
        return _("{seconds:.0f} s", seconds=seconds)
    if seconds < 5400:
        return _("{minutes:.0f} min", minutes=seconds / 60)
    return _("{hours:.1f} h", hours=seconds / 3600)
