"""What the video feature says: status lines, progress bars, the clip card. Pure functions, no I/O."""

from __future__ import annotations

import discord

from bot.enhance import Enhancement
from bot.fmt import clip_text, relative
from bot.i18n import N_, _
from bot.jobs import ClipState, JobNotes
from inference.contract import ClipResult, JobRecord, JobStatus
from inference.jobqueue import Position

BAR_WIDTH = 20
_EMBED_COLOUR = 0x5865F2


def progress_bar(step: int, total: int) -> str:
    """``[████████░░░░░░░░░░░░] 40%`` for step/total."""
    total = max(total, 1)
    filled = round(BAR_WIDTH * min(step, total) / total)
    return f"`[{'█' * filled}{'░' * (BAR_WIDTH - filled)}]` {100 * min(step, total) // total}%"


#: a job's status, as members read it ("Job `x` is running", "has already failed")
STATUS_WORDS = {
    JobStatus.QUEUED.value: N_("queued"),
    JobStatus.RUNNING.value: N_("running"),
    JobStatus.SUCCEEDED.value: N_("succeeded"),
    JobStatus.FAILED.value: N_("failed"),
    JobStatus.CANCELLED.value: N_("cancelled"),
}


def status_word(status: str) -> str:
    """A job status (or a queue's answer that is one), in the language of the moment."""
    word = STATUS_WORDS.get(str(status))
    return _(word) if word is not None else status


def queued_line(job: JobRecord, position: Position | None) -> str:
    """The status message while a job waits."""
    user, model = job.user_id, job.spec.model
    if position is None:
        return _("⏳ <@{user}> your video `{job}` is queued.", user=user, job=job.id)
    waiting = position.eta is None or position.workers == 0
    if position.ahead == 0 and waiting:
        return _(
            "⏳ <@{user}> your video `{job}` ({model}) is queued: next in line, "
            "no worker for this model is online right now; it will start when one is.",
            user=user,
            job=job.id,
            model=model,
        )
    if position.ahead == 0:
        return _(
            "⏳ <@{user}> your video `{job}` ({model}) is queued: next in line, expected to start {when}.",
            user=user,
            job=job.id,
            model=model,
            when=relative(position.eta or 0),
        )
    if waiting:
        return _(
            "⏳ <@{user}> your video `{job}` ({model}) is queued: {ahead} ahead of it, "
            "no worker for this model is online right now; it will start when one is.",
            user=user,
            job=job.id,
            model=model,
            ahead=position.ahead,
        )
    return _(
        "⏳ <@{user}> your video `{job}` ({model}) is queued: {ahead} ahead of it, expected to start {when}.",
        user=user,
        job=job.id,
        model=model,
        ahead=position.ahead,
        when=relative(position.eta or 0),
    )


def rendering_line(job: JobRecord, step: int, total: int) -> str:
    """The status message while a job renders."""
    return _(
        "🎬 <@{user}> rendering `{job}` ({model}): step {step}/{total} {bar}",
        user=job.user_id,
        job=job.id,
        model=job.spec.model,
        step=step,
        total=total,
        bar=progress_bar(step, total),
    )


def started_line(job: JobRecord) -> str:
    return _(
        "🎬 <@{user}> rendering `{job}` ({model}): starting...",
        user=job.user_id,
        job=job.id,
        model=job.spec.model,
    )


def requeued_line(job: JobRecord) -> str:
    return _(
        "⏳ <@{user}> your video `{job}` went back in the queue (a worker stopped).",
        user=job.user_id,
        job=job.id,
    )


def held_line(job: JobRecord) -> str:
    """The status message while a moderator looks at the finished clip."""
    return _(
        "🔎 <@{user}> your video `{job}` is ready and waits for a moderator's approval.",
        user=job.user_id,
        job=job.id,
    )


def finished_line(job: JobRecord, clip_url: str | None) -> str:
    if clip_url:
        return _(
            "✅ <@{user}> your video `{job}` is ready: {url}", user=job.user_id, job=job.id, url=clip_url
        )
    return _("✅ <@{user}> your video `{job}` is ready.", user=job.user_id, job=job.id)


def failed_line(job: JobRecord, reason: str) -> str:
    return clip_text(
        _(
            "❌ <@{user}> your video `{job}` could not be made: {reason}",
            user=job.user_id,
            job=job.id,
            reason=reason,
        )
    )


def not_posted_line(job: JobRecord, reason: str) -> str:
    """The status message of a clip that was made but will not be posted."""
    return clip_text(
        _(
            "❌ <@{user}> your video `{job}` was made but will not be posted: {reason}",
            user=job.user_id,
            job=job.id,
            reason=reason,
        )
    )


def cancelled_line(job: JobRecord) -> str:
    return _("🚫 <@{user}> your video `{job}` was cancelled.", user=job.user_id, job=job.id)


