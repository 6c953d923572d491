"""Reducing text to a *skeleton* for the word list: what it looks like, not how it is written.

Both the text and every list entry are reduced to a *skeleton* before they are compared:

1. Unicode NFKD: fullwidth, circled and styled letters become plain ones, accents come apart;
2. what shows nothing is removed, by Unicode category rather than from a list: format characters
   (zero-width spaces and joiners, bidi marks, tags), controls (NUL...), combining marks (the
   accents, variation selectors), unassigned and private-use code points, and the blank letters;
3. look-alike letters become the Latin letter they imitate, from Unicode's confusables table
   (UTS #39, Cyrillic ``а``, Greek ``ο``, Cherokee ``Ꮟ``...) and the names of Latin variants
   (``ł``, small capitals); the rest is case-folded;
4. leetspeak folded: ``0``→o, ``!``→i, ``3``→e, ``4``/``@``→a, ``5``/``$``→s, ``7``/``+``→t;
   a ``1`` (and ``|``, and the look-alikes of a capital I) stays, and reads as i or l.
"""

from __future__ import annotations

import json
import re
import unicodedata
from functools import cache
from importlib import resources

#: a 1 in the text reads as i or as l (p3n1s, l0l1); so do | and the look-alikes of a capital I,
#: which Unicode's table pairs with l
ONE = "1"
#: whitespace separates words; every other control character is hidden (NUL, NEL, ESC...)
_SPACES = frozenset(" \t\n\r\v\f")
#: categories that show nothing: format (zero-width, bidi, tags), control, surrogate, private
#: use, unassigned, and combining marks (accents and variation selectors, once NFKD has split
#: them off their letter)
_HIDDEN = frozenset({"Cf", "Cc", "Cs", "Co", "Cn", "Mn", "Me"})
#: letters and patterns of visible categories that show nothing
_BLANKS = frozenset("\u115f\u1160\u3164\uffa0\u2800")
#: Latin letters that NFKD leaves whole (with a stroke, a hook, small capitals, dotless i),
#: by their Unicode name: "LATIN SMALL LETTER L WITH STROKE" is an l
_LATIN_VARIANT = re.compile(
    r"LATIN (?:SMALL |CAPITAL )?LETTER (?:SMALL CAPITAL |DOTLESS |SMALL )?([A-Z])(?: WITH .+)?"
)
#: look-alikes Unicode's table pairs only with other non-Latin letters (п with π, ω with ꞷ),
#: although members use them for these Latin ones
_ALSO_LOOKS_LIKE = {"п": "n", "ω": "w"}
LEET = str.maketrans({"0": "o", "!": "i", "|": ONE, "3": "e", "4": "a", "@": "a", "5": "s", "$": "s",
                       "7": "t", "+": "t"})  # fmt: skip
#: in an entry, a 1 is an i (b1tch); the text's 1 may be either
ENTRY_ONES = str.maketrans({ONE: "i", "|": "i"})
COLLAPSE_ONES = str.maketrans({ONE: "i", "l": "i"})
_LEET_SYMBOLS = frozenset("!|@$+")
_BIDI_MARKS = dict.fromkeys(map(ord, "\u200e\u200f"), None)
WORDS = re.compile(r"[^\W_]+")
#: the repeats of a letter (the second n of nn): removing them squeezes a word
REPEATS = re.compile(r"(?<=(.))\1+")


@cache
def _confusables() -> dict[str, frozenset[str]]:
    """Unicode's confusables (UTS #39, as the confusable-homoglyphs package ships them), as a graph
    linking each character with the prototype it is confused with, both ways."""
    data = json.loads(resources.files("confusable_homoglyphs").joinpath("confusables.json").read_text())
    graph: dict[str, set[str]] = {}
    for char, glyphs in data.items():
        graph.setdefault(char.translate(_BIDI_MARKS), set()).update(
            g["c"].translate(_BIDI_MARKS) for g in glyphs
        )
    return {char: frozenset(linked) for char, linked in graph.items()}


def _latin(text: str) -> str | None:
    """``text`` as lower-case ASCII letters and digits (and leetspeak symbols), or None."""
    text = "".join(c for c in unicodedata.normalize("NFKD", text) if not unicodedata.combining(c))
    if text and text.isascii() and all(c.isalnum() or c in _LEET_SYMBOLS for c in text):
        return text.lower()
    return None


def _latin_letter(char: str) -> str | None:
    """The letters of a Latin variant (by its name) or of Latin text, lower-case; or None."""
    name = _LATIN_VARIANT.fullmatch(unicodedata.name(char, "")) if len(char) == 1 else None
    return name.group(1).lower() if name is not None else _latin(char)


def _lookalike(char: str, steps: int) -> str | None:
    """The Latin letters ``char`` imitates, or None: the nearest in the confusables graph, where a
    step is a confusable pair or a change of case (``ᴀ`` is paired with Cherokee ``ꭺ``, whose
    capital is paired with ``A``), at most ``steps`` away."""
    graph, seen, level = _confusables(), {char}, [char]
    for _ in range(steps):
        following = []
        for c in level:
            linked = graph.get(c, frozenset()) | {v for v in (c.upper(), c.lower()) if len(v) == 1}
            following += sorted(linked - seen)
            seen.update(linked)
        found = [t for t in map(_latin_letter, following) if t is not None]
        if found:  # letters before digits, then the shortest: the same choice on every run
            return min(found, key=lambda t: (not t.isalpha(), len(t), t))
        level = following
    return None


def _fold_char(char: str) -> str:
    """One character of NFKD text as it is matched: a space, nothing, or lower-case letters."""
    if char in _SPACES or unicodedata.category(char) in ("Zs", "Zl", "Zp"):
        return " "
    if char in _BLANKS or unicodedata.category(char) in _HIDDEN:
        return ""
    if char.isascii():
        return char.lower()
    if (name := _LATIN_VARIANT.fullmatch(unicodedata.name(char, ""))) is not None:
        return name.group(1).lower()  # ł is an l
    if (latin := _lookalike(char, 1)) is not None:
        return ONE if latin == "l" else latin
    folded = unicodedata.normalize("NFKD", char.casefold())
    if folded != char:  # ß is ss; a capital not in the table may have a small letter that is
        return "".join(_fold_char(c) if c != char else c for c in folded)
    # further away: small letters whose capital is a look-alike (the Cyrillic soft sign and b)
    latin = _lookalike(char, 3)
    return (ONE if latin == "l" else latin) if latin else _ALSO_LOOKS_LIKE.get(char, char)


class _FoldTable(dict[int, str]):
    """``str.translate``'s table for :func:`_fold_char`, filled as characters are met."""

    def __missing__(self, code: int) -> str:
        folded = _fold_char(chr(code))
        # what shows is an assigned character (about 145,000 in all), worth keeping: a look-alike
        # costs 10-40 µs to find; what does not is cheap to find again, and a flood of unassigned
        # or private-use code points must not fill the table
        if folded or len(self) < _FOLD_TABLE_SIZE:
            self[code] = folded
        return folded


_FOLD_TABLE_SIZE = 1 << 16
FOLD = _FoldTable()


def skeleton(text: str) -> str:
    """``text`` reduced for matching (see the module docstring): lower-case Latin letters and digits."""
    return unicodedata.normalize("NFKD", text).translate(FOLD).translate(LEET)


def words(text: str) -> list[str]:
    """The skeleton's words."""
    return WORDS.findall(skeleton(text))
