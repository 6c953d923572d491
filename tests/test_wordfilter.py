"""The prompt word list: evasions are caught, innocent words that contain a term are not."""

from __future__ import annotations

import pytest

from bot.wordfilter import Severity, WordList, skeleton

LIST = WordList.build(
    block=["nude", "porn*", "blood bath", "ass"],
    review=["gore"],
    exceptions=["sex pistols", "al gore"],
)


@pytest.mark.parametrize(
    "prompt",
    [
        "a nude woman on a beach",
        "a NUDE woman",  # case
        "a ｎｕｄｅ woman",  # fullwidth letters (NFKC)
        "a 𝐧𝐮𝐝𝐞 woman",  # mathematical bold letters (NFKC)
        "a nu\u200bde woman",  # zero-width space
        "a nu\u200dd\u00ade woman",  # zero-width joiner and soft hyphen
        "a nüdé woman",  # accents
        "a пude woman",  # Cyrillic pe for n
        "a nud\u0435 woman",  # Cyrillic ie for e
        "a n\u03c5de woman",  # Greek upsilon for u
        "a nud3 woman",  # leetspeak
        "a ñude woman",  # an accent on another letter
        "a nuuuude woman",  # stretched
        "a n u d e woman",  # spaced out
        "a n.u.d.e woman",  # dotted
        "a n-u-d-e woman",
        "p0rn0graphy",  # a prefix entry, with leetspeak
        "a blood   bath",  # a phrase, odd spacing
        "a bloodbath",  # a phrase run together
        "a$$",  # leetspeak symbols
    ],
)
def test_evasions_are_blocked(prompt: str) -> None:
    match = LIST.check(prompt)
    assert match is not None and match.severity is Severity.BLOCK, prompt


@pytest.mark.parametrize(
    "prompt",
    [
        "a classic car in Scunthorpe",  # class, Scunthorpe
        "an assassin in a passage",  # ass inside words
        "as soon as the sun sets",  # as is not ass
        "a bass guitar on a brass stand",
        "a denuded hillside",  # nude inside a word
        "a sporty coupe in a cornfield",  # porn* must start a word
        "the sex pistols on stage",  # an exception phrase
        "al gore gives a speech",  # an exception for a review term
        "a bloody nose and a bath",  # the phrase's words apart
        "a cat with 5 kittens in 1080p",  # digits folded to letters stay innocent
    ],
)
def test_ordinary_prompts_are_allowed(prompt: str) -> None:
    assert LIST.check(prompt) is None, prompt


def test_review_terms_are_reported_as_review_and_blocks_win() -> None:
    review = LIST.check("a gore scene")
    both = LIST.check("a gore scene with a nude man")

    assert review is not None and review.severity is Severity.REVIEW and review.entry == "gore"
    assert both is not None and both.severity is Severity.BLOCK and both.entry == "nude"


def test_a_guilds_additions_and_exceptions_extend_the_default() -> None:
    guild = LIST.extended(block=["spiders"], exceptions=["nude beach"])

    assert guild.check("a room full of spiders") is not None
    assert guild.check("a sunny nude beach") is None
    assert guild.check("a nude man") is not None
    assert LIST.check("a room full of spiders") is None  # the default is unchanged


def test_skeleton_folds_what_looks_alike() -> None:
    assert skeleton("ＮＵＤ３") == skeleton("nude") == skeleton("nüde")


def test_an_entry_without_letters_is_refused() -> None:
    with pytest.raises(ValueError, match="no letters or digits"):
        WordList.build(block=["***"])
