"""Guild limit settings, role tiers and the refusal messages, without Discord."""

from __future__ import annotations

import time

import pytest

from bot.features.settings.texts import settings_text
from bot.guildconfig import (
    GuildConfig,
    GuildConfigStore,
    GuildLimits,
    SettingsError,
    Tier,
    limits_from_env,
    member_policy,
)
from bot.limit_messages import refusal_text
from inference.jobqueue import JobQueue, Limit, LimitReached, QueueFull


def test_defaults_come_from_the_environment_and_bad_values_name_the_variable() -> None:
    limits = limits_from_env(
        {"REELBOT_LIMIT_RATE": "10", "REELBOT_GUILD_CAP": "40", "REELBOT_LIMIT_EXEMPT_MODERATORS": "yes"}
    )
    assert (limits.rate, limits.guild_queue, limits.exempt_moderators) == (10, 40, True)
    with pytest.raises(ValueError, match=r"REELBOT_LIMIT_ACTIVE='two' is not a whole number"):
        limits_from_env({"REELBOT_LIMIT_ACTIVE": "two"})
    with pytest.raises(ValueError, match=r"REELBOT_LIMIT_RATE: `rate` must be between 0 and 1000"):
        limits_from_env({"REELBOT_LIMIT_RATE": "5000"})
    with pytest.raises(ValueError, match="use true or false"):
        limits_from_env({"REELBOT_LIMIT_EXEMPT_MODERATORS": "maybe"})


def test_a_member_gets_the_most_generous_of_their_tiers() -> None:
    config = GuildConfig(
        overrides={"active": 1, "rate": 4},
        tiers={
            "1": Tier("1", "patrons", active=3, weight=2.0),
            "2": Tier("2", "artists", active=2, rate=0),  # 0 = no limit, the most generous
        },
    )
    policy = member_policy(GuildLimits(), config, ("1", "2", "99"), moderator=False)
    assert (policy.limits.active, policy.limits.rate, policy.weight) == (3, 0, 2.0)
    assert policy.tiers == ("patrons", "artists")
    plain = member_policy(GuildLimits(), config, ("99",), moderator=False)
    assert (plain.limits.active, plain.limits.rate, plain.weight, plain.tiers) == (1, 4, 1.0, ())


def test_moderators_are_exempt_only_when_configured() -> None:
    assert not member_policy(GuildLimits(), GuildConfig(), (), moderator=True).limits.exempt
    config = GuildConfig(overrides={"exempt_moderators": True})
    assert member_policy(GuildLimits(), config, (), moderator=True).limits.exempt
    assert not member_policy(GuildLimits(), config, (), moderator=False).limits.exempt
    exempt_role = GuildConfig(tiers={"5": Tier("5", "staff", exempt=True)})
    assert member_policy(GuildLimits(), exempt_role, ("5",), moderator=False).limits.exempt


def test_out_of_range_settings_are_refused_with_the_range() -> None:
    with pytest.raises(SettingsError, match="`active` must be between 0 and 100; 500 is not"):
        Tier("1", active=500)
    with pytest.raises(SettingsError, match=r"weight must be between 0\.1 and 10"):
        Tier("1", weight=50)


async def test_settings_are_stored_per_guild_and_only_what_admins_set(queue: JobQueue) -> None:
    store = GuildConfigStore(queue.redis, queue.keys)
    await store.set_limits("1", {"rate": 9, "exempt_moderators": True})
    await store.set_tier("1", Tier("7", "vip", active=4))
    with pytest.raises(SettingsError):
        await store.set_limits("1", {"rate": 2, "active": -1})  # all or nothing
    config = await store.load("1")
    assert config.overrides == {"rate": 9, "exempt_moderators": True}
    assert config.tiers["7"].active == 4
    # a default changed in the environment still reaches the values the admins left alone
    assert config.limits(GuildLimits(active=7)).active == 7
    assert (await store.load("2")).overrides == {}
    await store.reset_limits("1")
    assert (await store.load("1")).overrides == {}
    assert await store.remove_tier("1", "7")


@pytest.mark.parametrize(
    ("refusal", "expected"),
    [
        (
            LimitReached("active", 2, 2),
            "You already have 2 videos waiting or rendering; the limit on this server is 2",
        ),
        (LimitReached("rate", 5, 5, 1.0), "You have asked for 5 videos in the last 1 hour"),
        (LimitReached("member_daily", 3, 3, 1.0), "You have had your 3 videos for today"),
        (LimitReached("guild_daily", 50, 50, 1.0), "This server has had its 50 videos for today"),
        (LimitReached("cooldown", 4, 3, 1.0), "You are on a cooldown after 4 refused requests in a row"),
        (
            QueueFull("guild", 100, 100),
            "This server's queue is full: 100 videos waiting, and the limit is 100",
        ),
        (QueueFull("global", 1000, 1000), "Reelbot's queue is full: 1000 videos waiting"),
        (LimitReached("blocked", 0, 0, None, '{"reason": "spam", "by": "1", "at": 1}'), "(reason: spam)"),
    ],
    ids=[str(limit) for limit in Limit],
)
def test_every_refusal_names_its_limit_numbers_and_retry_time(refusal: LimitReached, expected: str) -> None:
    text = refusal_text(refusal, time.time() + 600, 3600)
    assert expected in text
    if refusal.limit != Limit.BLOCKED:
        assert f"<t:{int(time.time() + 600)}:R>" in text
        assert text.endswith("Nothing you had queued was changed.")


def test_a_refusal_that_starts_a_cooldown_says_so() -> None:
    until = time.time() + 60
    text = refusal_text(LimitReached("rate", 5, 5, time.time() + 700, "", until), time.time() + 700, 3600)
    assert f"you can ask again <t:{int(until)}:R> at the earliest" in text


def test_settings_show_marks_what_was_set_here() -> None:
    config = GuildConfig(overrides={"rate": 9}, tiers={"7": Tier("7", "vip", active=4, weight=2.0)})
    text = settings_text(GuildLimits(), config, blocked=2)
    assert "Videos per member per period: **9** (set here)" in text
    assert "Videos waiting or rendering per member: **2** (default)" in text
    assert "<@&7>: active 4, queue weight 2" in text
    assert "**Blocked members**: 2" in text
