"""The error funnel and the router end to end: the real discord.py bot, a tiny-model worker, real
Redis, the Discord double.

Whatever fails while a button, a form or an autocomplete is handled, the member gets an answer:
an unexpected error is logged with a short reference and the member is shown the same
reference. Forms are answered from their custom id, so two moderators submitting one Reject form,
or one submitting it after a restart, are both answered; buttons drawn before a restart still
work after it, and a restart itself never hangs on a loop that missed its cancellation.
"""

from __future__ import annotations

import asyncio
import logging
import re
from typing import Any, NoReturn

import pytest

from tests.bot_box import Box, answered, buttons, moderated, reply_text, review_message
from tests.discord_double.world import SEND_MESSAGES

pytestmark = pytest.mark.timeout(180)

#: what the funnel shows a member for a bug: "... (reference `0123abcd`) ..."
REFERENCE = re.compile(r"reference `([0-9a-f]{8})`")
EPHEMERAL = 1 << 6
CHOICES = 8  # APPLICATION_COMMAND_AUTOCOMPLETE_RESULT


class Unexpected(RuntimeError):
    """A bug planted in one collaborator: nothing in the bot expects it."""


async def explode(*args: Any, **kwargs: Any) -> NoReturn:
    raise Unexpected("planted by the test")


async def delivered_clip(box: Box, prompt: str) -> tuple[str, Any]:
    """A /video by the member, its clip posted, and delivery finished with it; (job id, clip message)."""
    asked = await box.video(prompt=prompt)
    job_id = (await answered(box, asked)).split("`")[1]
    clip = await box.clip_message(job_id)
    # the status line is edited last: once it says "ready", delivery no longer touches this job,
    # so a collaborator broken from here on fails only the interaction under test
    await box.double.wait_for_message(
        box.channel,
        lambda m: not m.flags & EPHEMERAL and m.id != clip.id and f"`{job_id}` is ready" in m.content,
    )
    return job_id, clip


def logged_bug(caplog: pytest.LogCaptureFixture, reference: str) -> logging.LogRecord:
    """The one log record that carries ``reference``, with the planted error attached."""
    (record,) = [r for r in caplog.records if f"(ref {reference})" in r.getMessage()]
    assert record.levelno == logging.ERROR
    assert record.exc_info is not None and isinstance(record.exc_info[1], Unexpected)
    return record


async def test_an_unexpected_error_in_a_button_gives_the_member_a_reference(
    box: Box, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.ERROR, logger="bot.funnel")
    job_id, clip = await delivered_clip(box, "a red kite")
    # Re-roll defers, then reads the job's notes: the error comes after the initial response
    monkeypatch.setattr(box.parts.jobs, "notes", explode)

    pressed = await box.double.click(box.channel, clip.id, f"reelbot:reroll:{job_id}", box.other)
    await box.double.wait_for(lambda: bool(pressed.followups), 10)

    (reply,) = pressed.followups
    found = REFERENCE.search(reply.content)
    assert found is not None, reply.content
    assert reply.flags & EPHEMERAL and "Something went wrong on our side" in reply.content
    record = logged_bug(caplog, found[1])
    assert f"reelbot:reroll:{job_id}" in record.getMessage() and str(box.other) in record.getMessage()
    assert "Queued" not in reply_text(pressed)
    assert box.double.violations == []


async def test_an_unexpected_error_in_a_form_gives_the_member_a_reference(
    box: Box, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.ERROR, logger="bot.funnel")
    job_id, clip = await delivered_clip(box, "a red kite")
    opened = await box.double.click(box.channel, clip.id, f"reelbot:remix:{job_id}", box.other)
    await box.double.wait_for(lambda: bool(opened.responses), 10)
    assert opened.responses[0]["type"] == 9  # the Remix form
    # the submission is checked against the job first: the error comes before any response,
    # so the funnel gives the initial response itself (the button test covers the follow-up)
    monkeypatch.setattr(box.parts.access, "job", explode)

    submitted = await box.double.submit_modal(
        box.channel, f"reelbot:remix-form:{job_id}", {"prompt": "a blue kite"}, box.other, box.guild
    )
    await box.double.wait_for(lambda: bool(submitted.responses), 10)

    (response,) = submitted.responses
    assert response["type"] == 4 and response["data"]["flags"] & EPHEMERAL
    found = REFERENCE.search(response["data"]["content"])
    assert found is not None, response
    record = logged_bug(caplog, found[1])
    assert f"reelbot:remix-form:{job_id}" in record.getMessage()
    assert submitted.followups == []  # no job: nothing was queued
    assert box.double.violations == []


