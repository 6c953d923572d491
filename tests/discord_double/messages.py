"""Creating and editing messages: limits, uploads, attachments kept with their bytes, and CDN URLs.

Real: ``files[n]`` uploads matched to ``attachments[].id == n``; on edit, listed existing attachment
ids are kept and unlisted ones dropped; per-file upload limit per guild boost tier (413/40005);
the 2,000-character, component and embed limits; "Cannot send an empty message" (50006).
Simplified: content types come from the file name (discord.py labels every upload
``application/octet-stream``); signed CDN URLs carry ``ex/is/hm`` parameters that are never checked.
"""

from __future__ import annotations

import mimetypes
import re
import struct
from dataclasses import dataclass
from typing import Any

from .rules import DiscordError, check_message, describe, invalid_form_body
from .world import IS_COMPONENTS_V2, LOADING, Message, World

_FILES_FIELD = re.compile(r"files\[(\d+)\]")
_EDITABLE_FLAGS = (1 << 2) | IS_COMPONENTS_V2  # SUPPRESS_EMBEDS, IS_COMPONENTS_V2


@dataclass(frozen=True)
class Upload:
    """One file part of a multipart request."""

    field: str
    filename: str
    content_type: str | None
    data: bytes

    @property
    def index(self) -> int | None:
        """``n`` of a ``files[n]`` field."""
        match = _FILES_FIELD.fullmatch(self.field)
        return int(match.group(1)) if match else None


def image_size(data: bytes) -> tuple[int, int] | None:
    """Width and height of a PNG or GIF, read from its header; None for anything else."""
    if data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) >= 24:
        width, height = struct.unpack(">II", data[16:24])
        return int(width), int(height)
    if data[:6] in (b"GIF87a", b"GIF89a") and len(data) >= 10:
        width, height = struct.unpack("<HH", data[6:10])
        return int(width), int(height)
    return None


def _reference(reference: Any) -> dict[str, Any] | None:
    """A message_reference as Discord echoes it: ids as strings."""
    if not isinstance(reference, dict):
        return None
    ids = ("message_id", "channel_id", "guild_id")
    return {k: str(v) if k in ids and v is not None else v for k, v in reference.items()}


