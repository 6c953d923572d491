"""Request-body validation against Discord's OpenAPI 3.1 description.

Each operation's ``requestBody`` schema is checked with jsonschema's Draft 2020-12 validator; ``$ref``s
resolve through a ``referencing`` registry that holds the whole spec document, patched by a short,
explicit list of tolerated gaps (:data:`TOLERATED_GAPS`): places where the published spec is stricter
than Discord itself and discord.py relies on the difference.
"""

from __future__ import annotations

import functools
import json
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError, relevance
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

_SPEC_URI = "urn:discord-openapi"


def _integer_snowflakes(schemas: dict[str, Any]) -> None:
    """Let ``SnowflakeType`` also be a non-negative integer, as Discord's parser accepts both."""
    schemas["SnowflakeType"] = {
        "anyOf": [schemas["SnowflakeType"], {"type": "integer", "minimum": 0, "maximum": 2**64 - 1}]
    }


@dataclass(frozen=True)
class ToleratedGap:
    """One known difference between the published spec and what Discord accepts."""

    name: str
    why: str
    patch: Callable[[dict[str, Any]], None] | None = None  # rewrites components.schemas in place


# Each entry is a place where the spec is stricter than Discord; keep the list short and explained.
TOLERATED_GAPS: tuple[ToleratedGap, ...] = (
    ToleratedGap(
        "snowflakes as integers",
        # discord.py sends some ids as ints: attachments[].id (File.to_dict(index) -> 0 and
        # Attachment.to_dict()), message_reference ids, allowed_mentions users/roles. The spec types
        # snowflakes as strings only; Discord parses both.
        "SnowflakeType also accepts a non-negative integer",
        _integer_snowflakes,
    ),
    ToleratedGap(
        "application command nsfw",
        # discord.py sends "nsfw" on every command; the spec's ApplicationCommandUpdateRequest lacks
        # it but does not forbid unknown keys, so nothing needs rewriting: listed for the record.
        "the command schema lacks `nsfw`; unknown keys are not rejected",
    ),
    ToleratedGap(
        "extra attachment keys on edit",
        # Attachment.to_dict() echoes url/proxy_url/size/spoiler when keeping attachments on edit;
        # MessageAttachmentRequest does not list them but allows unknown keys: listed for the record.
        "kept attachments carry url, proxy_url, size, spoiler",
    ),
)


@dataclass(frozen=True)
class SchemaProblem:
    """One validation failure: where in the body and what is wrong."""

    path: tuple[str | int, ...]
    message: str
    validator: str


@functools.cache
def _load(spec_path: Path) -> dict[str, Any]:
    """Read and parse the spec once per process."""
    with spec_path.open(encoding="utf-8") as fh:
        data: dict[str, Any] = json.load(fh)
    return data


class SpecValidator:
    """Validates request bodies for one OpenAPI document."""

    def __init__(self, spec_path: Path) -> None:
        self.spec = _load(spec_path)
        schemas = dict(self.spec["components"]["schemas"])  # the cached document itself stays untouched
        for gap in TOLERATED_GAPS:
            if gap.patch is not None:
                gap.patch(schemas)
        patched = {**self.spec, "components": {**self.spec["components"], "schemas": schemas}}
        resource = Resource.from_contents(patched, default_specification=DRAFT202012)
        self._registry: Registry[Any] = Registry().with_resource(_SPEC_URI, resource)
        self._validators: dict[tuple[str, str, str], Draft202012Validator | None] = {}

    def has_path(self, template: str) -> bool:
        """Whether the spec describes this path template."""
        return template in self.spec["paths"]

    def has_operation(self, method: str, template: str) -> bool:
        """Whether the spec describes this method on this path template."""
        return method.lower() in self.spec["paths"].get(template, {})

    def body_content_types(self, method: str, template: str) -> list[str]:
        """The request content types the operation accepts (empty when it takes no body)."""
        op = self.spec["paths"].get(template, {}).get(method.lower(), {})
        return list(op.get("requestBody", {}).get("content", {}))

    def _validator(self, method: str, template: str, content_type: str) -> Draft202012Validator | None:
        key = (method, template, content_type)
        if key not in self._validators:
            content = self.spec["paths"][template][method.lower()].get("requestBody", {}).get("content", {})
            if content_type not in content:
                self._validators[key] = None
            else:
                pointer = "/".join(
                    part.replace("~", "~0").replace("/", "~1")
                    for part in ("paths", template, method.lower(), "requestBody", "content", content_type)
                )
                ref = f"{_SPEC_URI}#/{quote(pointer)}/schema"
                self._validators[key] = Draft202012Validator({"$ref": ref}, registry=self._registry)
        return self._validators[key]

    def validate(self, method: str, template: str, content_type: str, body: Any) -> list[SchemaProblem]:
        """Check ``body`` against the operation's schema (with the tolerated gaps patched in).

        Args:
            method: HTTP method, any case.
            template: the spec's path template, e.g. ``/channels/{channel_id}/messages``.
            content_type: ``application/json`` or ``multipart/form-data`` (its ``payload_json``).
            body: the parsed JSON body.

        Returns:
            The problems found; empty when the body is valid or the operation takes no body.
        """
        validator = self._validator(method.upper(), template, content_type)
        if validator is None:
            return []
        errors = list(validator.iter_errors(body))
        if not errors:
            return []
        return [_problem(max(errors, key=relevance))]


def _problem(error: ValidationError) -> SchemaProblem:
    """Condense a (possibly nested) validation error into its most telling leaf."""
    leaf = _leaf(error)
    return SchemaProblem(tuple(leaf.absolute_path), leaf.message, str(leaf.validator))


def _leaf(error: ValidationError) -> ValidationError:
    """Walk into anyOf/oneOf, skipping branches whose discriminator (``type``) does not match."""
    if not error.context:
        return error
    branches: dict[Any, list[ValidationError]] = defaultdict(list)
    for sub in error.context:
        branches[sub.schema_path[0] if sub.schema_path else None].append(sub)
    plausible = [sub for subs in branches.values() if not any(map(_mismatch, subs)) for sub in subs]
    pool = plausible or list(error.context)
    return _leaf(max(pool, key=lambda sub: len(sub.absolute_path)))


def _mismatch(error: ValidationError) -> bool:
    """Whether an error only says "this is a different kind of object" (wrong branch of a union)."""
    path = list(error.relative_path)
    if error.validator in ("enum", "const") and path == ["type"]:
        return True
    return error.validator == "type" and not path
