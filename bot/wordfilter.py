"""The prompt word list: terms and phrases matched on normalised whole words, so that evasions are
caught and innocent words that merely contain a term are not.

Both the text and every list entry are reduced to a *skeleton* before they are compared
(:mod:`bot.wordfold`: Unicode folding, look-alikes, leetspeak).

A word matches an entry's word when the two are equal, or when the text's word is the entry's
with letters stretched: three or more of a letter (``nuuude``), or two of a letter English
seldom doubles (``naaked``); two of most consonants, of e and of o are a spelling, so ``rapping``
is not ``raping`` and ``as`` is not ``ass``.

An entry matches its inflections too (``rape``: rapes, raped, raping, raper, rapist; ``penis``:
penises; ``loli``: lolis), from a small English rule set (s, es, ies, ed, ing, er, est, ist,
with the final e dropped or the final consonant doubled); a word ending in a, i, o or u takes
plurals only. An entry ending in ``*`` matches any word that starts with it (``nud*``: nude,
nudity). An entry of several words matches them in order, the last one inflected, or run
together (``blood bath``, ``bloodbath``).

The skeleton is split into words on everything that is not a letter or digit; pieces of a split
word are put back together: those joined by anything but a space (``be-heading``, ``pe.nis``),
three or more short ones (``be he ad ing``, but not ``be heading`` or ``pen is``), an ending set
apart (``behead ing``), and letters spelled out one by one (``n u d e``). Exceptions are
phrases removed before matching, so ``sex pistols`` can be allowed while ``sex`` is not.

A list is compiled once into lookup tables (each form by its squeezed letters, prefixes and
phrases by their start), so a check costs about the same with 40 entries or 600; a guild's list
is compiled once per content (:meth:`WordList.for_guild`). ``bench/wordfilter.py`` measures it.
"""

from __future__ import annotations

import re
import unicodedata
from collections import OrderedDict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import StrEnum

from bot import vietnamese
from bot.i18n import _
from bot.wordfold import COLLAPSE_ONES, ENTRY_ONES, FOLD, LEET, ONE, REPEATS, WORDS, skeleton, words

#: entries a guild may add to each of its lists
MAX_WORDS = 200


def check_entry(text: str) -> None:
    """Check an admin's entry.

    Raises:
        SettingsError: it has nothing to match, or is too long.
    """
    from bot.guildconfig import SettingsError

    if len(text) > 100:
        raise SettingsError(_("“{entry}…” is too long; entries are at most 100 characters.", entry=text[:40]))
    if not words(text.rstrip("*")):
        raise SettingsError(_("“{entry}” has no letters or digits to match.", entry=text))


# ------------------------------------------------------------------------------ entries

_VOWELS = frozenset("aeiou")


def _inflections(word: str, plurals: bool = False) -> set[str]:
    """``word`` and its English inflections: plurals, verb forms, agent nouns (rape: rapes, raped,
    raping, raper, rapist). A word ending in another vowel than e gets plurals only: those are
    nouns (loli, shota, vagina), and every needless form is one more chance to hit another word."""
    forms = {word}
    if len(word) < 3 or not (word.isascii() and word.isalpha()):
        return forms
    last, before = word[-1], word[-2]
    forms.add(word + "s")
    if word.endswith(("s", "x", "z", "ch", "sh", "o")):
        forms.add(word + "es")
    if last == "y" and before not in _VOWELS:
        forms.add(word[:-1] + "ies")
    if last in "aiou" or plurals or word.endswith("ing"):  # beheading: beheadings only
        return forms
    if last == "e":
        stems = [word[:-1], word] if before == "e" else [word[:-1]]
    elif last == "y" and before not in _VOWELS:
        stems = [word[:-1] + "i", word]
    elif before in _VOWELS and word[-3] not in _VOWELS and last not in _VOWELS | {"w", "x", "y"}:
        stems = [word, word + last]  # blowjob: blowjobbed; both, as stress decides (visited)
    else:
        stems = [word]
    for stem in stems:
        forms.update(stem + ending for ending in ("ed", "ing", "ings"))
        if len(word) >= 4:  # sexist and asser are other words
            forms.update(stem + ending for ending in ("er", "ers", "est"))
    if last == "e" and len(word) >= 4:
        forms.update(word[:-1] + ending for ending in ("ist", "ists"))
    return forms


