"""``python -m fastact.cli``: the ``fastact`` command."""

import sys

from fastact.cli import main

sys.exit(main())
