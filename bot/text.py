"""What a prompt says once the invisible is taken out.

Members' text may carry characters that show nothing: format characters (zero-width spaces
and joiners, bidi marks, tags), controls, variation selectors, private-use and unassigned
code points, and a few blank "letters" (the Hangul and Braille blanks). They are removed
before anything else looks at a prompt, so the filter and the model see what the member
sees. A prompt with no letter or digit left (empty, only spaces, punctuation, symbols or
emoji) gives the model nothing to follow and is refused with a message saying so.
"""

from __future__ import annotations

import unicodedata

#: categories that never show: format, control, surrogate, private use, unassigned
_HIDDEN_CATEGORIES = frozenset({"Cf", "Cc", "Cs", "Co", "Cn"})
#: characters of visible categories that show nothing (blank letters, blank patterns)
_BLANKS = frozenset({"\u115f", "\u1160", "\u3164", "\uffa0", "\u2800", "\u180e"})
_WHITESPACE_CONTROLS = frozenset("\n\t\r")


def _hidden(ch: str) -> bool:
    code = ord(ch)
    if ch in _WHITESPACE_CONTROLS:
        return False
    if 0xFE00 <= code <= 0xFE0F or 0xE0100 <= code <= 0xE01EF or 0x180B <= code <= 0x180F:
        return True  # variation selectors (and Mongolian free variation selectors)
    return ch in _BLANKS or unicodedata.category(ch) in _HIDDEN_CATEGORIES


def visible(text: str) -> str:
    """``text`` without the characters that show nothing, its spaces collapsed."""
    kept = "".join(" " if ch in _WHITESPACE_CONTROLS else ch for ch in text if not _hidden(ch))
    return " ".join(kept.split())


def has_words(text: str) -> bool:
    """Whether ``text`` has at least one letter or digit a model can read."""
    return any(unicodedata.category(ch)[0] in "LN" and not _hidden(ch) for ch in text)
