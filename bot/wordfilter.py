"""The prompt word list: terms and phrases matched on normalised whole words, so that evasions are
caught and innocent words that merely contain a term are not.

Both the text and every list entry are reduced to a *skeleton* before they are compared:

1. Unicode NFKD: fullwidth, circled and styled letters become plain ones, accents come apart;
2. what shows nothing is removed, by Unicode category rather than from a list: format characters
   (zero-width spaces and joiners, bidi marks, tags), controls (NUL...), combining marks (the
   accents, variation selectors), unassigned and private-use code points, and the blank letters;
3. look-alike letters become the Latin letter they imitate, from Unicode's confusables table
   (UTS #39, Cyrillic ``а``, Greek ``ο``, Cherokee ``Ꮟ``...) and the names of Latin variants
   (``ł``, small capitals); the rest is case-folded;
4. leetspeak folded: ``0``→o, ``1``/``!``/``|``→i (``l`` too, as it is the same stroke),
   ``3``→e, ``4``/``@``→a, ``5``/``$``→s, ``7``/``+``→t;

A word matches an entry's word when the two are equal, or when the text's word is the entry's
with letters stretched (``nuuude`` for ``nude``; but ``as`` is not ``ass``).

The skeleton is split into words on everything that is not a letter or digit. Letters spaced
out one by one (``n u d e``, ``n.u.d.e``) are joined back into a word as well. An entry matches
whole words in order (``"blood bath"`` matches those two words together); an entry ending in
``*`` matches any word that starts with it (``nud*``: nude, nudity). Exceptions are phrases
removed before matching, so ``sex pistols`` can be allowed while ``sex`` is not.
"""

from __future__ import annotations

import json
import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from functools import cache
from importlib import resources

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
_LEET = str.maketrans({"0": "o", "1": "i", "!": "i", "|": "i", "l": "i", "3": "e", "4": "a", "@": "a",
                       "5": "s", "$": "s", "7": "t", "+": "t"})  # fmt: skip
_LEET_SYMBOLS = frozenset("!|@$+")
_BIDI_MARKS = dict.fromkeys(map(ord, "\u200e\u200f"), None)
_WORDS = re.compile(r"[^\W_]+")
_REPEATS = re.compile(r"(.)\1+")


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
    if (latin := _latin_letter(char) or _lookalike(char, 1)) is not None:
        return latin
    folded = unicodedata.normalize("NFKD", char.casefold())
    if folded != char:  # ß is ss; a capital not in the table may have a small letter that is
        return "".join(_fold_char(c) if c != char else c for c in folded)
    # further away: small letters whose capital is a look-alike (the Cyrillic soft sign and b)
    return _lookalike(char, 3) or _ALSO_LOOKS_LIKE.get(char, char)


class _FoldTable(dict[int, str]):
    """``str.translate``'s table for :func:`_fold_char`, filled as characters are met."""

    def __missing__(self, code: int) -> str:
        folded = _fold_char(chr(code))
        if len(self) < _FOLD_TABLE_SIZE:  # a flood of distinct characters cannot grow it for ever
            self[code] = folded
        return folded


_FOLD_TABLE_SIZE = 1 << 16
_FOLD = _FoldTable()


def skeleton(text: str) -> str:
    """``text`` reduced for matching (see the module docstring): lower-case Latin letters and digits."""
    return unicodedata.normalize("NFKD", text).translate(_FOLD).translate(_LEET)


def _squeezed(word: str) -> str:
    return _REPEATS.sub(r"\1", word)


def same_word(word: str, term: str) -> bool:
    """``word`` is ``term``, or ``term`` with some letters stretched."""
    return word == term or (len(word) > len(term) and _squeezed(word) == _squeezed(term))


#: marks a word made of letters spaced out one by one ("n u d e"), which may hold several words
SPELLED = "\x01"


def words(text: str) -> list[str]:
    """The skeleton's words; three or more single letters in a row also give one ``SPELLED`` word."""
    found = _WORDS.findall(skeleton(text))
    joined: list[str] = []
    run: list[str] = []
    for word in [*found, ""]:
        if len(word) == 1:
            run.append(word)
            continue
        if len(run) >= 3:
            joined.append(SPELLED + "".join(run))
        joined.extend(run)
        run = []
        if word:
            joined.append(word)
    return joined


