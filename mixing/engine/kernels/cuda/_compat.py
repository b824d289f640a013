"""Import numba-cuda, with the one compatibility fix this project needs.

numba-cuda 0.30 registers an overload for ``np.row_stack``, which numpy 2.5 removed; the
alias is restored (as ``np.vstack``) before numba-cuda is imported so kernels compile with
numpy 2.5. ``SIM`` is true under the CUDA simulator (``NUMBA_ENABLE_CUDASIM=1``).
"""

from __future__ import annotations

import os

import numpy as np

if not hasattr(np, "row_stack"):  # numpy >= 2.5 dropped the alias numba-cuda 0.30 overloads
    np.row_stack = np.vstack

from numba import cuda  # noqa: E402

try:
    from numba.cuda.core import config as _cfg

    SIM = bool(_cfg.ENABLE_CUDASIM)
except ImportError:  # pragma: no cover - older layouts
    SIM = os.environ.get("NUMBA_ENABLE_CUDASIM", "0") == "1"

__all__ = ["cuda", "SIM"]
