"""The bot's side of the ``reelbot`` command: ``reelbot run`` and ``reelbot bot``.

The command itself (its parser, logging, the queue's and the worker's settings) is
``inference/cli.py``, so that ``reelbot worker`` and ``python -m inference`` never import this
package; its ``run`` and ``bot`` handlers import this module when they run. Here the bot's own
settings are read from the environment, once.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from bot.runner import run_bot, run_box
from bot.settings import BotSettings, ConfigurationError
from inference.jobqueue import QueueSettings
from inference.settings import WorkerSettings


async def run_box_command(worker: WorkerSettings, queue: QueueSettings, data_dir: Path) -> int:
    """``reelbot run``: Redis if needed, the bot, and a supervised worker; returns the exit code.

    Args:
        worker: the worker's settings, also handed to the bot (models, clip storage).
        queue: the queue's settings.
        data_dir: where a local Redis keeps its AOF.

    Returns:
        0 after a clean stop, 2 when a bot setting is missing or wrong (the message says which).
    """
    try:
        return await run_box(BotSettings.from_env(os.environ), worker, queue, data_dir, os.environ)
    except ConfigurationError as exc:
        return _cannot_start(exc)


async def run_bot_command(worker: WorkerSettings, queue: QueueSettings) -> int:
    """``reelbot bot``: the Discord bot alone; returns the exit code as ``run_box_command`` does."""
    try:
        return await run_bot(BotSettings.from_env(os.environ), worker, queue)
    except ConfigurationError as exc:
        return _cannot_start(exc)


def _cannot_start(exc: ConfigurationError) -> int:
    # the same words and code as inference/cli.py gives a model that cannot load
    print(f"reelbot: cannot start: {exc}", file=sys.stderr)
    return 2
