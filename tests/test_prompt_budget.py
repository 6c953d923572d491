"""The bot's T5 token estimate and how it shortens an enhanced prompt: whole sentences first."""

from __future__ import annotations

import pytest

from bot import prompt_budget
from bot.prompt_budget import drop_unfinished, estimate_tokens, fit, sentences, word_budget


@pytest.mark.parametrize(
    ("text", "tokens"),
    [
        ("", 1),  # the end-of-text token
        ("a bee", 3),
        ("a bee, on a flower.", 8),  # punctuation marks are pieces of their own
        ("cinematography", 4),  # 14 letters: one piece for 8, then 2 more, and end-of-text
        ("1080p", 6),  # digits one by one
        ("café", 3),  # the ASCII run, then each non-ASCII character
    ],
)
def test_the_estimate_counts_pieces_as_t5_splits_english(text: str, tokens: int) -> None:
    assert estimate_tokens(text) == tokens


def test_word_budget_matches_the_instructions() -> None:
    assert word_budget(226) == 180 and word_budget(224) == 179


def test_a_prompt_that_fits_is_left_alone() -> None:
    assert fit("A bee lands. It flies away.", 226) == ("A bee lands. It flies away.", False)


def test_too_long_keeps_whole_sentences() -> None:
    text = " ".join(f"Sentence number {i} describes the bee." for i in range(60))

    fitted, shortened = fit(text, 60)

    assert shortened and estimate_tokens(fitted) <= 60
    assert text.startswith(fitted) and fitted.endswith("describes the bee.")
    assert all(s.endswith(".") for s in sentences(fitted))


def test_a_single_over_long_sentence_ends_at_a_clause_boundary() -> None:
    text = "A bee lands on a flower, " + ", ".join(f"petal {i} sways" for i in range(80)) + "."

    fitted, shortened = fit(text, 40)

    assert shortened and estimate_tokens(fitted) <= 40 and fitted.endswith("sways.")
    assert fitted.startswith("A bee lands on a flower,")


def test_without_clause_boundaries_it_ends_at_a_whole_word() -> None:
    text = " ".join(["honeybee"] * 100)

    fitted, shortened = fit(text, 20)

    assert shortened and estimate_tokens(fitted) <= 20 and fitted.endswith("honeybee.")


def test_an_unfinished_last_sentence_is_dropped() -> None:
    assert drop_unfinished("One. Two! Three is cut") == "One. Two!"
    assert drop_unfinished("One. Two.") == "One. Two."
    assert drop_unfinished("only a fragment") == ""


def test_the_enhancers_budget_follows_each_models_window_up_to_a_useful_caption() -> None:
    from inference.contract import ModelId
    from inference.recipes import recipe_for

    assert prompt_budget.word_budget(recipe_for(ModelId.COGVIDEOX_5B).max_tokens) == 180
    assert prompt_budget.word_budget(recipe_for(ModelId.COGVIDEOX15_5B).max_tokens) == 179
    # Wan 2.2's umT5 reads 512 tokens: the enhancer may write longer, up to 200 words
    assert prompt_budget.word_budget(recipe_for(ModelId.WAN22_TI2V_5B).max_tokens) == prompt_budget.MAX_WORDS
