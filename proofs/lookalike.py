"""B8: lookalike far mass, where E1 can hold in the stylized model.

In the retrieval task random keys score alike under every orthogonal mechanism (their score
is ``B kappa x`` with x one coordinate of a uniform unit vector, law independent of the
transport), so mechanisms differ only through the target's own score ``s*`` and the
lookalikes (keys equal to the target's ``k* = normalize((E P_delta)^T q)``) at other lags.
By the law of large numbers the other sources' total is replaced by its mean:

    a*(L) ~ e^{s*} / (e^{s*} + sum_{n <= L, n != delta} [p Lambda_n + (1 - p) M_d(B kappa)])

(the near weight of B4 with that Z), ``M_d`` the sphere MGF of B3 and ``Lambda_n = E e^{B c_n}``,
``c_n = q^T P_n k*``. With the query's block energies ``r_m = |q_m|^2`` replaced by their mean
2/d (a plug-in: the approximation this module makes, besides the law of large numbers):

- RoPE: ``c_n = sum_m r_m cos((n - delta) theta_m)``, deterministic; ``s* = B``.
- accumulated SO(2), angles ``theta_m + N(0, sigma^2)`` i.i.d.: the phase of block m at lag n
  is ``(n - delta) theta_m + N_m`` with ``N_m ~ N(0, n sigma^2)``, independent across blocks, so
  ``Lambda_n = prod_m G(B r_m, (n - delta) theta_m, n sigma^2)`` with the block factor
  ``G(z, mu, v) = E e^{z cos(mu + N)}``, derived below as a series from the Gaussian
  characteristic function; ``s* = B E cos N(delta) = B e^{-delta sigma^2 / 2}``. With the relative
  law (``gaussian_rel``) block m's spread is ``sigma theta_m`` and ``s* = B sum_m r_m e^{-delta (sigma theta_m)^2/2}``.
- Householder, w uniform on the sphere, fixed beta: ``k* = q`` (``E P = rho^n I``), ``c_n = q^T P_n q``
  has mean ``rho^n`` (B1) and second moment ``a_n + b_n`` (B2 at c = 1); here
  ``Lambda_n ~ exp(B mean + B^2 var / 2)``, a Gaussian approximation (no exact form is derived);
  ``s* = B rho^delta``.

The plug-in is the approximation that breaks first: B8 is convex in the block energies, so
with ``r_m = 2/d`` RoPE's near weight comes out 5-15% above the engine and the
Householder/RoPE ratio below 1 where the engine has it above. ``near_weight_rope_sphere``
averages RoPE's B8 over the energies of a query uniform on the sphere (Dirichlet(1, ..., 1))
instead; ``near_weight_so2_sphere`` does the same for accumulated SO(2) and also averages over
the target's own phases, on which each lookalike's phase is conditioned (and keeps the target
key's normalisation, which the plug-in drops for the relative law). Both are within 5% of the
engine at the checked points (proofs/REPORT.md); what remains is the law of large numbers
over the other sources (a* is convex in their sum: the estimate is low where it fluctuates).

The block factor: ``e^{z cos phi} = sum_j z^j cos^j(phi) / j!`` and
``cos^j(phi) = 2^-j sum_i C(j, i) e^{i (2i - j) phi}`` (Euler), so with ``E e^{i k N} = e^{-k^2 v / 2}``
(integrated from the Gaussian density) ``G = sum_j z^j / (2^j j!) sum_i C(j, i) cos((2i - j) mu)
e^{-(2i - j)^2 v / 2}``. It is summed over j until ``z^j / j!`` falls below ``1e-17 e^-z`` (at most
J = 80 terms; the remainder is then below 1e-16 relative). Two limits are checked when it is derived: v -> inf
gives the uniform-phase factor I_0(z) of B3, and v = 0 gives e^{z cos mu}.
"""

from __future__ import annotations

import math
from functools import cache, lru_cache

import numpy as np
import sympy as sp

from .core import Formula
from .score_gap import circle_mgf

