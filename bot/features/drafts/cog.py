"""Prompt drafts: the member decides on the enhanced prompt (Generate, Use original, or Edit).

``/video enhance:review`` leaves the request as a draft (:mod:`bot.features.drafts.store`).
Deciding takes the draft (once, however many clicks) and hands the chosen prompt to the
request pipeline as a new request; if the pipeline refuses it (a limit, say), the draft is
given back so the member can try again.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace

import discord
from discord.ext import commands

from bot.access import DRAFT_GONE, AccessPolicy, member_of
from bot.channels import missing_permissions
from bot.errors import NotAllowed, UserFacingError
from bot.features.drafts.cards import CHOSEN, draft_buttons, edit_form
from bot.features.drafts.store import Draft, DraftStore
from bot.features.video.replies import Replies
from bot.i18n import _
from bot.pipeline import RequestPipeline
from bot.requests import Member, Origin, VideoRequest
from bot.ui import Router

#: what drafts' custom ids were called before they were drafts: cards shown before an
#: upgrade still carry it
_OLD_PREFIX = "review"


class DraftsCog(commands.Cog, name="drafts"):
    """The buttons and form of a member's prompt draft."""

    def __init__(
        self,
        *,
        pipeline: RequestPipeline,
        access: AccessPolicy,
        drafts: DraftStore,
        replies: Replies,
        router: Router,
    ) -> None:
        self.pipeline, self.access, self.drafts, self.replies = pipeline, access, drafts, replies
        for prefix in ("draft", _OLD_PREFIX):
            router.on_click(f"{prefix}-go", self.generate)
            router.on_click(f"{prefix}-orig", self.use_original)
            router.on_click(f"{prefix}-edit", self.edit)
            router.on_submit(f"{prefix}-form", self.edited)

    async def generate(self, interaction: discord.Interaction, draft_id: str) -> None:
        """Render the enhanced prompt (or the member's words when there is none)."""
        await self._decide(interaction, draft_id, "enhanced")

    async def use_original(self, interaction: discord.Interaction, draft_id: str) -> None:
        """Render the member's own words."""
        await self._decide(interaction, draft_id, "original")

    async def edit(self, interaction: discord.Interaction, draft_id: str) -> None:
        """A form pre-filled with the enhanced prompt."""
        draft = await self.access.draft(member_of(interaction), draft_id)
        await interaction.response.send_modal(edit_form(draft))

    async def edited(
        self, interaction: discord.Interaction, draft_id: str, values: Mapping[str, str]
    ) -> None:
        """Render the member's edit."""
        edited = values.get("prompt", "").strip()
        if not edited:
            raise UserFacingError(_("The prompt is empty; write what the video shows."), reason="input")
        await self._decide(interaction, draft_id, "edited", edited)

    async def _decide(
        self, interaction: discord.Interaction, draft_id: str, choice: str, edited: str = ""
    ) -> None:
        """Take the draft, run its request, answer; on a refusal, give the draft back."""
        member = member_of(interaction)
        await self.access.draft(member, draft_id)
        draft = await self.drafts.take(draft_id)
        if draft is None:
            raise NotAllowed(_(DRAFT_GONE))
        on_card = interaction.message is not None and interaction.type is discord.InteractionType.component
        if on_card:
            await interaction.response.edit_message(content=_(CHOSEN[choice]), view=None)
        else:
            await interaction.response.defer(ephemeral=True, thinking=True)
        try:
            outcome = await self.pipeline.run(decided(draft, choice, edited, member, interaction))
        except UserFacingError:
            await self.drafts.put_back(draft)
            if on_card:
                await interaction.edit_original_response(content=None, view=draft_buttons(draft))
            raise
        await self.replies.outcome(interaction, outcome)


def decided(
    draft: Draft, choice: str, edited: str, member: Member, interaction: discord.Interaction
) -> VideoRequest:
    """The request a decision makes: the draft's request with the chosen prompt, settled."""
    if choice == "enhanced":
        prompt, original, rewritten = draft.enhanced, draft.original if draft.differs else None, draft.differs
    elif choice == "original":
        prompt, original, rewritten = draft.original, None, False
    else:
        prompt, original, rewritten = edited, draft.original if edited != draft.original else None, False
    return replace(
        draft.request,
        origin=Origin.DRAFT,
        member=member,
        prompt=prompt,
        original_prompt=original,
        rewritten=rewritten,
        settled=True,
        missing_permissions=tuple(missing_permissions(interaction.app_permissions)),
    )
