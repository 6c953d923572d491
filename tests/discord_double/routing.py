"""Route matching for the REST API: spec path templates to handlers, and the per-request context."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from .messages import Upload
from .rules import DiscordError


@dataclass
class Call:
    """One REST request as handlers see it."""

    method: str
    path: str
    template: str
    params: dict[str, str]
    query: dict[str, str]
    body: Any = None
    uploads: list[Upload] = field(default_factory=list)

    def int_param(self, name: str) -> int:
        """A path parameter that must be a snowflake (404 otherwise, as Discord answers)."""
        value = self.params[name]
        if not value.isdigit():
            raise DiscordError(
                404, 0, violation=f"{self.method} {self.path}: {name} {value!r} is not a snowflake"
            )
        return int(value)

    def flag(self, name: str) -> bool:
        """A boolean query parameter (Discord accepts true/false and 1/0)."""
        return self.query.get(name, "").lower() in ("1", "true")


Reply = tuple[int, Any]
Handler = Callable[[Call], Awaitable[Reply]]


@dataclass(frozen=True)
class Route:
    """One REST operation: method, the spec's path template, handler and whether it needs ``Bot`` auth."""

    method: str
    template: str
    handler: Handler
    bot_auth: bool = True

    @property
    def pattern(self) -> re.Pattern[str]:
        """The template as a regex with named groups."""
        parts = re.split(r"\{(\w+)\}", self.template)
        regex = "".join(re.escape(p) if i % 2 == 0 else f"(?P<{p}>[^/]+)" for i, p in enumerate(parts))
        return re.compile(regex + "$")


class Router:
    """Finds the route for a method and path; literal segments win over parameters."""

    def __init__(self, routes: Iterable[Route]) -> None:
        self._routes = sorted(routes, key=lambda r: r.template.count("{"))
        self._patterns = [(r, r.pattern) for r in self._routes]

    def match(self, method: str, path: str) -> tuple[Route, dict[str, str]] | None:
        """The route and its path parameters, or None."""
        for route, pattern in self._patterns:
            if route.method == method and (found := pattern.match(path)):
                return route, found.groupdict()
        return None

    def allows(self, path: str) -> list[str]:
        """Methods defined for a path (to tell 405 from 404)."""
        return [r.method for r, p in self._patterns if p.match(path)]
