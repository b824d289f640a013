"""The kernel contract shared by every backend (``reference``, ``cpu``, ``cuda``).

Each backend module exposes two entry points with the same signature and the same output:

- ``walk(spec, c, N, seed, t0, out)``: ``out[T, N, 2]``; for trials ``t0 .. t0+T-1`` and lags
  n = 1..N, column 0 is the coherence estimate (SO(2): ``tr(P_n)/d``, exact given the
  angles; Householder: ``qhat^T P_n qhat``), column 1 is ``(qhat^T P_n khat)^2`` with
  ``qhat . khat = c``;
- ``retrieval(spec, task, lengths, seed, t0, out)``: ``out[T, K, 4]``; for every context
  length ``lengths[k]`` the four ``METRICS``: near weight a*, far mass A_F, retention
  <o, T*>/|T*|^2 and far residual |sum_{n>W} a_n V_n|.

``spec`` is a :class:`mixing.engine.mechanisms.KernelSpec` and ``task`` a :class:`mixing.engine.task.Task`.
Every draw is a counter-based function of (seed, trial, position, stream), so a block of
trials gives the rows a larger run would give at the same trial indices, and the reduction
over trials (in NumPy, afterwards) does not depend on threads, blocks or the backend.

The compiled backends unpack ``spec`` and ``task`` here, in one place, into the plain
arguments their kernels take (:func:`walk_args`, :func:`retrieval_args`); adding a
parameter to a mechanism touches the mechanism, this unpacking and the kernels' use of it.
This module also fixes the per-trial state layout both compiled backends use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from ..mechanisms import KernelSpec
    from ..task import Task

#: the four retrieval metrics, in the order of ``out[..., :]``
METRICS = ("near_weight", "far_mass", "retention", "far_residual")
#: the two walk columns
WALK_COLUMNS = ("coherence", "second_moment")

# slots of ``acc``, the softmax sums of one trial: running maximum score, normaliser Z,
# near and far weight sums, near and far sums of squared weights (pending value noise),
# the target's weight
ACC_MAX, ACC_Z, ACC_SN, ACC_SF, ACC_QN, ACC_QF, ACC_CST = range(7)
N_ACC = 7
# rows of ``vecs``, the d-vectors of one trial: near and far value-mean sums, near and far
# value noise, the target value as read out T*, the value mean mu, the target value v*,
# and the current (transported) value mean
V_MEAN_N, V_MEAN_F, V_NOISE_N, V_NOISE_F, V_TSTAR, V_MU, V_VSTAR, V_VMEAN = range(8)
N_VECS = 8
#: rows of ``vecs`` rescaled when the running maximum moves (the weighted sums)
N_WEIGHTED = 4


#: the names of the leading arguments of every kernel (``generator_args``), in order
GENERATOR_FIELDS = ("src", "law", "lawpar", "centers", "table", "alias", "betas", "d")


def with_arg(args: tuple, name: str, value: object) -> tuple:
    """``args`` with the generator argument ``name`` (one of ``GENERATOR_FIELDS``) replaced."""
    i = GENERATOR_FIELDS.index(name)
    return args[:i] + (value,) + args[i + 1 :]


def generator_args(spec: KernelSpec) -> tuple:
    """(src, law, lawpar, centers, table, alias, betas, d): the generators, as plain values
    (named by ``GENERATOR_FIELDS``)."""
    return (
        int(spec.src),
        int(spec.law),
        float(spec.lawpar),
        np.ascontiguousarray(spec.centers),
        np.ascontiguousarray(spec.table),
        np.ascontiguousarray(spec.alias),
        np.ascontiguousarray(spec.betas, dtype=np.float64),
        int(spec.d),
    )


def reduced(spec: KernelSpec, measure: str) -> bool:
    """Whether the exact reduced-state Householder kernels apply (``draws.reduced_step``):
    i.i.d. uniform directions with ``sampler=auto``, d >= 4, and for retrieval no value
    transport (which needs the whole path P_n)."""
    if not spec.reduced_ok or spec.d < 4:
        return False
    return measure == "walk" or not spec.rotate_values


def walk_args(spec: KernelSpec, c: float, N: int, seed: int, t0: int) -> tuple:
    """Arguments of the walk kernels before ``out``."""
    return generator_args(spec) + (reduced(spec, "walk"), float(c), int(N), np.uint64(seed), int(t0))


def retrieval_args(spec: KernelSpec, task: Task, lengths: np.ndarray, seed: int, t0: int) -> tuple:
    """Arguments of the retrieval kernels before ``out``."""
    mdelta = np.ascontiguousarray(spec.mean_path(task.delta))
    return generator_args(spec) + (
        reduced(spec, "retrieval"),
        float(spec.slope),
        bool(spec.rotate_values),
        mdelta,
        float(task.B),
        int(task.delta),
        float(task.p),
        float(task.kappa),
        float(task.mu),
        float(task.xi),
        int(task.window),
        np.ascontiguousarray(lengths, dtype=np.int64),
        np.uint64(seed),
        int(t0),
    )
