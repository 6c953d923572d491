"""The prompt word list: terms and phrases matched on normalised whole words, so that evasions are
caught and innocent words that merely contain a term are not.

Both the text and every list entry are reduced to a *skeleton* before they are compared:

1. Unicode NFKC (fullwidth and styled letters become plain ones), then case folding;
2. invisible characters removed (zero-width spaces and joiners, soft hyphens, bidi marks);
3. accents stripped (NFKD, combining marks dropped) and look-alike letters from other scripts
   mapped to the Latin letter they imitate (Cyrillic ``а``, Greek ``ο``, ...);
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

import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import StrEnum

_INVISIBLE = dict.fromkeys(
    map(
        ord,
        "\u00ad\u034f\u061c\u115f\u1160\u17b4\u17b5\u180e\u200b\u200c\u200d\u200e\u200f"
        "\u202a\u202b\u202c\u202d\u202e\u2060\u2061\u2062\u2063\u2064\u2066\u2067\u2068\u2069\ufeff",
    ),
    None,
)
# letters from other scripts that look like Latin ones (after case folding)
_LOOKALIKES = str.maketrans(
    {
        # Cyrillic
        "а": "a", "в": "b", "е": "e", "ё": "e", "к": "k", "м": "m", "н": "h", "о": "o", "р": "p",
        "с": "c", "т": "t", "у": "y", "х": "x", "ѕ": "s", "і": "i", "ї": "i", "ј": "j", "ԁ": "d",
        "ɡ": "g", "п": "n", "г": "r", "ո": "n", "ս": "u", "ԛ": "q", "ԝ": "w", "һ": "h", "ӏ": "i",
        # Greek
        "α": "a", "β": "b", "ε": "e", "η": "n", "ι": "i", "κ": "k", "ν": "v", "ο": "o", "ρ": "p",
        "τ": "t", "υ": "u", "χ": "x", "γ": "y", "ω": "w", "μ": "u",
        # Latin look-alikes and symbols used as letters
        "ı": "i", "ł": "l", "ø": "o", "đ": "d", "ß": "ss", "æ": "ae", "œ": "oe",
    }
)  # fmt: skip
_LEET = str.maketrans({"0": "o", "1": "i", "!": "i", "|": "i", "l": "i", "3": "e", "4": "a", "@": "a",
                       "5": "s", "$": "s", "7": "t", "+": "t"})  # fmt: skip
_WORDS = re.compile(r"[^\W_]+")
_REPEATS = re.compile(r"(.)\1+")


def skeleton(text: str) -> str:
    """``text`` reduced for matching (see the module docstring): lower-case Latin letters and digits."""
    text = unicodedata.normalize("NFKC", text).casefold().translate(_INVISIBLE)
    text = "".join(c for c in unicodedata.normalize("NFKD", text) if not unicodedata.combining(c))
    return text.translate(_LOOKALIKES).translate(_LEET)


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
