"""Vietnamese end to end, through the real discord.py bot against the Discord double: a member
whose Discord speaks Vietnamese reads Vietnamese in every reply, the server's posts follow the
server's language, an English-speaking member of the same server reads English; a Vietnamese
prompt reaches the model in English through the local Bedrock endpoint."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from typing import Any

import pytest

from bot import i18n, vietnamese
from bot.translation import ENGLISH_WORKS_BEST
from tests.bedrock_double import BedrockDouble
from tests.bot_box import Box, answered, enhancer_for, moderated, review_message

pytestmark = [pytest.mark.timeout(240), pytest.mark.usefixtures("no_aws_config")]

PROMPT_VI = "một chiếc thuyền giấy trôi trên mặt hồ"
PROMPT_EN = "a paper boat drifting on a lake"


def vi(text: str, **values: Any) -> str:
    return i18n.translate("vi", text, **values)


def marked_words(text: str) -> int:
    """How many words carry Vietnamese marks (the prompt's own words taken out)."""
    text = text.replace(PROMPT_VI, "")
    return sum(vietnamese.has_marks(word) for word in re.findall(r"\w+", text))


def in_vietnamese(text: str) -> bool:
    return marked_words(text) >= 3


def in_english(text: str) -> bool:
    return marked_words(text) == 0


def labels(message: Any) -> list[str]:
    return [c.get("label", "") for row in message.components for c in row["components"]]


async def test_a_vietnamese_member_reads_vietnamese_and_an_english_member_english(box: Box) -> None:
    told = await box.ask(box.admin, "settings language", language="vi")
    assert "Tiếng Việt" in told
    ana = box.double.add_member(box.guild, "lan", locale="vi")

    reply = await answered(box, await box.video(ana, prompt="a paper boat on a pond", seed=3))
    job_id = reply.split("`")[1]
    assert reply.startswith(vi("Queued `{job}` with `{model}`.", job=job_id, model="cogvideox-5b")), reply
    # the clip card and its buttons are for everyone: in the server's language
    clip = await box.clip_message(job_id, 120)
    fields = {f["name"] for f in clip.embeds[0]["fields"]}
    assert {vi("Model"), vi("Seed"), vi("Length"), vi("Size")} <= fields, fields
    assert vi("Re-roll") in labels(clip) and vi("Delete") in labels(clip)
    assert in_vietnamese(clip.content), clip.content

    # an English-speaking member of the same server reads English
    english = await answered(box, await box.video(box.member, prompt="a paper boat on a pond"))
    assert english.startswith("Queued `") and in_english(english), english

    # a limit refusal
    assert "Changed" in await box.ask(box.admin, "settings limits", active=1, rate=0)
    await answered(box, await box.video(ana, prompt="a kite in the wind"))
    refused = await answered(box, await box.video(ana, prompt="a kite in the wind"))
    assert "Queued" not in refused and in_vietnamese(refused), refused
    assert "Changed" in await box.ask(box.admin, "settings limits", active=0, rate=0)

    # a filter refusal
    blocked = await answered(box, await box.video(ana, prompt="a porn set"))
    assert in_vietnamese(blocked) and "porn" in blocked, blocked

    # a request held for a moderator: the member hears in Vietnamese, the review card's buttons too
    review = await moderated(box, before_generation="every")
    held = await answered(box, await box.video(ana, prompt="a red kite"))
    assert in_vietnamese(held), held
    card = await review_message(box, review)
    assert {vi("Approve"), vi("Reject")} <= set(labels(card)), labels(card)
    assert box.double.violations == []


async def test_a_vietnamese_prompt_goes_as_written_without_bedrock_with_a_note(box: Box) -> None:
    ana = box.double.add_member(box.guild, "lan", locale="vi")
    reply = await answered(box, await box.video(ana, prompt=PROMPT_VI))
    job_id = reply.split("`")[1]
    assert vi(ENGLISH_WORKS_BEST) in reply, reply
    job = await box.queue.get(job_id)
    assert job.spec.prompt == PROMPT_VI and job.spec.original_prompt is None
    english = await answered(box, await box.video(box.member, prompt=PROMPT_VI))
    assert ENGLISH_WORKS_BEST in english  # the same note, in the member's own language


@pytest.fixture
async def bedrock() -> AsyncIterator[BedrockDouble]:
    async with BedrockDouble(default_text=PROMPT_EN) as double:
        yield double


async def test_a_vietnamese_prompt_reaches_the_model_in_english_through_bedrock(
    box: Box, bedrock: BedrockDouble
) -> None:
    await box.stop_bot()
    box.enhancer = await enhancer_for(bedrock, box.queue.redis, box.queue.keys)
    await box.start_bot()
    ana = box.double.add_member(box.guild, "lan", locale="vi")

    reply = await answered(box, await box.video(ana, prompt=PROMPT_VI, enhance="off"))
    job_id = reply.split("`")[1]
    job = await box.queue.get(job_id)
    assert (job.spec.prompt, job.spec.original_prompt) == (PROMPT_EN, PROMPT_VI)
    assert vi("**In English for the video model**:") in reply and PROMPT_EN in reply, reply
    (sent,) = [r for r in bedrock.requests if r.operation == "Converse"]
    assert PROMPT_VI in sent.body["messages"][0]["content"][0]["text"]

    clip = await box.clip_message(job_id, 120)  # posted in the server's language: English here
    embed = clip.embeds[0]
    assert embed["title"] == "Prompt translated into English"
    assert embed["description"] == PROMPT_EN
    assert {f["name"]: f["value"] for f in embed["fields"]}["Your words"] == PROMPT_VI
    # Re-roll keeps both texts
    reroll = await box.double.click(box.channel, clip.id, f"reelbot:reroll:{job_id}", ana)
    again = await box.queue.get((await answered(box, reroll)).split("`")[1])
    assert (again.spec.prompt, again.spec.original_prompt) == (PROMPT_EN, PROMPT_VI)
    assert (await box.parts.jobs.notes(again.id)).translated == "vi"  # its card says so too
    assert len([r for r in bedrock.requests if r.operation == "Converse"]) == 1  # not translated again
    assert box.double.violations == []