class MessageWriter:
    """Applies message bodies (JSON or multipart) to the world under Discord's rules."""

    def __init__(self, world: World, cdn_origin: str, base_upload_limit: int) -> None:
        self.world = world
        self.cdn_origin = cdn_origin
        self.base_upload_limit = base_upload_limit

    def attachment(
        self,
        scope: int,
        filename: str,
        data: bytes,
        content_type: str | None = None,
        *,
        declared_size: int | None = None,
        description: str | None = None,
    ) -> dict[str, Any]:
        """Host a file on the CDN and return its attachment object (``data`` holds the bytes)."""
        attachment_id = self.world.ids.next()
        now = int(self.world.clock.now())
        query = f"?ex={now + 86400:x}&is={now:x}&hm={attachment_id:x}&"
        url = f"{self.cdn_origin}/attachments/{scope}/{attachment_id}/{filename}"
        attachment: dict[str, Any] = {
            "id": str(attachment_id),
            "filename": filename,
            "size": len(data) if declared_size is None else declared_size,
            "url": url + query,
            "proxy_url": url + query,
            "content_type": content_type or mimetypes.guess_type(filename)[0] or "application/octet-stream",
            "data": data,
        }
        if description is not None:
            attachment["description"] = description
        if (size := image_size(data)) is not None:
            attachment["width"], attachment["height"] = size
        self.world.hosted[attachment_id] = attachment
        return attachment

    def check(
        self, method: str, path: str, body: dict[str, Any], uploads: list[Upload], guild_id: int | None
    ) -> None:
        """Raise the DiscordError Discord would return for this message body, if any."""
        problems = check_message(body)
        if problems:
            raise invalid_form_body(problems, f"{method} {path}: {describe(problems)}")
        limit = self.world.upload_limit(guild_id, self.base_upload_limit)
        for upload in uploads:
            if len(upload.data) > limit:
                raise DiscordError(
                    413,
                    40005,
                    violation=f"{method} {path}: upload {upload.filename!r} is {len(upload.data)} bytes; "
                    f"this guild's limit is {limit} bytes",
                )

    def create(
        self,
        method: str,
        path: str,
        channel_id: int,
        body: dict[str, Any],
        uploads: list[Upload],
        **fields: Any,
    ) -> Message:
        """Check and store a new message."""
        channel = self.world.channel(channel_id)
        self.check(method, path, body, uploads, None if channel is None else channel.guild_id)
        attachments = self._attachments(method, path, channel_id, body, uploads, [])
        visible = ("content", "embeds", "components", "sticker_ids", "poll")
        if not attachments and not any(body.get(key) for key in visible):
            raise DiscordError(400, 50006, violation=f"{method} {path}: the message is empty")
        fields.setdefault("author_id", self.world.bot_user_id)
        return self.world.new_message(
            channel_id,
            content=body.get("content") or "",
            embeds=list(body.get("embeds") or []),
            components=list(body.get("components") or []),
            attachments=attachments,
            nonce=body.get("nonce"),
            tts=bool(body.get("tts")),
            message_reference=_reference(body.get("message_reference")),
            **fields,
        )

    def edit(
        self, method: str, path: str, message: Message, body: dict[str, Any], uploads: list[Upload]
    ) -> Message:
        """Check and apply an edit; filling a deferred (loading) message does not count as an edit."""
        self.check(method, path, body, uploads, message.guild_id)
        content = (body["content"] or "") if "content" in body else message.content
        embeds = list(body["embeds"] or []) if "embeds" in body else message.embeds
        components = list(body["components"] or []) if "components" in body else message.components
        attachments = message.attachments
        if "attachments" in body or uploads:
            attachments = self._attachments(
                method, path, message.channel_id, body, uploads, message.attachments
            )
        if not (content or embeds or components or attachments):
            raise DiscordError(
                400, 50006, violation=f"{method} {path}: the edit would leave the message empty"
            )
        message.content, message.embeds, message.components = content, embeds, components
        message.attachments = attachments
        if body.get("flags") is not None:
            message.flags = (message.flags & ~_EDITABLE_FLAGS) | (int(body["flags"]) & _EDITABLE_FLAGS)
        if message.flags & LOADING:
            message.flags &= ~LOADING
        else:
            message.edits += 1
            message.edited_at = self.world.clock.now()
        return message

    def _attachments(
        self,
        method: str,
        path: str,
        channel_id: int,
        body: dict[str, Any],
        uploads: list[Upload],
        existing: list[dict[str, Any]],
    ) -> list[dict[str, Any]]:
        """The message's attachments after this request: kept ones, then new uploads."""
        by_index = {u.index if u.index is not None else n: u for n, u in enumerate(uploads)}
        entries = body.get("attachments")
        if entries is None:
            return list(existing) + [self._upload(channel_id, u) for u in by_index.values()]
        result: list[dict[str, Any]] = []
        used: set[int] = set()
        for n, entry in enumerate(entries):
            ref = str(entry.get("id"))
            kept = next((a for a in existing if a["id"] == ref), None)
            if kept is not None:
                result.append(kept)
            elif ref.isdigit() and int(ref) in by_index:
                used.add(int(ref))
                upload = by_index[int(ref)]
                filename = entry.get("filename") or upload.filename
                result.append(self._upload(channel_id, upload, filename, entry.get("description")))
            else:
                raise invalid_form_body(
                    [(("attachments", n, "id"), "ATTACHMENT_NOT_FOUND", f"Unknown attachment {ref}")],
                    f"{method} {path}: attachments[{n}].id {ref} is neither an upload index nor an existing "
                    "attachment of this message",
                )
        result += [self._upload(channel_id, u) for n, u in by_index.items() if n not in used]
        return result

    def _upload(
        self, channel_id: int, upload: Upload, filename: str | None = None, description: str | None = None
    ) -> dict[str, Any]:
        """Turn an uploaded file into a hosted attachment."""
        name = filename or upload.filename
        return self.attachment(
            channel_id, name, upload.data, mimetypes.guess_type(name)[0], description=description
        )
