"""B4 (near retention for moderate L) and B5 (rotations alone must degrade).

The near weight as a function of the target score s* and of the other sources' total Z is
``a(s*, Z) = e^{s*} / (e^{s*} + Z)``, increasing in s* and decreasing in Z (signs of the
derivatives checked below).

- B4, an estimate: with L - 1 other keys uniform on the sphere (NoPE transport, target key
  aligned with the query, no lookalikes), the law of large numbers replaces Z by
  ``(L - 1) E e^{B x}``: ``a* ~ e^B / (e^B + (L - 1) M_d(B))``. Setting it to eta and solving
  for L gives the horizon of this estimate.
- B5, a bound: non-expansive generators keep every score in [-B, B], so with |F| far sources
  ``s* <= B`` and ``Z >= |F| e^{-B}``, hence ``a* <= e^B / (e^B + |F| e^{-B})``; solving
  ``bound = eta`` for |F| gives the size of far set beyond which no rotation keeps ``a* >= eta``.
"""

from __future__ import annotations

from functools import cache

import sympy as sp

from .coherence import _MODULES
from .core import Formula
from .score_gap import B, d, sphere_mgf

s, Z, F, L, eta = sp.symbols("s Z F L eta", positive=True)


@cache
def near_weight():
    a = sp.exp(s) / (sp.exp(s) + Z)
    assert sp.simplify(sp.diff(a, s) - a * (1 - a)) == 0  # > 0: increasing in s*
    assert sp.simplify(sp.diff(a, Z) + a / (sp.exp(s) + Z)) == 0  # < 0: decreasing in Z
    return a


@cache
def bound():
    upper = near_weight().subs({s: B, Z: F * sp.exp(-B)})
    horizon = sp.solve(sp.Eq(upper, eta), F)[0]
    return sp.simplify(upper), sp.simplify(horizon)


@cache
def estimate():
    est = near_weight().subs({s: B, Z: (L - 1) * sphere_mgf()})
    horizon = sp.solve(sp.Eq(near_weight().subs({s: B, Z: (L - 1) * sp.Symbol("M")}), eta), L)[0]
    return est, horizon


def formulas():
    upper, horizon = bound()
    est, est_h = estimate()
    fu = sp.lambdify((B, F), upper, modules="numpy")
    fh = sp.lambdify((B, eta), horizon, modules="numpy")
    fe = sp.lambdify((B, d, L), est, modules=_MODULES)
    fr = sp.lambdify((B, sp.Symbol("M"), eta), est_h, modules="numpy")
    return [
        Formula(
            "near-weight-upper",
            "B5",
            ("B", "F"),
            upper,
            lambda B, F: float(fu(B, F)),
            "e^B / (e^B + F e^-B): the largest near weight with F far sources and |s| <= B",
        ),
        Formula(
            "far-set-horizon",
            "B5",
            ("B", "eta"),
            horizon,
            lambda B, eta: float(fh(B, eta)),
            "e^{2B} (1 - eta)/eta: beyond this many far sources no rotation keeps a* >= eta",
        ),
        Formula(
            "near-weight-estimate",
            "B4",
            ("B", "d", "L"),
            est,
            lambda B, d, L: float(fe(B, d, L)),
            "e^B / (e^B + (L - 1) E e^{B x}): near weight among L - 1 random keys (law of large numbers)",
        ),
        Formula(
            "retention-horizon",
            "B4",
            ("B", "M", "eta"),
            est_h,
            lambda B, M, eta: float(fr(B, M, eta)),
            "1 + e^B (1 - eta) / (eta M): the L at which the B4 estimate falls to eta (M = E e^{s_far})",
        ),
    ]
