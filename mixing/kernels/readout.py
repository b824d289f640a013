"""The read-out of one context length, written once for the CPU and the GPU kernels.

At each recorded length a trial's output is o = a* T* + (near and far value sums) + noise;
:func:`readout` gives one coordinate's contributions to <o, T*>, |far part of o|^2 and
|T*|^2, and :func:`metrics` turns the summed contributions and the softmax sums into the
four ``contract.METRICS``. Both are :func:`mixing.twins.scalar` helpers (the CUDA backend
rebuilds device twins); the slot layout of ``acc`` and ``vecs`` is ``contract.py``'s.
"""

from __future__ import annotations

import math

from ..twins import scalar
from .contract import (ACC_CST, ACC_SF, ACC_SN, ACC_Z, V_MEAN_F, V_MEAN_N, V_MU, V_NOISE_F, V_NOISE_N,
                       V_TSTAR)


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
