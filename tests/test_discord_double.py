"""The Discord test double, driven by a real discord.py client with an app-command tree.

Each test starts a fresh double and a fresh bot pointed at it (``Route.BASE`` and the default
gateway are patched for the test and restored afterwards), then checks what a user would notice:
the command reached its handler with the right values, the message landed with its file, the
rule break was caught. Where a test expects no rule breaks it asserts ``double.violations == []``.
"""

from __future__ import annotations

import asyncio
import io
import re
import struct
import zlib
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import discord
import pytest
import yarl
from discord import app_commands

from tests.discord_double import DiscordDouble

TOKEN = "test-token"


def tiny_png(width: int = 3, height: int = 2) -> bytes:
    """A valid PNG of the given size."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    raw = b"".join(b"\x00" + b"\x00\x00\x00" * width for _ in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(raw))
        + chunk(b"IEND", b"")
    )


# -- the bot under test ---------------------------------------------------------------------------------


class CancelButton(discord.ui.DynamicItem[discord.ui.Button[Any]], template=r"job:(?P<job>[0-9a-f]+):cancel"):
    """A restart-proof Cancel button whose custom_id carries the job id."""

    def __init__(self, job: str) -> None:
        super().__init__(
            discord.ui.Button(label="Cancel", style=discord.ButtonStyle.danger, custom_id=f"job:{job}:cancel")
        )
        self.job = job

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction, item: discord.ui.Item[Any], match: re.Match[str], /
    ) -> CancelButton:
        return cls(match["job"])

    async def callback(self, interaction: discord.Interaction) -> None:
        interaction.client.seen["cancelled"] = self.job  # type: ignore[attr-defined]
        await interaction.response.edit_message(content=f"Cancelled job {self.job}.", view=None)


class PromptModal(discord.ui.Modal, title="Describe your video"):
    """A one-field modal."""

    prompt: discord.ui.TextInput[PromptModal] = discord.ui.TextInput(label="Prompt", custom_id="prompt")

    async def on_submit(self, interaction: discord.Interaction) -> None:
        interaction.client.seen["modal"] = self.prompt.value  # type: ignore[attr-defined]
        await interaction.response.send_message(f"Queued: {self.prompt.value}", ephemeral=True)


class Bot(discord.Client):
    """A small bot with the command shapes Reelbot uses."""

    def __init__(self) -> None:
        super().__init__(intents=discord.Intents.default(), guild_ready_timeout=0.05)
        self.tree = app_commands.CommandTree(self)
        self.seen: dict[str, Any] = {}
        self.calls: list[int] = []
        add_commands(self.tree)

    async def setup_hook(self) -> None:
        self.add_dynamic_items(CancelButton)

    async def before_identify_hook(self, shard_id: int | None, *, initial: bool = False) -> None:
        """Skip discord.py's 5 s pause before a re-IDENTIFY (it guards Discord's identify limit)."""


def add_commands(tree: app_commands.CommandTree[Bot]) -> None:
    """Register the test commands."""

    @tree.command()
    async def video(
        interaction: discord.Interaction[Bot],
        prompt: str,
        seed: int = 0,
        image: discord.Attachment | None = None,
    ) -> None:
        """Render a video."""
        interaction.client.seen["video"] = {
            "prompt": prompt,
            "seed": seed,
            "url": image.url if image else None,
            "bytes": await image.read() if image else None,
            "size": (image.width, image.height) if image else None,
        }
        view = discord.ui.View(timeout=None)
        view.add_item(CancelButton("abc123"))
        await interaction.response.send_message(f"Queued {prompt!r}.", view=view)

    @tree.command()
    async def slow(interaction: discord.Interaction[Bot]) -> None:
        """Defer, then follow up."""
        await interaction.response.defer(thinking=True)
        interaction.client.seen["slow"] = interaction
        await interaction.followup.send("Your clip is ready.")

    @tree.command()
    async def late(interaction: discord.Interaction[Bot]) -> None:
        """Answer after Discord's 3 s window."""
        await asyncio.sleep(3.2)
        try:
            await interaction.response.send_message("too late")
        except discord.NotFound as exc:
            interaction.client.seen["late"] = exc.code

    @tree.command()
    async def ask(interaction: discord.Interaction[Bot]) -> None:
        """Open the prompt modal."""
        await interaction.response.send_modal(PromptModal(custom_id="prompt-modal"))

    @tree.command()
    async def render(interaction: discord.Interaction[Bot]) -> None:
        """Defer privately, then put the clip into the original response."""
        await interaction.response.defer(ephemeral=True, thinking=True)
        clip = discord.File(io.BytesIO(b"fake mp4"), "clip.mp4")
        await interaction.edit_original_response(content="Done.", attachments=[clip])

    @tree.command()
    async def once(interaction: discord.Interaction[Bot]) -> None:
        """Answer each interaction id once, however often Discord delivers it."""
        first = interaction.id not in interaction.client.calls
        interaction.client.calls.append(interaction.id)
        if first:
            await interaction.response.send_message("done")


