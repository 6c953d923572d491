"""The composition root: every part of the bot built once and handed its collaborators.

``reelbot bot`` (:mod:`bot.runner`), the end-to-end tests and the benchmarks all build the bot
here, so what is tested is what runs. The parts stay reachable as :attr:`ReelBot.parts` for
tests and operators' tooling; features never reach through them.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from bot.access import AccessPolicy
from bot.app import ReelBot
from bot.attachments import ImageFetcher
from bot.audit import AuditLog
from bot.channels import Channels
from bot.delivery.loop import DeliveryLoop
from bot.delivery.posting import Deliverer, DeliverySettings
from bot.enhance import Enhancer, EnhanceSettings
from bot.features.approvals.cards import appeal_view
from bot.features.approvals.cog import ApprovalsCog
from bot.features.approvals.desk import ApprovalDesk
from bot.features.approvals.holds import Holds
from bot.features.approvals.store import ApprovalStore
from bot.features.drafts.cog import DraftsCog
from bot.features.drafts.store import DraftStore
from bot.features.gif.cog import GifCog
from bot.features.history.cog import HistoryCog
from bot.features.operations.cog import OperationsCog
from bot.features.settings.cog import SettingsCog
from bot.features.video.cog import VideoCog
from bot.features.video.replies import Replies
from bot.funnel import Funnel
from bot.guildconfig import GuildConfigStore
from bot.inputs import InputJanitor
from bot.jobs import JobBook
from bot.languages import Languages
from bot.limits import LimitsService
from bot.moderation import Guardrail, Moderation
from bot.notices import AdminNotices
from bot.observability import BotMetrics, Observer
from bot.pipeline import RequestPipeline
from bot.screening import PromptScreen
from bot.settings import BotSettings
from bot.snapshot import Snapshots
from bot.ui import Router
from inference.contract import ModelId
from inference.jobqueue import JobQueue
from inference.safety import NsfwClassifier
from inference.storage import BlobStore

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Parts:
    """The bot's parts, as composed."""

    queue: JobQueue
    store: BlobStore
    metrics: BotMetrics
    access: AccessPolicy
    pipeline: RequestPipeline
    jobs: JobBook
    limits: LimitsService
    moderation: Moderation
    enhancer: Enhancer
    approvals: ApprovalStore
    drafts: DraftStore
    holds: Holds
    desk: ApprovalDesk
    deliverer: Deliverer
    delivery: DeliveryLoop
    channels: Channels
    notices: AdminNotices
    audit: AuditLog
    inputs: InputJanitor
    languages: Languages


