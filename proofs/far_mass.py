"""B6: explicit far-mass control keeps the far mass bounded at every length.

With ALiBi slope m every score is at most ``B - m n``, so
``Z_F <= sum_{n > W} e^{B - m n}`` (summed by sympy for L -> infinity), whatever L. A
forget gate with ``log f_t <= -gamma`` gives the same with m = gamma. Since the far mass
``A_F = Z_F / Z`` and ``Z >= e^{s*} + Z_F``, ``A_F <= U / (e^{s*} + U)`` with U the bound on Z_F.
"""

from __future__ import annotations

from functools import cache

import sympy as sp

from .core import Formula

B, mslope, ss = sp.symbols("B m s_star", positive=True)
W = sp.Symbol("W", integer=True, nonnegative=True)
j = sp.Symbol("n", integer=True, positive=True)


def general_branch(expr):
    """The branch of a sympy Piecewise that holds in the generic case (its last, 'True' one
    for a degenerate-parameter split such as rho = 1; the convergent one for a series)."""
    if isinstance(expr, sp.Piecewise):
        for value, _cond in expr.args:
            if not value.has(sp.Sum):
                return value
    return expr


@cache
def far_sum():
    q = sp.Symbol("q", positive=True)  # q = e^{-m} < 1
    series = sp.summation(q**j, (j, W + 1, sp.oo))  # converges for q < 1
    return sp.simplify(sp.exp(B) * general_branch(series).subs(q, sp.exp(-mslope)))


@cache
def far_mass():
    U = far_sum()
    return sp.simplify(U / (sp.exp(ss) + U))


def formulas():
    U = far_sum()
    fU = sp.lambdify((B, mslope, W), U, modules="numpy")
    fA = sp.lambdify((B, mslope, W, ss), far_mass(), modules="numpy")
    return [
        Formula(
            "alibi-far-mass",
            "B6",
            ("B", "m", "W"),
            U,
            lambda B, m, W: float(fU(B, m, W)),
            "e^B e^{-m(W+1)} / (1 - e^{-m}): bound on Z_F with ALiBi slope m (forget gate: m = gamma)",
        ),
        Formula(
            "alibi-far-fraction",
            "B6",
            ("B", "m", "W", "s_star"),
            far_mass(),
            lambda B, m, W, s_star: float(fA(B, m, W, s_star)),
            "U / (e^{s*} + U): bound on the far mass A_F given the target score s*",
        ),
    ]
