"""``python -m bot`` is the ``reelbot`` command."""

import sys

from bot.cli import main

sys.exit(main())
