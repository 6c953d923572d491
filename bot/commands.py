"""The slash commands: /video, /limits, /cancel, /job. Thin: parse, defer, call the service, reply."""

from __future__ import annotations

import io
import logging
import secrets
from typing import TYPE_CHECKING, Any, Literal

import discord
from discord import app_commands

from bot.attachments import AttachmentInfo, AttachmentRejected, fetch_image
from bot.enhance import Mode
from bot.errors import UserFacingError
from bot.limit_messages import allowance_text
from bot.messages import clip_embed
from bot.review_desk import FilterBlocked
from bot.review_views import review_buttons, review_embed
from bot.service import VideoRequest
from bot.views import is_moderator, requester_of
from inference.contract import JobStatus, ModelId
from inference.recipes import recipe_for
from inference.storage import StorageError

if TYPE_CHECKING:
    from bot.app import ReelBot

log = logging.getLogger(__name__)

#: what the bot needs in a channel to post status messages and clips
REQUIRED_PERMISSIONS = {
    "view_channel": "View Channel",
    "send_messages": "Send Messages",
    "attach_files": "Attach Files",
    "embed_links": "Embed Links",
}


def missing_permissions(permissions: discord.Permissions) -> list[str]:
    """The names of the permissions the bot lacks in the channel, as Discord shows them."""
    return [label for flag, label in REQUIRED_PERMISSIONS.items() if not getattr(permissions, flag)]


def _bot(interaction: discord.Interaction) -> ReelBot:
    return interaction.client  # type: ignore[return-value]


@app_commands.command(name="video")
@app_commands.guild_only()
@app_commands.describe(
    prompt="What the video shows (English works best)",
    image="A PNG, JPEG or WEBP to bring to life (optional)",
    negative="What to keep out of the video",
    seed="Reuse a seed to get the same video again",
    model="Which model renders it (the ones running now)",
    enhance="Let AI write a richer prompt first: on, off, or review it before generating",
)
async def video(
    interaction: discord.Interaction,
    prompt: app_commands.Range[str, 1, 2000],
    image: discord.Attachment | None = None,
    negative: app_commands.Range[str, 1, 2000] | None = None,
    seed: app_commands.Range[int, 0, 2**32 - 1] | None = None,
    model: str | None = None,
    enhance: Literal["on", "off", "review"] | None = None,
) -> None:
    """Make a short video from a prompt, or animate an image."""
    await interaction.response.defer(ephemeral=True, thinking=True)
    bot = _bot(interaction)
    missing = missing_permissions(interaction.app_permissions)
    if missing:
        raise UserFacingError(
            f"I cannot post videos in this channel: I am missing {', '.join(missing)}. "
            "Ask a server admin to give Reelbot these permissions here, or use another channel."
        )
    chosen = await bot.service.choose_model(model, with_image=image is not None)
    who = requester_of(interaction)
    await bot.reviews.check_member(who, str(interaction.channel_id))
    await bot.service.check_limits(who, chosen)  # before the slow parts: download, filters, enhancer
    image_png = preview = None
    if image is not None:
        image_png, preview = await _fetch(bot, image, chosen)
    request = VideoRequest(
        request_id=str(interaction.id),
        guild_id=str(interaction.guild_id),
        channel_id=str(interaction.channel_id),
        user_id=str(interaction.user.id),
        prompt=prompt,
        negative=negative or "",
        seed=seed,
        model=chosen.value,
        image_png=image_png,
        roles=who.role_ids,
        moderator=who.moderator,
    )
    flags = await _screen(bot, request, age_restricted=bool(getattr(interaction.channel, "nsfw", False)))
    prompts = bot.service.prompts
    mode = await prompts.mode(who.guild_id, enhance)
    if mode is Mode.OFF:
        await bot.respond(interaction, await bot.reviews.submit_or_hold(request, flags), preview=preview)
        return
    enhancement = await prompts.enhance(request, image_png, recipe_for(chosen).max_tokens)
    found = [*flags, enhancement.flag] if enhancement.flag else flags
    if mode is Mode.ON:
        outcome = await bot.reviews.submit_or_hold(prompts.apply(request, enhancement), found)
        await bot.respond(interaction, outcome, preview=preview, enhancement=enhancement)
        return
    pending = await prompts.hold(request, enhancement, "; ".join(found))
    kwargs: dict[str, Any] = {"embed": review_embed(pending), "view": review_buttons(pending)}
    if preview is not None:
        kwargs["file"] = discord.File(io.BytesIO(preview), "preview.png")
    await interaction.followup.send(ephemeral=True, **kwargs)


async def _screen(bot: ReelBot, request: VideoRequest, *, age_restricted: bool) -> list[str]:
    """Screen the member's words and image; returns what was flagged for a moderator.

    Raises:
        FilterBlocked: the filter refused the request (with an Appeal button when possible).
    """
    moderation = bot.service.moderation
    verdict = await bot.service.prompts.screen_member(request.prompt, request.guild_id)
    if not verdict.allowed:
        raise await bot.reviews.refuse(request, verdict.reason)
    flags = [verdict.reason] if verdict.flagged else []
    if request.image_png is not None:
        config = await moderation.config(request.guild_id)
        seen = await moderation.check_image(request.image_png, config, age_restricted)
        if not seen.allowed:
            raise await bot.reviews.refuse(request, seen.reason)
        if seen.flagged:
            flags.append(seen.reason)
    return flags