async def test_an_unexpected_error_in_an_autocomplete_answers_with_a_choice_naming_the_reference(
    box: Box, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.ERROR, logger="bot.funnel")
    monkeypatch.setattr(box.parts.pipeline.snapshots, "load", explode)

    asked = await box.double.autocomplete(
        box.guild, box.channel, box.member, "video", {"model": "cog"}, "model"
    )
    await box.double.wait_for(lambda: bool(asked.responses), 10)

    (response,) = asked.responses
    assert response["type"] == CHOICES
    (choice,) = response["data"]["choices"]
    found = re.search(r"reference ([0-9a-f]{8})", choice["name"])
    assert found is not None, choice
    assert len(choice["name"]) <= 100 and "Could not list the choices" in choice["name"]
    logged_bug(caplog, found[1])
    assert box.double.violations == []


async def test_an_autocomplete_without_errors_lists_the_running_models(box: Box) -> None:
    """The counterpart of the test above: the same request, nothing broken, real choices."""
    asked = await box.double.autocomplete(
        box.guild, box.channel, box.member, "video", {"model": "cog"}, "model"
    )
    await box.double.wait_for(lambda: bool(asked.responses), 10)

    choices = asked.responses[0]["data"]["choices"]
    assert choices and all(c["value"].startswith("cogvideox") for c in choices)
    assert not any("reference" in c["name"] for c in choices)


async def test_two_moderators_submitting_reject_on_one_card_are_both_answered(box: Box) -> None:
    second = box.double.add_member(box.guild, "mod2", moderator=True)
    review = await moderated(box, before_generation="every")
    asked = await box.video(prompt="a red kite")
    job_id = (await answered(box, asked)).split("`")[1]
    card = await review_message(box, review)
    reject = f"reelbot:reject:r{job_id}"
    assert reject in buttons(card)
    moderators = (box.moderator, second)
    # both open the form while the request is still undecided
    opened = [await box.double.click(review, card.id, reject, who) for who in moderators]
    await box.double.wait_for(lambda: all(o.responses for o in opened), 10)
    assert [o.responses[0]["type"] for o in opened] == [9, 9]

    submitted = await asyncio.gather(
        *(
            box.double.submit_modal(
                review, f"reelbot:reject-form:r{job_id}", {"reason": f"not here ({who})"}, who, box.guild
            )
            for who in moderators
        )
    )
    await box.double.wait_for(lambda: all(s.followups for s in submitted), 20)

    texts = {who: reply_text(s) for who, s in zip(moderators, submitted, strict=True)}
    (winner,) = [who for who, text in texts.items() if text.startswith("Rejected")]
    (loser,) = [who for who in moderators if who != winner]
    assert texts[winner] == f"Rejected `{job_id}`; <@{box.member}> was told why."
    assert texts[loser] == f"<@{winner}> already rejected this."
    # the member is told before the winner's answer is sent: by now every telling is done
    told = [m for m in box.double.messages(box.channel) if "did not approve" in m.content]
    assert len(told) == 1 and f"not here ({winner})" in told[0].content
    decided = await box.parts.approvals.get(f"r{job_id}")
    assert decided is not None and decided.state == "rejected" and decided.decided_by == str(winner)
    audit = await box.parts.audit.recent(str(box.guild))
    assert [e.actor_id for e in audit if e.action == "rejected"] == [str(winner)]
    assert box.double.violations == []


