"""``python -m bot`` is the ``reelbot`` command (``inference/cli.py``)."""

import sys

from inference.cli import main

sys.exit(main())
