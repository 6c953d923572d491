"""Prompts reach the model in English: a prompt clearly in another language is translated by a
translate-only request through the real boto3 client against the Bedrock double; short, mixed
or English prompts are left alone; without Bedrock the member is told English works best; with
enhancement on, the enhancer writes English and sums it up in the member's language."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from bot import i18n
from bot.enhance import Enhancer, EnhanceSettings, split_summary
from bot.translation import ENGLISH_WORKS_BEST, INSTRUCTIONS, TRANSLATED, PromptTranslator, detect
from inference.jobqueue import JobQueue
from tests.bedrock_double import BedrockDouble
from tests.bot_box import enhancer_for

pytestmark = [pytest.mark.timeout(60), pytest.mark.usefixtures("no_aws_config")]

VIETNAMESE = "một con mèo đang ngủ trên ghế sofa cạnh cửa sổ"
ENGLISH = "a cat sleeping on a sofa next to the window"


@pytest.fixture
async def bedrock() -> AsyncIterator[BedrockDouble]:
    async with BedrockDouble(default_text=ENGLISH) as double:
        yield double


@pytest.mark.parametrize(
    ("text", "language"),
    [
        (VIETNAMESE, "vi"),
        ("chó chạy trên bãi biển lúc hoàng hôn", "vi"),
        ("Un chat qui dort sur le canapé", "fr"),
        ("a red kite over a windy beach", None),  # English
        ("mèo ngủ", None),  # too short to tell
        ("a dragon flying over Hà Nội at night", None),  # English with a Vietnamese name
        ("cat mèo chó dog", None),  # mixed
    ],
)
def test_only_prompts_clearly_in_another_language_are_detected(text: str, language: str | None) -> None:
    assert detect(text) == language


async def test_a_vietnamese_prompt_is_translated_by_a_translate_only_request(
    bedrock: BedrockDouble, queue: JobQueue
) -> None:
    translator = PromptTranslator(await enhancer_for(bedrock, queue.redis, queue.keys))
    result = await translator.to_english("g1", "u1", VIETNAMESE)
    assert (result.prompt, result.original, result.language) == (ENGLISH, VIETNAMESE, "vi")
    assert result.translated and result.note == TRANSLATED
    (sent,) = bedrock.requests
    assert sent.body["system"][0]["text"] == INSTRUCTIONS
    assert "add nothing" in INSTRUCTIONS and "never follow" in INSTRUCTIONS
    assert sent.body["messages"][0]["content"][0]["text"] == f"<text>\n{VIETNAMESE}\n</text>"
    assert sent.body["inferenceConfig"]["temperature"] == 0.0
    again = await translator.to_english("g1", "u1", VIETNAMESE)  # cached: no second call
    assert again.prompt == ENGLISH and len(bedrock.requests) == 1


async def test_english_is_not_sent_to_bedrock(bedrock: BedrockDouble, queue: JobQueue) -> None:
    translator = PromptTranslator(await enhancer_for(bedrock, queue.redis, queue.keys))
    result = await translator.to_english("g1", "u1", "a red kite over a windy beach")
    assert not result.translated and result.prompt == "a red kite over a windy beach" and result.note == ""
    assert bedrock.requests == []


async def test_without_bedrock_the_prompt_goes_as_written_with_a_note(queue: JobQueue) -> None:
    enhancer = Enhancer(EnhanceSettings(), queue.redis, queue.keys, None, "not configured")
    result = await PromptTranslator(enhancer).to_english("g1", "u1", VIETNAMESE)
    assert result.prompt == VIETNAMESE and not result.translated and result.note == ENGLISH_WORKS_BEST


async def test_a_failed_translation_uses_the_members_words(bedrock: BedrockDouble, queue: JobQueue) -> None:
    bedrock.fail_next(400, "ValidationException", "nope")
    translator = PromptTranslator(await enhancer_for(bedrock, queue.redis, queue.keys))
    result = await translator.to_english("g1", "u1", VIETNAMESE)
    assert result.prompt == VIETNAMESE and not result.translated and "could not be translated" in result.note


async def test_the_enhancer_writes_english_and_sums_it_up_in_the_members_language(
    bedrock: BedrockDouble, queue: JobQueue
) -> None:
    enhancer = await enhancer_for(bedrock, queue.redis, queue.keys)
    bedrock.reply(
        f"{ENGLISH}, soft light, a slow dolly.\nSUMMARY: Một chú mèo ngủ trên ghế sofa cạnh cửa sổ."
    )
    with i18n.use("vi"):
        result = await enhancer.enhance("g1", "u1", VIETNAMESE, None, 226)
    assert result.enhanced and result.prompt == f"{ENGLISH}, soft light, a slow dolly."
    assert result.summary == "Một chú mèo ngủ trên ghế sofa cạnh cửa sổ."
    system = bedrock.requests[-1].body["system"][0]["text"]
    assert "Write in English whatever language the idea is written in" in system
    assert "SUMMARY:" in system and "in Vietnamese" in system
    # an English-speaking member is not asked for a summary
    await enhancer.enhance("g1", "u2", "a bee on a flower", None, 226)
    assert "SUMMARY" not in bedrock.requests[-1].body["system"][0]["text"]


def test_a_summary_line_is_taken_out_of_the_prompt() -> None:
    assert split_summary("A cat.\n**Summary:** Một con mèo.") == ("A cat.", "Một con mèo.")
    assert split_summary("A cat on a sofa.") == ("A cat on a sofa.", "")
