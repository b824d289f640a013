"""One project-wide ``njit``: caching is on unless ``MIXING_NUMBA_CACHE=0``."""

import os
from functools import partial

import numba

CACHE = os.environ.get("MIXING_NUMBA_CACHE", "1") not in ("0", "false", "no", "")

njit = partial(numba.njit, cache=CACHE, nogil=True)
pnjit = partial(numba.njit, cache=CACHE, nogil=True, parallel=True)
