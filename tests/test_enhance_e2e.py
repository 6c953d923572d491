"""Prompt enhancement end to end: the real discord.py bot, the Discord double, the Bedrock double,
real Redis and a tiny-model worker. ``/video enhance:on`` and the review flow (Generate, Edit with
its form, Use original), the guild default, fallbacks and screening at both points.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from bot.enhance import FALLBACK_NOTES
from bot.modconfig import ModerationConfig
from bot.pipeline import FILTERED_ENHANCEMENT
from bot.screening import Action, Stage, Verdict
from tests.bedrock_double import BedrockDouble
from tests.bot_box import Box, enhancer_for, png, reply_text

pytestmark = [pytest.mark.timeout(120), pytest.mark.usefixtures("no_aws_config")]

RICH = (
    "A honeybee with golden pollen on its legs lands on a purple coneflower in a sunlit meadow. "
    "Its wings blur as the petals sway in a warm breeze, one slow macro shot."
)


@pytest.fixture
async def bedrock() -> AsyncIterator[BedrockDouble]:
    async with BedrockDouble(default_text=RICH) as double:
        yield double


@pytest.fixture
async def ebox(box: Box, bedrock: BedrockDouble) -> Box:
    """The rig with the bot restarted with an enhancer aimed at the Bedrock double."""
    await box.stop_bot()
    box.enhancer = await enhancer_for(bedrock, box.queue.redis, box.queue.keys)
    await box.start_bot()
    return box


async def answered(box: Box, interaction: Any, count: int = 1) -> Any:
    await box.double.wait_for(lambda: len(interaction.followups) >= count, 20)
    return interaction.followups[count - 1]


def queued_id(text: str) -> str:
    assert "Queued `" in text, text
    return text.split("Queued `")[1].split("`")[0]


def custom_ids(message: Any) -> list[str]:
    return [c["custom_id"] for row in message.components for c in row["components"]]


async def review(box: Box, prompt: str = "a bee", **options: Any) -> tuple[Any, str]:
    """Run /video enhance:review; returns the private review message and the review id."""
    interaction = await box.video(prompt=prompt, enhance="review", **options)
    message = await answered(box, interaction)
    assert message.flags & 64 and message.embeds, message
    return message, str(interaction.id)


async def test_enhance_on_renders_the_enhanced_prompt_and_the_clip_shows_both(
    ebox: Box, bedrock: BedrockDouble
) -> None:
    interaction = await ebox.video(prompt="a bee", enhance="on")
    text = reply_text(interaction) if interaction.followups else (await answered(ebox, interaction)).content

    job = await ebox.queue.get(queued_id(text))
    assert job.spec.prompt == RICH and job.spec.original_prompt == "a bee"
    assert "**Enhanced prompt**" in text and RICH in text
    clip = await ebox.clip_message(job.id)
    (embed,) = clip.embeds
    # the tiny test model reads only a few tokens, so the worker shortened what it rendered
    assert embed["title"] == "Enhanced prompt" and RICH.startswith(embed["description"])
    assert {"name": "Your words", "value": "a bee", "inline": False} in embed["fields"]
    assert len(bedrock.requests) == 1 and ebox.double.violations == []


async def test_review_generate_queues_the_enhanced_prompt_once(ebox: Box) -> None:
    message, review_id = await review(ebox)
    (embed,) = message.embeds
    assert embed["title"] == "Enhanced prompt" and embed["description"] == RICH
    assert custom_ids(message) == [
        f"reelbot:draft-go:{review_id}",
        f"reelbot:draft-edit:{review_id}",
        f"reelbot:draft-orig:{review_id}",
    ]

    # a double click: both presses reach the bot before it removes the buttons
    button = f"reelbot:draft-go:{review_id}"
    presses = [await ebox.double.click(ebox.channel, message.id, button, ebox.member) for _ in range(2)]
    await ebox.double.wait_for(lambda: all(p.responses for p in presses), 10)
    go, again = sorted(presses, key=lambda p: p.responses[0]["type"], reverse=True)
    job = await ebox.queue.get(queued_id((await answered(ebox, go)).content))

    assert job.spec.prompt == RICH and job.spec.original_prompt == "a bee"
    assert go.responses[0]["type"] == 7 and message.components == []  # the buttons are gone
    assert again.responses[0]["type"] == 4
    assert "expired or was already used" in again.responses[0]["data"]["content"]
    assert len(await ebox.parts.jobs.member_jobs(str(ebox.guild), str(ebox.member))) == 1
    assert ebox.double.violations == []


async def test_review_edit_opens_a_form_with_the_enhanced_text_and_renders_the_edit(ebox: Box) -> None:
    message, review_id = await review(ebox)

    opened = await ebox.double.click(ebox.channel, message.id, f"reelbot:draft-edit:{review_id}", ebox.member)
    await ebox.double.wait_for(lambda: bool(opened.responses), 10)
    modal = opened.responses[0]
    assert modal["type"] == 9 and modal["data"]["custom_id"] == f"reelbot:draft-form:{review_id}"
    assert RICH in str(modal["data"])
    edited = RICH.replace("purple coneflower", "red poppy")
    submitted = await ebox.double.submit_modal(
        ebox.channel, f"reelbot:draft-form:{review_id}", {"prompt": edited}, ebox.member, ebox.guild
    )
    job = await ebox.queue.get(queued_id((await answered(ebox, submitted)).content))

    assert job.spec.prompt == edited and job.spec.original_prompt == "a bee"
    assert ebox.double.violations == []


async def test_review_use_original_renders_the_members_words(ebox: Box) -> None:
    message, review_id = await review(ebox)

    chose = await ebox.double.click(ebox.channel, message.id, f"reelbot:draft-orig:{review_id}", ebox.member)
    job = await ebox.queue.get(queued_id((await answered(ebox, chose)).content))

    assert job.spec.prompt == "a bee" and job.spec.original_prompt is None
    clip = await ebox.clip_message(job.id)
    assert clip.embeds[0]["description"] == "a bee" and "title" not in clip.embeds[0]


async def test_only_the_member_who_asked_can_decide_a_review(ebox: Box) -> None:
    message, review_id = await review(ebox)

    stranger = await ebox.double.click(ebox.channel, message.id, f"reelbot:draft-go:{review_id}", ebox.other)
    await ebox.double.wait_for(lambda: bool(stranger.responses), 10)
    owner = await ebox.double.click(ebox.channel, message.id, f"reelbot:draft-go:{review_id}", ebox.member)
    job = await ebox.queue.get(queued_id((await answered(ebox, owner)).content))

    assert "Only the member who asked" in stranger.responses[0]["data"]["content"]
    assert job.user_id == str(ebox.member)


async def test_an_image_review_keeps_the_image_for_the_job(ebox: Box, bedrock: BedrockDouble) -> None:
    picture = ebox.double.host_attachment("meadow.png", png(640, 360, "green"), "image/png")
    message, review_id = await review(ebox, "make the grass move", image=picture)

    go = await ebox.double.click(ebox.channel, message.id, f"reelbot:draft-go:{review_id}", ebox.member)
    job = await ebox.queue.get(queued_id((await answered(ebox, go)).content))

    assert bedrock.requests[0].images and bedrock.requests[0].images[0][0] == "jpeg"
    assert job.spec.model.image_to_video and job.spec.image_ref
    assert await ebox.store.get(job.spec.image_ref)


async def test_a_refused_generate_gives_the_review_back(ebox: Box) -> None:
    await ebox.ask(ebox.admin, "settings limits", rate=1)
    message, review_id = await review(ebox)
    first = await ebox.video(prompt="something else", enhance="off")
    queued_id((await answered(ebox, first)).content)

    refused = await ebox.double.click(ebox.channel, message.id, f"reelbot:draft-go:{review_id}", ebox.member)
    await ebox.double.wait_for(lambda: bool(refused.followups), 10)

    assert "1 video" in reply_text(refused)
    assert await ebox.parts.drafts.get(review_id) is not None
    assert custom_ids(message)[0] == f"reelbot:draft-go:{review_id}"  # the buttons are back


async def test_the_guild_default_comes_from_settings(ebox: Box) -> None:
    shown = await ebox.ask(ebox.admin, "settings enhance", mode="review")
    interaction = await ebox.video(prompt="a bee")
    message = await answered(ebox, interaction)

    assert "**Prompt enhancement**: **review** (set here)" in shown
    assert message.embeds[0]["title"] == "Enhanced prompt"
    refused = await ebox.ask(ebox.member, "settings enhance", mode="off")
    assert "Manage Server" in refused


async def test_a_failed_enhancement_uses_the_members_words_and_says_why(
    ebox: Box, bedrock: BedrockDouble
) -> None:
    bedrock.fail_next(403, "AccessDeniedException")
    interaction = await ebox.video(prompt="a bee", enhance="on")
    text = (await answered(ebox, interaction)).content

    job = await ebox.queue.get(queued_id(text))
    assert job.spec.prompt == "a bee" and job.spec.original_prompt is None
    assert FALLBACK_NOTES["unavailable"] in text


async def test_without_credentials_the_default_is_off_and_asking_says_unavailable(box: Box) -> None:
    quiet = await box.video(prompt="a bee")
    asked = await box.video(prompt="a wasp", enhance="on")
    quiet_text = (await answered(box, quiet)).content
    asked_text = (await answered(box, asked)).content

    assert "Queued" in quiet_text and "enhance" not in quiet_text.lower()
    assert "not set up on this bot" in asked_text


async def test_the_screen_runs_on_the_members_words_and_again_on_the_enhanced_prompt(
    box: Box, bedrock: BedrockDouble
) -> None:
    seen: list[tuple[str, Stage]] = []

    async def screen(text: str, config: ModerationConfig, stage: Stage) -> Verdict:
        seen.append((text, stage))
        return Verdict(Action.BLOCK, "it mentions wasps") if "wasp" in text else Verdict(Action.ALLOW)

    await box.stop_bot()
    box.enhancer = await enhancer_for(bedrock, box.queue.redis, box.queue.keys)
    box.screen = screen
    await box.start_bot()
    refused = await box.video(prompt="a wasp", enhance="on")
    refused_text = (await answered(box, refused)).content
    bedrock.reply("A wasp circles a picnic table in the afternoon sun.")
    filtered = await box.video(prompt="a bee", enhance="on")
    filtered_text = (await answered(box, filtered)).content

    assert "cannot be made here: it mentions wasps" in refused_text and "Queued" not in refused_text
    job = await box.queue.get(queued_id(filtered_text))
    assert job.spec.prompt == "a bee" and FILTERED_ENHANCEMENT in filtered_text
    assert [stage for _, stage in seen] == [Stage.MEMBER, Stage.MEMBER, Stage.ENHANCED]
    assert len(bedrock.requests) == 1  # a refused prompt never reaches Bedrock
