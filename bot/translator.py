"""Slash commands in the member's language: names, descriptions, options and choices, from the
same catalogues as every other text (:mod:`bot.i18n`). Discord shows each member the strings of
their client's language; discord.py asks this translator for them when it syncs the commands."""

from __future__ import annotations

from discord import Locale, app_commands
from discord.app_commands import TranslationContextLocation as Where

from bot import i18n

#: the strings Discord treats as names (lowercase, no spaces, at most 32 characters): they are
#: kept apart in the catalogues (``msgctxt "command name"``), as a name is not a sentence
NAMES = frozenset({Where.command_name, Where.group_name, Where.parameter_name})


class CommandTranslator(app_commands.Translator):
    """Looks command strings up in the catalogues; None (English) where a language lacks one."""

    async def translate(
        self, string: app_commands.locale_str, locale: Locale, context: app_commands.TranslationContextTypes
    ) -> str | None:
        language = i18n.language_of(locale)
        if language is None or language == i18n.DEFAULT:
            return None
        context_name = i18n.NAME_CONTEXT if context.location in NAMES else None
        return i18n.catalogue(language, context_name).get(string.message)