@dataclass(frozen=True, slots=True)
class _Form:
    """A word an entry matches: its skeleton squeezed (each run of a letter written once), and how
    many times the skeleton writes each of those letters (empty when once each)."""

    key: str
    runs: bytes
    prefix: bool

    @classmethod
    def of(cls, word: str, prefix: bool = False) -> _Form:
        key = _squeezed(word)
        return cls(key, b"" if key == word else bytes(_run_lengths(word)), prefix)

    def fits(self, word: str) -> bool:
        """Whether ``word`` (whose squeezed form is, or starts with, this key) is this form, its
        letters stretched perhaps: ``nuuude`` is nude, but ``rapping`` is not raping, ``as`` not ass.
        Two of a letter the form has once is a stretch only where English does not double it."""
        if not self.runs and (len(word) == len(self.key) or (self.prefix and word.startswith(self.key))):
            return True
        runs, mine = _run_lengths(word), self.runs or bytes([1] * len(self.key))
        for i, m in enumerate(mine):
            n = runs[i]
            if n == m or (n > m and (n >= 3 or self.key[i] in _STRETCHY)):
                continue
            if not (self.prefix and i == len(mine) - 1 and n > m):  # porn*: pornn...
                return False
        return True


#: letters English seldom doubles: two of them are a stretch
_STRETCHY = frozenset("aiuhjqwxy")


def _squeezed(word: str) -> str:
    return REPEATS.sub("", word)


def _run_lengths(word: str) -> list[int]:
    return [min(len(m.group()), 255) for m in _RUNS.finditer(word)]


_RUNS = re.compile(r"(.)\1*")


class Severity(StrEnum):
    """What a match does: send the prompt to moderators, or refuse it."""

    REVIEW = "review"
    BLOCK = "block"


@dataclass(frozen=True, slots=True)
class Entry:
    """One list entry, as written and as the words it matches.

    ``forms`` are the single words it matches: the entry's word, or its words run together
    (``bloodbath``), with their inflections (or as a prefix, for ``nud*``). An entry of several
    words also matches them in order (``phrase``), the last one inflected."""

    text: str
    severity: Severity
    forms: tuple[_Form, ...]
    phrase: tuple[tuple[str, ...], tuple[_Form, ...]] | None

    @classmethod
    def parse(cls, text: str, severity: Severity) -> Entry:
        """An entry from an admin's text.

        Raises:
            ValueError: nothing to match in it.
        """
        raw = text.strip()
        prefix = raw.endswith("*")
        plain = unicodedata.normalize("NFKD", raw.rstrip("*")).translate(FOLD).translate(ENTRY_ONES)
        # leetspeak maps one character to one, so the skeleton's words are spans of the plain text
        parts = [plain[m.start() : m.end()] for m in WORDS.finditer(plain.translate(LEET))]
        if not parts:
            raise ValueError(f"{text!r} has no letters or digits to match")

        def forms(word: str, every: bool = True) -> tuple[_Form, ...]:
            found = {word} if prefix else _inflections(word) if every else _inflections(word, plurals=True)
            return tuple(_Form.of(w.translate(LEET), prefix) for w in sorted(found))

        if len(parts) == 1:
            return cls(raw, severity, forms(parts[0]), None)
        # run together, a phrase takes plurals only (bloodbaths): all its forms would be long words
        phrase = (tuple(p.translate(LEET) for p in parts[:-1]), forms(parts[-1]))
        return cls(raw, severity, forms("".join(parts), every=False), phrase)


@dataclass(frozen=True, slots=True)
class Match:
    """The entry that matched, for the verdict's reason."""

    entry: str
    severity: Severity


# ------------------------------------------------------------------------------ matching

