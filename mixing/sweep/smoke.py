"""``MIXING_SMOKE=1``: shrink the command lines' work so every documented command runs in seconds.

For checking that commands run (the README-commands test), never for results: with the
variable set, ``mixing.sweep`` keeps at most 4 trials, the context lengths up to 256 and
16 lags, and ``mixing.learned`` at most 5 Adam steps; each says so in one line on stderr.
"""

from __future__ import annotations

import os
import sys

VARIABLE = "MIXING_SMOKE"


def active() -> bool:
    return os.environ.get(VARIABLE, "") not in ("", "0")


def note(tool: str, what: str) -> None:
    print(f"{tool}: {VARIABLE}=1: {what} (a smoke run, not a result)", file=sys.stderr)
