"""Moderator approvals in Discord: Approve and Reject (with a reason form) on a card, and the
Appeal button on a refusal.

Buttons and the form carry the approval id (``reelbot:approve:<id>``), so cards posted before a
restart still work after it, and a Reject form is answered however many moderators submit it,
whenever. Who may decide is asked of the access policy at each click and each submission.
"""

from __future__ import annotations

from collections.abc import Mapping

import discord
from discord.ext import commands

from bot.access import AccessPolicy, member_of
from bot.errors import UserFacingError
from bot.features.approvals.cards import already_decided, reject_form
from bot.features.approvals.desk import ApprovalDesk
from bot.ui import Router


class ApprovalsCog(commands.Cog, name="approvals"):
    """The Approve, Reject and Appeal buttons and the Reject form."""

    def __init__(self, *, desk: ApprovalDesk, access: AccessPolicy, router: Router) -> None:
        self.desk, self.access = desk, access
        router.on_click("approve", self.approve)
        router.on_click("reject", self.reject)
        router.on_submit("reject-form", self.rejected)
        router.on_click("appeal", self.appeal)

    async def approve(self, interaction: discord.Interaction, approval_id: str) -> None:
        """Approve: the request is queued, or the clip posted."""
        member = member_of(interaction)
        pending = await self.access.approval(member, approval_id)
        await interaction.response.defer(ephemeral=True, thinking=True)
        text = await self.desk.decide(pending, member, approve=True)
        await interaction.followup.send(text, ephemeral=True)

    async def reject(self, interaction: discord.Interaction, approval_id: str) -> None:
        """Reject: a form asks for the reason the member will see."""
        pending = await self.access.approval(member_of(interaction), approval_id)
        if pending.decided:
            raise UserFacingError(already_decided(pending))
        await interaction.response.send_modal(reject_form(approval_id))

    async def rejected(
        self, interaction: discord.Interaction, approval_id: str, values: Mapping[str, str]
    ) -> None:
        """The Reject form, submitted (by any moderator, before or after a restart)."""
        member = member_of(interaction)
        pending = await self.access.approval(member, approval_id)
        await interaction.response.defer(ephemeral=True, thinking=True)
        text = await self.desk.decide(pending, member, approve=False, reason=values.get("reason", ""))
        await interaction.followup.send(text, ephemeral=True)

    async def appeal(self, interaction: discord.Interaction, approval_id: str) -> None:
        """On a refusal: send it to the moderators (a few times a day)."""
        pending = await self.access.appeal(member_of(interaction), approval_id)
        await interaction.response.defer(ephemeral=True, thinking=True)
        await interaction.followup.send(await self.desk.appeal(pending), ephemeral=True)