z, mu, v, x = sp.symbols("z mu v x", real=True)
kk = sp.Symbol("k", integer=True)
J = 80


@cache
def gaussian_phase():
    """E e^{i k N}, N ~ N(0, v): integrated from the density."""
    vv = sp.Symbol("v", positive=True)
    dens = sp.exp(-(x**2) / (2 * vv)) / sp.sqrt(2 * sp.pi * vv)
    out = sp.simplify(sp.integrate(sp.exp(sp.I * kk * x) * dens, (x, -sp.oo, sp.oo)))
    return out.subs(vv, v)


@cache
def block_terms():
    """The j-th term of G(z, mu, v) as a sum over i (a sympy expression in j)."""
    j, i = sp.symbols("j i", integer=True, nonnegative=True)
    phase = gaussian_phase().subs(kk, 2 * i - j)  # E e^{i (2i - j) N}
    # E e^{i (2i - j)(mu + N)}, real part (the imaginary parts cancel between i and j - i)
    term = sp.binomial(j, i) * sp.cos((2 * i - j) * mu) * phase
    return j, i, z**j / (2**j * sp.factorial(j)) * sp.Sum(term, (i, 0, j))


def _block_coefficients():
    """Numeric evaluation of G as a double sum: weights c_{j,i} and frequencies 2i - j."""
    j, i, expr = block_terms()
    f_phase = sp.lambdify((kk, v), gaussian_phase(), modules="numpy")
    js, ks, ws = [], [], []
    for jj in range(J + 1):
        for ii in range(jj + 1):
            js.append(jj)
            ks.append(2 * ii - jj)
            ws.append(math.comb(jj, ii) / (2.0**jj * math.factorial(jj)))
    return np.array(js), np.array(ks), np.array(ws), f_phase


@cache
def _coeffs():
    js, ks, ws, f_phase = _block_coefficients()
    # check the derivation at two limits before it is used
    zz, mm = 1.7, 0.4
    g = _block(zz, np.array([mm]), np.array([0.0]), js, ks, ws, f_phase)[0]
    assert abs(g - math.exp(zz * math.cos(mm))) < 1e-12 * math.exp(zz)
    i0 = float(circle_mgf(z).subs(z, zz).evalf())
    assert abs(_block(zz, np.array([mm]), np.array([400.0]), js, ks, ws, f_phase)[0] - i0) < 1e-12
    return js, ks, ws, f_phase


def _terms_needed(zz: float) -> int:
    """Smallest j with z^j / j! below 1e-17 e^-z (the rest of the series is then negligible)."""
    jj, t = 0, 1.0
    while t >= 1e-17 * math.exp(-zz) and jj < J:
        jj += 1
        t *= zz / jj
    return jj


def _block(zz, mus, vs, js, ks, ws, f_phase):
    """G(z, mu, v) for arrays mu, v (same shape)."""
    keep = js <= _terms_needed(zz)
    js, ks, ws = js[keep], ks[keep], ws[keep]
    zp = ws * zz**js  # [terms]
    damp = np.exp(-(ks[:, None].astype(float) ** 2) * np.asarray(vs)[None, :] / 2)
    return (zp[:, None] * np.cos(ks[:, None] * np.asarray(mus)[None, :]) * damp).sum(0)


def block_factor(z, mu, v):
    """G(z, mu, v) = E e^{z cos(mu + N)}, N ~ N(0, v)."""
    js, ks, ws, f_phase = _coeffs()
    mus, vs = np.broadcast_arrays(np.atleast_1d(np.asarray(mu, dtype=float)), np.atleast_1d(np.asarray(v, dtype=float)))
    return _block(float(z), mus.ravel(), vs.ravel(), js, ks, ws, f_phase).reshape(mus.shape)


