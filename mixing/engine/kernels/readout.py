"""The softmax sums and the read-out of one context length, written once for the CPU and
the GPU kernels.

:func:`rescale_sums` and :func:`add_sums` keep a trial's online softmax sums in ``acc``
(constant indices only, so a GPU keeps them in registers); the kernels rescale their own
weighted vectors by the factor :func:`rescale_sums` returns. At each recorded length a trial's
output is o = a* T* + (near and far value sums) + noise;
:func:`readout` gives one coordinate's contributions to <o, T*>, |far part of o|^2 and
|T*|^2, and :func:`metrics` turns the summed contributions and the softmax sums into the
four ``contract.METRICS``. Both are :func:`mixing.engine.twins.scalar` helpers (the CUDA backend
rebuilds device twins); the slot layout of ``acc`` and ``vecs`` is ``contract.py``'s.
"""

from __future__ import annotations

import math

import numpy as np

from .. import rng
from ..codes import TARGET
from ..twins import scalar
from .contract import (
    ACC_CST,
    ACC_MAX,
    ACC_QF,
    ACC_QN,
    ACC_SF,
    ACC_SN,
    ACC_Z,
    V_MEAN_F,
    V_MEAN_N,
    V_MU,
    V_NOISE_F,
    V_NOISE_N,
    V_TSTAR,
)


@scalar
def rescale_sums(acc, s):
    """Make score s > acc[ACC_MAX] the running maximum of the sums; returns the factor
    f = exp(old maximum - s) by which the caller rescales its weighted vectors."""
    f = math.exp(acc[ACC_MAX] - s)
    acc[ACC_Z] *= f
    acc[ACC_SN] *= f
    acc[ACC_SF] *= f
    acc[ACC_CST] *= f
    acc[ACC_QN] *= f * f
    acc[ACC_QF] *= f * f
    acc[ACC_MAX] = s
    return f


@scalar
def add_sums(acc, c, near, kind, trick):
    """Add a source of weight c: the target's weight, or a near or far key's (with its
    square when ``trick``: the value noise is drawn at the recorded lengths)."""
    acc[ACC_Z] += c
    if kind == TARGET:
        acc[ACC_CST] = c
    elif near:
        acc[ACC_SN] += c
        if trick:
            acc[ACC_QN] += c * c
    else:
        acc[ACC_SF] += c
        if trick:
            acc[ACC_QF] += c * c


@scalar
def pending_noise(acc, part, tk, slot, sd):
    """The value noise pending in one part (0 near, 1 far) at recorded slot ``slot``: the
    scale sd sqrt(sum of squared weights) of its Gaussian increment and the key of its
    coordinates (scale 0: nothing to draw). Clears the pending sum."""
    Q = acc[ACC_QN + part]
    acc[ACC_QN + part] = 0.0
    if Q > 0.0 and sd > 0.0:
        return sd * math.sqrt(Q), rng.pos_key(tk, 2 * slot + part, rng.STREAM_CKPT)
    return 0.0, np.uint64(0)


@scalar
def readout(acc, vecs, k, transport, cf):
    """(y t, yF^2, t^2) of coordinate k: y of the output, yF of its far part (``cf`` is the
    target's weight when the target lies in the far set, else 0), t of the target value."""
    if transport:
        mN = vecs[V_MEAN_N, k]
        mF = vecs[V_MEAN_F, k]
    else:
        mN = acc[ACC_SN] * vecs[V_MU, k]
        mF = acc[ACC_SF] * vecs[V_MU, k]
    t = vecs[V_TSTAR, k]
    yF = mF + vecs[V_NOISE_F, k] + cf * t
    y = acc[ACC_CST] * t + mN + mF + vecs[V_NOISE_N, k] + vecs[V_NOISE_F, k]
    return y * t, yF * yF, t * t


@scalar
def metrics(acc, cf, yt, yf2, tt2, row):
    """Near weight, far mass, retention and far residual of one length into ``row``."""
    Z = acc[ACC_Z]
    row[0] = acc[ACC_CST] / Z
    row[1] = (acc[ACC_SF] + cf) / Z
    row[2] = yt / (Z * tt2)
    row[3] = math.sqrt(yf2) / Z