#: entries a guild may add to each of its lists
MAX_WORDS = 200


def check_entry(text: str) -> None:
    """Check an admin's entry.

    Raises:
        SettingsError: it has nothing to match, or is too long.
    """
    from bot.guildconfig import SettingsError

    if len(text) > 100:
        raise SettingsError(f"“{text[:40]}…” is too long; entries are at most 100 characters.")
    if not words(text.rstrip("*")):
        raise SettingsError(f"“{text}” has no letters or digits to match.")


class Severity(StrEnum):
    """What a match does: send the prompt to moderators, or refuse it."""

    REVIEW = "review"
    BLOCK = "block"


@dataclass(frozen=True, slots=True)
class Entry:
    """One list entry, as written and as the words it matches."""

    text: str
    severity: Severity
    words: tuple[str, ...]
    prefix: bool

    @classmethod
    def parse(cls, text: str, severity: Severity) -> Entry:
        """An entry from an admin's text.

        Raises:
            ValueError: nothing to match in it.
        """
        raw = text.strip()
        prefix = raw.endswith("*")
        parts = tuple(words(raw.rstrip("*")))
        if not parts:
            raise ValueError(f"{text!r} has no letters or digits to match")
        return cls(raw, severity, parts, prefix)

    def matches(self, text_words: Sequence[str]) -> bool:
        """Whether the entry's words occur in ``text_words`` in order (or run together as one)."""
        whole = _squeezed("".join(self.words))
        for word in text_words:
            if word.startswith(SPELLED) and whole in _squeezed(word[1:]):
                return True  # "a n u d e woman": the term spelled out inside a run of letters
            if len(self.words) > 1 and same_word(word, "".join(self.words)):
                return True  # "bloodbath" for "blood bath"
        size = len(self.words)
        for i in range(len(text_words) - size + 1):
            window = text_words[i : i + size]
            if not all(same_word(w, t) for w, t in zip(window[:-1], self.words[:-1], strict=True)):
                continue
            last, term = window[-1], self.words[-1]
            if same_word(last, term) or (self.prefix and _squeezed(last).startswith(_squeezed(term))):
                return True
        return False


@dataclass(frozen=True, slots=True)
class Match:
    """The entry that matched, for the verdict's reason."""

    entry: str
    severity: Severity


class WordList:
    """Entries to block or review, and exception phrases that never count."""

    def __init__(self, entries: Iterable[Entry] = (), exceptions: Iterable[str] = ()) -> None:
        self.entries = list(entries)
        self.exceptions = [tuple(words(e)) for e in exceptions if words(e)]

    @classmethod
    def build(
        cls, block: Iterable[str] = (), review: Iterable[str] = (), exceptions: Iterable[str] = ()
    ) -> WordList:
        entries = [Entry.parse(t, Severity.BLOCK) for t in block] + [
            Entry.parse(t, Severity.REVIEW) for t in review
        ]
        return cls(entries, exceptions)

    def extended(
        self, block: Iterable[str] = (), review: Iterable[str] = (), exceptions: Iterable[str] = ()
    ) -> WordList:
        """This list plus a guild's additions and exceptions."""
        more = WordList.build(block, review)
        combined = WordList(self.entries + more.entries)
        combined.exceptions = self.exceptions + [tuple(words(e)) for e in exceptions if words(e)]
        return combined

    def check(self, text: str) -> Match | None:
        """The most severe entry ``text`` matches (blocking ones first), or ``None``."""
        text_words = self._without_exceptions(words(text))
        for severity in (Severity.BLOCK, Severity.REVIEW):
            for entry in self.entries:
                if entry.severity is severity and entry.matches(text_words):
                    return Match(entry.text, severity)
        return None

    def _without_exceptions(self, text_words: list[str]) -> list[str]:
        kept = list(text_words)
        for phrase in self.exceptions:
            size, i = len(phrase), 0
            while i <= len(kept) - size:
                if tuple(kept[i : i + size]) == phrase:
                    kept[i : i + size] = ["\0"]  # a gap, so the words around it do not join
                else:
                    i += 1
        return kept
