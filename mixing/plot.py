"""``python -m mixing.plot RUN_DIR``: draw a finished or interrupted sweep (``mixing.sweep.plot``)."""

import sys

from mixing.sweep.plot import main

if __name__ == "__main__":
    sys.exit(main())