def _theta(d, base=10000.0):
    return base ** (-2.0 * np.arange(d // 2) / d)


def lookalike_terms(mechanism, d, B, delta, L, sigma=0.0, beta=2.0, relative=False):
    """(s*, Lambda_n for n = 1..L) of one mechanism (RoPE-centred angles for so2; with
    ``relative`` block m's spread is ``sigma theta_m``, the law gaussian_rel). They do not
    depend on the lookalike rate p, so a sweep over p computes them once (cached, read-only)."""
    args = (str(mechanism), int(d), float(B), int(delta), int(L), float(sigma), float(beta), bool(relative))
    return _lookalike_terms(*args)


@lru_cache(maxsize=64)
def _lookalike_terms(mechanism, d, B, delta, L, sigma, beta, relative):
    s_star, lam = _lookalike_terms_uncached(mechanism, d, B, delta, L, sigma, beta, relative)
    lam.setflags(write=False)
    return s_star, lam


def _lookalike_terms_uncached(mechanism, d, B, delta, L, sigma, beta, relative):
    n = np.arange(1, int(L) + 1)
    r = 2.0 / d
    if mechanism == "rope":
        c = (r * np.cos(np.outer(n - delta, _theta(d)))).sum(1)
        return float(B), np.exp(B * c)
    if mechanism == "so2":
        log_lam = np.zeros(n.size)
        s_star = 0.0
        for th in _theta(d):
            sd = sigma * th if relative else sigma
            log_lam += np.log(block_factor(B * r, (n - delta) * th, n * sd**2))
            s_star += B * r * math.exp(-delta * sd**2 / 2)
        return float(s_star), np.exp(log_lam)
    if mechanism == "householder":
        from . import coherence as co

        rho = float(co.householder_rate().subs({co.beta: beta, co.d: d}))
        m2 = np.array([second_moment(d, beta, int(k)) for k in n])
        mean = rho**n
        var = np.maximum(m2 - mean**2, 0.0)
        return float(B * rho**delta), np.exp(B * mean + B**2 * var / 2)
    raise ValueError(f"B8 has no form for {mechanism!r}")


@cache
def _second_moment_fn():
    from .second_moment import formulas as sm

    return {f.name: f for f in sm()}["householder-second-moment"]


def second_moment(d, beta, n):
    """E[(q^T P_n q)^2] from B2 (c = 1)."""
    return _second_moment_fn()(d=d, beta=beta, n=n, c=1.0)


def near_weight_rope_sphere(d, B, p, kappa, delta, lengths, draws=256, seed=0):
    """B8 for RoPE without the plug-in: the near weight averaged over the query's block energies.

    A query uniform on the sphere has block energies ``(r_1, ..., r_{d/2}) ~ Dirichlet(1, ..., 1)``
    (each block's squared norm is a sum of two squared Gaussians, an exponential variable, over
    their total). B8's near weight is convex in the lookalike scores ``B sum_m r_m cos(...)``, so
    the plug-in ``r_m = 2/d`` (Jensen) puts RoPE's near weight above its mean; here the mean over
    ``draws`` Dirichlet draws (a Monte Carlo quadrature with a fixed seed) is taken instead."""
    from .score_gap import formulas as sg

    mgf = {f.name: f for f in sg()}["sphere-mgf"](d=d, B=B * kappa)
    lengths = np.atleast_1d(np.asarray(lengths, dtype=int))
    n = np.arange(1, int(lengths.max()) + 1)
    cosm = np.cos(np.outer(n - delta, _theta(d)))
    r = np.random.default_rng(seed).dirichlet(np.ones(d // 2), size=draws)  # [draws, d/2]
    terms = p * np.exp(B * r @ cosm.T) + (1 - p) * mgf  # [draws, L]
    terms[:, delta - 1] = 0.0
    cum = np.cumsum(terms, axis=1)[:, lengths - 1]
    return (math.exp(B) / (math.exp(B) + cum)).mean(0)


@cache
def _frequency_coefficients():
    """G's series regrouped by frequency: ``G(z, mu, v) = sum_{k >= 0} A_k(z) cos(k mu) e^{-k^2 v / 2}``
    with ``A_k(z) = sum_j c_{j,k} z^j`` the derived weights of frequencies +k and -k together
    (the cosine is even). Returns (j, k, c) over the terms with k >= 0."""
    js, ks, ws, _ = _coeffs()
    fold = np.where(ks == 0, 1.0, 2.0)
    keep = ks >= 0
    return js[keep], ks[keep], (ws * fold)[keep]


def _block_energy_factor(z, shift, mus, vs):
    """G(z_r, mu_n + shift_r, v_n) for draws (z, shift) [R] and lags (mu, v) [L] at once: [R, L]."""
    js, ks, cs = _frequency_coefficients()
    keep = js <= _terms_needed(float(np.max(z)))
    js, ks, cs = js[keep], ks[keep], cs[keep]
    K = int(ks.max()) + 1
    A = np.zeros((z.size, K))
    np.add.at(A.T, ks, cs[:, None] * z[None, :] ** js[:, None])  # A_k(z) per draw
    k = np.arange(K, dtype=float)
    damp = np.exp(-(k[:, None] ** 2) * vs[None, :] / 2)  # [K, L]
    ka = k[None, :] * shift[:, None]  # cos(k (mu + a)), expanded
    return (A * np.cos(ka)) @ (np.cos(k[:, None] * mus[None, :]) * damp) - (A * np.sin(ka)) @ (
        np.sin(k[:, None] * mus[None, :]) * damp
    )


def near_weight_so2_sphere(d, B, p, kappa, delta, lengths, sigma=0.0, relative=False, draws=512, seed=0):
    """B8 for accumulated SO(2) (RoPE-centred Gaussian angles) without plug-ins: averaged over a
    uniform query's block energies ``r ~ Dirichlet(1, ..., 1)`` and over the target's own phases;
    only the other sources' sum is replaced by its mean (the law of large numbers).

    Given r, the target key ``normalize((E P_delta)^T q)`` has block m scaled by
    ``e^{-delta sd_m^2 / 2} / N`` with ``N^2 = sum_m r_m e^{-delta sd_m^2}`` (sd_m the block's spread
    per step: sigma, or sigma theta_m for the relative law). Block m's phase noise at lag n is
    ``N_m(n) = a_m + (N_m(n) - a_m)`` with ``a_m = N_m(delta) ~ N(0, delta sd_m^2)`` and an
    independent increment of variance ``(n - delta) sd_m^2``. So the target scores
    ``s* = sum_m z_m cos(a_m)``, ``z_m = B r_m e^{-delta sd_m^2/2} / N``, and, given a, a lookalike at
    lag n contributes ``Lambda_n = prod_m G(z_m, (n - delta) theta_m + a_m, (n - delta) sd_m^2)``
    (block factor G above). The near weight ``e^{s*} / (e^{s*} + sum_{n != delta} [p Lambda_n +
    (1 - p) M_d(B kappa)])`` is averaged over ``draws`` joint draws of (r, a) with a fixed seed. Lags
    before the target (delta > 1) take the Brownian bridge: mean ``a_m n / delta``, variance
    ``sd_m^2 n (delta - n) / delta``.
    sigma = 0 is RoPE (tested against ``near_weight_rope_sphere``)."""
    from .score_gap import formulas as sg

    mgf = {f.name: f for f in sg()}["sphere-mgf"](d=d, B=B * kappa)
    lengths = np.atleast_1d(np.asarray(lengths, dtype=int))
    args = (int(d), float(B), int(delta), int(lengths.max()), float(sigma), bool(relative), int(draws), int(seed))
    s_star, log_lam = _so2_sphere_scores(*args)
    terms = p * np.exp(log_lam) + (1 - p) * mgf
    terms[:, delta - 1] = 0.0
    cum = np.cumsum(terms, axis=1)[:, lengths - 1]
    return (1.0 / (1.0 + cum * np.exp(-s_star)[:, None])).mean(0)


@lru_cache(maxsize=64)
def _so2_sphere_scores(d, B, delta, L, sigma, relative, draws, seed):
    """(s* [draws], log Lambda_n [draws, L]) of ``near_weight_so2_sphere``: what does not depend
    on p (nor on kappa), so a sweep over p computes it once (cached, read-only)."""
    n = np.arange(1, L + 1, dtype=float)
    th = _theta(d)
    sd = sigma * th if relative else np.full(th.shape, float(sigma))
    rng = np.random.default_rng(seed)
    r = rng.dirichlet(np.ones(d // 2), size=draws)  # [draws, d/2]
    a = rng.standard_normal((draws, d // 2)) * np.sqrt(delta) * sd  # the target's phases
    norm = np.sqrt(r @ np.exp(-delta * sd**2))  # [draws]
    log_lam = np.zeros((draws, n.size))
    s_star = np.zeros(draws)
    after, before = n >= delta, n < delta
    for m in range(d // 2):
        z = B * r[:, m] * math.exp(-delta * sd[m] ** 2 / 2) / norm
        s_star += z * np.cos(a[:, m])
        log_lam[:, after] += np.log(
            _block_energy_factor(z, a[:, m], (n[after] - delta) * th[m], (n[after] - delta) * sd[m] ** 2)
        )
        for i in np.flatnonzero(before):  # lags before the target: a Brownian bridge to a_m
            k = n[i]
            log_lam[:, i] += np.log(
                _block_energy_factor(
                    z,
                    a[:, m] * k / delta,
                    np.array([(k - delta) * th[m]]),
                    np.array([sd[m] ** 2 * k * (delta - k) / delta]),
                )[:, 0]
            )
    s_star.setflags(write=False)
    log_lam.setflags(write=False)
    return s_star, log_lam


def near_weight(mechanism, d, B, p, kappa, delta, lengths, sigma=0.0, beta=2.0, relative=False):
    """The B8 estimate of the near weight at each context length."""
    from .score_gap import formulas as sg

    mgf = {f.name: f for f in sg()}["sphere-mgf"](d=d, B=B * kappa)
    lengths = np.atleast_1d(np.asarray(lengths, dtype=int))
    s_star, lam = lookalike_terms(mechanism, d, B, delta, lengths.max(), sigma, beta, relative)
    terms = p * lam + (1 - p) * mgf
    terms[delta - 1] = 0.0
    cum = np.cumsum(terms)
    return np.array([math.exp(s_star) / (math.exp(s_star) + cum[L - 1]) for L in lengths])


def formulas():
    j, i, term = block_terms()
    return [
        Formula(
            "lookalike-block-mgf",
            "B8",
            ("z", "mu", "v"),
            sp.Sum(term, (j, 0, sp.oo)),
            lambda z, mu, v: float(block_factor(z, mu, v)[0]),
            "G(z, mu, v) = E e^{z cos(mu + N)}, N ~ N(0, v): one SO(2) block's lookalike factor",
        ),
        Formula(
            "b8-near-weight-rope",
            "B8",
            ("d", "B", "p", "kappa", "delta", "L"),
            sp.Symbol("a_star"),
            lambda d, B, p, kappa, delta, L: float(near_weight("rope", int(d), B, p, kappa, int(delta), [int(L)])[0]),
            "B8 near weight of RoPE with lookalike rate p (plug-in r_m = 2/d)",
        ),
        Formula(
            "b8-near-weight-so2",
            "B8",
            ("d", "B", "p", "kappa", "delta", "L", "sigma"),
            sp.Symbol("a_star"),
            lambda d, B, p, kappa, delta, L, sigma: float(
                near_weight("so2", int(d), B, p, kappa, int(delta), [int(L)], sigma=sigma)[0]
            ),
            "B8 near weight of accumulated SO(2), RoPE-centred Gaussian angles of spread sigma",
        ),
        Formula(
            "b8-near-weight-householder",
            "B8",
            ("d", "B", "p", "kappa", "delta", "L", "beta"),
            sp.Symbol("a_star"),
            lambda d, B, p, kappa, delta, L, beta: float(
                near_weight("householder", int(d), B, p, kappa, int(delta), [int(L)], beta=beta)[0]
            ),
            "B8 near weight of i.i.d. Householder products (Gaussian approximation of the lookalike score)",
        ),
    ]