def deleted_line(job: JobRecord) -> str:
    """The status message once the clip was deleted."""
    return _("🗑️ <@{user}> the clip of `{job}` was deleted.", user=job.user_id, job=job.id)


def not_served_line(job: JobRecord, notes: JobNotes) -> str:
    """What /job says about a finished clip that is not (or not yet) shown to members."""
    state = notes.clip_state
    if state is ClipState.DELETED:
        if notes.deleted_by:
            return _(
                "The clip of `{job}` was deleted by <@{user}>; it is no longer kept.",
                job=job.id,
                user=notes.deleted_by,
            )
        return _("The clip of `{job}` was deleted; it is no longer kept.", job=job.id)
    if state is ClipState.REJECTED:
        return _("A moderator did not approve the clip of `{job}`; it is not kept.", job=job.id)
    if state is ClipState.UNDELIVERABLE:
        return clip_text(
            _("The clip of `{job}` could not be posted: {reason}.", job=job.id, reason=notes.failed)
        )
    if state is ClipState.REFUSED:
        if notes.failed:
            # the reason is a clause without a full stop, and the text has never added one
            return clip_text(
                _(
                    "The clip of `{job}` was not posted: {reason} It is not kept.",
                    job=job.id,
                    reason=notes.failed,
                )
            )
        return _("The clip of `{job}` was not posted. It is not kept.", job=job.id)
    if state is ClipState.HELD:
        return _("The clip of `{job}` waits for a moderator's approval.", job=job.id)
    return _(
        "The clip of `{job}` is being posted in <#{channel}>; look there in a moment.",
        job=job.id,
        channel=job.channel_id,
    )


def enhancement_lines(enhancement: Enhancement) -> str:
    """The private reply's lines about the prompt: the enhanced text, or why it is the member's."""
    if not enhancement.enhanced:
        return f"\n{enhancement.note}" if enhancement.note else ""
    if enhancement.translated_from:
        title = _("**In English for the video model**:")
    elif enhancement.shortened:
        title = _("**Enhanced prompt** (shortened to fit the model):")
    else:
        title = _("**Enhanced prompt**:")
    lines = f"\n{title}\n> {clip_text(enhancement.prompt, 1500)}"
    if enhancement.summary:  # the English prompt, summed up in the member's language
        lines += "\n" + _("In short: {summary}", summary=clip_text(enhancement.summary, 300))
    return lines


def shape_of(width: int, height: int) -> str:
    """``portrait``, ``square`` or ``landscape``, in the language of the moment."""
    if height > width:
        return _("portrait")
    return _("square") if height == width else _("landscape")


def clip_embed(job: JobRecord, clip: ClipResult, notes: JobNotes | None = None) -> discord.Embed:
    """The card under a finished clip: what was used, so Re-roll and Extend can repeat it: prompt,
    model, seed, length (frames and fps, smoothed or not), size and shape, which take, which clip
    it extends, render time, job id."""
    embed = discord.Embed(description=clip_text(clip.prompt or job.spec.prompt, 4000), colour=_EMBED_COLOUR)
    if job.spec.original_prompt and job.spec.original_prompt != clip.prompt:
        translated = notes is not None and notes.translated
        embed.title = _("Prompt translated into English") if translated else _("Enhanced prompt")
        embed.add_field(name=_("Your words"), value=clip_text(job.spec.original_prompt, 1000), inline=False)
    embed.add_field(name=_("Model"), value=clip.model)
    embed.add_field(name=_("Seed"), value=str(clip.seed))
    seconds = clip.frames / clip.fps if clip.fps else 0.0
    embed.add_field(
        name=_("Length"),
        value=_(
            "{seconds:.1f} s ({frames} frames at {fps:g} fps)",
            seconds=seconds,
            frames=clip.frames,
            fps=clip.fps,
        ),
    )
    embed.add_field(
        name=_("Size"),
        value=f"{clip.width}x{clip.height} ({shape_of(clip.width, clip.height)})",
    )
    if job.spec.fps:
        embed.add_field(name=_("Motion"), value=_("smoothed to {fps} fps", fps=job.spec.fps))
    if notes is not None and notes.take:
        number, _sep, total = notes.take.partition("/")
        embed.add_field(name=_("Take"), value=_("{number} of {total}", number=number, total=total))
    if notes is not None and notes.extends:
        embed.add_field(
            name=_("Extends"), value=_("`{job}` (joined: this clip includes it)", job=notes.extends)
        )
    embed.add_field(name=_("Render time"), value=_("{seconds:.0f} s", seconds=clip.render_seconds))
    if clip.prompt_shortened:
        embed.add_field(name=_("Note"), value=_("The prompt was shortened to fit the model."), inline=False)
    embed.set_footer(text=_("job {job}", job=job.id))
    return embed
