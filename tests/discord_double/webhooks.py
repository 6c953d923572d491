"""Interaction responses and the interaction webhook (followups, ``@original``), without bot auth.

Real: the initial response must arrive within 3 s of dispatch (else 404/10062); a second initial
response is 400/40060; tokens expire after 15 min (401/50027); response types allowed per
interaction type; a "thinking" defer (type 5) creates a loading message that the first followup or
the first ``@original`` edit fills in; ``with_response`` returns the interaction callback object;
followups honour ``wait``; ``@original`` of a component interaction answered with type 6 or 7 is the
message the component is on.
Simplified: ephemeral messages are stored in the channel like any other (flag 64 set).
"""

from __future__ import annotations

from typing import Any

from .messages import MessageWriter
from .payloads import message_payload
from .routing import Call, Reply, Route
from .rules import DiscordError, check_modal, describe, invalid_form_body
from .world import (
    EPHEMERAL,
    INITIAL_RESPONSE_DEADLINE_S,
    IS_COMPONENTS_V2,
    LOADING,
    MESSAGE_CHAT_INPUT_COMMAND,
    MESSAGE_DEFAULT,
    TOKEN_TTL_S,
    Interaction,
    Message,
    World,
)

PONG, MESSAGE, DEFERRED_MESSAGE, DEFERRED_UPDATE, UPDATE_MESSAGE, AUTOCOMPLETE_RESULT, MODAL = (
    1,
    4,
    5,
    6,
    7,
    8,
    9,
)
# Response types Discord accepts per interaction type (ping, command, component, autocomplete, modal submit).
ALLOWED_RESPONSES: dict[int, set[int]] = {
    1: {PONG},
    2: {MESSAGE, DEFERRED_MESSAGE, MODAL},
    3: {MESSAGE, DEFERRED_MESSAGE, DEFERRED_UPDATE, UPDATE_MESSAGE, MODAL},
    4: {AUTOCOMPLETE_RESULT},
    5: {MESSAGE, DEFERRED_MESSAGE, DEFERRED_UPDATE, UPDATE_MESSAGE},
}
_CREATE_FLAGS = (
    EPHEMERAL | IS_COMPONENTS_V2 | (1 << 2) | (1 << 12)
)  # + SUPPRESS_EMBEDS, SUPPRESS_NOTIFICATIONS


