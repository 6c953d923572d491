"""The prompt word list: evasions are caught, innocent words that contain a term are not."""

from __future__ import annotations

import pytest

from bot import wordfilter
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


#: evasions of blocked words in the default list, each refused
EVASIONS = [
    # plurals and inflections of the default entries
    "two lolis", "shotas at the beach", "she was raped", "he rapes", "a rapist in the alley",
    "rapists", "blowjobs", "handjobs", "penises", "beheadings in a desert", "gangbanged",
    "creampies", "cumshots", "vaginas", "hentais", "lolicons", "shotacons", "gangbangs",
    "masturbating", "decapitated heads", "pornographic", "RAPED", "Beheadings",
    # inflections with the usual evasions on top
    "r4p3d", "l0l1s", "p3n1s3s", "raaaped", "b e h e a d i n g s",
    # split by hyphens, dots, underscores or spaces inside the word
    "be-heading", "be he ad ing", "be_heading", "be.head.ing", "behead ing", "pe-nis",
    "blow-job", "hen-tai", "r-a-p-e-d", "lo-li", "behead ings", "gang-bang",
    # look-alike letters from other scripts and Latin variants
    "Ьеһеаԁіпg", "ʙᴇʜᴇᴀᴅɪɴɢ", "ΒΕΗΕΑDΙΝG", "ᏴᎬᎻᎬᎪᎠING", "vаgіnа", "ⓡⓐⓟⓔⓓ", "𝓻𝓪𝓹𝓮𝓭",
    "ｈｅｎｔａｉ", "pёnis", "ḃéhéàdíñg", "ɡangbang", "ꮯumshot",
    # invisible characters of several kinds in one word
    "r\ufe0fa\U000e0020p\u2800e", "lo\x00li", "pe\u180bni\u206as",
    # the two-word spellings the default list names as phrases
    "a blow job", "hand jobs", "cum shot",
]  # fmt: skip


@pytest.mark.parametrize("prompt", EVASIONS)
def test_evasions_of_the_default_list_are_blocked(prompt: str) -> None:
    assert len(EVASIONS) >= 50
    match = DEFAULT.check(prompt)
    assert match is not None and match.severity is Severity.BLOCK, prompt


#: innocent sentences that look like the default entries from some angle, each allowed
INNOCENT = [
    "a classic car in Scunthorpe", "an assassin in a passage", "a bass guitar", "as soon as it rains",
    "a rapper on a neon stage", "two men rapping in a parking lot", "he rapped on the door",
    "a dog lolling in the sun", "the ship will be heading north", "a cream pie on a kitchen table",
    "a pen is on the desk", "a therapist's office with plants", "grapes on a vine", "velvet drapes",
    "a scraped knee", "a taped box", "rapeseed fields in bloom", "the rapids at dawn",
    "a shotgun on a barn wall", "an assistant at a desk", "Sussex, Essex and Middlesex",
    "cumulus clouds over a lake", "a pinch of cumin", "a lollipop", "hello kitty", "a sextant at sea",
    "a shiitake mushroom", "a jockey on a horse", "a hand holding a job offer",
    "a blow to the head in a boxing match", "a gang of geese", "a big bang", "a x-ray of a hand",
    "a cream-colored horse", "a self-portrait", "a t-shirt", "a well-known painter",
    "a japanese maple", "penne with tomato sauce", "a drape", "vagrants on a bench",
    "a decaf latte", "a cornbread muffin", "the head of a statue", "he is heading home",
    "a tiger beheld the moon", "a toddler", "the cup or the bowl", "the loom at dawn",
    "Lolita Street in the rain",
]  # fmt: skip


@pytest.mark.parametrize("prompt", INNOCENT)
def test_innocent_sentences_are_allowed_by_the_default_list(prompt: str) -> None:
    assert DEFAULT.check(prompt) is None, prompt


_SUBJECTS = [
    "a red fox", "an old fisherman", "a golden retriever", "a street musician", "two astronauts",
    "a rapper in a hoodie", "a therapist", "a ballet dancer", "a herd of elephants", "a child with a kite",
    "a grandmother knitting", "a robot chef", "a samurai", "a hummingbird", "a lighthouse keeper",
    "a jazz pianist", "a pirate captain", "a snowboarder", "a pack of wolves", "a sleepy cat",
]  # fmt: skip
_ACTIONS = [
    "walks slowly through", "dances in", "is heading into", "rests quietly in", "sings loudly in",
    "paints a mural in", "runs across", "is rapping on a stage in", "waves goodbye in", "skates through",
    "jumps over a puddle in", "looks out a window in", "plays chess in", "cooks dinner in",
    "reads a book in", "takes a photo in", "lolls about in", "climbs a ladder in", "rides a bike in",
    "feeds the pigeons in",
]  # fmt: skip
_SETTINGS = [
    "a snowy forest at dawn", "a neon-lit Tokyo alley", "a sunflower field", "the Scottish highlands",
    "a busy Paris café", "an abandoned subway station", "a cozy library", "a coral reef",
    "a desert at sunset", "a rainy London street", "a bamboo grove", "a medieval castle",
    "Scunthorpe town centre", "a space station", "the Essex coast", "a classic diner",
]  # fmt: skip
_STYLES = [
    "cinematic lighting", "shot on 35mm film", "slow motion", "drone shot", "watercolor style",
    "4k, highly detailed", "in the style of a 1950s cartoon", "handheld camera, shallow depth of field",
]  # fmt: skip


def ordinary_prompts() -> list[str]:
    """Ordinary video prompts: each subject with each action, in a setting and style that rotate."""
    prompts = []
    for i, subject in enumerate(_SUBJECTS):
        for j, action in enumerate(_ACTIONS):
            setting = _SETTINGS[(i * 7 + j) % len(_SETTINGS)]
            style = _STYLES[(i + j * 3) % len(_STYLES)]
            prompts.append(f"{subject.capitalize()} {action} {setting}, {style}")
    return prompts


def test_hundreds_of_ordinary_video_prompts_pass_the_default_list() -> None:
    prompts = ordinary_prompts()
    flagged = [(p, DEFAULT.check(p)) for p in prompts if DEFAULT.check(p) is not None]

    assert len(set(prompts)) == 400
    assert flagged == []


def test_a_guilds_list_is_compiled_once_for_its_content_and_the_cache_is_bounded(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(wordfilter, "GUILD_CACHE", 3)
    base = WordList.build(["nude"])
    first = base.for_guild(["spiders"], (), ())

    assert base.for_guild(["spiders"], (), ()) is first  # the same content: compiled once
    assert base.for_guild((), (), ()) is base  # no additions: the default list itself
    changed = base.for_guild(["spiders", "wasps"], (), ())
    assert changed is not first and changed.check("wasps") is not None
    for n in range(3):
        base.for_guild([f"bugs{n}"], (), ())
    assert base.for_guild(["spiders"], (), ()) is not first  # the oldest was let go


def test_sharp_s_is_two_s_and_a_1_reads_as_i_or_l() -> None:
    assert skeleton("Straße") == "strasse"  # not a look-alike b (Unicode pairs ß with Greek beta)
    assert DEFAULT.check("l0l1s") is not None and DEFAULT.check("a dog lolls in the sun") is None
    assert DEFAULT.check("p3n1s") is not None and DEFAULT.check("|o|i") is not None


def test_a_prefix_entry_of_one_or_two_letters_matches_words_starting_with_it() -> None:
    guild = DEFAULT.extended(block=["zq*", "x*"])

    assert guild.check("zqueen") is not None and guild.check("a xylophone") is not None
    assert guild.check("a quiet zebra") is None