async def test_a_reject_form_opened_before_a_restart_is_answered_after_it(box: Box) -> None:
    review = await moderated(box, before_generation="every")
    asked = await box.video(prompt="a red kite")
    job_id = (await answered(box, asked)).split("`")[1]
    card = await review_message(box, review)
    opened = await box.double.click(review, card.id, f"reelbot:reject:r{job_id}", box.moderator)
    await box.double.wait_for(lambda: bool(opened.responses), 10)
    assert opened.responses[0]["type"] == 9

    await box.stop_bot()
    await box.start_bot()
    submitted = await box.double.submit_modal(
        review, f"reelbot:reject-form:r{job_id}", {"reason": "not this week"}, box.moderator, box.guild
    )
    await box.double.wait_for(lambda: bool(submitted.followups), 20)

    assert reply_text(submitted) == f"Rejected `{job_id}`; <@{box.member}> was told why."
    decided = await box.parts.approvals.get(f"r{job_id}")
    assert decided is not None and decided.state == "rejected" and decided.reason == "not this week"
    told = await box.double.wait_for_message(box.channel, lambda m: "did not approve" in m.content)
    assert "not this week" in told.content
    assert box.double.violations == []


async def test_settings_moderation_refuses_a_channel_the_bot_cannot_post_in(box: Box) -> None:
    closed = box.double.add_channel(box.guild, "mod-queue")
    box.double.deny_bot(closed, SEND_MESSAGES)  # an admin forgot the bot in this channel's settings

    refused = await box.ask(box.admin, "settings moderation", review_channel=closed)
    shown = await box.ask(box.admin, "settings show")

    assert f"I cannot post in <#{closed}>" in refused and "missing Send Messages" in refused
    assert "nothing was changed" in refused and "Changed" not in refused
    assert "Review channel: none" in shown
    box.double.deny_bot(closed, 0)  # the admin fixes the channel
    changed = await box.ask(box.admin, "settings moderation", review_channel=closed)
    assert "Changed: `review_channel`." in changed and f"Review channel: <#{closed}>" in changed
    assert box.double.violations == []


async def test_a_button_pressed_on_a_message_from_before_a_restart_still_works(box: Box) -> None:
    job_id, clip = await delivered_clip(box, "a lighthouse at dusk")

    await box.stop_bot()
    await box.start_bot()
    pressed = await box.double.click(box.channel, clip.id, f"reelbot:reroll:{job_id}", box.member)
    await box.double.wait_for(lambda: bool(pressed.followups), 10)

    assert "Queued `" in reply_text(pressed), reply_text(pressed)
    new_id = reply_text(pressed).split("`")[1]
    rerolled = await box.queue.get(new_id)
    assert new_id != job_id and rerolled.spec.prompt == "a lighthouse at dusk"
    assert rerolled.user_id == str(box.member)
    await box.clip_message(new_id)  # and it renders and is posted like any other
    assert box.double.violations == []


async def test_the_bot_stops_even_when_a_loop_misses_its_cancellation(
    box: Box, monkeypatch: pytest.MonkeyPatch
) -> None:
    """On Python 3.11, ``asyncio.wait_for`` (which redis-py puts around every command it sends)
    drops a cancellation that arrives as the command completes; a bot that cancelled its loops
    once then hung on close now and then. Here that moment is made to happen on purpose."""
    assert box.bot is not None
    events = box.parts.delivery.events
    read_as_usual = events.new
    sent = asyncio.get_running_loop().create_future()
    waiting = asyncio.Event()

    async def new(block_seconds: float) -> Any:
        if sent.done():
            return await read_as_usual(block_seconds)
        waiting.set()
        # what redis-py does with every command: asyncio.wait_for(send, socket_timeout)
        return await asyncio.wait_for(sent, 5)

    monkeypatch.setattr(events, "new", new)
    await box.double.wait_for(waiting.is_set, 10)  # the delivery loop waits for its command to go out
    loop = box.bot.supervisor.loops["delivery"].task
    assert loop is not None

    # the command goes out in the same turn of the event loop as the bot is told to stop: the
    # loop's cancellation arrives while wait_for is being told that the send is done
    sent.set_result([])
    stopping = asyncio.create_task(box.stop_bot())
    try:
        # a second try at cancelling comes after a second; a loop left running never ends
        await asyncio.wait({stopping}, timeout=5)
        assert stopping.done(), "the bot is still closing: its delivery loop never stopped"
        assert loop.done(), "the bot closed but left its delivery loop running"
    finally:
        while not loop.done():  # clean up after a failure (the read is real again by now)
            loop.cancel()
            await asyncio.wait({loop}, timeout=1)
        await stopping
