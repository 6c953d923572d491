"""/settings language: a server admin chooses the language Reelbot speaks here, through the real
discord.py bot against the Discord double; and the stored setting, without Discord."""

from __future__ import annotations

import pytest

from bot.features.settings.cog import SettingsCog
from bot.features.settings.texts import language_text
from bot.guildconfig import GuildConfig, GuildConfigStore, SettingsError, guild_config_from
from inference.jobqueue import JobQueue
from tests.bot_box import Box

pytestmark = pytest.mark.timeout(180)


async def test_an_admin_sets_the_server_language_and_discords_setting_resets_it(box: Box) -> None:
    cog = box.bot.get_cog("settings") if box.bot is not None else None
    assert isinstance(cog, SettingsCog)
    changed: list[str] = []
    wired = cog.on_language_changed

    def heard(guild_id: str) -> None:
        changed.append(guild_id)
        if wired is not None:
            wired(guild_id)

    cog.on_language_changed = heard
    guild = str(box.guild)

    told = await box.ask(box.admin, "settings language", language="vi")

    assert "Reelbot now speaks Tiếng Việt here" in told
    assert (await box.parts.limits.guild_settings(guild)).language == "vi"
    assert changed == [guild]
    shown = await box.ask(box.admin, "settings show")
    assert "**Language**: **Tiếng Việt** (set here)" in shown
    entries = [e for e in await box.parts.audit.recent(guild) if e.action == "language"]
    assert [(e.actor_id, e.detail) for e in entries] == [(str(box.admin), "vi")]

    refused = await box.ask(box.member, "settings language", language="en")

    assert "Manage Server" in refused
    assert (await box.parts.limits.guild_settings(guild)).language == "vi"
    assert changed == [guild]

    reset = await box.ask(box.admin, "settings language", language="discord")

    assert "follows this server's language in Discord's settings" in reset
    assert (await box.parts.limits.guild_settings(guild)).language is None
    assert "**Language**: Discord's server setting, now **English**" in reset  # the double's guild is en-US
    assert changed == [guild, guild]
    assert [e.actor_id for e in await box.parts.audit.recent(guild) if e.action == "language"] == [
        str(box.admin)
    ] * 2
    assert box.double.violations == []


async def test_the_language_is_stored_only_when_set_and_only_one_reelbot_speaks(queue: JobQueue) -> None:
    store = GuildConfigStore(queue.redis, queue.keys)
    assert (await store.load("7")).language is None
    await store.set_language("7", "vi")
    assert (await store.load("7")).language == "vi"
    assert (await store.load("8")).language is None
    with pytest.raises(SettingsError, match="does not speak `fr`"):
        await store.set_language("7", "fr")
    assert (await store.load("7")).language == "vi"
    await store.set_language("7", None)
    assert await queue.redis.hgetall(queue.keys.guild_config("7")) == {}


def test_settings_stored_before_languages_or_by_a_newer_bot_follow_discord() -> None:
    assert guild_config_from({"limit:rate": "3", "option:enhance": "on"}).language is None
    assert guild_config_from({"option:language": "xx"}).language is None
    assert guild_config_from({"option:language": "vi"}).language == "vi"


def test_settings_show_says_where_the_language_comes_from() -> None:
    assert "**Tiếng Việt** (set here)" in language_text(GuildConfig(language="vi"), "en-US")
    assert "Discord's server setting, now **Tiếng Việt**" in language_text(GuildConfig(), "vi")
    assert "Discord's server setting, now **English**" in language_text(GuildConfig(), "fr")
    assert "Discord's server setting, now **English**" in language_text(GuildConfig(), None)
