"""The one access policy: who may act on a job, an approval, a prompt draft or a setting.

Every command, button and form asks here before it acts, with the member as Discord described
them in *this* interaction (permissions and roles can change between two clicks):

- a job, approval or draft belongs to one guild and is unknown in every other, with the same
  wording whether it exists elsewhere or not at all;
- seeing a job (``/job``, Re-roll, Remix) is for members of its guild; managing it (cancel,
  delete) is for the member who asked for it or a moderator;
- deciding an approval is for moderators; sending an appeal and deciding a draft are for the
  member whose request it is;
- a moderator has Manage Messages (or Administrator) where they act, or the guild's moderator
  role (:func:`bot.snapshot.is_moderator`, the one definition);
- settings need Manage Server; pausing the queue is for the deployment's operators.
"""

from __future__ import annotations

from collections.abc import Collection
from enum import StrEnum
from typing import TYPE_CHECKING

import discord

from bot.errors import NotAllowed
from bot.i18n import N_, _
from bot.modconfig import ModerationConfig, ModerationStore
from bot.requests import Member
from bot.snapshot import is_moderator
from inference.contract import ContractError, JobRecord
from inference.jobqueue import JobNotFound, JobQueue

if TYPE_CHECKING:
    from bot.features.approvals.store import ApprovalStore, Pending
    from bot.features.drafts.store import Draft, DraftStore


def member_of(interaction: discord.Interaction) -> Member:
    """The member behind an interaction: their roles and permissions as Discord sent them now."""
    permissions = interaction.permissions
    roles = getattr(interaction.user, "roles", ())
    return Member(
        guild_id=str(interaction.guild_id or ""),
        user_id=str(interaction.user.id),
        role_ids=tuple(str(role.id) for role in roles if not role.is_default()),
        manages_messages=bool(permissions.manage_messages or permissions.administrator),
        manages_server=bool(permissions.manage_guild or permissions.administrator),
    )


def unknown_job(job_id: str) -> str:
    """What a member is told about a job id that is not one of their guild's (or not at all)."""
    return _(
        "I know no job `{job}` in this server; finished jobs are kept for 7 days.", job=job_id.strip()[:32]
    )


class JobAction(StrEnum):
    """What a member wants to do with a job."""

    #: look at it, or make a new video from it (Re-roll, Remix): any member of its guild
    SEE = "see"
    #: cancel it: its member or a moderator
    CANCEL = "cancel"
    #: delete its clip: its member or a moderator
    DELETE = "delete"


