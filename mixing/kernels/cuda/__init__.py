"""numba-cuda backend: one warp per trial, float64, the contract of ``contract.py``.

``walk`` and ``retrieval`` take the spec and the task like the CPU backend and fill ``out``
with the same rows from the same random numbers: every draw is the counter-based function
of ``mixing.rng`` keyed by (seed, trial, position, stream), and the scalar helpers are
device twins rebuilt from the CPU kernels' source (``mixing.twins``). Rows are per trial
and reduced on the host, so the numbers do not depend on the launch shape.

The package, along its seams:

| module | what it holds |
|---|---|
| ``_compat`` | the numba-cuda import and its numpy 2.5 fix; ``SIM`` under the simulator |
| ``warp`` | launch constants, warp sums, device twins, the batched per-step draws |
| ``state`` | per-trial state of one warp (owned coordinates, softmax sums, metrics) |
| ``walks`` | coherence and second-moment kernels |
| ``so2`` | SO(2) retrieval |
| ``householder`` | Householder retrieval |

Precision: everything is float64 (the arithmetic, the RNG and the sums), as on the CPU;
the CUDA results differ from the CPU kernel only by summation order and by libdevice vs
libm rounding of exp/log/sin/cos (``python benchmarks/cuda_bench.py`` measures it).
"""

from __future__ import annotations

import warnings

import numpy as np

from ._compat import SIM, cuda  # noqa: F401 (SIM is part of the interface)
from numba.core.errors import NumbaPerformanceWarning  # noqa: E402

from ...codes import CONST, SO2  # noqa: E402
from ..contract import reduced, retrieval_args, walk_args  # noqa: E402
from . import householder, so2, state, walks  # noqa: E402
from .warp import WARP, WPB  # noqa: E402

_KERNELS: dict = {}


def available() -> bool:
    """True when kernels can run (a CUDA GPU, or the simulator)."""
    try:
        return bool(cuda.is_available())
    except Exception:  # noqa: BLE001 - a driver failure means "no GPU"
        return False


def kernels(d: int, is_so2: bool) -> dict:
    """The compiled kernels for dimension d and one family (built once, then cached)."""
    key = (int(d), bool(is_so2))
    if key not in _KERNELS:
        st = state.make(int(d), bool(is_so2))
        _KERNELS[key] = dict(walk=walks.make(st, bool(is_so2)),
                             retrieval=so2.make(st) if is_so2 else householder.make(st))
    return _KERNELS[key]


def _grid(T):
    return (T + WPB - 1) // WPB, WPB * WARP


def _launch(kernel, args, T, out, extra=(), grid=None):
    """Copy array arguments to the device, launch (one warp per trial unless ``grid`` says
    otherwise), copy ``out`` back."""
    dargs = tuple(cuda.to_device(a) if isinstance(a, np.ndarray) else a for a in args)
    dout = cuda.device_array(out.shape, dtype=np.float64)
    with warnings.catch_warnings():
        # a few trials fill few warps; numba-cuda warns about that on every small launch
        warnings.filterwarnings("ignore", category=NumbaPerformanceWarning)
        kernel[grid or _grid(T)](*dargs, T, *extra, dout)
    dout.copy_to_host(out)


def walk(spec, c, N, seed, t0, out):
    """Walk rows of trials ``t0 .. t0 + out.shape[0] - 1`` into ``out[T, N, 2]``."""
    T = out.shape[0]
    if reduced(spec, "walk"):     # no d-vectors: one trial per thread
        _launch(walks.walk_reduced, walk_args(spec, c, N, seed, t0), T, out,
                grid=((T + walks.THREADS - 1) // walks.THREADS, walks.THREADS))
        return
    kern = kernels(spec.d, spec.family == SO2)["walk"]
    _launch(kern, walk_args(spec, c, N, seed, t0), T, out)


def retrieval(spec, task, lengths, seed, t0, out):
    """Retrieval rows of trials ``t0 .. t0 + out.shape[0] - 1`` into ``out[T, K, 4]``."""
    T = out.shape[0]
    is_so2 = spec.family == SO2
    kern = kernels(spec.d, is_so2)["retrieval"]
    extra = ()
    if not is_so2:   # Householder value transport carries P_n in global scratch memory
        carry = spec.rotate_values and spec.src != CONST
        shape = (_grid(T)[0] * WPB, spec.d, spec.d) if carry else (1, 1, 1)
        extra = (cuda.device_array(shape, dtype=np.float64),)
    _launch(kern, retrieval_args(spec, task, lengths, seed, t0), T, out, extra)