class InteractionApi:
    """Handlers for the interaction callback and the interaction webhook."""

    def __init__(self, world: World, writer: MessageWriter) -> None:
        self.world = world
        self.writer = writer

    def routes(self) -> list[Route]:
        """Every route this class serves (none needs the bot token)."""
        hook = "/webhooks/{webhook_id}/{webhook_token}"
        return [
            Route(
                "POST", "/interactions/{interaction_id}/{interaction_token}/callback", self.callback, False
            ),
            Route("POST", hook, self.followup, False),
            Route("GET", hook + "/messages/@original", self.get_original, False),
            Route("PATCH", hook + "/messages/@original", self.edit_original, False),
            Route("DELETE", hook + "/messages/@original", self.delete_original, False),
            Route("GET", hook + "/messages/{message_id}", self.get_message, False),
            Route("PATCH", hook + "/messages/{message_id}", self.edit_message, False),
            Route("DELETE", hook + "/messages/{message_id}", self.delete_message, False),
        ]

    # -- the initial response -----------------------------------------------------------------------

    async def callback(self, call: Call) -> Reply:
        """Accept (or refuse) the initial response to an interaction."""
        interaction = self.world.interactions.get(call.int_param("interaction_id"))
        where = f"{call.method} {call.path}"
        if interaction is None or interaction.token != call.params["interaction_token"]:
            raise DiscordError(404, 10062, violation=f"{where}: no interaction with this id and token")
        age = self.world.clock.now() - interaction.dispatched_at
        if age > TOKEN_TTL_S:
            raise DiscordError(
                401, 50027, violation=f"{where}: token used {age:.0f} s after dispatch (15 min limit)"
            )
        if interaction.acknowledged:
            raise DiscordError(400, 40060, violation=f"{where}: interaction {interaction.id} answered twice")
        if age > INITIAL_RESPONSE_DEADLINE_S:
            raise DiscordError(
                404,
                10062,
                violation=f"{where}: initial response {age:.2f} s after dispatch; Discord allows "
                f"{INITIAL_RESPONSE_DEADLINE_S:.0f} s (defer first, then follow up)",
            )
        body: dict[str, Any] = call.body or {}
        kind = int(body.get("type", 0))
        data = body.get("data")
        if kind not in ALLOWED_RESPONSES.get(interaction.type, set()):
            problem = (
                ("type",),
                "INTERACTION_RESPONSE_TYPE_INVALID",
                f"Response type {kind} is not allowed here",
            )
            raise invalid_form_body(
                [problem],
                f"{where}: response type {kind} is not valid for interaction type {interaction.type}",
            )
        self._apply(call, interaction, kind, data if isinstance(data, dict) else {})
        interaction.responses.append({"type": kind, "data": data, "at": self.world.clock.now()})
        if call.flag("with_response"):
            return 200, self._callback_object(interaction, kind)
        return 204, None

    def _apply(self, call: Call, interaction: Interaction, kind: int, data: dict[str, Any]) -> None:
        """What the response does to the world."""
        common = {"webhook_id": self.world.application_id, "interaction_id": interaction.id}
        msg_type = MESSAGE_CHAT_INPUT_COMMAND if interaction.type == 2 else MESSAGE_DEFAULT
        flags = int(data.get("flags") or 0)
        if kind == MESSAGE:
            interaction.original = self.writer.create(
                call.method,
                call.path,
                interaction.channel_id,
                data,
                call.uploads,
                type=msg_type,
                flags=flags & _CREATE_FLAGS,
                **common,
            )
        elif kind == DEFERRED_MESSAGE:
            interaction.original = self.world.new_message(
                interaction.channel_id,
                self.world.bot_user_id,
                type=msg_type,
                flags=LOADING | (flags & EPHEMERAL),
                **common,
            )
        elif kind in (DEFERRED_UPDATE, UPDATE_MESSAGE):
            target = self._component_message(interaction)
            if kind == UPDATE_MESSAGE:
                self.writer.edit(call.method, call.path, target, data, call.uploads)
            interaction.original = target
        elif kind == MODAL:
            problems = check_modal(data)
            if problems:
                raise invalid_form_body(problems, f"{call.method} {call.path}: {describe(problems)}")

    def _component_message(self, interaction: Interaction) -> Message:
        """The message a component interaction came from."""
        raw = interaction.payload.get("message")
        found = None if raw is None else self.world.find_message(interaction.channel_id, int(raw["id"]))
        if found is None:
            raise DiscordError(400, 50035, violation=f"interaction {interaction.id}: no message to update")
        return found

    def _callback_object(self, interaction: Interaction, kind: int) -> dict[str, Any]:
        """The interaction callback response (``?with_response=true``)."""
        summary: dict[str, Any] = {"id": str(interaction.id), "type": interaction.type}
        resource: dict[str, Any] = {"type": kind}
        original = interaction.original
        if original is not None and kind in (MESSAGE, DEFERRED_MESSAGE, UPDATE_MESSAGE):
            summary.update(
                response_message_id=str(original.id),
                response_message_loading=kind == DEFERRED_MESSAGE,
                response_message_ephemeral=bool(original.flags & EPHEMERAL),
            )
            if kind != DEFERRED_MESSAGE:
                resource["message"] = message_payload(self.world, original)
        return {"interaction": summary, "resource": resource}

    # -- the interaction webhook --------------------------------------------------------------------

    def _interaction(self, call: Call) -> Interaction:
        """The interaction behind a webhook URL, checking application id, token and expiry."""
        where = f"{call.method} {call.path}"
        interaction = self.world.interaction_by_token(call.params["webhook_token"])
        if interaction is None or call.params["webhook_id"] != str(self.world.application_id):
            raise DiscordError(
                404, 10015, violation=f"{where}: no interaction webhook with this id and token"
            )
        age = self.world.clock.now() - interaction.dispatched_at
        if age > TOKEN_TTL_S:
            raise DiscordError(
                401, 50027, violation=f"{where}: token used {age:.0f} s after dispatch (15 min limit)"
            )
        if not interaction.acknowledged:
            raise DiscordError(404, 10015, violation=f"{where}: used before the initial response")
        return interaction

    def _own_message(self, call: Call, interaction: Interaction, message_id: int | None) -> Message:
        """``@original`` (None) or one of this interaction's followups."""
        if message_id is None:
            message = interaction.original
        else:
            candidates = [interaction.original, *interaction.followups]
            message = next((m for m in candidates if m is not None and m.id == message_id), None)
        if message is None or message.deleted:
            raise DiscordError(404, 10008, violation=f"{call.method} {call.path}: unknown or deleted message")
        return message

    async def followup(self, call: Call) -> Reply:
        """Send a followup; the first one after a "thinking" defer fills the loading message."""
        interaction = self._interaction(call)
        body: dict[str, Any] = call.body or {}
        original = interaction.original
        if original is not None and original.flags & LOADING and not original.deleted:
            message = self.writer.edit(
                call.method, call.path, original, {**body, "flags": None}, call.uploads
            )
        else:
            message = self.writer.create(
                call.method,
                call.path,
                interaction.channel_id,
                body,
                call.uploads,
                flags=int(body.get("flags") or 0) & _CREATE_FLAGS,
                webhook_id=self.world.application_id,
                interaction_id=interaction.id,
            )
        interaction.followups.append(message)
        return (200, message_payload(self.world, message)) if call.flag("wait") else (204, None)

    async def get_original(self, call: Call) -> Reply:
        """The original response."""
        return 200, message_payload(self.world, self._own_message(call, self._interaction(call), None))

    async def edit_original(self, call: Call) -> Reply:
        """Edit (or fill in, after a defer) the original response."""
        message = self._own_message(call, self._interaction(call), None)
        self.writer.edit(call.method, call.path, message, call.body or {}, call.uploads)
        return 200, message_payload(self.world, message)

    async def delete_original(self, call: Call) -> Reply:
        """Delete the original response."""
        self._own_message(call, self._interaction(call), None).deleted = True
        return 204, None

    async def get_message(self, call: Call) -> Reply:
        """A followup message."""
        message = self._own_message(call, self._interaction(call), call.int_param("message_id"))
        return 200, message_payload(self.world, message)

    async def edit_message(self, call: Call) -> Reply:
        """Edit a followup message."""
        message = self._own_message(call, self._interaction(call), call.int_param("message_id"))
        self.writer.edit(call.method, call.path, message, call.body or {}, call.uploads)
        return 200, message_payload(self.world, message)

    async def delete_message(self, call: Call) -> Reply:
        """Delete a followup message."""
        self._own_message(call, self._interaction(call), call.int_param("message_id")).deleted = True
        return 204, None
