"""numba-cuda backend: one group of lanes per trial, the contract of ``contract.py``.

``walk`` and ``retrieval`` take the spec and the task like the CPU backend and fill ``out``
with the same rows from the same random numbers: every draw is the counter-based function
of ``mixing.engine.rng`` keyed by (seed, trial, position, stream), and the scalar helpers are
device twins rebuilt from the CPU kernels' source (``mixing.engine.twins``). Rows are per trial
and reduced on the host, so the numbers do not depend on the launch shape.

The package, along its seams:

| module | what it holds |
|---|---|
| ``_compat`` | the numba-cuda import and its numpy 2.5 fix; ``SIM`` under the simulator |
| ``layout`` | lanes per trial, the table in shared memory, float32 directions (``MIXING_CUDA_LAYOUT``) |
| ``warp`` | launch constants, group sums, device twins, the batched per-step draws |
| ``state`` | per-trial state of one group of lanes (owned coordinates, softmax sums, metrics) |
| ``walks`` | coherence and second-moment kernels |
| ``so2`` | SO(2) retrieval |
| ``householder`` | Householder retrieval |

Precision: in the default layout everything is float64 (the arithmetic, the RNG and the
sums), as on the CPU; the CUDA results differ from the CPU kernel only by summation order
and by libdevice vs libm rounding of exp/log/sin/cos (``python benchmarks/cuda_bench.py``
measures it). ``layout.Layout(precision="float32")`` makes the Householder retrieval's
direction arithmetic float32.
"""

from __future__ import annotations

import warnings

import numpy as np
from numba.core.errors import NumbaPerformanceWarning  # noqa: E402

from ...codes import CONST, SEQ, SO2, TABLE  # noqa: E402
from ..contract import GENERATOR_FIELDS, retrieval_args, walk_args, with_arg  # noqa: E402
from ..contract import reduced as is_reduced  # noqa: E402
from . import householder, layout, reduced, so2, state, walks  # noqa: E402
from ._compat import SIM, cuda  # noqa: F401 (SIM is part of the interface)
from .warp import WARP, WPB, group  # noqa: E402, F401 (WPB is part of the interface)

_KERNELS: dict = {}
_WALKS: dict = {}


def available() -> bool:
    """True when kernels can run (a CUDA GPU, or the simulator)."""
    try:
        return bool(cuda.is_available())
    except Exception:  # noqa: BLE001 - a driver failure means "no GPU"
        return False


def kernels(d: int, is_so2: bool, lay=None, shared_rows: int = 0, carry: bool = False) -> dict:
    """The compiled kernels for dimension d, one family and a layout (default: the one in
    force), built once, then cached; ``shared_rows`` > 0 builds the Householder retrieval
    that copies a table of that many rows to shared memory, ``carry`` the one that carries
    P_n (value transport)."""
    lay = lay or layout.current()
    d, G = int(d), lay.lanes
    wkey = (d, bool(is_so2), G)  # the walks depend on the lanes only
    if wkey not in _WALKS:
        _WALKS[wkey] = walks.make(state.make(d, bool(is_so2), G), bool(is_so2))
    key = (d, bool(is_so2), lay, int(shared_rows), bool(carry))
    if key not in _KERNELS:
        if is_so2:
            _KERNELS[key] = so2.make(state.make(d, True, G))
        else:
            st = state.make(d, False, G, single=lay.precision == "float32")
            _KERNELS[key] = householder.make(st, int(shared_rows), carry)
    return dict(walk=_WALKS[wkey], retrieval=_KERNELS[key])


def shared_rows(spec, lay) -> int:
    """Rows of the table the Householder retrieval copies to shared memory under ``lay``:
    all of them when asked for and they fit (with the kernel's own shared arrays) in
    ``layout.SHARED_BYTES``, else 0."""
    if lay.table != "shared" or spec.src not in (TABLE, SEQ):
        return 0
    own = householder.own_shared_bytes(spec.d, lay.lanes, group(lay.lanes).GPB, _carry(spec))
    item = 4 if lay.precision == "float32" else 8
    rows = spec.table.shape[0]
    return rows if own + rows * spec.d * item <= layout.SHARED_BYTES else 0


def _carry(spec) -> bool:
    """Whether the Householder retrieval carries P_n (value transport, non-constant generator)."""
    return bool(spec.rotate_values) and spec.src != CONST


def _grid(T, G=WARP):
    gpb = group(G).GPB
    return (T + gpb - 1) // gpb, gpb * G


def _thread_grid(T):
    return (T + reduced.THREADS - 1) // reduced.THREADS, reduced.THREADS


def _launch(kernel, args, T, out, extra=(), grid=None):
    """Copy array arguments to the device, launch (one group of lanes per trial unless
    ``grid`` says otherwise), copy ``out`` back."""
    dargs = tuple(cuda.to_device(a) if isinstance(a, np.ndarray) else a for a in args)
    dout = cuda.device_array(out.shape, dtype=np.float64)
    with warnings.catch_warnings():
        # a few trials fill few warps; numba-cuda warns about that on every small launch
        warnings.filterwarnings("ignore", category=NumbaPerformanceWarning)
        if SIM:  # the simulator runs the counter-based RNG on NumPy uint64 scalars, which wrap on purpose
            warnings.filterwarnings("ignore", category=RuntimeWarning, message="overflow encountered")
        kernel[grid or _grid(T)](*dargs, T, *extra, dout)
    dout.copy_to_host(out)


def walk(spec, c, N, seed, t0, out):
    """Walk rows of trials ``t0 .. t0 + out.shape[0] - 1`` into ``out[T, N, 2]``."""
    T = out.shape[0]
    if is_reduced(spec, "walk"):  # no d-vectors: one trial per thread
        _launch(reduced.walk_reduced, walk_args(spec, c, N, seed, t0), T, out, grid=_thread_grid(T))
        return
    lay = layout.current()
    kern = kernels(spec.d, spec.family == SO2, lay)["walk"]
    _launch(kern, walk_args(spec, c, N, seed, t0), T, out, grid=_grid(T, lay.lanes))


def retrieval(spec, task, lengths, seed, t0, out):
    """Retrieval rows of trials ``t0 .. t0 + out.shape[0] - 1`` into ``out[T, K, 4]``."""
    T = out.shape[0]
    if is_reduced(spec, "retrieval"):  # one trial per thread, the value noise in global scratch
        noise = cuda.device_array((2, spec.d, T), dtype=np.float64)
        _launch(
            reduced.retrieval_reduced,
            retrieval_args(spec, task, lengths, seed, t0),
            T,
            out,
            (noise,),
            grid=_thread_grid(T),
        )
        return
    is_so2 = spec.family == SO2
    lay = layout.current()
    rows = 0 if is_so2 else shared_rows(spec, lay)
    carry = not is_so2 and _carry(spec)
    kern = kernels(spec.d, is_so2, lay, rows, carry)["retrieval"]
    grid = _grid(T, lay.lanes)
    args = retrieval_args(spec, task, lengths, seed, t0)
    extra = ()
    if not is_so2:  # Householder value transport carries P_n in global scratch memory
        shape = (grid[0] * group(lay.lanes).GPB, spec.d, spec.d) if carry else (1, 1, 1)
        extra = (cuda.device_array(shape, dtype=np.float64),)
        if lay.precision == "float32":  # the table in float32
            table = args[GENERATOR_FIELDS.index("table")]
            args = with_arg(args, "table", table.astype(np.float32))
    _launch(kern, args, T, out, extra, grid=grid)
