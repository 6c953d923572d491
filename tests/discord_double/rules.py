"""Discord's limits and error shapes, as the double enforces them.

Every rule here is one Discord documents and enforces server-side; a breach becomes a violation
entry plus the error Discord would return. The numbers are named so a failing test names them too.
"""

from __future__ import annotations

from typing import Any

from .spec import SchemaProblem

MAX_CONTENT = 2000
MAX_ACTION_ROWS = 5
MAX_BUTTONS_PER_ROW = 5
MAX_CUSTOM_ID = 100
MAX_BUTTON_LABEL = 80
MAX_EMBEDS = 10
MAX_EMBED_TITLE = 256
MAX_EMBED_DESCRIPTION = 4096
MAX_EMBED_FIELD_NAME = 256
MAX_EMBED_FIELD_VALUE = 1024
MAX_EMBED_FOOTER = 2048
MAX_EMBED_AUTHOR = 256
MAX_EMBED_TOTAL = 6000
MAX_MODAL_TITLE = 45

# Discord's JSON error codes and their messages (https://discord.com/developers/docs/topics/opcodes-and-status-codes).
ERROR_MESSAGES: dict[int, str] = {
    10003: "Unknown Channel",
    10004: "Unknown Guild",
    10008: "Unknown Message",
    10015: "Unknown Webhook",
    10062: "Unknown interaction",
    10063: "Unknown application command",
    40005: "Request entity too large",
    40060: "Interaction has already been acknowledged.",
    50001: "Missing Access",
    50006: "Cannot send an empty message",
    50013: "Missing Permissions",
    50027: "Invalid Webhook Token",
    50035: "Invalid Form Body",
}

STATUS_DEFAULTS: dict[int, tuple[str, int]] = {
    400: ("400: Bad Request", 0),
    401: ("401: Unauthorized", 0),
    403: ("Missing Permissions", 50013),
    404: ("404: Not Found", 0),
    405: ("405: Method Not Allowed", 0),
    500: ("500: Internal Server Error", 0),
    502: ("502: Bad Gateway", 0),
    503: ("503: Service Unavailable", 0),
    504: ("504: Gateway Timeout", 0),
}


class DiscordError(Exception):
    """An error response in Discord's JSON shape, optionally recorded as a violation."""

    def __init__(
        self,
        status: int,
        code: int,
        message: str | None = None,
        *,
        errors: dict[str, Any] | None = None,
        violation: str | None = None,
    ) -> None:
        self.status = status
        self.code = code
        known = ERROR_MESSAGES.get(code) if code else None
        self.message = message or known or STATUS_DEFAULTS.get(status, (f"{status}: Error", 0))[0]
        self.errors = errors
        self.violation = violation
        super().__init__(f"{status} {code} {self.message}")

    def body(self) -> dict[str, Any]:
        """The JSON body Discord sends."""
        body: dict[str, Any] = {"message": self.message, "code": self.code}
        if self.errors is not None:
            body["errors"] = self.errors
        return body


def form_errors(problems: list[tuple[tuple[str | int, ...], str, str]]) -> dict[str, Any]:
    """Discord's nested ``errors`` object: ``{"content": {"_errors": [{"code", "message"}]}}``."""
    root: dict[str, Any] = {}
    for path, code, message in problems:
        node = root
        for part in path:
            node = node.setdefault(str(part), {})
        node.setdefault("_errors", []).append({"code": code, "message": message})
    return root


def invalid_form_body(problems: list[tuple[tuple[str | int, ...], str, str]], violation: str) -> DiscordError:
    """A 400/50035 for the given (path, code, message) problems."""
    return DiscordError(400, 50035, errors=form_errors(problems), violation=violation)


def schema_error(method: str, path: str, problem: SchemaProblem) -> DiscordError:
    """A 400/50035 for a body that breaks the OpenAPI schema."""
    where = ".".join(str(p) for p in problem.path) or "<body>"
    text = problem.message if len(problem.message) <= 200 else problem.message[:200] + "..."
    violation = f"{method} {path}: body breaks the API schema at {where}: {text}"
    code = f"SCHEMA_{problem.validator.upper()}"
    return invalid_form_body([(problem.path, code, text)], violation)


def check_message(body: dict[str, Any]) -> list[tuple[tuple[str | int, ...], str, str]]:
    """Content, component and embed limits for a message body; returns (path, code, message) problems."""
    problems: list[tuple[tuple[str | int, ...], str, str]] = []
    content = body.get("content")
    if isinstance(content, str) and len(content) > MAX_CONTENT:
        problems.append(
            (
                ("content",),
                "BASE_TYPE_MAX_LENGTH",
                f"Must be {MAX_CONTENT} or fewer in length ({len(content)}).",
            )
        )
    components = body.get("components") or []
    if not (body.get("flags") or 0) & (1 << 15):  # components v2 messages have their own layout rules
        problems += _check_action_rows(components)
    problems += _check_embeds(body.get("embeds") or [])
    return problems


