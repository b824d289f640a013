"""Every claim of docs/theory.md, section 4, and three counterexamples, checked against the engine.

Each ``check_*`` function runs the engine (``mixing.engine.measures`` and its kernels, or its RNG
for the score distributions) at three or more parameter points chosen to stress the claim
(small and large d, beta near 0 and at 2, long lags) and returns :class:`proofs.core.Check`
rows. Predictions come from ``proofs.registry.formulas()`` at call time, so a wrong formula
shows up as a failed check (the tests substitute one on purpose).
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np
from numba import prange

from mixing.engine import laws, rng
from mixing.engine import measures as ms
from mixing.engine import mechanisms as M
from mixing.engine._jit import pnjit
from mixing.engine.stats import mean_se
from mixing.engine.task import Task

from .core import Check
from .registry import formulas


def F(name):
    return formulas()[name]


class Sizes:
    """Trial counts: ``quick`` fits CI (under a minute on 2 cores), full is ten times more."""

    def __init__(self, quick: bool):
        s = 1 if quick else 10
        self.walk = 4000 * s
        self.walk_big = 400 * s
        self.draws = 200_000 * s
        self.retrieval = 400 * s
        self.bound = 64 * s
        self.values = 2000 * s


def _pt(**kw):
    return " ".join(f"{k}={v}" for k, v in kw.items())


# ---------------------------------------------------------------------------------------
# B1: coherence and window


def check_so2_coherence(sz, seed):
    out = []
    for law, par, d, n in (
        ("gaussian", 0.3, 8, 20),
        ("uniform", 1.5, 64, 6),
        ("vonmises", 2.0, 16, 8),
        ("wrapped_cauchy", 0.05, 2, 30),
        ("gaussian", 1.5, 128, 2),
    ):
        pname = laws.LAWS[law].param
        mech = M.make("so2", d, law=law, center="zero", **{pname: par})
        est = ms.coherence(mech, n, sz.walk, seed)
        out.append(
            Check(
                "B1 SO(2) coherence |psi|^n",
                _pt(law=law, **{pname: par}, d=d, n=n),
                "eq",
                F("so2-coherence")(law=law, par=par, n=n),
                est.mean["coherence"][-1],
                est.stderr["coherence"][-1],
            )
        )
    return out


def check_householder_coherence(sz, seed):
    out = []
    for d, beta, n, T in (
        (4, 0.05, 40, sz.walk),
        (64, 2.0, 64, sz.walk),
        (256, 1.0, 300, sz.walk_big),
        (8, 2.0, 5, sz.walk),
    ):
        est = ms.coherence(M.make("householder", d, beta=beta), n, T, seed)
        out.append(
            Check(
                "B1 Householder coherence (1-beta/d)^n",
                _pt(d=d, beta=beta, n=n),
                "eq",
                F("householder-coherence")(d=d, beta=beta, n=n),
                est.mean["coherence"][-1],
                est.stderr["coherence"][-1],
            )
        )
    return out


def measured_window(est, eps, z=4.0):
    """[lo, hi]: the first lags after which mean - z se (lo) and mean + z se (hi) stay <= eps."""
    mean, se = est.mean["coherence"], est.stderr["coherence"]

    def first_staying(vals):
        ok = vals <= eps
        for i in range(len(vals)):
            if ok[i:].all():
                return i + 1
        return math.inf

    return first_staying(mean - z * se), first_staying(mean + z * se)


def check_window(sz, seed):
    out = []
    cases = (
        (
            M.make("so2", 16, law="gaussian", sigma=0.5, center="zero"),
            "so2 gaussian sigma=0.5 d=16",
            math.exp(-0.125),
            0.1,
        ),
        (M.make("householder", 16), "householder beta=2 d=16", 1 - 2 / 16, 0.1),
        (
            M.make("so2", 8, law="uniform", a=2.0, center="zero"),
            "so2 uniform a=2 d=8",
            F("so2-coherence")(law="uniform", par=2.0, n=1),
            0.05,
        ),
    )
    for mech, label, rho, eps in cases:
        W = F("window")(rho=rho, eps=eps)
        est = ms.coherence(mech, 2 * W + 10, sz.walk, seed)
        lo, hi = measured_window(est, eps)
        out.append(Check("B1 window W(eps)", f"{label} eps={eps}", "in", W, lo, hi=hi))
    return out


# ---------------------------------------------------------------------------------------
# B2: second moment


def check_second_moment(sz, seed):
    out = []
    for d, beta, n, c, T in (
        (8, 2.0, 10, 0.5, sz.walk),
        (32, 0.5, 50, 1.0, sz.walk),
        (4, 1.9, 3, 0.0, sz.walk),
        (128, 0.05, 200, 0.8, sz.walk_big),
    ):
        est = ms.second_moment(M.make("householder", d, beta=beta), n, T, seed, c=c)
        out.append(
            Check(
                "B2 Householder E(q^T P_n k)^2",
                _pt(d=d, beta=beta, n=n, c=c),
                "eq",
                F("householder-second-moment")(d=d, beta=beta, n=n, c=c),
                est.mean["second_moment"][-1],
                est.stderr["second_moment"][-1],
            )
        )
    return out


# ---------------------------------------------------------------------------------------
# B3: far-score moment generating functions (the engine's own samplers)


@pnjit
def sphere_exp(seed, d, B, out):
    """e^{B x} for x = the projection of a random key, as the retrieval kernels draw it."""
    for i in prange(out.shape[0]):
        key = rng.pos_key(rng.trial_key(seed, i), 1, rng.STREAM_KEY)
        out[i] = math.exp(B * rng.sphere_coord(rng.aux_key(key), d))


@pnjit
def _so2_exp(seed, r, B, out):
    """e^{B sum_m r_m cos theta_m}, theta_m uniform on the circle (engine's angle sampler)."""
    for i in prange(out.shape[0]):
        key = rng.pos_key(rng.trial_key(seed, i), 1, rng.STREAM_GEN)
        s = 0.0
        for m in range(r.shape[0]):
            s += r[m] * math.cos(laws.angle(laws.UNIFORM, math.pi, key, m, 0.0))
        out[i] = math.exp(B * s)


def _unit(key, d):
    """The kernels' uniform unit vector of ``key`` (their normals, normalised in their order)."""
    z = rng.normals_np(key, d)
    s = 0.0
    for v in z:
        s += v * v
    return z * (1.0 / math.sqrt(s))


def _block_norms(seed, d):
    """r_m = |q_m| |k_m| for a random pair of unit vectors (the trial's query and key)."""
    tk = rng.plain.trial_key(seed, 0)
    q = _unit(rng.plain.pos_key(tk, 0, rng.STREAM_Q), d)
    k = _unit(rng.plain.pos_key(tk, 0, rng.STREAM_K), d)
    r = np.empty(d // 2)
    for m in range(d // 2):
        r[m] = math.hypot(q[2 * m], q[2 * m + 1]) * math.hypot(k[2 * m], k[2 * m + 1])
    return r


def check_score_mgf(sz, seed):
    out = []
    for i, (d, B) in enumerate(((4, 2.0), (64, 8.0), (256, 16.0))):
        x = np.empty(sz.draws)
        sphere_exp(np.uint64(seed + 7919 * i), d, B, x)  # independent draws per point
        mean, se = mean_se(x)
        out.append(Check("B3 sphere MGF E e^{Bx}", _pt(d=d, B=B), "eq", F("sphere-mgf")(d=d, B=B), mean, se))
    for i, (d, B) in enumerate(((2, 3.0), (8, 4.0), (64, 8.0))):
        r = _block_norms(np.uint64(seed), d)
        x = np.empty(sz.draws)
        _so2_exp(np.uint64(seed + 7919 * (i + 3)), r, B, x)
        mean, se = mean_se(x)
        out.append(Check("B3 SO(2) MGF prod I0(B r_m)", _pt(d=d, B=B), "eq", F("so2-mgf")(B=B, r=r), mean, se))
        out.append(
            Check(
                "B3 sub-Gaussian e^{B^2 sum r^2/4}", _pt(d=d, B=B), "le", F("so2-mgf-subgaussian")(B=B, r=r), mean, se
            )
        )
    return out


# ---------------------------------------------------------------------------------------
# B4, B5: retention estimate, lower bound and horizon


def check_retention_estimate(sz, seed):
    out = []
    L = 4096
    for d, B in ((16, 4.0), (64, 8.0), (256, 16.0)):
        task = Task(B=B, delta=1, p=0.0, window=1)
        est = ms.retrieval(M.make("nope", d), task, [L], sz.retrieval, seed)
        out.append(
            Check(
                "B4 near weight (LLN estimate)",
                _pt(mech="nope", d=d, B=B, L=L),
                "eq",
                F("near-weight-estimate")(B=B, d=d, L=L),
                est.mean["near_weight"][-1],
                est.stderr["near_weight"][-1],
            )
        )
    return out


def check_lower_bound(sz, seed):
    out = []
    W = 64
    for mech, B, L in (
        (M.make("so2", 64, law="gaussian", sigma=0.5), 8.0, 4096),
        (M.make("householder", 64), 8.0, 4096),
        (M.make("rope", 16), 4.0, 1024),
        (M.make("householder", 32, vocab=64, rotate_values=1), 3.0, 2048),
    ):
        task = Task(B=B, window=W)
        rows = ms.per_trial_retrieval(mech, task, [L], seed, sz.bound)
        worst = float(rows[:, -1, 0].max())
        out.append(
            Check(
                "B5 a* <= e^B/(e^B + |F| e^-B)",
                f"{mech.name} d={mech.d} B={B} L={L} |F|={L - W} (max of {sz.bound} trials)",
                "le",
                F("near-weight-upper")(B=B, F=L - W),
                worst,
            )
        )
    for B, eta in ((2.0, 0.5), (3.0, 0.2), (4.0, 0.1)):
        Fh = F("far-set-horizon")(B=B, eta=eta)
        Wh = 16
        L = Wh + math.ceil(Fh) + 1
        task = Task(B=B, window=Wh)
        rows = ms.per_trial_retrieval(M.make("so2", 16, law="gaussian", sigma=0.5), task, [L], seed, sz.bound)
        worst = float(rows[:, -1, 0].max())
        out.append(
            Check(
                "B5 horizon: a* < eta past |F| = e^{2B}(1-eta)/eta",
                f"so2 d=16 B={B} eta={eta} |F|={L - Wh} > {Fh:.1f} (max of {sz.bound} trials)",
                "le",
                eta,
                worst,
            )
        )
    return out


# ---------------------------------------------------------------------------------------
# B6: far-mass control


def check_far_mass(sz, seed):
    out = []
    cases = (
        (M.make("alibi", 64, m=0.25), 8.0, 16, 4096, 0.25),
        (M.make("alibi", 16, m=0.05), 4.0, 64, 4096, 0.05),
        (M.make("rope", 16, forget=0.1), 4.0, 32, 2048, 0.1),
    )
    for mech, B, W, L, slope in cases:
        task = Task(B=B, window=W, delta=1)
        rows = ms.per_trial_retrieval(mech, task, [W + 1, L], seed, sz.bound)
        worst = float(rows[:, :, 1].max())
        s_star = B - slope * task.delta  # target key aligned: score B minus the bias
        bound = F("alibi-far-fraction")(B=B, m=slope, W=W, s_star=s_star)
        out.append(
            Check(
                "B6 far mass A_F <= U/(e^{s*}+U), all L",
                f"{mech.name} d={mech.d} B={B} slope={slope} W={W} L<={L} (max of {sz.bound} trials)",
                "le",
                bound,
                worst,
            )
        )
    return out


# ---------------------------------------------------------------------------------------
# B7: value transport


def check_values(sz, seed):
    out = []
    task_kw = dict(B=0.0, delta=1, p=0.0, mu=1.0, xi=1.0)  # B = 0: uniform weights a_n = 1/L
    cases = (
        (M.make("so2", 8, law="gaussian", sigma=0.5, center="zero", rotate_values=1), math.exp(-0.125), 256, 8),
        (M.make("householder", 16, rotate_values=1), 1 - 2 / 16, 256, 8),
        (M.make("so2", 64, law="gaussian", sigma=0.2, center="zero", rotate_values=1), math.exp(-0.02), 512, 32),
    )
    for mech, rho, L, W in cases:
        rows = ms.per_trial_retrieval(mech, Task(window=W, **task_kw), [L], seed, sz.values)
        mean, se = mean_se(rows[:, -1, 3] ** 2)
        N = L - W
        pred = F("value-residual")(N=N, rho=rho, mu2=1.0, xi2=1.0, A=N / L)
        out.append(
            Check(
                "B7 E|far residual|^2, transport",
                f"{mech.name} d={mech.d} rho={rho:.4g} N={N} A={N / L:.4g}",
                "eq",
                pred,
                mean,
                se,
            )
        )
    for mech, L, W in (
        (M.make("nope", 16), 256, 8),
        (M.make("so2", 8, law="gaussian", sigma=0.5), 256, 8),
        (M.make("householder", 16), 512, 32),
    ):
        rows = ms.per_trial_retrieval(mech, Task(window=W, **task_kw), [L], seed, sz.values)
        mean, se = mean_se(rows[:, -1, 3] ** 2)
        N = L - W
        pred = F("value-residual-plain")(N=N, mu2=1.0, xi2=1.0, A=N / L)
        out.append(
            Check(
                "B7 E|far residual|^2, no transport",
                f"{mech.name} d={mech.d} N={N} A={N / L:.4g}",
                "eq",
                pred,
                mean,
                se,
            )
        )
    return out


# ---------------------------------------------------------------------------------------
# counterexamples: regularity matters

COUNTEREXAMPLES = {
    "CE1": "Householder table whose directions span a k-dimensional subspace: E[w w^T] is singular, "
    "so rho = ||E G|| = 1 and nothing decays on the complement (the condition violated: "
    "the directions must span R^d, E[w w^T] > 0). Coherence tends to (d - k)/d, not 0.",
    "CE2": "Constant angle (a point mass): |psi| = 1, no mixing window at all (the condition violated: "
    "the angle law must not be degenerate mod 2 pi). The trace coherence only dephases "
    "deterministically, as RoPE does.",
    "CE3": "Two-point law {0, pi}: psi = 0, incoherent after one step, W = 1 (the condition violated: "
    "the law is a lattice law, on the subgroup {0, pi}; its first moment vanishes at once "
    "while e^{2 i phi} = 1, so the products never spread over the circle).",
}


def subspace_table(d, k, V, seed):
    """V unit vectors uniform on the unit sphere of the first k coordinates of R^d."""
    g = np.random.default_rng(seed)
    t = np.zeros((V, d))
    t[:, :k] = g.standard_normal((V, k))
    return t / np.linalg.norm(t, axis=1, keepdims=True)


# ---------------------------------------------------------------------------------------
# B8: lookalike far mass (where E1 can hold in this model)

#: stated accuracy of the B8 estimate: the plug-in of the query's block energies (RoPE, SO(2)),
#: plus a Gaussian approximation of the lookalike score for Householder products
B8_TOL = {"rope": 0.20, "so2": 0.20, "householder": 0.25, "rope-sphere": 0.05, "so2-sphere": 0.05}


def check_lookalike(sz, seed):
    from . import lookalike

    out = []
    cases = (
        ("rope", {}, dict(p=0.2), (256, 4096)),
        ("so2", {"sigma": 0.3}, dict(p=0.2), (256, 4096)),
        ("so2", {"sigma": 0.1}, dict(p=0.1, kappa=0.5), (2048,)),
        ("householder", {"beta": 2.0}, dict(p=0.2), (256, 4096)),
    )
    measured = {}
    for name, kw, task_kw, Ls in cases:
        mech = M.make(name, 64, law="gaussian", center="rope", **kw) if name == "so2" else M.make(name, 64, **kw)
        task = Task(B=8.0, **task_kw)
        rows = ms.per_trial_retrieval(mech, task, list(Ls), seed, sz.retrieval)[:, :, 0]
        pred = lookalike.near_weight(name, 64, 8.0, task.p, task.kappa, task.delta, Ls, **kw)
        for k, L in enumerate(Ls):
            m, se = float(rows[:, k].mean()), float(rows[:, k].std(ddof=1) / math.sqrt(rows.shape[0]))
            measured[(name, tuple(kw.items()), task.p, L)] = (rows[:, k], float(pred[k]))
            out.append(
                Check(
                    "B8 a*(L) with lookalikes (LLN, plug-in r_m = 2/d)",
                    f"{name} d=64 B=8 {_pt(**kw, **task_kw)} L={L}",
                    "approx",
                    float(pred[k]),
                    m,
                    se,
                    tol=B8_TOL[name],
                )
            )
    # RoPE without the plug-in: B8 averaged over the query's block energies (Dirichlet), a
    # tighter estimate (the plug-in's Jensen gap is what reverses B8's Householder/RoPE ratio)
    for L in (256, 4096):
        rows, _ = measured[("rope", (), 0.2, L)]
        pred = float(lookalike.near_weight_rope_sphere(64, 8.0, 0.2, 1.0, 1, [L])[0])
        out.append(
            Check(
                "B8 a*(L), RoPE, block energies averaged (no plug-in)",
                f"rope d=64 B=8 p=0.2 L={L}",
                "approx",
                pred,
                float(rows.mean()),
                float(rows.std(ddof=1) / math.sqrt(rows.size)),
                tol=B8_TOL["rope-sphere"],
            )
        )
    # SO(2) likewise, and over the target's own phases (lookalike.near_weight_so2_sphere)
    for kw, task_kw, L in (
        ({"sigma": 0.3}, dict(p=0.2), 256),
        ({"sigma": 0.3}, dict(p=0.2), 4096),
        ({"sigma": 0.1}, dict(p=0.1, kappa=0.5), 2048),
    ):
        task = Task(B=8.0, **task_kw)
        rows, _ = measured[("so2", tuple(kw.items()), task.p, L)]
        pred = float(lookalike.near_weight_so2_sphere(64, 8.0, task.p, task.kappa, task.delta, [L], **kw)[0])
        out.append(
            Check(
                "B8 a*(L), SO(2), block energies and target phases averaged (no plug-in)",
                f"so2 d=64 B=8 {_pt(**kw, **task_kw)} L={L}",
                "approx",
                pred,
                float(rows.mean()),
                float(rows.std(ddof=1) / math.sqrt(rows.size)),
                tol=B8_TOL["so2-sphere"],
            )
        )
    # the SO(2)/RoPE ratio at the regime of the largest predicted advantage
    a, pa = measured[("so2", (("sigma", 0.3),), 0.2, 256)]
    b, pb = measured[("rope", (), 0.2, 256)]
    ratio = a.mean() / b.mean()
    se = ratio * math.sqrt((a.std(ddof=1) / a.mean()) ** 2 / a.size + (b.std(ddof=1) / b.mean()) ** 2 / b.size)
    out.append(
        Check(
            "B8 ratio a*(SO(2)) / a*(RoPE)",
            "d=64 B=8 sigma=0.3 p=0.2 L=256",
            "approx",
            pa / pb,
            ratio,
            se,
            tol=B8_TOL["so2"],
        )
    )
    sphere = (
        lookalike.near_weight_so2_sphere(64, 8.0, 0.2, 1.0, 1, [256], sigma=0.3)[0]
        / lookalike.near_weight_rope_sphere(64, 8.0, 0.2, 1.0, 1, [256])[0]
    )
    out.append(
        Check(
            "B8 ratio a*(SO(2)) / a*(RoPE), both averaged (no plug-in)",
            "d=64 B=8 sigma=0.3 p=0.2 L=256",
            "approx",
            float(sphere),
            ratio,
            se,
            tol=B8_TOL["so2-sphere"],
        )
    )
    return out


def check_counterexamples(sz, seed):
    out = []
    for d, k, V, beta, n in ((8, 4, 16, 2.0, 200), (16, 8, 32, 1.0, 150), (6, 1, 4, 1.0, 50)):
        mech = M.make("householder", d, vocab=V, beta=beta)
        spec = dataclasses.replace(mech.spec(seed), table=subspace_table(d, k, V, seed), betas=np.full(V, beta))
        rows = ms.spec_walk(spec, n, seed, sz.walk)
        mean, se = mean_se(rows[:, -1, 0])
        rate, EG = F("householder-table-rate")(table=spec.table, beta=beta)
        pred = float(np.trace(np.linalg.matrix_power(EG, n))) / d
        out.append(
            Check(
                "CE1 subspace table: tr(E G)^n / d",
                f"d={d} k={k} V={V} beta={beta} n={n} ||E G||={rate:.6f}",
                "eq",
                pred,
                mean,
                se,
                note=COUNTEREXAMPLES["CE1"],
            )
        )
    for d, n in ((8, 1000), (64, 10000), (16, 37)):
        mech = M.make("so2", d, law="constant")
        est = ms.coherence(mech, n, 4, seed)
        theta = mech.centers()
        psi = F("so2-coherence")(law="constant", n=1)
        pred = float(np.mean(psi**n * np.cos(n * theta)))
        out.append(
            Check(
                "CE2 constant angle: (2/d) sum |psi|^n cos(n theta_m)",
                _pt(d=d, n=n, psi=psi),
                "eq",
                pred,
                est.mean["coherence"][-1],
                est.stderr["coherence"][-1],
                floor=1e-9,
                note=COUNTEREXAMPLES["CE2"],
            )
        )
    for d, n in ((2, 1), (8, 7), (64, 3)):
        est = ms.coherence(M.make("so2", d, law="two_point", center="zero"), n, sz.walk, seed)
        out.append(
            Check(
                "CE3 two-point {0,pi}: c(n) = 0 for n >= 1",
                _pt(d=d, n=n),
                "eq",
                F("so2-coherence")(law="two_point", n=n),
                est.mean["coherence"][-1],
                est.stderr["coherence"][-1],
                note=COUNTEREXAMPLES["CE3"],
            )
        )
    return out


# ---------------------------------------------------------------------------------------
# F1: the stationary-tail forecast of far odds from two short lengths


def check_forecast(sz, seed):
    """The derived forecast E O(L) = O(2T) + (L - 2T)(O(2T) - O(T))/T, fed each trial's odds at
    T and 2T, against the same trials' odds at L = 32T (paired); and where it must fail: a
    bias (ALiBi) shrinks the far terms with the lag, so the forecast lies above the engine."""
    import sympy as sp

    from . import forecast

    expr, _ = forecast.stationary()
    f = sp.lambdify((forecast.O1, forecast.O2, forecast.T, forecast.L), expr, modules="numpy")
    out = []
    T, L = 32, 1024
    task = Task(B=4.0, window=16)
    cases = (
        (M.make("so2", 16, law="gaussian", sigma=1.0), "so2 gaussian sigma=1", "eq"),
        (M.make("householder", 16, beta=2.0), "householder beta=2", "eq"),
        (M.make("alibi", 16, m=0.05), "alibi m=0.05", "le"),
    )
    for mech, label, kind in cases:
        far = ms.per_trial_retrieval(mech, task, [T, 2 * T, L], seed, 4 * sz.retrieval)[:, :, 1]
        o = far / (1 - far)
        pred = f(o[:, 0], o[:, 1], T, L)
        diff = pred - o[:, 2]
        se = float(diff.std(ddof=1) / math.sqrt(diff.size))
        what = "matches the engine" if kind == "eq" else "over-predicts with a bias"
        out.append(
            Check(
                f"F1 far odds at 32T forecast from T, 2T ({what})",
                f"{label} d={mech.d} B=4 W=16 T={T} L={L}",
                kind,
                float(pred.mean()),
                float(o[:, 2].mean()),
                se if kind == "eq" else 0.0,
            )
        )
    return out


ALL = (
    check_so2_coherence,
    check_householder_coherence,
    check_window,
    check_second_moment,
    check_score_mgf,
    check_retention_estimate,
    check_lower_bound,
    check_far_mass,
    check_values,
    check_lookalike,
    check_counterexamples,
    check_forecast,
)


def run(quick=True, seed=20260626, progress=None):
    sz = Sizes(quick)
    checks = []
    for fn in ALL:
        checks.extend(fn(sz, seed))
        if progress is not None:
            progress(fn.__name__)
    return checks
