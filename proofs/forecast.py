"""F1: the stationary-tail forecast of far odds from two short lengths (docs/theory.md, section 7).

A query's far odds at context L are ``O(L) = sum_{n=W+1}^{L} t_n`` with ``t_n = e^{s_n} / R``,
``R`` the weight of the near set and the target (unchanged by a longer context). Past the
mixing window the transported scores are stationary in distribution, so ``E t_n = u`` for
every n > T >= W. Summing (sympy) gives ``E O(2T) - E O(T) = u T`` and
``E O(L) - E O(2T) = u (L - 2T)``; eliminating u gives the forecast

    E O(L) = E O(2T) + (L - 2T) (E O(2T) - E O(T)) / T,

exact under the assumption, from the two short lengths alone. With a bias of rate b per lag
(ALiBi: b = -m) the terms are ``u e^{b n}``, the sum is geometric and the odds saturate as
L -> oo at ``u e^{b (2T+1)} / (1 - e^b)`` past 2T: the far mass stays below 1 at every length.
"""

from __future__ import annotations

from functools import cache

import sympy as sp

from .core import Formula

u, b = sp.symbols("u b", real=True)
n = sp.Symbol("n", integer=True, positive=True)
T, L = sp.symbols("T L", integer=True, positive=True)
O1, O2 = sp.symbols("O_T O_2T", real=True)


@cache
def stationary():
    """(the forecast of E O(L) in terms of O(T), O(2T), T and L; the fitted u)."""
    gain_short = sp.summation(u, (n, T + 1, 2 * T))  # E O(2T) - E O(T)
    gain_long = sp.summation(u, (n, 2 * T + 1, L))  # E O(L) - E O(2T)
    u_fit = sp.solve(sp.Eq(gain_short, O2 - O1), u)[0]
    return sp.simplify(O2 + gain_long.subs(u, u_fit)), u_fit


def _branch(expr, generic=True):
    """A sympy Piecewise's generic branch (condition True: q != 1) or its convergent one."""
    if not isinstance(expr, sp.Piecewise):
        return expr
    if generic:
        return next(v for v, cond in expr.args if cond == sp.true)
    return next(v for v, cond in expr.args if not v.has(sp.Sum))


@cache
def biased_tail():
    """The far odds gained past 2T with terms u e^{b n}: the finite geometric sum (b != 0), and
    its limit as L -> oo (b < 0)."""
    q = sp.Symbol("q", positive=True)  # q = e^b
    finite = _branch(sp.summation(u * q**n, (n, 2 * T + 1, L)))
    infinite = _branch(sp.summation(u * q**n, (n, 2 * T + 1, sp.oo)), generic=False)  # converges for q < 1
    return (
        _branch(sp.simplify(finite.subs(q, sp.exp(b)))),
        _branch(sp.simplify(infinite.subs(q, sp.exp(b))), generic=False),
    )


def formulas():
    expr, _ = stationary()
    f = sp.lambdify((O1, O2, T, L), expr, modules="numpy")
    finite, limit = biased_tail()
    g = sp.lambdify((u, b, T), limit, modules="numpy")
    return [
        Formula(
            "forecast-odds",
            "F1",
            ("O_T", "O_2T", "T", "L"),
            expr,
            lambda O_T, O_2T, T, L: float(f(O_T, O_2T, T, L)),
            "E O(L) = O(2T) + (L - 2T)(O(2T) - O(T))/T: far odds at L forecast from T and 2T (stationary tail)",
        ),
        Formula(
            "forecast-saturation",
            "F1",
            ("u", "b", "T"),
            limit,
            lambda u, b, T: float(g(u, b, T)),
            "u e^{b(2T+1)}/(1 - e^b): far odds gained past 2T as L -> oo with terms u e^{b n}, b < 0",
        ),
    ]
