"""Will a prompt fit the video model's text window? A T5 token estimate without transformers.

CogVideoX reads the prompt through T5's SentencePiece vocabulary (32,000 pieces learnt from
English web text) and keeps at most 226 tokens (224 for CogVideoX 1.5). The bot does not
load that tokenizer: it would pull transformers and a download into the Discord side. It
estimates instead, on the high side for English: a common word is one piece, a long or
rare word splits into pieces of about four or five letters, every digit, punctuation mark
and non-ASCII character counts as a piece of its own, and the end-of-text token counts.
The worker still counts exactly before rendering (``inference.generator.fit_prompt``) and
says so on the clip if it had to cut, so an estimate that is a little low cannot overflow
the model; one that is a little high only shortens a prompt that might have fitted.

Shortening never cuts mid-sentence without saying so: :func:`fit` keeps whole sentences,
and only when the first sentence alone is too long does it end that sentence early, at a
clause boundary where there is one, and it reports that it shortened the text.
"""

from __future__ import annotations

import math
import re

#: the pieces the estimate counts: ASCII letter runs, and any other single non-space character
_PIECES = re.compile(r"[A-Za-z]+|\S")
#: a word this long or shorter is one piece of T5's vocabulary (common English words are)
_WHOLE_WORD = 8
#: the letters per extra piece of a longer word
_LETTERS_PER_PIECE = 5
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")
_CLAUSE_END = re.compile(r"[,;:](?=\s)")


def estimate_tokens(text: str) -> int:
    """Estimated T5 tokens for ``text``, end-of-text token included."""
    count = 1
    for piece in _PIECES.findall(text):
        if len(piece) <= _WHOLE_WORD or not piece.isascii() or not piece.isalpha():
            count += 1
        else:
            count += 1 + math.ceil((len(piece) - _WHOLE_WORD) / _LETTERS_PER_PIECE)
    return count


#: the most words asked of the enhancer, whatever the window: Wan's umT5 reads 512 tokens, but
#: a caption past ~200 words describes more than one 5 s shot can show (CogVideoX's 226 tokens
#: already give 180)
MAX_WORDS = 200


def word_budget(max_tokens: int) -> int:
    """About how many English words fit ``max_tokens`` (180 for CogVideoX's 226; 200 at most)."""
    return max(8, min(MAX_WORDS, int(max_tokens * 0.8)))


def sentences(text: str) -> list[str]:
    """``text`` split after each ``.``, ``!`` or ``?`` that ends a sentence."""
    return [s for s in _SENTENCE_END.split(text.strip()) if s]


def drop_unfinished(text: str) -> str:
    """``text`` without a last sentence that stops mid-way (a reply cut at its token limit)."""
    parts = sentences(text)
    if parts and not parts[-1].rstrip().endswith((".", "!", "?")):
        parts = parts[:-1]
    return " ".join(parts)


def fit(text: str, max_tokens: int) -> tuple[str, bool]:
    """``text`` shortened to fit ``max_tokens`` by whole sentences; returns it and whether it changed.

    When not even the first sentence fits, that sentence is ended early at the last clause
    boundary (``,`` ``;`` ``:``) that fits, or else at the last whole word that fits, with a
    full stop.
    """
    if estimate_tokens(text) <= max_tokens:
        return text, False
    kept: list[str] = []
    for sentence in sentences(text):
        if estimate_tokens(" ".join([*kept, sentence])) > max_tokens:
            break
        kept.append(sentence)
    if kept:
        return " ".join(kept), True
    first = sentences(text)[0]
    for boundary in reversed([m.start() for m in _CLAUSE_END.finditer(first)]):
        candidate = first[:boundary].rstrip() + "."
        if estimate_tokens(candidate) <= max_tokens:
            return candidate, True
    words = first.split()
    while words and estimate_tokens(" ".join(words) + ".") > max_tokens:
        words.pop()
    return (" ".join(words).rstrip(",;:") + ".") if words else "", True
