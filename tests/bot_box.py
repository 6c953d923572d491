"""The end-to-end rig: the real discord.py bot, a tiny-model worker, real Redis, the Discord double.

``box`` gives a test one community (a guild, a channel, two members and a moderator) with the
bot and a worker running; the fixtures are registered for every test module in conftest.py.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import io
import struct
import zlib
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import boto3
import discord
import pytest
from PIL import Image

from bot.app import ReelBot, point_at
from bot.bedrock import BedrockClient, ClientOptions
from bot.compose import Parts, compose
from bot.enhance import Enhancer, EnhanceSettings
from bot.modconfig import ModerationStore
from bot.settings import BotSettings
from inference.contract import ModelId
from inference.daemon import Daemon
from inference.generator import Generator
from inference.jobqueue import JobQueue, QueueSettings
from inference.pipelines import LoadedModel, load_models
from inference.safety import NsfwClassifier
from inference.settings import WorkerSettings
from inference.storage import RedisBlobStore
from tests.bedrock_double import BedrockDouble
from tests.discord_double import MANAGE_GUILD, DiscordDouble


@pytest.fixture(scope="session")
def models(tiny_dirs: dict[str, Path]) -> dict[ModelId, LoadedModel]:
    return load_models(WorkerSettings(models=(str(tiny_dirs["5b"]), str(tiny_dirs["i2v"]))))


@pytest.fixture(scope="session")
def classifier() -> NsfwClassifier:
    """The real open_nsfw classifier, loaded once (its weights ship in the package)."""
    return NsfwClassifier.load()


@pytest.fixture
def restore_discord_urls() -> Iterator[None]:
    base, gateway = discord.http.Route.BASE, discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY
    yield
    discord.http.Route.BASE, discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = base, gateway


@dataclasses.dataclass
class Box:
    """One community's world: the double, a guild, a channel, members, the bot and a worker."""

    double: DiscordDouble
    queue: JobQueue
    store: RedisBlobStore
    settings: BotSettings
    guild: int
    channel: int
    member: int
    other: int
    moderator: int
    #: a member with a Manage Server role (a server admin)
    admin: int
    models: Any = None
    bot: ReelBot | None = None
    bot_task: asyncio.Task[None] | None = None
    worker: Daemon | None = None
    serving: asyncio.Task[int] | None = None
    #: prompt enhancement for the bot (none unless a test sets one before start_bot)
    enhancer: Enhancer | None = None
    #: the prompt screen the bot uses (the content filter unless a test sets another)
    screen: Any = None
    #: the real image classifier, for the content filter
    classifier: Any = None

    def start_worker(self) -> None:
        self.worker = Daemon(self.queue, self.store, Generator(self.models), WorkerSettings(metrics_port=0))
        self.serving = asyncio.create_task(self.worker.run())

    async def stop_worker(self) -> None:
        if self.worker is not None and self.serving is not None:
            self.worker.stop()
            await asyncio.wait_for(self.serving, 30)
        self.worker = self.serving = None

    @property
    def parts(self) -> Parts:
        """The running bot's parts."""
        assert self.bot is not None, "start the bot first"
        return self.bot.parts

    async def start_bot(self) -> ReelBot:
        self.bot = compose(
            self.settings,
            self.queue,
            self.store,
            models=list(self.models),
            enhancer=self.enhancer or Enhancer(EnhanceSettings(), self.queue.redis, self.queue.keys, None),
            classifier=self.classifier,
            screen=self.screen,
            guild_ready_timeout=0.05,
        )
        self.bot_task = asyncio.create_task(self.bot.start(self.double.token))
        await asyncio.wait_for(self.bot.wait_until_ready(), 30)
        return self.bot

    async def stop_bot(self) -> None:
        if self.bot is not None:
            await self.bot.close()
        if self.bot_task is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await self.bot_task
        self.bot = self.bot_task = None

    async def video(self, user: int | None = None, **options: Any) -> Any:
        attachments = options.pop("attachments", None)
        return await self.double.slash(
            self.guild, self.channel, user or self.member, "video", options, attachments=attachments
        )

    async def ask(self, user: int, name: str, **options: Any) -> str:
        """Run a slash command (``"group sub"`` for a subcommand) as ``user``; returns the private reply."""
        interaction = await self.double.slash(self.guild, self.channel, user, name, options)
        await self.double.wait_for(lambda: bool(interaction.followups), 10)
        return reply_text(interaction)

    async def clip_message(self, job_id: str, timeout: float = 60) -> Any:
        return await self.double.wait_for_message(
            self.channel,
            lambda m: any(a["filename"] == f"reelbot-{job_id}.mp4" for a in m.attachments),
            timeout,
        )


