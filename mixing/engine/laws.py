"""Angle laws of accumulated SO(2) rotations: sampling and characteristic function.

Every law is symmetric about zero and is shifted by a per-block centre (the RoPE
frequency theta_m by default), so ``E e^{i phi} = e^{i theta_m} * char(law, par)`` with a
real factor ``char``:

| law | parameter | char = E cos(phi - theta) |
|---|---|---|
| constant | - | 1 |
| gaussian | sigma | exp(-sigma^2 / 2) |
| uniform | a (half-width) | sin(a) / a |
| vonmises | concentration kappa | I_1(kappa) / I_0(kappa) |
| wrapped_cauchy | gamma | exp(-gamma) |
| two_point | - | 0 (phi - theta in {0, pi}) |
| gaussian_rel | rel_sigma | exp(-(rel_sigma theta_m)^2 / 2): a spread proportional to the block's centre |

``gaussian_rel`` is RoPE-matched: block m draws ``theta_m (1 + rel_sigma z)``, so low-frequency
blocks stay nearly deterministic (its factor depends on the block, see ``char_block``).
"""

from __future__ import annotations

import math
import sys
from typing import NamedTuple

import numpy as np
from scipy import special

from . import rng, twins
from .codes import CONSTANT, GAUSSIAN, GAUSSIAN_REL, TWO_POINT, UNIFORM, VONMISES, WRAPPED_CAUCHY, Law
from .twins import scalar


#: law name -> (code, name of its parameter or None, default value)
class LawInfo(NamedTuple):
    """An angle law: its integer code, the name of its parameter (None: it has none) and that
    parameter's default."""

    code: int
    param: str | None
    default: float | None


LAWS = {
    "constant": LawInfo(Law.CONSTANT, None, None),
    "gaussian": LawInfo(Law.GAUSSIAN, "sigma", 0.5),
    "uniform": LawInfo(Law.UNIFORM, "a", 1.0),
    "vonmises": LawInfo(Law.VONMISES, "concentration", 4.0),
    "wrapped_cauchy": LawInfo(Law.WRAPPED_CAUCHY, "gamma", 0.1),
    "two_point": LawInfo(Law.TWO_POINT, None, None),
    "gaussian_rel": LawInfo(Law.GAUSSIAN_REL, "rel_sigma", 0.5),
}


def char(law: int, par: float) -> float:
    """E cos(phi - centre) for one step of the law (the real characteristic factor)."""
    if law == CONSTANT:
        return 1.0
    if law == GAUSSIAN:
        return math.exp(-0.5 * par * par)
    if law == UNIFORM:
        return math.sin(par) / par
    if law == VONMISES:
        return float(special.i1e(par) / special.i0e(par))
    if law == WRAPPED_CAUCHY:
        return math.exp(-par)
    if law == TWO_POINT:
        return 0.0
    raise ValueError(f"unknown law code {law}")


def char_block(law: int, par: float, centre: float) -> float:
    """E cos(phi - centre) of one block (the relative law's factor depends on the centre)."""
    if law == GAUSSIAN_REL:
        return math.exp(-0.5 * (par * centre) ** 2)
    return char(law, par)


#: above this concentration the von Mises law is drawn from its wrapped-normal limit N(0, 1/kappa)
#: (its variance differs from the exact law's by about 1/(2 kappa^2), relative 5e-7 here); the
#: rejection sampler loses its precision there and stops terminating near kappa = 1e154
VONMISES_NORMAL_ABOVE = 1e6


@scalar
def vonmises(key, kappa):
    """Von Mises(0, kappa) by Best & Fisher (1979), as NumPy's generator does it; the
    wrapped-normal limit above ``VONMISES_NORMAL_ABOVE``."""
    if kappa > VONMISES_NORMAL_ABOVE:
        return rng.normal(key, 0) / math.sqrt(kappa)
    if kappa < 1e-8:
        return math.pi * (2.0 * rng.uniform(key, 0) - 1.0)
    if kappa < 1e-5:
        s = 1.0 / kappa + kappa
    else:
        r = 1.0 + math.sqrt(1.0 + 4.0 * kappa * kappa)
        rho = (r - math.sqrt(2.0 * r)) / (2.0 * kappa)
        s = (1.0 + rho * rho) / (2.0 * rho)
    t = 0
    while True:
        z = math.cos(math.pi * rng.uniform(key, t))
        w = (1.0 + s * z) / (s + z)
        y = kappa * (s - w)
        v = rng.uniform(key, t + 1)
        t += 2
        if y * (2.0 - y) - v >= 0.0 or math.log(y / v) + 1.0 - y >= 0.0:
            break
    w = min(1.0, max(-1.0, w))
    res = math.acos(w)
    return -res if rng.uniform(key, t) < 0.5 else res


@scalar
def angle(law, par, key, m, centre):
    """Centred angle of block m drawn from ``key`` (add the block's centre to it)."""
    if law == GAUSSIAN:
        return par * rng.normal(key, m)
    if law == GAUSSIAN_REL:
        return par * centre * rng.normal(key, m)
    if law == UNIFORM:
        return par * (2.0 * rng.uniform(key, m) - 1.0)
    if law == WRAPPED_CAUCHY:
        return par * math.tan(math.pi * (rng.uniform(key, m) - 0.5))
    if law == TWO_POINT:
        return math.pi if rng.uniform(key, m) < 0.5 else 0.0
    if law == VONMISES:
        return vonmises(rng.u64(key, m), par)
    return 0.0


class _Plain:
    """Plain-Python twins (for the NumPy reference)."""

    def __init__(self):
        self._mod = twins.rebuild(
            sys.modules[__name__], lambda fn: fn, "mixing.engine.laws.plain", deps={"rng": rng.plain}
        )
        self.vonmises = self._mod.vonmises

    def angle(self, law, par, key, m, centre):
        with np.errstate(over="ignore"):
            return self._mod.angle(law, par, key, m, centre)


plain = _Plain()
