"""Screening Vietnamese: ordinary sentences pass the default list, a server's Vietnamese entries
catch what they name (with or without accents), and folding accents away never turns an innocent
Vietnamese word into a blocked English one, while English words dressed in Vietnamese marks are
still caught."""

from __future__ import annotations

import pytest

from bot.modconfig import DEFAULT_BLOCK, DEFAULT_REVIEW
from bot.vietnamese import is_syllable, mask_syllables
from bot.wordfilter import Severity, WordList

DEFAULT = WordList.build(DEFAULT_BLOCK, DEFAULT_REVIEW)

#: twenty ordinary things members ask for, in Vietnamese
ORDINARY = [
    "một con mèo đang ngủ trên ghế sofa",
    "chú chó chạy trên bãi biển lúc hoàng hôn",
    "em bé sẽ xem phim hoạt hình cùng bố mẹ",
    "tôi bị cúm nặng nên nằm trên giường cả ngày",
    "con gà trống gáy vang buổi sáng ở nông thôn",
    "cô giáo giảng bài trong lớp học đầy nắng",
    "xe xích lô chạy qua phố cổ Hà Nội",
    "nụ hoa hồng nở chậm dưới mưa xuân",
    "người nông dân gặt lúa trên cánh đồng vàng",
    "con dê ăn cỏ bên sườn đồi",
    "bầu trời đêm đầy sao trên vịnh Hạ Long",
    "bà nội nấu phở bò trong căn bếp nhỏ",
    "hai đứa trẻ thả diều trên đê",
    "sét đánh sáng rực cả bầu trời",
    "chiếc thuyền nan trôi trên sông Hương",
    "cô ấy mặc áo dài trắng đạp xe đến trường",
    "ông già Noel phát quà cho các em nhỏ",
    "đàn cá bơi lội trong hồ nước trong xanh",
    "người đàn ông cười khi nhận được thư",
    "những chiếc đèn lồng rực rỡ ở phố cổ Hội An",
]


@pytest.mark.parametrize("sentence", ORDINARY)
def test_ordinary_vietnamese_sentences_pass_the_default_list(sentence: str) -> None:
    assert DEFAULT.check(sentence) is None


def test_an_innocent_vietnamese_word_is_not_the_english_entry_it_folds_to() -> None:
    # a server that blocks the English slang "cum" and "di*" does not block the flu or going
    words = DEFAULT.extended(block=["cum", "dit"])
    assert words.check("tôi bị cúm nặng") is None
    assert words.check("bé đi học bằng xe đạp") is None
    assert words.check("đít") is None  # a different Vietnamese word than the entry, as written
    # the English words, written without Vietnamese marks, are still caught
    found = words.check("cum")
    assert found is not None and found.severity is Severity.BLOCK


def test_english_words_dressed_in_vietnamese_marks_are_still_caught() -> None:
    for disguised in ("pỏrn video", "một cảnh nùde", "hentại", "sẽx tape", "a nakẹd man"):
        assert not all(is_syllable(w) for w in disguised.split()), disguised
        found = DEFAULT.check(disguised)
        assert found is not None, disguised


def test_a_servers_vietnamese_entries_catch_what_they_name_and_not_their_neighbours() -> None:
    words = DEFAULT.extended(block=["khoả thân", "khiêu dâm*"])
    for bad in ("ảnh khoả thân", "Ảnh KHOẢ THÂN", "phim khiêu dâm", "phim khieu dam", "anh khoa than"):
        found = words.check(bad)
        assert found is not None and found.severity is Severity.BLOCK, bad
    # written with accents, another word that only folds the same is a different word
    for innocent in ("Khoa thân thiện với mọi người", "khoa học tự nhiên", "anh Khoa thấy dâm bụt nở"):
        assert words.check(innocent) is None, innocent


def test_mixed_prompts_are_screened_word_by_word() -> None:
    assert DEFAULT.check("một con mèo, porn") is not None
    assert DEFAULT.check("cảnh nude trên bãi biển") is not None  # review list, English word kept
    assert mask_syllables("mèo cat") == "· cat"
