"""Every text in every language: the catalogues hold every marked text and command string with the
same placeholders, and the commands sent to Discord carry valid localisations."""

from __future__ import annotations

import ast
import unicodedata
from pathlib import Path
from typing import Any

import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po

from bot import i18n
from tests.bot_box import Box

BOT = Path(i18n.__file__).parent
OTHER_LANGUAGES = [code for code in i18n.LANGUAGES if code != i18n.DEFAULT]


def marked_texts() -> dict[str, str]:
    """Every ``_()`` and ``N_()`` text in bot/, with where it is."""
    found: dict[str, str] = {}
    for filename, lineno, message, _comments, _context in extract_from_dir(
        str(BOT), method_map=[("**.py", "python")], keywords={"_": None, "N_": None}
    ):
        if isinstance(message, str):
            found.setdefault(message, f"bot/{filename}:{lineno}")
    return found


def entries(language: str) -> list[Any]:
    with (i18n.CATALOGUES / f"{language}.po").open("rb") as handle:
        return [m for m in read_po(handle, locale=language) if m.id]


def test_texts_are_marked_as_literals_so_they_can_be_extracted() -> None:
    """``N_()`` takes a literal; ``_()`` a literal or a name marked with ``N_()``, never a text
    built at run time (an f-string, a concatenation, a ``.format``), which could not be extracted."""
    wrong = []
    for path in sorted(BOT.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in ("_", "N_"):
                first = node.args[0] if node.args else None
                literal = isinstance(first, ast.Constant) and isinstance(first.value, str)
                built = isinstance(first, ast.JoinedStr | ast.BinOp | ast.Call | ast.Constant)
                if (node.func.id == "N_" and not literal) or (built and not literal):
                    wrong.append(f"{path.relative_to(BOT.parent)}:{node.lineno}")
    assert not wrong, f"texts built at run time cannot be translated (placeholders are keywords): {wrong}"


def test_there_are_texts_to_translate() -> None:
    assert len(marked_texts()) > 300  # the bot's replies, refusals, cards and buttons


@pytest.mark.parametrize("language", OTHER_LANGUAGES)
def test_every_marked_text_is_in_every_catalogue_with_the_same_placeholders(language: str) -> None:
    table = i18n.catalogue(language)
    missing = {text: where for text, where in marked_texts().items() if text not in table}
    assert not missing, (
        f"{len(missing)} texts have no {language} translation, e.g. {list(missing.items())[:5]}"
    )
    wrong = [t for t in marked_texts() if i18n.placeholders(table[t]) != i18n.placeholders(t)]
    assert not wrong, f"the {language} translation takes other placeholders: {wrong[:5]}"


@pytest.mark.parametrize("language", OTHER_LANGUAGES)
def test_catalogue_entries_are_whole_normalised_and_keep_their_placeholders(language: str) -> None:
    for entry in entries(language):
        assert entry.string, f"{entry.id!r} has no {language} text"
        assert not entry.fuzzy, f"{entry.id!r} is marked fuzzy"
        assert i18n.placeholders(entry.string) == i18n.placeholders(entry.id), entry.id
        assert unicodedata.normalize("NFC", entry.string) == entry.string, f"{entry.id!r} is not NFC"
        if entry.context == i18n.NAME_CONTEXT:
            assert valid_name(entry.string), f"{entry.string!r} is not a valid command or option name"


def test_a_missing_translation_falls_back_to_english_and_placeholders_fill() -> None:
    with i18n.use("vi"):
        assert i18n._("A text nobody translated, {n} times", n=3) == "A text nobody translated, 3 times"
    assert i18n.choose("fr", None, "vi-VN", "en-US") == "vi"
    assert i18n.choose("fr", "de") == "en"


def valid_name(name: str) -> bool:
    """Discord's rule for command and option names: 1-32 letters, digits, - or _, lowercase."""
    if not 1 <= len(name) <= 32 or name != name.lower():
        return False
    return all(c in "-_" or unicodedata.category(c)[0] in "LN" for c in name)


def walk(items: list[dict[str, Any]], path: str = "") -> list[tuple[str, dict[str, Any]]]:
    """Every command, option and choice of a command payload, with where it is."""
    found = []
    for item in items:
        here = f"{path}/{item.get('name')}"
        found.append((here, item))
        found += walk(item.get("options") or [], here)
        found += [(f"{here}={c['name']}", {**c, "choice": True}) for c in item.get("choices") or []]
    return found


async def test_commands_sent_to_discord_carry_every_language(box: Box) -> None:
    commands = [c for listed in box.double.commands.values() for c in listed]
    assert commands, "the bot registered no commands"
    used: set[str] = set()
    for language in OTHER_LANGUAGES:
        names: dict[str, set[str]] = {}
        for where, item in walk(commands):
            used.add(item["name"])
            name = (item.get("name_localizations") or {}).get(language)
            assert name, f"{where} has no {language} name"
            if item.get("choice"):
                assert len(name) <= 100, where
                continue
            assert valid_name(name), f"{where}: {name!r} is not a valid {language} name"
            siblings = names.setdefault(where.rsplit("/", 1)[0], set())
            assert name not in siblings, f"{where}: {name!r} is used twice at one level"
            siblings.add(name)
            if item.get("description"):
                used.add(item["description"])
                described = (item.get("description_localizations") or {}).get(language)
                assert described and len(described) <= 100, f"{where} has no {language} description"
    assert box.double.violations == []
    # nothing in a catalogue is left over from texts the code no longer has
    for language in OTHER_LANGUAGES:
        stale = [e.id for e in entries(language) if e.id not in used and e.id not in marked_texts()]
        assert not stale, f"{language} has entries nothing uses: {stale[:5]}"
