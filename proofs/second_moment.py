"""B2: second moment of Householder scores, E[(q^T P_n k)^2], in closed form.

One step ``u' = u - beta (w.u) w`` with w uniform on the sphere. With the isotropic moments
``E[w_i w_j] = delta_ij / d`` and
``E[w_i w_j w_k w_l] = m22 (delta_ij delta_kl + delta_ik delta_jl + delta_il delta_jk)``,
``m22 = E w_1^2 w_2^2`` (from :mod:`proofs.coherence`), contracting with u and a unit k gives
``E[(w.u)(w.k)] = (u.k)/d``, ``E[(w.u)^2] = |u|^2/d`` and
``E[(w.u)^2 (w.k)^2] = m22 (|u|^2 + 2 (u.k)^2)``. Expanding ``(u'.k)^2`` and ``|u'|^2`` and
taking expectations gives a linear recurrence for ``A_n = E (u_n.k)^2`` and
``N_n = E |u_n|^2``, solved by ``rsolve`` with ``A_0 = c^2``, ``N_0 = 1``.
"""

from __future__ import annotations

from functools import cache

import sympy as sp

from .coherence import beta, d, householder_moments, n
from .core import Formula

c = sp.Symbol("c", real=True)


@cache
def recurrence():
    """(lam, g, nu): A_{n+1} = lam A_n + g N_n, N_{n+1} = nu N_n."""
    U2, UK, WU, WK = sp.symbols("U2 UK WU WK")  # |u|^2, u.k, w.u, w.k
    m22 = householder_moments()["w2w2"]
    # moments of the products of w.u and w.k that appear below
    E = {WU * WK: UK / d, WU**2: U2 / d, WU**2 * WK**2: m22 * (U2 + 2 * UK**2)}

    def expect(expr):
        expr = sp.expand(expr)
        out = 0
        for term in sp.Add.make_args(expr):
            coeff, rest = sp.S.One, sp.S.One
            for f in sp.Mul.make_args(term):
                if f.has(WU) or f.has(WK):
                    rest *= f
                else:
                    coeff *= f
            out += coeff * (E[rest] if rest != 1 else 1)
        return sp.expand(out)

    ak2 = expect((UK - beta * WU * WK) ** 2)  # E (u'.k)^2 given u
    # |u'|^2 = |u|^2 - 2 beta (w.u)^2 + beta^2 (w.u)^2 |w|^2, |w| = 1
    nu2 = expect(U2 - 2 * beta * WU**2 + beta**2 * WU**2)
    lam = sp.factor(ak2.coeff(UK, 2))
    g = sp.factor(ak2.coeff(U2))
    nu = sp.factor(nu2.coeff(U2))
    assert sp.simplify(ak2 - lam * UK**2 - g * U2) == 0 and sp.simplify(nu2 - nu * U2) == 0
    return lam, g, nu


@cache
def closed_form():
    lam, g, nu = recurrence()
    A, N = sp.Function("A"), sp.Function("N")
    L, G, NU = sp.symbols("lambda g nu", positive=True)
    Nn = sp.rsolve(N(n + 1) - NU * N(n), N(n), {N(0): 1})
    An = sp.rsolve(A(n + 1) - L * A(n) - G * Nn, A(n), {A(0): c**2})
    return sp.simplify(An), {L: lam, G: g, NU: nu}


def formulas():
    An, subs = closed_form()
    f = sp.lambdify((d, beta, n, c), An.subs(subs), modules="numpy")

    def value(d, beta, n, c):
        if beta == 0:  # the closed form divides by lam - nu, which vanishes with beta
            return float(c) ** 2
        return float(f(d, beta, n, c))

    return [
        Formula(
            "householder-second-moment",
            "B2",
            ("d", "beta", "n", "c"),
            An.subs(subs),
            value,
            "E[(q^T P_n k)^2] with q.k = c, i.i.d. Householder steps, w uniform",
        )
    ]
