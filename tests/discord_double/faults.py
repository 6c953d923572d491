"""Rate-limit headers on every response, and the faults tests inject with ``fail_next``.

Real: the X-RateLimit-* header set, 429 bodies with ``retry_after`` and ``global``, the ``Via`` header
Discord's edge adds (discord.py treats a 429 without it as a Cloudflare ban and does not retry),
X-RateLimit-Scope. Simplified: buckets never run dry on their own; only injected faults throttle.
"""

from __future__ import annotations

import fnmatch
import hashlib
import math
from dataclasses import dataclass
from typing import Any

from .rules import STATUS_DEFAULTS, DiscordError

BUCKET_LIMIT = 5


@dataclass
class Fault:
    """One planned failure: the next ``times`` requests matching method and path pattern get ``status``."""

    method: str
    path_pattern: str
    status: int
    times: int
    retry_after: float
    code: int | None
    global_: bool

    def matches(self, method: str, path: str, template: str | None) -> bool:
        """Method equal (or ``*``) and the pattern a glob over the path or equal to the route template."""
        if self.method not in ("*", method):
            return False
        return fnmatch.fnmatchcase(path, self.path_pattern) or self.path_pattern == template


def bucket_headers(method: str, template: str | None, now: float) -> dict[str, str]:
    """Rate-limit headers for a successful (or ordinarily failing) request."""
    bucket = hashlib.sha1(f"{method} {template}".encode()).hexdigest()[:32]
    reset_after = 1.0
    return {
        "X-RateLimit-Limit": str(BUCKET_LIMIT),
        "X-RateLimit-Remaining": str(BUCKET_LIMIT - 1),
        "X-RateLimit-Reset": f"{now + reset_after:.3f}",
        "X-RateLimit-Reset-After": f"{reset_after:.3f}",
        "X-RateLimit-Bucket": bucket,
    }


def fault_response(
    fault: Fault, method: str, template: str | None, now: float
) -> tuple[int, Any, dict[str, str]]:
    """Status, JSON body and headers for an injected fault."""
    if fault.status == 429:
        body: dict[str, Any] = {
            "message": "You are being rate limited.",
            "retry_after": fault.retry_after,
            "global": fault.global_,
        }
        if fault.code is not None:
            body["code"] = fault.code
        headers = {
            "Retry-After": str(math.ceil(fault.retry_after)),
            "Via": "1.1 google",
            "X-RateLimit-Scope": "global" if fault.global_ else "user",
        }
        if fault.global_:
            headers["X-RateLimit-Global"] = "true"
        else:
            headers.update(bucket_headers(method, template, now))
            headers.update(
                {
                    "X-RateLimit-Remaining": "0",
                    "X-RateLimit-Reset": f"{now + fault.retry_after:.3f}",
                    "X-RateLimit-Reset-After": f"{fault.retry_after:.3f}",
                }
            )
        return 429, body, headers
    default_message, default_code = STATUS_DEFAULTS.get(fault.status, (f"{fault.status}: Error", 0))
    code = default_code if fault.code is None else fault.code
    error = DiscordError(fault.status, code, default_message if fault.code is None else None)
    return fault.status, error.body(), bucket_headers(method, template, now)
