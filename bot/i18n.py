"""Messages in the member's language: the catalogues, the locale of the moment, Discord's translator.

Texts are written in English in the code, marked with :func:`_` (or :func:`N_` where they are
translated later), with ``{name}`` placeholders filled by keyword. English is the source
language; every other language is one gettext catalogue, ``bot/locales/<language>.po``, whose
``msgid`` is the English text. Adding a language is adding its catalogue (and its code to
:data:`LANGUAGES`); ``tests/test_i18n.py`` checks that every marked text and every command
string is in every catalogue with the same placeholders.

Which language a text is in is decided once per interaction and kept in a context variable
(:func:`use`): the member's own Discord language when Reelbot speaks it, else the server's
preferred language (``/settings language``, else Discord's server setting), else English.
Messages posted to a channel for everyone use the server's language.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import string
from collections.abc import Iterator
from contextvars import ContextVar
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

#: the languages Reelbot speaks, by Discord locale code (English is the code's own)
LANGUAGES = {"en": "English", "vi": "Tiếng Việt"}
DEFAULT = "en"
CATALOGUES = Path(__file__).with_name("locales")
#: gettext contexts of command strings (``msgctxt``): a name is not the same text as a sentence
NAME_CONTEXT = "command name"

_current: ContextVar[str] = ContextVar("reelbot_language", default=DEFAULT)
#: the server's language in the same interaction, for what is posted for everyone
_channel: ContextVar[str] = ContextVar("reelbot_channel_language", default=DEFAULT)


def language_of(locale: object) -> str | None:
    """The language Reelbot speaks for a Discord locale ("vi", "en-US", a discord.Locale), or None."""
    code = str(getattr(locale, "value", locale) or "").strip().lower().replace("_", "-")
    base = code.split("-", 1)[0]
    return base if base in LANGUAGES else None


def choose(*locales: object) -> str:
    """The first of ``locales`` Reelbot speaks, else English."""
    for locale in locales:
        found = language_of(locale)
        if found is not None:
            return found
    return DEFAULT


def current() -> str:
    """The language of the texts being built now."""
    return _current.get()


@contextlib.contextmanager
def use(language: str) -> Iterator[str]:
    """Build texts in ``language`` inside the block (for work outside an interaction)."""
    token = _current.set(choose(language))
    try:
        yield _current.get()
    finally:
        _current.reset(token)


def set_languages(member: str, server: str) -> None:
    """Build texts in the member's language, and channel posts in the server's, for the rest of
    this task (an interaction's own task: discord.py gives each interaction one)."""
    _current.set(choose(member))
    _channel.set(choose(server))


@contextlib.contextmanager
def for_everyone() -> Iterator[str]:
    """Build texts in the server's language inside the block: what is posted in a channel for
    everyone (a status message, a clip card, a review card), even while answering one member."""
    with use(_channel.get()) as language:
        yield language


@contextlib.contextmanager
def in_server(language: str) -> Iterator[str]:
    """Member texts and channel posts both in ``language`` (work for a server outside any
    interaction, such as delivering a clip)."""
    token = _channel.set(choose(language))
    try:
        with use(language) as chosen:
            yield chosen
    finally:
        _channel.reset(token)


def _(message: str, /, **values: Any) -> str:
    """``message`` in the current language, with its ``{placeholders}`` filled from ``values``."""
    return translate(current(), message, **values)


def N_(message: str, /) -> str:
    """Mark ``message`` for the catalogues without translating it (it is translated where used)."""
    return message


def translate(language: str, message: str, /, **values: Any) -> str:
    """``message`` in ``language`` (English when the catalogue lacks it), placeholders filled."""
    text = message
    if language != DEFAULT:
        text = catalogue(language).get(message) or message
    if not values:
        return text
    try:
        return text.format(**values)
    except (KeyError, IndexError, ValueError):
        # a catalogue with a wrong placeholder must not break a reply: say it in English
        log.error("the %s text for %r does not take its placeholders", language, message[:60])
        return message.format(**values)


@functools.cache
def catalogue(language: str, context: str | None = None) -> dict[str, str]:
    """The translations of one language (``msgid -> msgstr``), in one gettext context."""
    from babel.messages.pofile import read_po

    path = CATALOGUES / f"{language}.po"
    if not path.is_file():
        return {}
    with path.open("rb") as handle:
        parsed = read_po(handle, locale=language)
    found: dict[str, str] = {}
    for entry in parsed:
        if not entry.id or not isinstance(entry.id, str) or entry.fuzzy:
            continue
        if entry.context == context and isinstance(entry.string, str) and entry.string:
            found[entry.id] = entry.string
    return found


def placeholders(text: str) -> set[str]:
    """The ``{names}`` a text takes."""
    return {field for _, field, _, _ in string.Formatter().parse(text) if field is not None}