class AccessPolicy:
    """Decides, at the moment of each interaction, whether a member may do what they ask."""

    def __init__(
        self,
        queue: JobQueue,
        approvals: ApprovalStore,
        drafts: DraftStore,
        operator_ids: Collection[str] = (),
    ) -> None:
        self.queue = queue
        self.approvals = approvals
        self.drafts = drafts
        self.operator_ids = frozenset(operator_ids)
        self.settings = ModerationStore(queue.redis, queue.keys)

    async def is_moderator(self, member: Member, config: ModerationConfig | None = None) -> bool:
        """Whether ``member`` moderates their guild now (reads the guild's moderator role)."""
        if member.manages_messages:
            return True
        config = config or await self.settings.load(member.guild_id)
        return is_moderator(member, config)

    async def job(self, member: Member, job_id: str, action: JobAction) -> JobRecord:
        """The job, if ``member`` may ``action`` it.

        Raises:
            NotAllowed: unknown in this guild, or not theirs to cancel or delete.
        """
        try:
            job = await self.queue.get(job_id.strip().lower())
        except (JobNotFound, ContractError):
            raise NotAllowed(unknown_job(job_id)) from None
        if job.guild_id != member.guild_id:
            raise NotAllowed(unknown_job(job_id))
        if action is JobAction.SEE or job.user_id == member.user_id:
            return job
        if not await self.is_moderator(member):
            if action is JobAction.DELETE:
                raise NotAllowed(
                    _("Only the member who asked for this video, or a moderator, can delete it.")
                )
            raise NotAllowed(_("Only the member who asked for this video, or a moderator, can cancel it."))
        return job

    async def approval(self, member: Member, approval_id: str) -> Pending:
        """An approval a moderator of its guild is deciding.

        Raises:
            NotAllowed: unknown here, or ``member`` does not moderate.
        """
        pending = await self.approvals.get(approval_id)
        if pending is None or pending.guild_id != member.guild_id:
            raise NotAllowed(_("This approval has expired or is not from this server."))
        if not await self.is_moderator(member):
            raise NotAllowed(
                _("Deciding approvals needs the Manage Messages permission or this server's moderator role.")
            )
        return pending

    async def appeal(self, member: Member, approval_id: str) -> Pending:
        """A refusal of ``member``'s that they want to appeal.

        Raises:
            NotAllowed: not theirs, or unknown here.
        """
        pending = await self.approvals.get(approval_id)
        if pending is None or pending.guild_id != member.guild_id or pending.user_id != member.user_id:
            raise NotAllowed(_("There is no refusal of yours to appeal here."))
        return pending

    async def draft(self, member: Member, draft_id: str) -> Draft:
        """A prompt draft of ``member``'s.

        Raises:
            NotAllowed: it expired or was used, or it is someone else's.
        """
        draft = await self.drafts.get(draft_id)
        if draft is None or draft.guild_id != member.guild_id:
            raise NotAllowed(_(DRAFT_GONE))
        if draft.user_id != member.user_id:
            raise NotAllowed(_("Only the member who asked for this video can decide on its prompt."))
        return draft

    async def moderator(self, member: Member, doing: str) -> None:
        """Raise unless ``member`` moderates their guild now; ``doing`` names what needs it."""
        if not await self.is_moderator(member):
            if doing in _NEEDS_MODERATOR:
                raise NotAllowed(_(_NEEDS_MODERATOR[doing]))
            raise NotAllowed(
                _(
                    "{doing} needs the Manage Messages permission or this server's moderator role.",
                    doing=doing,
                )
            )

    def server_admin(self, member: Member, doing: str = "Changing Reelbot's settings") -> None:
        """Raise unless ``member`` has Manage Server."""
        if not member.manages_server:
            if doing in _NEEDS_MANAGER:
                raise NotAllowed(_(_NEEDS_MANAGER[doing]))
            raise NotAllowed(_("{doing} needs the Manage Server permission.", doing=doing))

    def operator(self, member: Member) -> None:
        """Raise unless ``member`` is one of the deployment's operators (REELBOT_OPERATOR_IDS)."""
        if not self.operator_ids:
            raise NotAllowed(
                _(
                    "No operators are set up for this Reelbot: its host lists their Discord user ids in "
                    "REELBOT_OPERATOR_IDS."
                )
            )
        if member.user_id not in self.operator_ids:
            raise NotAllowed(_("Pausing, resuming and draining the queue is for this Reelbot's operators."))

    def admin_or_operator(self, member: Member, doing: str) -> None:
        """Raise unless ``member`` has Manage Server here or operates the deployment."""
        if member.user_id not in self.operator_ids:
            self.server_admin(member, doing)

    async def history(self, member: Member, subject_id: str) -> None:
        """Raise unless ``member`` may list ``subject_id``'s clips here: their own, or anyone's
        for a moderator."""
        self.in_guild(member)
        if subject_id != member.user_id and not await self.is_moderator(member):
            raise NotAllowed(
                _(
                    "You can list your own videos with /history; other members' need the Manage Messages "
                    "permission or this server's moderator role."
                )
            )

    def in_guild(self, member: Member) -> Member:
        """Any member of a guild (commands that act only on the member's own things)."""
        if not member.guild_id:
            raise NotAllowed(_("Reelbot works inside a server, not in direct messages."))
        return member


DRAFT_GONE = N_("This prompt draft has expired or was already used. Run /video again to make a new one.")

#: the whole sentence for each thing the callers ask a permission for (``doing``), so that it
#: translates as one; a ``doing`` not listed here is put into the general sentence as it is
_NEEDS_MODERATOR = {
    "Blocking members": N_(
        "Blocking members needs the Manage Messages permission or this server's moderator role."
    ),
}
_NEEDS_MANAGER = {
    "Changing Reelbot's settings": N_("Changing Reelbot's settings needs the Manage Server permission."),
    "/status": N_("/status needs the Manage Server permission."),
}
