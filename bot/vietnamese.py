"""Vietnamese words in the word filter: accents that make words, not disguises.

The filter folds accents away (``pörn`` is ``porn``), which is right for English and wrong for
Vietnamese, where accents tell words apart: ``cúm`` (flu) is not ``cum``, ``khoa`` (a name) is
not ``khoả`` (bare). So a word that carries Vietnamese marks *and* is a well-formed Vietnamese
syllable is read as Vietnamese: it is not matched against list entries written without marks,
and entries written with Vietnamese marks match it only as written (case aside). An English word
dressed in Vietnamese marks to slip past the list (``pỏrn``, ``nùde``, ``sẽx``) is not a
well-formed syllable, so it is folded and caught as before. Text written without any marks
(Vietnamese typed without accents, or English) is matched as before, against every entry.
"""

from __future__ import annotations

import re
import unicodedata

_TONES = {"\u0300", "\u0301", "\u0303", "\u0309", "\u0323"}  # grave, acute, tilde, hook, dot below
_VOWEL_MARKS = {"\u0306", "\u0302", "\u031b"}  # breve (ă), circumflex (â ê ô), horn (ơ ư)

#: a Vietnamese syllable, once its tone is taken off: initial consonant, vowel nucleus, final
_SYLLABLE = re.compile(
    r"(?:ngh|ng|nh|ch|gh|gi|kh|ph|th|tr|qu|[bcdđghklmnprstvx])?"
    r"(?:[aăâeêioôơuưy]{1,3})"
    r"(?:ng|nh|ch|[cmnpt])?"
)


def _without_tone(word: str) -> str:
    """``word`` in NFC with its tone marks removed (ấ -> â, ữ -> ư), lower-case."""
    parts = unicodedata.normalize("NFD", word.lower())
    return unicodedata.normalize("NFC", "".join(c for c in parts if c not in _TONES))


def has_marks(word: str) -> bool:
    """Whether ``word`` carries a Vietnamese tone or vowel mark, or đ."""
    if word.isascii():  # most prompts: a check costs next to nothing
        return False
    decomposed = unicodedata.normalize("NFD", word.lower())
    return "đ" in word.lower() or any(c in _TONES or c in _VOWEL_MARKS for c in decomposed)


def is_syllable(word: str) -> bool:
    """Whether ``word`` is a well-formed Vietnamese syllable written with its marks (``cúm``,
    ``nghiêng``), not an English word wearing them (``pỏrn``)."""
    if not word or not has_marks(word):
        return False
    base = _without_tone(word)
    if any(c not in "abcdefghijklmnopqrstuvwxyzăâđêôơư" for c in base):
        return False  # marks no Vietnamese letter takes (ö, ñ, ç...)
    tones = sum(c in _TONES for c in unicodedata.normalize("NFD", word.lower()))
    return tones <= 1 and _SYLLABLE.fullmatch(base) is not None


def as_written(text: str) -> str:
    """``text`` lower-cased in NFC, for matching Vietnamese entries as they are spelt."""
    return unicodedata.normalize("NFC", text.lower())


_WORD = re.compile(r"[^\W_]+")


def words(text: str) -> list[str]:
    """The words of ``text`` as written (NFC, lower-case)."""
    return _WORD.findall(as_written(text))


def mask_syllables(text: str, filler: str = "·") -> str:
    """``text`` with every marked Vietnamese syllable replaced by ``filler`` (a word that matches
    nothing and joins with nothing), for matching against entries written without marks."""
    return _WORD.sub(
        lambda m: filler if is_syllable(m.group()) else m.group(), unicodedata.normalize("NFC", text)
    )
