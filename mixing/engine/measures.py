"""Measures: coherence, second moment and retrieval, as mean and standard error per x.

Each measure runs a kernel (``device="cpu"``: numba; ``"cuda"``: numba-cuda on a GPU;
``"reference"``: the plain NumPy reference) over blocks of trials and reduces the
per-trial rows afterwards, so a fixed seed gives the same numbers whatever the block size
or thread count.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from types import ModuleType

import numpy as np
from numpy.typing import ArrayLike

from .errors import ParameterError
from .kernels.contract import METRICS
from .mechanisms import KernelSpec, Mechanism
from .params import check_seed
from .stats import mean_se_rows
from .task import Task

DEVICES = ("cpu", "reference", "cuda")


@dataclass
class Estimate:
    """Mean and standard error of each metric at every x."""

    x_name: str
    x: np.ndarray
    mean: dict = field(default_factory=dict)
    stderr: dict = field(default_factory=dict)
    trials: int = 0

    def __getitem__(self, metric: str) -> np.ndarray:
        return self.mean[metric]


def check_device(device: str) -> None:
    if device not in DEVICES:
        raise ParameterError(f"device: unknown {device!r} (choose from {', '.join(DEVICES)})")
    if device == "cuda":
        try:
            from .kernels import cuda
        except ImportError as exc:
            raise ParameterError(f"device: cuda needs numba-cuda (pip install 'mixing[cuda]'): {exc}") from None
        if not cuda.available():
            raise ParameterError("device: cuda requested but no CUDA GPU is available on this machine")
        cuda.layout.current()  # a bad MIXING_CUDA_LAYOUT stops here, before any work


def backend(device: str) -> ModuleType:
    """The backend module of ``device``: its ``walk`` and ``retrieval`` follow
    ``mixing.engine.kernels.contract``."""
    if device == "cuda":
        from .kernels import cuda

        return cuda
    if device == "reference":
        from .kernels import reference

        return reference
    from .kernels import cpu

    return cpu


def check_count(name: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ParameterError(f"{name}: must be a positive integer, got {value!r}")
    return int(value)


def check_mechanism(mech: object) -> Mechanism:
    if not isinstance(mech, Mechanism):
        raise ParameterError(f"mech: expected a Mechanism (mixing.engine.mechanisms.make(name, d, ...)), got {mech!r}")
    return mech


def check_task(task: object) -> Task:
    if not isinstance(task, Task):
        raise ParameterError(f"task: expected a Task (mixing.engine.task.Task(...)), got {task!r}")
    return task


def work(mechanism: str, d: int, trials: float, longest: float, rows: float, vocab: int = 0) -> tuple[float, float]:
    """(random-number steps, peak bytes) of ``trials`` trials to length (or lag) ``longest`` with
    ``rows`` result rows per trial: d steps per position for Householder products, d/2 for the
    others; the per-trial rows, the d x d matrices (E P_delta, Householder value transport's
    path) and a per-token table of ``vocab`` entries with its alias table."""
    per_step = d if mechanism == "householder" else max(1, d // 2)
    steps = float(trials) * float(longest) * per_step
    peak = float(trials) * float(rows) * 4 * 8 + 3 * 8.0 * d**2 + 8.0 * float(vocab or 0) * (d + 2)
    return steps, peak


def check_work(mech: Mechanism, trials: int, longest: int, rows: int, force_size: bool = False) -> None:
    """Refuse a call whose estimated work exceeds ``params.MAX_STEPS`` steps or
    ``params.MAX_BYTES`` bytes, before any work (``force_size=True`` runs it anyway)."""
    from .params import MAX_BYTES, MAX_STEPS

    steps, peak = work(mech.name, mech.d, trials, longest, rows, dict(mech.params).get("vocab", 0))
    if (steps > MAX_STEPS or peak > MAX_BYTES) and not force_size:
        raise ParameterError(
            f"trials/lengths: this call needs about {steps:.2g} steps (about "
            f"{steps / 1e8 / 3600:.2g} core-hours) and {peak / 2**30:.2g} GiB at its peak; "
            "pass force_size=True to run it anyway"
        )


def check_cosine(c: object) -> float:
    if isinstance(c, bool) or not isinstance(c, (int, float, np.integer, np.floating)) or not -1.0 <= c <= 1.0:
        raise ParameterError(f"c: must be a number in [-1, 1], got {c!r}")
    return float(c)


def check_lengths(lengths: ArrayLike, task: Task | None = None) -> np.ndarray:
    try:
        arr = np.asarray(lengths)
    except Exception:  # noqa: BLE001
        raise ParameterError(f"lengths: not a list of integers: {lengths!r}") from None
    if arr.ndim != 1 or arr.size == 0 or arr.dtype.kind not in "iu":
        raise ParameterError(f"lengths: expected a non-empty list of integers, got {lengths!r}")
    if np.any(arr < 1):
        raise ParameterError(f"lengths: must be positive, got {arr.min()}")
    arr = np.unique(arr.astype(np.int64))
    if task is not None and task.delta > arr[0]:
        raise ParameterError(f"delta: the target lag {task.delta} exceeds the shortest length {arr[0]}")
    return arr


def _blocks(trials: int, chunk: int, first: int = 0) -> Iterator[tuple[int, int]]:
    """(absolute first trial, count) of each block of trials ``first .. first + trials - 1``."""
    t0 = 0
    while t0 < trials:
        T = min(chunk, trials - t0)
        yield first + t0, T
        t0 += T


def _default_chunk(trials: int, work_per_trial: float, device: str = "cpu") -> int:
    # about 2e7 steps per block keeps a progress bar moving and interruption cheap on a
    # CPU; a GPU needs thousands of trials (warps) per launch to fill
    if device == "cuda":
        return min(trials, 1 << 16)
    return max(1, min(trials, int(2e7 // max(work_per_trial, 1))))


def per_trial_walk(
    mech: Mechanism,
    N: int,
    seed: int,
    trials: int,
    c: float = 1.0,
    device: str = "cpu",
    chunk: int | None = None,
    progress: Callable[[int], None] | None = None,
    first: int = 0,
) -> np.ndarray:
    """Per-trial walk rows, shape (trials, N, 2): [coherence estimate, (q^T P_n k)^2].

    Trials ``first .. first + trials - 1``: a block of a larger run has the rows that run
    would have at those trials (every draw is keyed by the absolute trial index).
    """
    check_mechanism(mech)
    N = check_count("lags", N)
    trials = check_count("trials", trials)
    check_seed(seed)
    check_count("first", first + 1)
    check_device(device)
    check_cosine(c)
    spec = mech.spec(seed)
    kern = backend(device)
    out = np.empty((trials, N, 2))
    for t0, T in _blocks(trials, chunk or _default_chunk(trials, N, device), first):
        kern.walk(spec, c, N, seed, t0, out[t0 - first : t0 - first + T])
        if progress is not None:
            progress(T)
    return out


def spec_walk(spec: KernelSpec, N: int, seed: int, trials: int, c: float = 1.0, device: str = "cpu") -> np.ndarray:
    """Per-trial walk rows, as :func:`per_trial_walk`, of a kernel spec built by hand (a table no
    :class:`Mechanism` describes, such as a counterexample's); the spec is not validated."""
    check_device(device)
    out = np.empty((check_count("trials", trials), check_count("lags", N), 2))
    backend(device).walk(spec, c, N, seed, 0, out)
    return out


def per_trial_retrieval(
    mech: Mechanism,
    task: Task,
    lengths: ArrayLike,
    seed: int,
    trials: int,
    device: str = "cpu",
    chunk: int | None = None,
    progress: Callable[[int], None] | None = None,
    first: int = 0,
) -> np.ndarray:
    """Per-trial retrieval rows, shape (trials, K, 4), metrics in ``METRICS`` order (trials
    ``first .. first + trials - 1``, as in :func:`per_trial_walk`)."""
    check_mechanism(mech)
    lengths = check_lengths(lengths, check_task(task))
    trials = check_count("trials", trials)
    check_seed(seed)
    check_count("first", first + 1)
    check_device(device)
    spec = mech.spec(seed)
    kern = backend(device)
    out = np.empty((trials, lengths.shape[0], 4))
    for t0, T in _blocks(trials, chunk or _default_chunk(trials, int(lengths[-1]), device), first):
        kern.retrieval(spec, task, lengths, seed, t0, out[t0 - first : t0 - first + T])
        if progress is not None:
            progress(T)
    return out


def summarize(rows: np.ndarray, names: Sequence[str], x_name: str, x: ArrayLike) -> Estimate:
    """Mean and standard error (ddof=1; 0 for a single trial) over the first axis."""
    est = Estimate(x_name, np.asarray(x), trials=rows.shape[0])
    mean, se = mean_se_rows(rows)
    for i, name in enumerate(names):
        est.mean[name] = mean[:, i]
        est.stderr[name] = se[:, i]
    return est


@dataclass(frozen=True)
class Measure:
    """One measure, under every name it has: ``cli`` on the command line, ``name`` in
    results.csv, the ``kernel`` that runs it ("walk" or "retrieval"), the per-trial
    ``columns`` it reads (of the contract's rows), the ``metrics`` they are, and what x is."""

    cli: str
    name: str
    kernel: str
    columns: slice
    metrics: tuple
    x_name: str

    def estimate(self, per_trial: np.ndarray, x: ArrayLike | int) -> Estimate:
        """Mean and standard error of its metrics from per-trial rows of its kernel (``x``: the
        lengths, or the number of lags)."""
        xs = np.asarray(x) if self.kernel == "retrieval" else np.arange(1, int(x) + 1)
        return summarize(per_trial[:, :, self.columns], list(self.metrics), self.x_name, xs)


#: every measure by its command-line name
MEASURES = {
    m.cli: m
    for m in (
        Measure("coherence", "coherence", "walk", slice(0, 1), ("coherence",), "lag"),
        Measure("second-moment", "second_moment", "walk", slice(1, 2), ("second_moment",), "lag"),
        Measure("retrieval", "retrieval", "retrieval", slice(0, len(METRICS)), tuple(METRICS), "L"),
    )
}
#: the same, by the name results.csv gives it
BY_NAME = {m.name: m for m in MEASURES.values()}


def rows(
    kind: str,
    mech: Mechanism,
    x: ArrayLike | int,
    seed: int,
    trials: int,
    device: str = "cpu",
    task: Task | None = None,
    c: float = 1.0,
    force_size: bool = False,
    runner: Callable[..., np.ndarray] | None = None,
    **kw: object,
) -> np.ndarray:
    """Per-trial rows of one run (``kind`` "walk": lags ``x``; "retrieval": lengths ``x``),
    sizes checked first (:func:`check_work`).

    ``runner``, when given, runs them instead of this process: a callable
    ``runner(kind, mech, x, seed, trials, device, task, c, progress)`` returning the same
    rows (``mixing.sweep.executors.runner(executor)`` spreads them over an executor's
    workers). Every draw is keyed by the absolute trial index, so the rows do not depend on
    who runs them.
    """
    check_mechanism(mech)
    trials = check_count("trials", trials)
    check_seed(seed)
    check_device(device)
    if kind == "retrieval":
        x = check_lengths(x, check_task(task))
        check_work(mech, trials, int(x[-1]), len(x), force_size)
    elif kind == "walk":
        x = check_count("lags", x)
        check_cosine(c)
        check_work(mech, trials, x, x, force_size)
    else:
        raise ParameterError(f"kind: unknown {kind!r} (walk or retrieval)")
    if runner is not None and device != "cuda" and not kw.get("chunk"):
        return runner(kind, mech, x, seed, trials, device, task, c, kw.get("progress"))
    if kind == "retrieval":
        return per_trial_retrieval(mech, task, x, seed, trials, device, **kw)
    return per_trial_walk(mech, x, seed, trials, c, device, **kw)


def coherence(mech: Mechanism, lags: int, trials: int, seed: int = 0, device: str = "cpu", **kw: object) -> Estimate:
    """E[qhat^T P_n qhat] = tr(E P_n)/d for n = 1..lags."""
    return MEASURES["coherence"].estimate(rows("walk", mech, lags, seed, trials, device, **kw), lags)


def second_moment(
    mech: Mechanism, lags: int, trials: int, seed: int = 0, c: float = 1.0, device: str = "cpu", **kw: object
) -> Estimate:
    """E[(qhat^T P_n khat)^2] with qhat . khat = c, for n = 1..lags."""
    return MEASURES["second-moment"].estimate(rows("walk", mech, lags, seed, trials, device, c=c, **kw), lags)


def retrieval(
    mech: Mechanism, task: Task, lengths: ArrayLike, trials: int, seed: int = 0, device: str = "cpu", **kw: object
) -> Estimate:
    """Near weight, far mass, retention and far residual at every context length."""
    lengths = check_lengths(lengths, check_task(task))
    per = rows("retrieval", mech, lengths, seed, trials, device, task=task, **kw)
    return MEASURES["retrieval"].estimate(per, lengths)