def _check_action_rows(rows: list[Any]) -> list[tuple[tuple[str | int, ...], str, str]]:
    problems: list[tuple[tuple[str | int, ...], str, str]] = []
    if len(rows) > MAX_ACTION_ROWS:
        problems.append(
            (
                ("components",),
                "BASE_TYPE_MAX_LENGTH",
                f"Must be {MAX_ACTION_ROWS} or fewer in length ({len(rows)}).",
            )
        )
    for r, row in enumerate(rows):
        children = row.get("components") or [] if isinstance(row, dict) else []
        buttons = [c for c in children if isinstance(c, dict) and c.get("type") == 2]
        if len(buttons) > MAX_BUTTONS_PER_ROW:
            problems.append(
                (
                    ("components", r, "components"),
                    "BASE_TYPE_MAX_LENGTH",
                    f"Must be {MAX_BUTTONS_PER_ROW} or fewer buttons per row ({len(buttons)}).",
                )
            )
        for c, child in enumerate(children):
            problems += _check_component(child, ("components", r, "components", c))
    return problems


def _check_component(child: Any, at: tuple[str | int, ...]) -> list[tuple[tuple[str | int, ...], str, str]]:
    problems: list[tuple[tuple[str | int, ...], str, str]] = []
    if not isinstance(child, dict):
        return problems
    custom_id = child.get("custom_id")
    if isinstance(custom_id, str) and len(custom_id) > MAX_CUSTOM_ID:
        problems.append(
            ((*at, "custom_id"), "BASE_TYPE_MAX_LENGTH", f"Must be {MAX_CUSTOM_ID} or fewer in length.")
        )
    label = child.get("label")
    if child.get("type") == 2 and isinstance(label, str) and len(label) > MAX_BUTTON_LABEL:
        problems.append(
            ((*at, "label"), "BASE_TYPE_MAX_LENGTH", f"Must be {MAX_BUTTON_LABEL} or fewer in length.")
        )
    return problems


def _check_embeds(embeds: list[Any]) -> list[tuple[tuple[str | int, ...], str, str]]:
    problems: list[tuple[tuple[str | int, ...], str, str]] = []
    if len(embeds) > MAX_EMBEDS:
        problems.append((("embeds",), "BASE_TYPE_MAX_LENGTH", f"Must be {MAX_EMBEDS} or fewer in length."))
    total = 0
    for e, embed in enumerate(embeds):
        if not isinstance(embed, dict):
            continue
        limits: list[tuple[tuple[str | int, ...], Any, int]] = [
            (("title",), embed.get("title"), MAX_EMBED_TITLE),
            (("description",), embed.get("description"), MAX_EMBED_DESCRIPTION),
            (("footer", "text"), (embed.get("footer") or {}).get("text"), MAX_EMBED_FOOTER),
            (("author", "name"), (embed.get("author") or {}).get("name"), MAX_EMBED_AUTHOR),
        ]
        for f, fld in enumerate(embed.get("fields") or []):
            limits.append((("fields", f, "name"), fld.get("name"), MAX_EMBED_FIELD_NAME))
            limits.append((("fields", f, "value"), fld.get("value"), MAX_EMBED_FIELD_VALUE))
        for path, text, limit in limits:
            if isinstance(text, str):
                total += len(text)
                if len(text) > limit:
                    problems.append(
                        (("embeds", e, *path), "BASE_TYPE_MAX_LENGTH", f"Must be {limit} or fewer in length.")
                    )
    if total > MAX_EMBED_TOTAL:
        problems.append(
            (("embeds",), "MAX_EMBED_SIZE_EXCEEDED", f"Embed size exceeds maximum size of {MAX_EMBED_TOTAL}")
        )
    return problems


def check_modal(data: dict[str, Any]) -> list[tuple[tuple[str | int, ...], str, str]]:
    """Title, custom_id and row limits for a modal."""
    problems: list[tuple[tuple[str | int, ...], str, str]] = []
    title = data.get("title")
    if isinstance(title, str) and len(title) > MAX_MODAL_TITLE:
        problems.append(
            (("data", "title"), "BASE_TYPE_MAX_LENGTH", f"Must be {MAX_MODAL_TITLE} or fewer in length.")
        )
    custom_id = data.get("custom_id")
    if isinstance(custom_id, str) and len(custom_id) > MAX_CUSTOM_ID:
        problems.append((("data", "custom_id"), "BASE_TYPE_MAX_LENGTH", f"Must be {MAX_CUSTOM_ID} or fewer."))
    return problems


def describe(problems: list[tuple[tuple[str | int, ...], str, str]]) -> str:
    """One line naming each broken limit."""
    return "; ".join(f"{'.'.join(str(p) for p in path)}: {message}" for path, _, message in problems)
