"""``python -m partysocket``: the ``partysocket`` command (see :mod:`partysocket.cli`)."""

import sys

from .cli import main

if __name__ == "__main__":
    sys.exit(main())