@contextlib.asynccontextmanager
async def open_box(
    queue: JobQueue, settings: QueueSettings, models: Any, classifier: Any
) -> AsyncIterator[Box]:
    """A community on ``queue`` (the shared Redis, or a private one a test controls)."""
    async with DiscordDouble() as double:
        guild = double.add_guild("makers")
        channel = double.add_channel(guild, "videos")
        member, other = double.add_member(guild, "ana"), double.add_member(guild, "bo")
        moderator = double.add_member(guild, "mod", moderator=True)
        admin = double.add_member(guild, "admin")
        double.give_role(guild, admin, double.add_role(guild, "admins", permissions=MANAGE_GUILD))
        bot_settings = BotSettings(
            discord_token=double.token,
            api_base=double.api_base,
            gateway_url=double.gateway_url,
            cdn_origins=(double.cdn_origin,),
            dev_guild_id=guild,
            status_edit_seconds=1,
            metrics_port=0,  # a test that reads the metrics turns them on with a free port
        )
        point_at(bot_settings)
        store = RedisBlobStore.from_url(settings.redis_url, settings.keys, ttl_seconds=600)
        world = Box(
            double, queue, store, bot_settings, guild, channel, member, other, moderator, admin, models
        )
        world.classifier = classifier
        # the tiny model renders noise, which open_nsfw scores up to about 0.45: well under
        # these, so tests of other features never depend on noise; moderation tests set their own
        await ModerationStore(queue.redis, queue.keys).change(
            str(guild), {"review_at": 0.9, "block_at": 0.98}
        )
        world.start_worker()
        try:
            await world.start_bot()
            yield world
        finally:
            await asyncio.wait_for(world.stop_bot(), 20)
            await world.stop_worker()
            await store.aclose()


@pytest.fixture
async def box(
    restore_discord_urls: None,
    queue: JobQueue,
    settings: QueueSettings,
    models: Any,
    classifier: NsfwClassifier,
) -> AsyncIterator[Box]:
    async with open_box(queue, settings, models, classifier) as world:
        yield world


async def enhancer_for(
    double: BedrockDouble, redis: Any, keys: Any, *, secret: str = "test", **settings: Any
) -> Enhancer:
    """A real Enhancer whose boto3 client talks to ``double`` with dummy credentials.

    ``settings`` go to EnhanceSettings, except the client options ``read_timeout``,
    ``max_attempts`` and ``retry_mode``.
    """
    client_fields = {
        k: settings.pop(k) for k in ("read_timeout", "max_attempts", "retry_mode") if k in settings
    }
    options = ClientOptions(endpoint_url=double.endpoint_url, region="us-east-1", **client_fields)
    session = boto3.Session(aws_access_key_id="AKIATESTREELBOT", aws_secret_access_key=secret)
    client = await BedrockClient.connect(options, session)
    return Enhancer(EnhanceSettings(client=options, **settings), redis, keys, client)


def png(width: int = 320, height: int = 200, colour: str = "orange") -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (width, height), colour).save(out, format="PNG")
    return out.getvalue()


def png_declaring(width: int, height: int) -> bytes:
    """A tiny PNG whose header claims a huge image (a decompression bomb's calling card)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(b"\0" * 64))
        + chunk(b"IEND", b"")
    )


def reply_text(interaction: Any) -> str:
    return "\n".join(str(m.content) for m in interaction.followups)


async def answered(box: Box, interaction: Any, timeout: float = 30) -> str:
    await box.double.wait_for(lambda: bool(interaction.followups or interaction.responses[1:]), timeout)
    return reply_text(interaction)


async def moderated(box: Box, **settings: Any) -> int:
    """Give the guild a review channel (returned) and a log channel, and change ``settings``."""
    review = box.double.add_channel(box.guild, "mod-queue")
    log = box.double.add_channel(box.guild, "mod-log")
    text = await box.ask(box.admin, "settings moderation", review_channel=review, log_channel=log, **settings)
    assert "Changed" in text, text
    box.log_channel = log  # type: ignore[attr-defined]
    return review


async def review_message(box: Box, channel: int, timeout: float = 60) -> Any:
    return await box.double.wait_for_message(channel, lambda m: bool(m.components), timeout)


def buttons(message: Any) -> list[str]:
    return [c["custom_id"] for row in message.components for c in row["components"]]


async def delivery_idle(box: Box, timeout: float = 60) -> None:
    """Wait until the bot has read every job event there is and handled (acknowledged) it all,
    so that a test can check that something did *not* happen, without sleeping."""
    redis, stream = box.queue.redis, box.queue.keys.events()

    async def idle() -> bool:
        newest = await redis.xrevrange(stream, count=1)
        groups = {g["name"]: g for g in await redis.xinfo_groups(stream)} if newest else {}
        group = groups.get("bot")
        if not newest or group is None:
            return not newest
        return group["pending"] == 0 and group["last-delivered-id"] == newest[0][0]

    await box.double.wait_for_async(idle, timeout)
