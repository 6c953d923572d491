"""``python -m inference``: the GPU inference daemon, the same as ``reelbot worker``."""

from __future__ import annotations

import sys

from bot.cli import main

if __name__ == "__main__":
    sys.exit(main(["worker", *sys.argv[1:]]))
