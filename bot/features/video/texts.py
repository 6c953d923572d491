"""What the video feature says: status lines, progress bars, the clip card. Pure functions, no I/O."""

from __future__ import annotations

import discord

from bot.enhance import Enhancement
from bot.fmt import clip_text, relative
from bot.jobs import ClipState, JobNotes
from inference.contract import ClipResult, JobRecord
from inference.jobqueue import Position

BAR_WIDTH = 20
_EMBED_COLOUR = 0x5865F2


def progress_bar(step: int, total: int) -> str:
    """``[████████░░░░░░░░░░░░] 40%`` for step/total."""
    total = max(total, 1)
    filled = round(BAR_WIDTH * min(step, total) / total)
    return f"`[{'█' * filled}{'░' * (BAR_WIDTH - filled)}]` {100 * min(step, total) // total}%"


def queued_line(job: JobRecord, position: Position | None) -> str:
    """The status message while a job waits."""
    who = f"<@{job.user_id}>"
    if position is None:
        return f"⏳ {who} your video `{job.id}` is queued."
    place = "next in line" if position.ahead == 0 else f"{position.ahead} ahead of it"
    if position.eta is None or position.workers == 0:
        eta = "no worker for this model is online right now; it will start when one is"
    else:
        eta = f"expected to start {relative(position.eta)}"
    return f"⏳ {who} your video `{job.id}` ({job.spec.model}) is queued: {place}, {eta}."


def rendering_line(job: JobRecord, step: int, total: int) -> str:
    """The status message while a job renders."""
    bar = progress_bar(step, total)
    return f"🎬 <@{job.user_id}> rendering `{job.id}` ({job.spec.model}): step {step}/{total} {bar}"


def started_line(job: JobRecord) -> str:
    return f"🎬 <@{job.user_id}> rendering `{job.id}` ({job.spec.model}): starting..."


def requeued_line(job: JobRecord) -> str:
    return f"⏳ <@{job.user_id}> your video `{job.id}` went back in the queue (a worker stopped)."


def held_line(job: JobRecord) -> str:
    """The status message while a moderator looks at the finished clip."""
    return f"🔎 <@{job.user_id}> your video `{job.id}` is ready and waits for a moderator's approval."


def finished_line(job: JobRecord, clip_url: str | None) -> str:
    link = f": {clip_url}" if clip_url else "."
    return f"✅ <@{job.user_id}> your video `{job.id}` is ready{link}"


def failed_line(job: JobRecord, reason: str) -> str:
    return clip_text(f"❌ <@{job.user_id}> your video `{job.id}` could not be made: {reason}")


def not_posted_line(job: JobRecord, reason: str) -> str:
    """The status message of a clip that was made but will not be posted."""
    return clip_text(f"❌ <@{job.user_id}> your video `{job.id}` was made but will not be posted: {reason}")


def cancelled_line(job: JobRecord) -> str:
    return f"🚫 <@{job.user_id}> your video `{job.id}` was cancelled."


def deleted_line(job: JobRecord) -> str:
    """The status message once the clip was deleted."""
    return f"🗑️ <@{job.user_id}> the clip of `{job.id}` was deleted."


def not_served_line(job: JobRecord, notes: JobNotes) -> str:
    """What /job says about a finished clip that is not (or not yet) shown to members."""
    state = notes.clip_state
    if state is ClipState.DELETED:
        by = f" by <@{notes.deleted_by}>" if notes.deleted_by else ""
        return f"The clip of `{job.id}` was deleted{by}; it is no longer kept."
    if state is ClipState.REJECTED:
        return f"A moderator did not approve the clip of `{job.id}`; it is not kept."
    if state is ClipState.UNDELIVERABLE:
        return clip_text(f"The clip of `{job.id}` could not be posted: {notes.failed}.")
    if state is ClipState.REFUSED:
        why = f": {notes.failed}" if notes.failed else "."
        return clip_text(f"The clip of `{job.id}` was not posted{why} It is not kept.")
    if state is ClipState.HELD:
        return f"The clip of `{job.id}` waits for a moderator's approval."
    return f"The clip of `{job.id}` is being posted in <#{job.channel_id}>; look there in a moment."


def enhancement_lines(enhancement: Enhancement) -> str:
    """The private reply's lines about the prompt: the enhanced text, or why it is the member's."""
    if not enhancement.enhanced:
        return f"\n{enhancement.note}" if enhancement.note else ""
    shortened = " (shortened to fit the model)" if enhancement.shortened else ""
    return f"\n**Enhanced prompt**{shortened}:\n> {clip_text(enhancement.prompt, 1500)}"


def clip_embed(job: JobRecord, clip: ClipResult, notes: JobNotes | None = None) -> discord.Embed:
    """The card under a finished clip: what was used, so Re-roll and Extend can repeat it: prompt,
    model, seed, length (frames and fps, smoothed or not), size and shape, which take, which clip
    it extends, render time, job id."""
    embed = discord.Embed(description=clip_text(clip.prompt or job.spec.prompt, 4000), colour=_EMBED_COLOUR)
    if job.spec.original_prompt and job.spec.original_prompt != clip.prompt:
        embed.title = "Enhanced prompt"
        embed.add_field(name="Your words", value=clip_text(job.spec.original_prompt, 1000), inline=False)
    embed.add_field(name="Model", value=clip.model)
    embed.add_field(name="Seed", value=str(clip.seed))
    seconds = clip.frames / clip.fps if clip.fps else 0.0
    embed.add_field(name="Length", value=f"{seconds:.1f} s ({clip.frames} frames at {clip.fps:g} fps)")
    shape = "portrait" if clip.height > clip.width else "square" if clip.height == clip.width else "landscape"
    embed.add_field(name="Size", value=f"{clip.width}x{clip.height} ({shape})")
    if job.spec.fps:
        embed.add_field(name="Motion", value=f"smoothed to {job.spec.fps} fps")
    if notes is not None and notes.take:
        number, _, total = notes.take.partition("/")
        embed.add_field(name="Take", value=f"{number} of {total}")
    if notes is not None and notes.extends:
        embed.add_field(name="Extends", value=f"`{notes.extends}` (joined: this clip includes it)")
    embed.add_field(name="Render time", value=f"{clip.render_seconds:.0f} s")
    if clip.prompt_shortened:
        embed.add_field(name="Note", value="The prompt was shortened to fit the model.", inline=False)
    embed.set_footer(text=f"job {job.id}")
    return embed
