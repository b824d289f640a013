"""B1: coherence of accumulated SO(2) rotations and of Householder products, and the window.

SO(2). For an angle phi with a law symmetric about 0, ``E R(phi) = psi I`` with the
characteristic function ``psi = E e^{i phi}`` (real), so ``c(n) = |psi|^n``. Each ``psi`` is
computed here from the law's density (Gaussian, uniform, Cauchy: integrals; von Mises: the
normaliser ``Z(kappa) = mean over the circle of e^{kappa cos theta}`` summed as a series of
circle moments, and ``E cos phi = Z'(kappa) / Z(kappa)``; two-point and constant: sums).

Householder. ``E[w w^T]`` for w uniform on the sphere: off-diagonal terms vanish (w_i -> -w_i
leaves the law unchanged) and the d equal diagonal terms add up to ``E|w|^2 = 1``, so
``E H = (1 - beta/d) I`` and ``c(n) = (1 - beta/d)^n``. The fourth moments come from
``w = z / |z|`` with z standard Gaussian and |z| independent of w:
``E z_i^4 = E|z|^4 E w_i^4`` and ``E z_i^2 z_j^2 = E|z|^4 E w_i^2 w_j^2``.

Window. ``W(eps) = min{n : rho^n <= eps}``: the solution of ``rho^n = eps``, rounded up.
"""

from __future__ import annotations

from functools import cache

import numpy as np
import sympy as sp
from scipy import special

from .core import Formula

x = sp.Symbol("x", real=True)
theta = sp.Symbol("theta", real=True)
k = sp.Symbol("k", integer=True, nonnegative=True)
r = sp.Symbol("r", integer=True, nonnegative=True)
m = sp.Symbol("m", integer=True)
n = sp.Symbol("n", integer=True, nonnegative=True)
d = sp.Symbol("d", positive=True)
beta = sp.Symbol("beta", positive=True)
rho, eps = sp.symbols("rho epsilon", positive=True)

#: the law's parameter symbol, named as in ``mixing.engine.laws.LAWS``
PAR = {
    "gaussian": sp.Symbol("sigma", positive=True),
    "uniform": sp.Symbol("a", positive=True),
    "vonmises": sp.Symbol("concentration", positive=True),
    "wrapped_cauchy": sp.Symbol("gamma", positive=True),
    "constant": None,
    "two_point": None,
}

_MODULES = [{"besseli": lambda v, z: special.iv(v, z)}, "numpy"]


@cache
def circle_moments():
    """Mean over the circle of cos^j theta: ``binomial(2k, k) / 4^k`` for j = 2k, 0 for odd j.

    ``cos^j = ((e^{i theta} + e^{-i theta}) / 2)^j = sum_r binomial(j, r) e^{i (j - 2r) theta} / 2^j``
    and the mean of ``e^{i m theta}`` is 1 for m = 0 and 0 otherwise (integrated below).
    """
    mean_exp = sp.simplify(sp.integrate(sp.exp(sp.I * m * theta), (theta, -sp.pi, sp.pi)) / (2 * sp.pi))
    assert mean_exp.subs(m, 0) == 1 and mean_exp.subs(m, 3) == 0
    even = sp.simplify(sp.Sum(sp.binomial(2 * k, r) * sp.KroneckerDelta(2 * k - 2 * r, 0), (r, 0, 2 * k)).doit() / 4**k)
    return even


def circle_mgf(z):
    """Mean over the circle of ``e^{z cos theta}``, summed from the circle moments."""
    term = z ** (2 * k) / sp.factorial(2 * k) * circle_moments()
    return sp.simplify(sp.summation(term, (k, 0, sp.oo)))


@cache
def characteristic():
    """law -> psi = E e^{i phi} (real: every law is symmetric about 0), from its density."""
    sigma, a, kap, gam = (PAR[name] for name in ("gaussian", "uniform", "vonmises", "wrapped_cauchy"))
    psi = {}
    gauss = sp.exp(-(x**2) / (2 * sigma**2)) / sp.sqrt(2 * sp.pi * sigma**2)
    psi["gaussian"] = sp.simplify(sp.integrate(sp.exp(sp.I * x) * gauss, (x, -sp.oo, sp.oo)))
    psi["uniform"] = sp.simplify(sp.integrate(sp.exp(sp.I * x) / (2 * a), (x, -a, a)).rewrite(sp.sin))
    # wrapping does not change e^{i phi}; the sine part vanishes by symmetry
    cauchy = gam / (sp.pi * (x**2 + gam**2))
    psi["wrapped_cauchy"] = sp.simplify(sp.integrate(sp.cos(x) * cauchy, (x, -sp.oo, sp.oo)))
    Z = circle_mgf(kap)  # von Mises normaliser (over 2 pi)
    psi["vonmises"] = sp.simplify(sp.diff(Z, kap) / Z)
    psi["two_point"] = sp.simplify((sp.exp(sp.I * 0) + sp.exp(sp.I * sp.pi)) / 2)
    psi["constant"] = sp.exp(sp.I * 0)
    return psi