def compose(
    settings: BotSettings,
    queue: JobQueue,
    store: BlobStore,
    *,
    models: Sequence[ModelId] = (ModelId.COGVIDEOX_2B, ModelId.COGVIDEOX_5B_I2V),
    enhancer: Enhancer | None = None,
    classifier: NsfwClassifier | None = None,
    guardrail: Guardrail | None = None,
    screen: PromptScreen | None = None,
    **client_options: Any,
) -> ReelBot:
    """Build the bot with all its features.

    Args:
        settings: the bot's settings (from the environment in production).
        queue, store: the job queue and the clip storage, already connected.
        models: the deployment's models, where jobs wait while no worker is up.
        enhancer: prompt enhancement (none: unavailable, prompts are used as written).
        classifier: the image filter (none: attached images wait for a moderator).
        guardrail: Bedrock Guardrails on prompts, on top of the word list.
        screen: the prompt screen (default: the content filter), for tests of other parts.
        client_options: passed to discord.py's client.
    """
    redis, keys = queue.redis, queue.keys
    metrics = BotMetrics()
    router = Router(Funnel(metrics, appeal_view))
    bot = ReelBot(settings, metrics=metrics, funnel=router.funnel, router=router, **client_options)
    languages = Languages(GuildConfigStore(redis, keys), lambda guild_id: _discord_locale(bot, guild_id))
    router.languages = bot.languages = languages
    channels = Channels(bot, metrics)
    audit = AuditLog(redis, keys)
    notices = AdminNotices(redis, keys, channels, audit)
    enhancer = enhancer or Enhancer(EnhanceSettings(), redis, keys, None, "not configured")
    moderation = Moderation(redis, keys, classifier, guardrail)
    limits = LimitsService(queue, settings.limits)
    approvals, drafts, jobs = ApprovalStore(redis, keys), DraftStore(redis, keys), JobBook(queue, store)
    access = AccessPolicy(queue, approvals, drafts, settings.operator_ids)
    holds = Holds(approvals, channels, notices)
    inputs = InputJanitor(redis, keys, store)
    images = ImageFetcher(settings.cdn_origins, settings.attachment_max_bytes, settings.image_decodes)
    pipeline = RequestPipeline(
        queue=queue,
        store=store,
        snapshots=Snapshots(queue),
        limits=limits,
        moderation=moderation,
        screen=screen or moderation,
        enhancer=enhancer,
        images=images,
        holds=holds,
        drafts=drafts,
        jobs=jobs,
        inputs=inputs,
        default_models=models,
    )
    deliverer = Deliverer(
        queue=queue,
        jobs=jobs,
        channels=channels,
        holds=holds,
        moderation=moderation,
        notices=notices,
        store=store,
        metrics=metrics,
        settings=DeliverySettings(settings.status_edit_seconds, settings.max_upload_bytes),
    )
    delivery = DeliveryLoop(queue, deliverer, jobs, channels, metrics, languages=languages)
    replies = Replies(channels, jobs)
    desk = ApprovalDesk(
        approvals=approvals,
        holds=holds,
        pipeline=pipeline,
        clips=deliverer,
        replies=replies,
        channels=channels,
        queue=queue,
        inputs=inputs,
        audit=audit,
    )
    snapshots = pipeline.snapshots
    bot.features = [
        VideoCog(
            pipeline=pipeline,
            access=access,
            replies=replies,
            jobs=jobs,
            channels=channels,
            snapshots=snapshots,
            limits=limits,
            approvals=approvals,
            store=store,
            funnel=router.funnel,
            router=router,
        ),
        DraftsCog(pipeline=pipeline, access=access, drafts=drafts, replies=replies, router=router),
        ApprovalsCog(desk=desk, access=access, router=router),
        SettingsCog(
            access=access,
            limits=limits,
            enhancer=enhancer,
            channels=channels,
            notices=notices,
            audit=audit,
            on_language_changed=languages.forget,
        ),
        OperationsCog(access=access, queue=queue, jobs=jobs, audit=audit),
        HistoryCog(access=access, jobs=jobs, router=router),
        GifCog(access=access, jobs=jobs, channels=channels, store=store, router=router),
    ]
    bot.supervisor.add("delivery", delivery.run)
    bot.supervisor.add("reaper", lambda: reap_forever(queue, inputs))
    bot.observer = Observer(
        queue,
        metrics,
        lambda: bot.is_ready() and not bot.is_closed(),
        host=settings.metrics_host,
        port=settings.metrics_port,
        cloudwatch_namespace=settings.cloudwatch_namespace,
        problems=bot.supervisor.problems,
    )
    bot.closers.append(images.aclose)
    bot.parts = Parts(
        queue=queue,
        store=store,
        metrics=metrics,
        access=access,
        pipeline=pipeline,
        jobs=jobs,
        limits=limits,
        moderation=moderation,
        enhancer=enhancer,
        approvals=approvals,
        drafts=drafts,
        holds=holds,
        desk=desk,
        deliverer=deliverer,
        delivery=delivery,
        channels=channels,
        notices=notices,
        audit=audit,
        inputs=inputs,
        languages=languages,
    )
    return bot


def _discord_locale(bot: ReelBot, guild_id: str) -> object | None:
    """A server's preferred locale as Discord last said it (the guild cache), if the bot knows it."""
    guild = bot.get_guild(int(guild_id)) if guild_id.isdigit() else None
    return guild.preferred_locale if guild is not None else None


async def reap_forever(queue: JobQueue, inputs: InputJanitor) -> None:
    """Reclaim expired leases, as workers do, so a lone dead worker's job still moves; and delete
    input images whose request's wait ended (``bot/inputs.py``)."""
    every = queue.settings.reap_interval_seconds
    while True:
        try:
            await queue.reap()
            await inputs.sweep()
        except Exception:
            log.exception("reaping failed; retrying")
        await asyncio.sleep(every)