async def _fetch(bot: ReelBot, image: discord.Attachment, model: ModelId) -> tuple[bytes, bytes]:
    """The attachment checked and re-encoded (PNG), and its crop preview.

    Raises:
        UserFacingError: the attachment was refused, with what to send instead.
    """
    recipe = recipe_for(model)
    try:
        accepted = await fetch_image(
            bot.http_session,
            AttachmentInfo(
                url=image.url, filename=image.filename, size=image.size, content_type=image.content_type
            ),
            allowed_origins=bot.settings.cdn_origins,
            max_bytes=bot.settings.attachment_max_bytes,
            aspect=(recipe.width, recipe.height),
        )
    except AttachmentRejected as exc:
        raise UserFacingError(str(exc), reason="attachment") from None
    return accepted.png, accepted.preview_png


@video.autocomplete("model")
async def _model_choices(interaction: discord.Interaction, current: str) -> list[app_commands.Choice[str]]:
    served = await _bot(interaction).service.served_models()
    return [
        app_commands.Choice(name=f"{m} ({'image' if m.image_to_video else 'text'} to video)", value=m.value)
        for m in served
        if current.lower() in m.value
    ][:25]


@app_commands.command(name="limits")
@app_commands.guild_only()
async def limits(interaction: discord.Interaction) -> None:
    """How many videos you can still make here, and when more become available."""
    await interaction.response.defer(ephemeral=True, thinking=True)
    allowance, policy = await _bot(interaction).service.limits.allowance(requester_of(interaction))
    await interaction.followup.send(allowance_text(allowance, policy), ephemeral=True)


@app_commands.command(name="cancel")
@app_commands.guild_only()
@app_commands.describe(job="The job id, as shown when you asked for the video")
async def cancel(interaction: discord.Interaction, job: app_commands.Range[str, 6, 32]) -> None:
    """Cancel one of your videos (moderators can cancel any)."""
    await interaction.response.defer(ephemeral=True, thinking=True)
    text = await _bot(interaction).service.cancel(job, str(interaction.user.id), is_moderator(interaction))
    await interaction.followup.send(text, ephemeral=True)


@app_commands.command(name="job")
@app_commands.guild_only()
@app_commands.describe(id="The job id")
async def job(interaction: discord.Interaction, id: app_commands.Range[str, 6, 32]) -> None:
    """Show a video again, or where it stands."""
    await interaction.response.defer(ephemeral=True, thinking=True)
    bot = _bot(interaction)
    record = await bot.service.job(id)
    if str(record.guild_id) != str(interaction.guild_id):
        raise UserFacingError(f"I know no job `{id}` in this server.")
    clip = record.clip()
    if record.status is not JobStatus.SUCCEEDED or clip is None:
        detail = f": {record.error}" if record.error else "."
        await interaction.followup.send(f"Job `{record.id}` is {record.status.value}{detail}", ephemeral=True)
        return
    kwargs: dict[str, Any] = {"embed": clip_embed(record, clip), "ephemeral": True}
    try:
        data = await bot.service.store.get(clip.clip_ref)
    except StorageError:
        raise UserFacingError(
            f"The clip of `{record.id}` has expired from storage; re-roll it to make it again."
        ) from None
    if len(data) <= interaction.filesize_limit:
        kwargs["file"] = discord.File(io.BytesIO(data), filename=f"reelbot-{record.id}.mp4")
    else:
        kwargs["content"] = clip.clip_url or "The clip is larger than this server's upload limit."
    await interaction.followup.send(**kwargs)


COMMANDS: tuple[app_commands.Command[Any, ..., None], ...] = (video, limits, cancel, job)


async def on_error(interaction: discord.Interaction, error: app_commands.AppCommandError) -> None:
    """The one error funnel: a member-facing message, or a logged bug with a reference."""
    cause = error.original if isinstance(error, app_commands.CommandInvokeError) else error
    extra: dict[str, Any] = {}
    if isinstance(cause, FilterBlocked) and cause.appeal_id:
        extra["view"] = cause.view()
    bot = _bot(interaction)
    if isinstance(cause, UserFacingError):
        text = str(cause)
        bot.metrics.refusals.labels(cause.reason).inc()
    elif isinstance(error, app_commands.NoPrivateMessage):
        text = "Reelbot works inside a server, not in direct messages."
    else:
        reference = secrets.token_hex(4)
        log.error("command failed (ref %s)", reference, exc_info=cause)
        text = f"Something went wrong on our side (reference `{reference}`). Please try again in a moment."
    try:
        if interaction.response.is_done():
            await interaction.followup.send(text, ephemeral=True, **extra)
        else:
            await interaction.response.send_message(text, ephemeral=True, **extra)
    except discord.HTTPException as exc:
        bot.metrics.discord_errors.labels(str(exc.status)).inc()
        log.warning("could not tell the member about an error: %s", text)