#: a word split into more pieces than this is not put back together
_MAX_PIECES = 5
#: pieces split by spaces are put back together when there are three or more of at most this
#: many letters (be he ad ing); two whole words are two words (be heading, cream pie, pen is)
_SHORT = 3
#: an ending split off a word by a space is put back (behead ing)
_ENDINGS = frozenset({"s", "es", "ed", "ing", "ings", "er", "ers", "ist", "ists"})
_SPLIT = re.compile(r"([^\W_]+)")
#: how many guilds' compiled lists are kept (a guild's list is compiled again after a change),
#: and how many entries they may hold together: the largest lists take about 1.5 MB compiled
GUILD_CACHE, GUILD_CACHE_ENTRIES = 256, 40_000
#: what a Vietnamese syllable is replaced by for the folded matching: a gap nothing matches
_MASK = " · "

_Hit = tuple[int, _Form]


class WordList:
    """Entries to block or review, and exception phrases that never count, compiled into lookup
    tables: what a check costs follows the text's length, not the number of entries."""

    def __init__(self, entries: Iterable[Entry] = (), exceptions: Iterable[str] = ()) -> None:
        self.entries = list(entries)
        self.exceptions = [e for e in exceptions if words(e)]
        self._guilds: OrderedDict[tuple[tuple[str, ...], ...], WordList] = OrderedDict()
        # squeezed form -> entries; prefixes and all forms by their first three letters at most
        self._whole: dict[str, list[_Hit]] = {}
        self._prefixes: dict[str, list[_Hit]] = {}
        self._starts: dict[str, list[_Hit]] = {}
        self._phrases: dict[str, list[tuple[int, tuple[str, ...], tuple[_Form, ...]]]] = {}
        self._allowed: dict[str, list[tuple[str, ...]]] = {}
        for index, entry in enumerate(self.entries):
            for form in entry.forms:
                hit = (index, form)
                into = self._prefixes if form.prefix else self._whole
                into.setdefault(form.key[:3] if form.prefix else form.key, []).append(hit)
                self._starts.setdefault(form.key[:3], []).append(hit)
            if entry.phrase is not None:
                first = _squeezed(entry.phrase[0][0])  # the text's words are read without a 1
                self._phrases.setdefault(first, []).append((index, *entry.phrase))
        for phrase in self.exceptions:
            allowed = tuple(w.translate(ENTRY_ONES) for w in words(phrase))
            self._allowed.setdefault(allowed[0].translate(COLLAPSE_ONES), []).append(allowed)
        self._lookups = self._whole.keys() | self._phrases.keys()
        # entries written with Vietnamese marks, as their words are spelt (see check)
        self._marked = [
            (index, tuple(vietnamese.words(entry.text.rstrip("*"))), entry.text.rstrip().endswith("*"))
            for index, entry in enumerate(self.entries)
            if vietnamese.has_marks(entry.text)
        ]
        # prefixes are filed by their first three letters, or all of them when fewer (x*)
        self._head_sizes = tuple(sorted({min(len(key), 3) for key in self._prefixes})) or (3,)

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
        """This list plus a guild's additions and exceptions, compiled anew."""
        more = WordList.build(block, review)
        return WordList(self.entries + more.entries, [*self.exceptions, *exceptions])

    def for_guild(
        self, block: Sequence[str] = (), review: Sequence[str] = (), exceptions: Sequence[str] = ()
    ) -> WordList:
        """:meth:`extended`, compiled once for each content of a guild's lists (the last
        ``GUILD_CACHE`` kept), so a change is in force at the next check."""
        key = (tuple(block), tuple(review), tuple(exceptions))
        if not any(key):
            return self
        found = self._guilds.get(key)
        if found is None:
            found = self._guilds[key] = self.extended(*key)
            while len(self._guilds) > GUILD_CACHE or _entries(self._guilds) > GUILD_CACHE_ENTRIES:
                self._guilds.popitem(last=False)
        self._guilds.move_to_end(key)
        return found

    def check(self, text: str) -> Match | None:
        """The most severe entry ``text`` matches (blocking ones first, then in list order), or None.

        Text written with Vietnamese marks is read as Vietnamese where it is (:mod:`bot.vietnamese`):
        its well-formed marked syllables are kept out of the folded matching, which would make
        ``cúm`` the English ``cum``, and entries written with marks match them as spelt.
        """
        if vietnamese.has_marks(text):
            hits = self._hits(vietnamese.mask_syllables(text, _MASK))
            hits += self._as_written(vietnamese.words(text))
        else:
            hits = self._hits(text)
        found = min(hits, key=self._rank, default=None)
        return None if found is None else Match(self.entries[found].text, self.entries[found].severity)

    def _as_written(self, text_words: list[str]) -> list[int]:
        """The entries written with Vietnamese marks whose words appear in order, spelt as written
        (case aside; a ``*`` entry's last word may begin a longer word)."""
        hits = []
        for index, terms, prefix in self._marked:
            size = len(terms)
            for start in range(len(text_words) - size + 1):
                here = text_words[start : start + size]
                if here[:-1] == list(terms[:-1]) and (
                    here[-1].startswith(terms[-1]) if prefix else here[-1] == terms[-1]
                ):
                    hits.append(index)
                    break
        return hits

    def _rank(self, index: int) -> tuple[bool, int]:
        return self.entries[index].severity is not Severity.BLOCK, index

    def _hits(self, text: str) -> list[int]:
        """The entries ``text`` matches. Set operations pick the few words worth a closer look, so
        the cost follows the text, not the list: words whose key (the word squeezed) is a form's
        or a phrase's, or starts as a prefix does; words that may be pieces of one (:meth:`_joined`);
        letters spelled out one by one."""
        skel = skeleton(text)
        parts = _SPLIT.split(skel)  # gap, word, gap, word, ..., gap; spaces are all " " by now
        text_words, gaps = parts[1::2], parts[0::2]
        # squeezing the whole text at once keeps words apart: separators stand between them
        keys = WORDS.findall(REPEATS.sub("", skel))
        if self._allowed:
            self._without_exceptions(text_words, keys)
        hits: list[int] = []
        present = set(keys)
        looked_up = present & self._lookups
        sizes, heads = self._head_sizes, set()
        if self._prefixes:  # one slice a word in the usual case: prefixes of three letters or more
            heads = {k[:3] for k in present} if sizes == (3,) else {k[:n] for k in present for n in sizes}
            heads &= self._prefixes.keys()
        if looked_up or heads or ONE in skel:
            for i in self._worth_a_look(text_words, keys, looked_up, heads, ONE in skel):
                self._word(text_words[i], hits)
                self._phrase(text_words, i, hits)
        # each word with the gap after it and the word after that (there is none after the last)
        for i, (word, gap, following) in enumerate(zip(text_words, gaps[1:], text_words[1:], strict=False)):
            may_join = len(word) <= _SHORT or " " not in gap or following in _ENDINGS
            if word and following and may_join and self._may_start("".join(keys[i : i + 3])):
                self._joined(text_words, gaps, i, hits)
        self._spelled(text_words, hits)
        return hits

    def _worth_a_look(
        self, text_words: list[str], keys: list[str], looked_up: set[str], heads: set[str], ones: bool
    ) -> list[int]:
        """Where the words are whose key is a form's or a phrase's start, or begins as a prefix does,
        or that hold a 1 (read two ways): a comprehension, as a common word (child) is often one."""
        if self._head_sizes == (3,):
            found = [i for i, k in enumerate(keys) if k in looked_up or k[:3] in heads]
        else:
            found = [
                i
                for i, k in enumerate(keys)
                if k in looked_up or any(k[:n] in heads for n in self._head_sizes)
            ]
        if ones:
            found = sorted({*found, *(i for i, w in enumerate(text_words) if ONE in w)})
        return found

    def _may_start(self, joined: str) -> bool:
        """Whether a form may start as ``joined`` (three words together) does: most cannot."""
        if ONE in joined:
            return True
        head, starts = joined[:3], self._starts
        if head[0] == head[1:2] or head[1:2] == head[2:]:  # the keys are squeezed, but not across words
            head = _squeezed(joined[:6])[:3]
        return head in starts or head[:1] in starts or head[:2] in starts  # forms of 1 or 2: xxx is x

    def _key(self, word: str, key: str, hits: list[int]) -> None:
        for index, form in self._whole.get(key, ()):
            if form.fits(word):
                hits.append(index)
        for size in self._head_sizes if self._prefixes else ():
            for index, form in self._prefixes.get(key[:size], ()) if len(key) >= size else ():
                if key.startswith(form.key) and form.fits(word):
                    hits.append(index)

    def _word(self, word: str, hits: list[int]) -> None:
        for reading in _readings(word):
            self._key(reading, _squeezed(reading), hits)

    def _joined(self, text_words: list[str], gaps: list[str], i: int, hits: list[int]) -> None:
        """Words split into pieces: by anything but a space (be-heading, pe.nis), into three or more
        short ones (be he ad ing), or an ending split off (behead ing)."""
        word, all_glued, all_short = text_words[i], True, len(text_words[i]) <= _SHORT
        if text_words[i + 1] in _ENDINGS and " " in gaps[i + 1]:
            self._word(word + text_words[i + 1], hits)
        for k in range(i + 1, min(len(text_words), i + _MAX_PIECES)):
            piece = text_words[k]
            all_glued, all_short = all_glued and " " not in gaps[k], all_short and len(piece) <= _SHORT
            if not piece or not (all_glued or all_short):
                break
            word += piece
            if all_glued or k - i >= 2:
                self._word(word, hits)

    def _phrase(self, text_words: list[str], i: int, hits: list[int]) -> None:
        for reading in _readings(text_words[i]):
            for index, leading, last in self._phrases.get(_squeezed(reading), ()):
                end = i + len(leading)
                if (
                    end < len(text_words)
                    and all(_is(text_words[i + j], _Form.of(term)) for j, term in enumerate(leading))
                    and any(_is(text_words[end], form) for form in last)
                ):
                    hits.append(index)

    def _spelled(self, text_words: list[str], hits: list[int]) -> None:
        """Letters spelled out one by one (n u d e, n.u.d.e): any form inside three or more."""
        run = []
        for word in [*text_words, ""]:
            if len(word) == 1:
                run.append(word)
                continue
            if len(run) >= 3:
                self._inside("".join(run), hits)
            run = []

    def _inside(self, letters: str, hits: list[int]) -> None:
        for reading in _readings(letters):
            squeezed = _squeezed(reading)
            for start in range(len(squeezed)):
                for index, form in self._starts.get(squeezed[start : start + 3], ()):
                    if squeezed.startswith(form.key, start):
                        hits.append(index)

    def _without_exceptions(self, text_words: list[str], keys: list[str]) -> None:
        """Blank out the exception phrases: gaps that nothing matches or joins across."""
        i = 0
        while i < len(text_words):
            for phrase in self._allowed.get(text_words[i].translate(COLLAPSE_ONES), ()):
                if len(text_words) - i >= len(phrase) and all(
                    _same_letters(text_words[i + j], word) for j, word in enumerate(phrase)
                ):
                    text_words[i : i + len(phrase)] = keys[i : i + len(phrase)] = [""] * len(phrase)
                    i += len(phrase) - 1
                    break
            i += 1


def _entries(guilds: Iterable[tuple[tuple[str, ...], ...]]) -> int:
    return sum(len(entries) for lists in guilds for entries in lists)


def _readings(word: str) -> list[str]:
    """``word`` with each 1 read as i and as l: every way for up to three, else all one way."""
    ones = word.count(ONE)
    if not ones:
        return [word]
    if ones > 3:
        return [word.replace(ONE, "i"), word.replace(ONE, "l")]
    readings = [""]
    for part in word.split(ONE)[:-1]:
        readings = [r + part + letter for r in readings for letter in "il"]
    return [r + word.rsplit(ONE, 1)[1] for r in readings]


def _is(word: str, form: _Form) -> bool:
    """Whether a text's word is ``form``, read either way, stretched perhaps."""
    for reading in _readings(word):
        key = _squeezed(reading)
        if (key == form.key or (form.prefix and key.startswith(form.key))) and form.fits(reading):
            return True
    return False


def _same_letters(word: str, term: str) -> bool:
    return len(word) == len(term) and all(
        a == b or (a == ONE and b in "il") for a, b in zip(word, term, strict=True)
    )