# -- fixtures -------------------------------------------------------------------------------------------


@pytest.fixture
async def double(request: pytest.FixtureRequest) -> AsyncIterator[DiscordDouble]:
    """A running double with one guild, one channel and one member; ``indirect`` params go to it."""
    async with DiscordDouble(**getattr(request, "param", {})) as started:
        yield started


@pytest.fixture
def world(double: DiscordDouble) -> dict[str, int]:
    """Ids of the guild, its channel and a member."""
    guild = double.add_guild("Reelbot test")
    return {"guild": guild, "channel": double.add_channel(guild), "user": double.add_member(guild, "ada")}


@pytest.fixture
async def bot(
    double: DiscordDouble, world: dict[str, int], monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[Bot]:
    """A real discord.py client logged in to the double, its commands synced globally."""
    monkeypatch.setattr(discord.http.Route, "BASE", double.api_base)
    monkeypatch.setattr(discord.gateway.DiscordWebSocket, "DEFAULT_GATEWAY", yarl.URL(double.gateway_url))
    client = Bot()
    await client.login(TOKEN)
    runner = asyncio.create_task(client.connect())
    await asyncio.wait_for(client.wait_until_ready(), 10)
    await client.tree.sync()
    yield client
    await client.close()
    await asyncio.wait_for(runner, 10)


# -- tests ----------------------------------------------------------------------------------------------


async def test_login_ready_and_guild_visible(double: DiscordDouble, world: dict[str, int], bot: Bot) -> None:
    guild = bot.get_guild(world["guild"])
    assert guild is not None and guild.name == "Reelbot test"
    channel = guild.get_channel(world["channel"])
    assert isinstance(channel, discord.TextChannel) and channel.name == "general"
    assert guild.me is not None and guild.me.id == double.bot_user_id
    assert bot.user is not None and bot.user.id == double.bot_user_id
    assert double.connected() and double.ready_count == 1
    assert {r.path for r in double.requests} >= {"/users/@me", "/oauth2/applications/@me"}
    assert double.violations == []


async def test_command_sync_is_stored_and_schema_checked(
    double: DiscordDouble, world: dict[str, int], bot: Bot
) -> None:
    guild = discord.Object(world["guild"])
    bot.tree.copy_global_to(guild=guild)
    await bot.tree.sync(guild=guild)
    names = {c["name"] for c in double.commands[None]}
    assert names == {"video", "slow", "late", "ask", "render", "once"}
    assert {c["name"] for c in double.commands[world["guild"]]} == names
    video = next(c for c in double.commands[None] if c["name"] == "video")
    assert [(o["name"], o["type"], o.get("required", False)) for o in video["options"]] == [
        ("prompt", 3, True),
        ("seed", 4, False),
        ("image", 11, False),
    ]
    puts = [r for r in double.requests if r.method == "PUT"]
    assert [r.status for r in puts] == [200, 200]
    assert double.violations == []


async def test_slash_command_gets_typed_options_and_downloadable_attachment(
    double: DiscordDouble, world: dict[str, int], bot: Bot
) -> None:
    png = tiny_png(3, 2)
    image = double.host_attachment("cat.png", png)
    interaction = await double.slash(
        world["guild"],
        world["channel"],
        world["user"],
        "video",
        {"prompt": "a cat", "seed": 5, "image": image["id"]},
    )
    await double.wait_for(lambda: interaction.original is not None)
    seen = bot.seen["video"]
    assert seen["prompt"] == "a cat" and seen["seed"] == 5
    assert seen["url"].startswith(double.cdn_origin + "/attachments/")
    assert seen["bytes"] == png and seen["size"] == (3, 2)
    assert interaction.original is not None and interaction.original.content == "Queued 'a cat'."
    assert [r["type"] for r in interaction.responses] == [4]
    assert double.violations == []


async def test_defer_then_followup_fills_the_thinking_message(
    double: DiscordDouble, world: dict[str, int], bot: Bot
) -> None:
    interaction = await double.slash(world["guild"], world["channel"], world["user"], "slow")
    await double.wait_for(lambda: len(interaction.followups) == 1)
    assert [r["type"] for r in interaction.responses] == [5]
    assert interaction.original is interaction.followups[0]
    assert interaction.original.content == "Your clip is ready." and interaction.original.flags == 0
    assert [m.content for m in double.messages(world["channel"])] == ["Your clip is ready."]
    callback = next(r for r in double.requests if r.path.endswith("/callback"))
    assert callback.query == {"with_response": "1"}
    assert double.violations == []


async def test_channel_message_with_file_is_stored_then_edited_and_deleted(
    double: DiscordDouble, world: dict[str, int], bot: Bot
) -> None:
    channel = bot.get_channel(world["channel"])
    assert isinstance(channel, discord.TextChannel)
    clip = b"\x00\x00\x00\x18ftypmp42" + bytes(2000)
    sent = await channel.send("Here is your clip", file=discord.File(io.BytesIO(clip), "clip.mp4"))
    stored = double.messages(world["channel"])[0]
    assert stored.id == sent.id and stored.content == "Here is your clip"
    assert [(a["filename"], a["size"], a["content_type"], a["data"]) for a in stored.attachments] == [
        ("clip.mp4", len(clip), "video/mp4", clip)
    ]
    assert double.requests[-1].files == [{"field": "files[0]", "filename": "clip.mp4", "size": len(clip)}]
    async with aiohttp.ClientSession() as session, session.get(sent.attachments[0].url) as response:
        assert response.headers["Content-Type"] == "video/mp4" and await response.read() == clip

    edited = await sent.edit(
        content="Here is your clip (v2)",
        attachments=[*sent.attachments, discord.File(io.BytesIO(b"srt"), "clip.srt")],
    )
    assert [a.filename for a in edited.attachments] == ["clip.mp4", "clip.srt"]
    assert stored.edits == 1 and stored.content == "Here is your clip (v2)"

    await sent.delete()
    assert stored.deleted and double.messages(world["channel"]) == []
    assert double.violations == []


async def test_dynamic_button_click_reaches_its_callback(
    double: DiscordDouble, world: dict[str, int], bot: Bot
) -> None:
    command = await double.slash(
        world["guild"], world["channel"], world["user"], "video", {"prompt": "a dog"}
    )
    await double.wait_for(lambda: command.original is not None)
    assert command.original is not None
    click = await double.click(world["channel"], command.original.id, "job:abc123:cancel", world["user"])
    await double.wait_for(lambda: click.responses != [])
    assert bot.seen["cancelled"] == "abc123"
    assert [r["type"] for r in click.responses] == [7]
    assert command.original.content == "Cancelled job abc123." and command.original.components == []
    assert double.violations == []


async def test_modal_submit_reaches_on_submit(double: DiscordDouble, world: dict[str, int], bot: Bot) -> None:
    opened = await double.slash(world["guild"], world["channel"], world["user"], "ask")
    await double.wait_for(lambda: opened.responses != [])
    assert opened.responses[0]["type"] == 9 and opened.responses[0]["data"]["custom_id"] == "prompt-modal"
    submitted = await double.submit_modal(
        world["channel"], "prompt-modal", {"prompt": "a red fox"}, world["user"], world["guild"]
    )
    await double.wait_for(lambda: submitted.original is not None)
    assert bot.seen["modal"] == "a red fox"
    assert submitted.original is not None and submitted.original.flags & 64  # ephemeral
    assert double.violations == []


async def test_response_after_three_seconds_is_a_violation(
    double: DiscordDouble, world: dict[str, int], bot: Bot
) -> None:
    interaction = await double.slash(world["guild"], world["channel"], world["user"], "late")
    await double.wait_for(lambda: "late" in bot.seen, timeout=6)
    assert bot.seen["late"] == 10062  # Unknown interaction, as Discord answers
    assert interaction.responses == []
    assert len(double.violations) == 1 and "initial response 3." in double.violations[0]


async def test_replay_delivers_the_same_interaction_id(
    double: DiscordDouble, world: dict[str, int], bot: Bot
) -> None:
    interaction = await double.slash(world["guild"], world["channel"], world["user"], "once")
    await double.wait_for(lambda: interaction.responses != [])
    await double.replay(interaction)
    await double.wait_for(lambda: len(bot.calls) == 2)
    assert bot.calls == [interaction.id, interaction.id]
    assert len(interaction.responses) == 1
    assert double.violations == []


async def test_429_is_retried_by_discord_py(double: DiscordDouble, world: dict[str, int], bot: Bot) -> None:
    double.fail_next("POST", "/channels/*/messages", 429, retry_after=0.2)
    channel = bot.get_channel(world["channel"])
    assert isinstance(channel, discord.TextChannel)
    sent = await channel.send("after a rate limit")
    posts = [
        r.status
        for r in double.requests
        if r.method == "POST" and r.route == "/channels/{channel_id}/messages"
    ]
    assert posts == [429, 200]
    assert [m.id for m in double.messages(world["channel"])] == [sent.id]
    assert double.violations == []


async def test_body_that_breaks_the_schema_is_a_violation(
    double: DiscordDouble, world: dict[str, int]
) -> None:
    url = f"{double.api_base}/channels/{world['channel']}/messages"
    async with aiohttp.ClientSession(headers={"Authorization": f"Bot {TOKEN}"}) as session:
        async with session.post(url, json={"content": 5}) as response:
            assert response.status == 400
            body = await response.json()
        async with session.post(url, json={"content": "x" * 2001}) as too_long:
            assert too_long.status == 400
    assert body["code"] == 50035 and "content" in body["errors"]
    assert len(double.violations) == 2
    assert (
        double.violations[0].startswith(f"POST /channels/{world['channel']}/messages")
        and "content" in (double.violations[0])
    )
    assert "2000" in double.violations[1]
    assert double.messages(world["channel"]) == []


async def test_nonce_with_enforce_nonce_is_deduplicated(
    double: DiscordDouble, world: dict[str, int], bot: Bot
) -> None:
    channel = bot.get_channel(world["channel"])
    assert isinstance(channel, discord.TextChannel)
    first = await channel.send("clip ready", nonce="job-42")
    again = await channel.send("clip ready", nonce="job-42")
    assert again.id == first.id
    assert len(double.messages(world["channel"])) == 1
    assert double.violations == []


async def test_interaction_token_expires_after_15_minutes(
    double: DiscordDouble, world: dict[str, int], bot: Bot
) -> None:
    interaction = await double.slash(world["guild"], world["channel"], world["user"], "slow")
    await double.wait_for(lambda: len(interaction.followups) == 1)
    double.advance_clock(15 * 60 + 1)
    with pytest.raises(discord.HTTPException) as caught:
        await bot.seen["slow"].followup.send("an hour later")
    assert caught.value.status == 401 and caught.value.code == 50027
    assert len(double.violations) == 1 and "15 min" in double.violations[0]


@pytest.mark.parametrize("double", [{"upload_limit": 1024}], indirect=True)
async def test_upload_over_the_limit_is_refused(
    double: DiscordDouble, world: dict[str, int], bot: Bot
) -> None:
    channel = bot.get_channel(world["channel"])
    assert isinstance(channel, discord.TextChannel)
    with pytest.raises(discord.HTTPException) as caught:
        await channel.send(file=discord.File(io.BytesIO(bytes(2048)), "big.mp4"))
    assert caught.value.status == 413 and caught.value.code == 40005
    assert len(double.violations) == 1 and "limit is 1024 bytes" in double.violations[0]
    assert double.messages(world["channel"]) == []


async def test_dropped_gateway_resumes_and_still_delivers(
    double: DiscordDouble, world: dict[str, int], bot: Bot
) -> None:
    await double.drop_gateway()
    missed = await double.slash(world["guild"], world["channel"], world["user"], "once")  # sent while down
    await double.wait_for(lambda: double.resume_count == 1)
    later = await double.slash(world["guild"], world["channel"], world["user"], "once")
    await double.wait_for(lambda: len(bot.calls) == 2)
    assert bot.calls == [missed.id, later.id]
    assert double.ready_count == 1 and double.connected()
    assert double.violations == []


async def test_deferred_reply_is_filled_by_editing_the_original_with_a_file(
    double: DiscordDouble, world: dict[str, int], bot: Bot
) -> None:
    interaction = await double.slash(world["guild"], world["channel"], world["user"], "render")
    await double.wait_for(
        lambda: interaction.original is not None and interaction.original.content == "Done."
    )
    original = interaction.original
    assert original is not None and original.flags == 64  # still ephemeral, no longer loading
    assert [(a["filename"], a["data"]) for a in original.attachments] == [("clip.mp4", b"fake mp4")]
    assert original.edits == 0  # filling a "thinking" message is not an edit
    patch = double.requests[-1]
    assert (patch.method, patch.route) == (
        "PATCH",
        "/webhooks/{webhook_id}/{webhook_token}/messages/@original",
    )
    assert patch.files and patch.json["attachments"] == [{"id": 0, "filename": "clip.mp4"}]
    assert double.violations == []


async def test_answering_a_replayed_interaction_again_is_a_violation(
    double: DiscordDouble, world: dict[str, int], bot: Bot
) -> None:
    interaction = await double.slash(
        world["guild"], world["channel"], world["user"], "video", {"prompt": "a"}
    )
    await double.wait_for(lambda: interaction.responses != [])
    await double.replay(interaction)  # the "video" handler is not idempotent
    await double.wait_for(lambda: double.violations != [])
    assert "answered twice" in double.violations[0]
    assert len(interaction.responses) == 1 and len(double.messages(world["channel"])) == 1


async def test_session_that_cannot_resume_identifies_again(
    double: DiscordDouble, world: dict[str, int], bot: Bot
) -> None:
    await double.drop_gateway(resumable=False)
    await double.wait_for(lambda: double.ready_count == 2 and double.connected())
    assert double.resume_count == 0 and bot.get_guild(world["guild"]) is not None
    interaction = await double.slash(world["guild"], world["channel"], world["user"], "once")
    await double.wait_for(lambda: bot.calls == [interaction.id])
    assert double.violations == []


async def test_missing_token_and_unknown_routes_are_violations(double: DiscordDouble) -> None:
    async with aiohttp.ClientSession() as session:
        async with session.get(f"{double.api_base}/users/@me") as unauthorized:
            assert unauthorized.status == 401
        async with session.get(f"{double.api_base}/users/@me/nothing-here") as unknown:
            assert unknown.status == 404 and (await unknown.json())["code"] == 0
    assert [v.split(":")[0] for v in double.violations] == ["GET /users/@me", "GET /users/@me/nothing-here"]
