"""The prompt word list: evasions are caught, innocent words that contain a term are not."""

from __future__ import annotations

import pytest

from bot.modconfig import DEFAULT_BLOCK, DEFAULT_REVIEW
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


# ---------------------------------------------------------------- the default list (issue: coverage)

DEFAULT = WordList.build(DEFAULT_BLOCK, DEFAULT_REVIEW)

#: characters that show nothing, one of each kind: variation selectors, Mongolian free variation
#: selectors, deprecated format characters, interlinear annotation, musical format characters,
#: the blank Braille pattern, tag characters, controls (NUL among them), blank Hangul letters,
#: zero-width characters and joiners, bidi controls, shorthand and hieroglyph format controls
INVISIBLE = [
    "\ufe00", "\ufe0e", "\ufe0f", "\U000e0100", "\U000e01ef", "\u180b", "\u180c", "\u180d", "\u180f",
    "\u180e", "\u206a", "\u206b", "\u206f", "\ufff9", "\ufffa", "\ufffb", "\U0001d173", "\U0001d175",
    "\U0001d17a", "\u2800", "\U000e0001", "\U000e0020", "\U000e0041", "\U000e007f", "\x00", "\x01",
    "\x1b", "\x7f", "\x85", "\x9f", "\u115f", "\u1160", "\u3164", "\uffa0", "\u200b", "\u200c",
    "\u200d", "\u2060", "\ufeff", "\u00ad", "\u034f", "\u061c", "\u2062", "\u2064", "\u202e",
    "\u2066", "\u2069", "\U0001bca0", "\U0001bca3", "\U00013430",
]  # fmt: skip


@pytest.mark.parametrize("hidden", INVISIBLE, ids=[f"U+{ord(c):04X}" for c in INVISIBLE])
def test_a_blocked_word_with_invisible_characters_between_its_letters_is_blocked(hidden: str) -> None:
    assert len(INVISIBLE) == 50
    between = hidden.join("beheading")
    inside = "a be" + hidden + "heading on stage"

    for prompt in (between, inside):
        match = DEFAULT.check(prompt)
        assert match is not None and match.severity is Severity.BLOCK, ascii(prompt)


@pytest.mark.parametrize(
    "prompt",
    ["Ьеһеаԁіпg", "ʙᴇʜᴇᴀᴅɪɴɢ", "ΒΕΗΕΑDΙΝG", "ᏴᎬᎻᎬᎪᎠING", "vаgіnа", "ⓡⓐⓟⓔ", "𝓻𝓪𝓹𝓮", "ｈｅｎｔａｉ", "pёnis",
     "ḃéhéàdíñg", "ɡangbang", "ꮯumshot", "r\ufe0fa\U000e0020p\u2800e", "lo\x00li", "pe\u180bni\u206as"],
)  # fmt: skip
def test_look_alike_letters_from_unicodes_confusables_are_caught(prompt: str) -> None:
    match = DEFAULT.check(prompt)
    assert match is not None and match.severity is Severity.BLOCK, prompt


def test_sharp_s_is_two_s_not_a_look_alike_b() -> None:
    assert skeleton("Straße") == "strasse"
