"""What a prompt says once the invisible is taken out (bot/text.py)."""

from __future__ import annotations

import pytest

from bot.text import has_words, visible

INVISIBLE = [
    "\u200b",  # zero-width space
    "\u200d",  # zero-width joiner
    "\u2060",  # word joiner
    "\ufeff",  # byte order mark
    "\u202e",  # right-to-left override
    "\ufe0f",  # variation selector 16
    "\U000e0041",  # tag latin capital a
    "\u180b",  # Mongolian free variation selector
    "\u206a",  # inhibit symmetric swapping
    "\ufff9",  # interlinear annotation anchor
    "\U0001d173",  # musical symbol begin beam
    "\u2800",  # braille blank
    "\u3164",  # hangul filler
    "\x00",  # NUL
    "\ue000",  # private use
]


@pytest.mark.parametrize("ch", INVISIBLE, ids=[f"U+{ord(c):04X}" for c in INVISIBLE])
def test_each_invisible_character_is_taken_out(ch: str) -> None:
    assert visible(f"n{ch}u{ch}d{ch}e beach") == "nude beach"
    assert not has_words(visible(ch * 5))


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("a cat on a roof", True),
        ("café au lait", True),
        ("一只猫", True),  # letters of any script count
        ("1984", True),
        ("", False),
        ("   \n\t ", False),
        ("!!! ??? ...", False),
        ("🐱🚀✨", False),
        ("\u200b\u200d\ufe0f\u2800", False),
    ],
)
def test_a_prompt_needs_a_letter_or_a_digit(text: str, words: bool) -> None:
    assert has_words(visible(text)) is words


def test_spaces_and_line_breaks_collapse_and_accents_stay() -> None:
    assert visible("  a  red\n\nkite\u200b  over   the beach ") == "a red kite over the beach"
    assert visible("crème brûlée") == "crème brûlée"
