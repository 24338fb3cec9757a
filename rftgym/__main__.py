"""``python -m rftgym`` is the ``rftgym`` command."""

import sys

from rftgym.cli import main

sys.exit(main())
