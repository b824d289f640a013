"""B7: far residual with and without value transport.

Far weights a_n, values ``v_n = mu + xi_n`` (xi_n independent, mean 0), orthogonal generators
with ``E[P_n^T P_n'] = c(|n - n'|) I``. Expanding ``||sum_n a_n P_n v_n||^2`` into the double
sum over (n, n') and taking expectations term by term (``E xi = 0``, independence) gives
``sum_n a_n^2 (|mu|^2 + E|xi|^2) + |mu|^2 sum_{n != n'} a_n a_n' c(|n - n'|)``; without
transport every c is 1 and this is ``A_F^2 |mu|^2 + sum_n a_n^2 E|xi|^2``. For uniform weights
``a_n = A/N`` over N far sources and ``c(n) = rho^n`` the double geometric sum is done by sympy.
"""

from __future__ import annotations

from functools import cache

import sympy as sp

from .core import Formula

N = sp.Symbol("N", integer=True, positive=True)
A, rho, mu2, xi2 = sp.symbols("A rho mu2 xi2", positive=True)
kk = sp.Symbol("k", integer=True, positive=True)


@cache
def pair_expectation():
    """E[(P_n v_n).(P_n' v_n')] for n = n' and n != n' (c = c(|n - n'|))."""
    mu, xi, xi_p, c = sp.symbols("mu xi xi_p c")
    # v = mu + xi; cross terms with a single xi vanish, xi.xi' vanishes for n != n'
    same = sp.expand((mu + xi) ** 2).subs({mu**2: mu2, xi**2: xi2, mu * xi: 0})
    other = sp.expand(c * (mu + xi) * (mu + xi_p)).subs({mu**2: mu2, mu * xi: 0, mu * xi_p: 0, xi * xi_p: 0})
    return same, other, c


@cache
def double_sum():
    """sum_{n, n' = 1..N} rho^{|n - n'|} = N + 2 sum_{k=1}^{N-1} (N - k) rho^k."""
    S = sp.simplify(N + 2 * sp.summation((N - kk) * rho**kk, (kk, 1, N - 1)))
    if isinstance(S, sp.Piecewise):  # (N^2 if rho = 1, general form otherwise)
        S = [v for v, cond in S.args if cond == sp.true][0]
    return sp.factor(S)


@cache
def residual():
    same, other, c = pair_expectation()
    a = A / N
    S = double_sum()
    with_t = sp.simplify(a**2 * (N * same + (S - N) * other.subs(c, 1)))
    without = sp.simplify(a**2 * (N * same + (N**2 - N) * other.subs(c, 1)))
    return with_t, without


def formulas():
    with_t, without = residual()
    fw = sp.lambdify((N, rho, mu2, xi2, A), with_t, modules="numpy")
    fo = sp.lambdify((N, mu2, xi2, A), without, modules="numpy")
    return [
        Formula(
            "value-residual",
            "B7",
            ("N", "rho", "mu2", "xi2", "A"),
            with_t,
            lambda N, rho, mu2, xi2, A: float(fw(N, rho, mu2, xi2, A)),
            "E||sum a_n P_n v_n||^2 with value transport, a_n = A/N, c(n) = rho^n",
        ),
        Formula(
            "value-residual-plain",
            "B7",
            ("N", "mu2", "xi2", "A"),
            without,
            lambda N, mu2, xi2, A: float(fo(N, mu2, xi2, A)),
            "E||sum a_n v_n||^2 without transport, a_n = A/N: A^2 mu2 + A^2 xi2 / N",
        ),
    ]