@cache
def householder_moments():
    """E[w_i^2], E[w_i^4], E[w_i^2 w_j^2] for w uniform on the unit sphere of R^d."""
    m2 = sp.Symbol("m2")
    second = sp.solve(sp.Eq(d * m2, 1), m2)[0]  # d equal terms sum to E|w|^2 = 1
    phi = sp.exp(-(x**2) / 2) / sp.sqrt(2 * sp.pi)
    z4 = sp.integrate(x**4 * phi, (x, -sp.oo, sp.oo))  # E z_i^4
    z2 = sp.integrate(x**2 * phi, (x, -sp.oo, sp.oo))  # E z_i^2 (so E z_i^2 z_j^2 = z2^2)
    t = sp.Symbol("t", positive=True)
    chi2 = t ** (d / 2 - 1) * sp.exp(-t / 2) / (2 ** (d / 2) * sp.gamma(d / 2))
    r4 = sp.factor(sp.gammasimp(sp.integrate(t**2 * chi2, (t, 0, sp.oo))))  # E|z|^4
    return {"w2": second, "w4": sp.factor(z4 / r4), "w2w2": sp.factor(z2**2 / r4), "r4": r4}


@cache
def householder_rate():
    """rho = the eigenvalue of E H = I - beta E[w w^T]."""
    return sp.simplify(1 - beta * householder_moments()["w2"])


@cache
def window_expr():
    """W(eps) = ceil(n*) with rho^{n*} = eps."""
    nstar = sp.solve(sp.Eq(rho**n, eps), n)[0]
    return sp.ceiling(sp.simplify(nstar))


def _psi_fn(law):
    psi = characteristic()[law]
    par = PAR[law]
    if par is None:
        val = complex(psi)
        return lambda _p=None: abs(val)
    f = sp.lambdify(par, sp.Abs(psi), modules=_MODULES)
    return lambda p: float(f(p))


def so2_coherence(law: str, n, par=None):
    """|E e^{i phi}|^n."""
    return _psi_fn(law)(par) ** n


def formulas():
    psi = characteristic()
    coh_h = householder_rate() ** n
    f_h = sp.lambdify((d, beta, n), coh_h, modules="numpy")
    win = window_expr()
    f_w = sp.lambdify((rho, eps), win, modules=["numpy"])
    return [
        Formula(
            "so2-coherence",
            "B1",
            ("law", "<law parameter>", "n"),
            {name: sp.Abs(e) ** n for name, e in psi.items()},
            lambda law, n, par=None: so2_coherence(law, n, par),
            "|E e^{i phi}|^n for an angle law of mixing.engine.laws (give its parameter by name)",
        ),
        Formula(
            "householder-coherence",
            "B1",
            ("d", "beta", "n"),
            coh_h,
            lambda d, beta, n: float(f_h(d, beta, n)),
            "(1 - beta/d)^n: coherence of i.i.d. Householder products, w uniform on the sphere",
        ),
        Formula(
            "window",
            "B1",
            ("rho", "eps"),
            win,
            lambda rho, eps: int(f_w(rho, eps)),
            "ceil(log(1/eps) / log(1/rho)): lags until coherence rho^n falls to eps",
        ),
        Formula(
            "householder-table-rate",
            "B1",
            ("table", "beta"),
            table_mean_expr(),
            table_rate,
            "(||E G||_op, E G) for a per-token table of unit directions, uniform tokens",
            cli=False,
        ),
    ]


def table_mean_expr():
    """E G = (1/V) sum_v (I - beta w_v w_v^T) = I - beta (1/V) sum_v w_v w_v^T."""
    V, v = sp.symbols("V v", integer=True, positive=True)
    wwT = sp.Symbol("W_v", commutative=False)  # W_v = w_v w_v^T
    return sp.Eq(sp.Symbol("E G"), sp.Symbol("I") - beta * sp.Sum(wwT, (v, 1, V)) / V)


def table_rate(table, beta):
    """||E G||_op and E G for a per-token Householder table (rows w_v, uniform tokens)."""
    V, dd = table.shape
    EG = np.eye(dd) - beta * (table.T @ table) / V
    return float(np.linalg.norm(EG, 2)), EG
