"""B3: the far-score moment generating function (the score gap).

Key uniform on the sphere. One coordinate x of a uniform unit vector of R^d has density
proportional to ``(1 - x^2)^{(d-3)/2}`` on [-1, 1]. Its even moments are Beta integrals
(``t = x^2``), its odd moments vanish, and ``E e^{B x} = sum_k B^{2k} E x^{2k} / (2k)!`` is
summed by sympy into a Bessel function.

SO(2) with uniform independent block phases. Given q, k with block norms ``r_m = |q_m||k_m|``,
the score is ``B sum_m r_m cos(theta_m)`` with independent uniform theta_m, so
``E e^s = prod_m E e^{B r_m cos theta}``, each factor the circle series of
:func:`proofs.coherence.circle_mgf` (= I_0(B r_m)). Comparing the series term by term with
that of ``e^{x^2/4}`` (their ratio is ``1/k! <= 1``) gives ``I_0(x) <= e^{x^2/4}``: the far
score is sub-Gaussian with variance proxy ``B^2 sum_m r_m^2 / 2``, its variance.
"""

from __future__ import annotations

import math
from functools import cache

import mpmath
import numpy as np
import sympy as sp
from scipy import special

from .coherence import _MODULES, circle_mgf, circle_moments, k
from .core import Formula

B = sp.Symbol("B", positive=True)
d = sp.Symbol("d", positive=True)
z = sp.Symbol("z", positive=True)


@cache
def sphere_mgf():
    t = sp.Symbol("t", positive=True)
    e = sp.Symbol("e", positive=True)  # e = (d - 1)/2
    # E x^{2k} = int_0^1 t^{k - 1/2} (1 - t)^{e - 1} dt / (same with k = 0)
    beta_int = sp.integrate(t ** (k - sp.Rational(1, 2)) * (1 - t) ** (e - 1), (t, 0, 1), conds="none")
    moment = sp.simplify(sp.gammasimp(beta_int / beta_int.subs(k, 0)))
    series = sp.summation(sp.simplify(B ** (2 * k) / sp.factorial(2 * k) * moment), (k, 0, sp.oo))
    return sp.simplify(sp.hyperexpand(series).subs(e, (d - 1) / 2))


@cache
def so2_factor():
    """E e^{z cos theta}, theta uniform: one block's factor (z = B r_m)."""
    return circle_mgf(z)


@cache
def subgaussian_ratio():
    """Ratio of the k-th series terms of E e^{z cos theta} and of e^{z^2/4}."""
    term_mgf = z ** (2 * k) / sp.factorial(2 * k) * circle_moments()
    term_exp = (z**2 / 4) ** k / sp.factorial(k)
    return sp.simplify(sp.combsimp(term_mgf / term_exp))


class LogBesselI(sp.Function):
    """log I_nu(z), evaluated without overflow or underflow (see ``_log_besseli``)."""


def _stable_log(expr):
    """log(expr) with log Gamma -> loggamma and log I_nu -> LogBesselI."""
    out = sp.expand_log(sp.log(expr), force=True)
    out = out.replace(
        lambda e: isinstance(e, sp.log) and isinstance(e.args[0], sp.besseli), lambda e: LogBesselI(*e.args[0].args)
    )
    return out.replace(
        lambda e: isinstance(e, sp.log) and isinstance(e.args[0], sp.gamma), lambda e: sp.loggamma(e.args[0].args[0])
    )


def _log_besseli(v, x):
    """log I_v(x): scipy's scaled Bessel function where it is representable, mpmath (which has
    no exponent range limit) where it underflows (order much larger than the argument)."""
    val = special.ive(v, x)
    if val > 1e-300 and math.isfinite(val):
        return math.log(val) + x
    return float(mpmath.log(mpmath.besseli(v, x)))


_LOG_MODULES = [{"LogBesselI": _log_besseli, "loggamma": special.gammaln}, "math"]


def formulas():
    mgf = sphere_mgf()
    logmgf = _stable_log(mgf)
    flog = sp.lambdify((d, B), logmgf, modules=_LOG_MODULES)

    def f(d, B):
        return math.exp(flog(d, B))

    fac = sp.lambdify(z, so2_factor(), modules=_MODULES)

    def so2(B, r):
        r = np.atleast_1d(np.asarray(r, dtype=float))
        return float(np.prod([fac(B * ri) for ri in r]))

    return [
        Formula(
            "sphere-mgf",
            "B3",
            ("d", "B"),
            mgf,
            lambda d, B: float(f(d, B)),
            "E e^{B x}, x one coordinate of a uniform unit vector of R^d",
        ),
        Formula(
            "sphere-log-mgf",
            "B3",
            ("d", "B"),
            logmgf,
            lambda d, B: float(flog(d, B)),
            "log E e^{B x} (evaluated without overflow for large d and B)",
        ),
        Formula(
            "so2-mgf",
            "B3",
            ("B", "r"),
            sp.Product(so2_factor(), (sp.Symbol("m"), 1, sp.Symbol("h"))),
            so2,
            "E e^{s} = prod_m I_0(B r_m) for uniform independent block phases (r: comma-separated r_m)",
        ),
        Formula(
            "so2-mgf-subgaussian",
            "B3",
            ("B", "r"),
            sp.exp(z**2 / 4),
            lambda B, r: float(np.exp(B**2 * np.sum(np.square(np.atleast_1d(r))) / 4)),
            "exp(B^2 sum r_m^2 / 4) >= prod_m I_0(B r_m): the sub-Gaussian bound",
        ),
    ]
