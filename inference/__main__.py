"""``python -m inference``: the GPU inference daemon, the same as ``reelbot worker``.

It goes through ``inference.cli``, which loads no module of the ``bot`` package for it.
"""

from __future__ import annotations

import sys

from inference.cli import main

if __name__ == "__main__":
    sys.exit(main(["worker", *sys.argv[1:]]))
