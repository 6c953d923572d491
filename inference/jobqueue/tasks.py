"""Stopping asyncio tasks for sure, even where a cancellation can be lost.

On Python 3.11, ``asyncio.wait_for`` (which redis-py puts around every command it sends)
drops a cancellation that arrives just as the wrapped call completes (fixed in 3.12), so a
task cancelled once may run on. :func:`stop_tasks` cancels again every second until the
tasks end, and gives up at a deadline instead of waiting forever.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterable
from typing import Any

log = logging.getLogger(__name__)


async def stop_tasks(tasks: Iterable[asyncio.Task[Any] | None], *, within: float, what: str) -> bool:
    """Cancel ``tasks`` (again each second) until they end or ``within`` seconds pass.

    Their exceptions are logged, not raised; a cancellation of the caller still propagates.

    Returns:
        True when every task ended, False when some were left running at the deadline.
    """
    left = {t for t in tasks if t is not None and not t.done()}
    deadline = time.monotonic() + within
    while left:
        for task in left:
            task.cancel()
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            log.error("%s did not stop within %.0f s; leaving it running", what, within)
            return False
        done, left = await asyncio.wait(left, timeout=min(1.0, remaining))
        for task in done:
            if not task.cancelled() and task.exception() is not None:
                log.error("%s failed while stopping", what, exc_info=task.exception())
    return True
