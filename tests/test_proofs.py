"""The derivations of proofs/: frozen values, cross-checks against the closed forms of docs/theory.md,
the command line, and the verifier itself (a wrong prediction must fail)."""

import math

import numpy as np
import pytest
from scipy import special

from proofs import __main__ as cli
from proofs import verify
from proofs.core import Check, Formula
from proofs.registry import formulas

# Frozen reference values, produced from the sympy expressions with exact rational
# arguments and evalf(20), e.g.
#   from proofs import second_moment as S2, coherence as C; An, sub = S2.closed_form()
#   An.subs(sub).subs({C.d: 8, C.beta: 2, C.n: 10, S2.c: Rational(1, 2)}).evalf(20)
#   G.sphere_mgf().subs({G.d: 64, G.B: 8}).evalf(20)        (G = proofs.score_gap)
#   R.bound()[0].subs({G.B: 8, R.F: 4032}).evalf(20)         (R = proofs.retention)
#   FM.far_sum().subs({FM.B: 8, FM.mslope: 1/4, FM.W: 16})   (FM = proofs.far_mass)
#   V.residual()[0].subs({V.N: 248, V.rho: 7/8, V.mu2: 1, V.xi2: 1, V.A: 31/32})
FROZEN = [
    ("so2-coherence", dict(law="vonmises", par=2.0, n=10), 0.027362257480812274467),
    ("so2-coherence", dict(law="uniform", par=1.5, n=6), 0.086480217917129094570),
    ("householder-second-moment", dict(d=8, beta=2.0, n=10, c=0.5), 0.12575582720000000000),
    ("householder-second-moment", dict(d=32, beta=0.5, n=50, c=1.0), 0.21235984519848472952),
    ("sphere-mgf", dict(d=64, B=8.0), 1.6426067357395284817),
    ("sphere-mgf", dict(d=5, B=3.0), 2.2427901177692661808),
    ("near-weight-upper", dict(B=8.0, F=4032), 0.99954646396380047443),
    ("far-set-horizon", dict(B=3.0, eta=0.2), 1613.7151739709404904),
    ("alibi-far-mass", dict(B=8.0, m=0.25, W=16), 192.22980347976967227),
    ("value-residual", dict(N=248, rho=0.875, mu2=1.0, xi2=1.0, A=31 / 32), 0.058837890625),
    ("so2-mgf", dict(B=3.0, r=[0.5, 0.2]), 1.7982964257053480426),
    ("window", dict(rho=0.875, eps=0.1), 18),
]


@pytest.mark.parametrize("name,kw,value", FROZEN, ids=[f"{f[0]}-{i}" for i, f in enumerate(FROZEN)])
def test_frozen_values(name, kw, value):
    assert formulas()[name](**kw) == pytest.approx(value, rel=1e-12, abs=0)


# ---- the derived results against the formulas of docs/theory.md, computed independently here


def test_characteristic_functions_match_theory():
    f = formulas()["so2-coherence"]
    for law, par, expect in (
        ("gaussian", 0.7, math.exp(-(0.7**2) / 2)),
        ("uniform", 2.5, abs(math.sin(2.5) / 2.5)),
        ("vonmises", 3.0, special.i1(3.0) / special.i0(3.0)),
        ("wrapped_cauchy", 0.3, math.exp(-0.3)),
    ):
        assert f(law=law, par=par, n=7) == pytest.approx(expect**7, rel=1e-12)
    assert f(law="two_point", n=1) == 0.0
    assert f(law="constant", n=1000) == 1.0


def test_second_moment_matches_the_recurrence():
    f = formulas()["householder-second-moment"]
    for d, beta, c in ((8, 2.0, 0.5), (5, 0.3, -0.9), (64, 1.7, 0.0)):
        lam = 1 - 2 * beta / d + 2 * beta**2 / (d * (d + 2))
        g = beta**2 / (d * (d + 2))
        a, b = 1.0, 0.0
        for n in range(1, 41):
            a, b = lam * a, lam * b + g * (a + d * b)
            assert f(d=d, beta=beta, n=n, c=c) == pytest.approx(a * c * c + b, rel=1e-11, abs=1e-15)
    assert f(d=8, beta=2.0, n=4000, c=0.3) == pytest.approx(1 / 8, rel=1e-9)  # a uniform sphere coordinate


def test_sphere_mgf_matches_bessel_form():
    f = formulas()["sphere-mgf"]
    for d, B in ((3, 1.0), (10, 4.0), (128, 20.0)):
        closed = special.gamma(d / 2) * (2 / B) ** (d / 2 - 1) * special.iv(d / 2 - 1, B)
        assert f(d=d, B=B) == pytest.approx(closed, rel=1e-12)


def test_subgaussian_series_ratio_and_i0_bound():
    import sympy as sp

    from proofs.score_gap import subgaussian_ratio

    assert sp.simplify(subgaussian_ratio() - 1 / sp.factorial(sp.Symbol("k", integer=True, nonnegative=True))) == 0
    x = np.linspace(0.0, 30.0, 301)
    assert np.all(special.i0(x) <= np.exp(x**2 / 4) * (1 + 1e-15))


def test_value_residual_matches_theory_double_sum():
    f = formulas()["value-residual"]
    for N, rho in ((1, 0.5), (10, 0.9), (300, 0.2)):
        S = N * (1 + rho) / (1 - rho) - 2 * rho * (1 - rho**N) / (1 - rho) ** 2
        brute = sum(rho ** abs(i - j) for i in range(N) for j in range(N)) if N <= 300 else S
        assert S == pytest.approx(brute, rel=1e-12)
        A, mu2, xi2 = 0.8, 1.3, 0.4
        expect = (A / N) ** 2 * (N * (mu2 + xi2) + mu2 * (S - N))
        assert f(N=N, rho=rho, mu2=mu2, xi2=xi2, A=A) == pytest.approx(expect, rel=1e-12)


def test_geometric_far_sum_and_horizon():
    U = formulas()["alibi-far-mass"](B=2.0, m=0.3, W=5)
    assert U == pytest.approx(sum(math.exp(2.0 - 0.3 * n) for n in range(6, 400)), rel=1e-12)
    B, eta = 2.5, 0.3
    Fh = formulas()["far-set-horizon"](B=B, eta=eta)
    assert formulas()["near-weight-upper"](B=B, F=Fh) == pytest.approx(eta, rel=1e-12)
    assert Fh == pytest.approx(math.exp(2 * B) * (1 - eta) / eta, rel=1e-12)


# ---- the verifier


def test_check_rules():
    assert Check("x", "", "eq", 1.0, 1.03, 0.01).passed  # z = 3
    assert not Check("x", "", "eq", 1.0, 1.05, 0.01).passed  # z = 5
    assert Check("x", "", "eq", 0.5, 0.5, 0.0).passed  # deterministic, within the floor
    assert not Check("x", "", "eq", 0.5, 0.5 + 1e-9, 0.0).passed
    c = Check("x", "", "le", 0.7, 0.2)
    assert c.passed and c.score == pytest.approx(0.5)
    assert not Check("x", "", "le", 0.7, 0.71).passed
    assert Check("x", "", "in", 5, 4, hi=6).passed and not Check("x", "", "in", 7, 4, hi=6).passed
    assert not Check("x", "", "eq", math.nan, 1.0, 0.1).passed


def test_a_wrong_prediction_fails(monkeypatch):
    real = formulas()["householder-coherence"]
    wrong = Formula(
        real.name, real.claim, real.params, real.expr, lambda d, beta, n: (1 - beta / (d + 1)) ** n, real.doc
    )  # E[w w^T] = I/(d+1): wrong
    monkeypatch.setitem(formulas(), "householder-coherence", wrong)
    checks = verify.check_householder_coherence(verify.Sizes(True), 5)
    assert not all(c.passed for c in checks)
    monkeypatch.setattr(verify, "ALL", (verify.check_householder_coherence,))
    assert cli.main(["--quick"]) == 1


def test_quick_run_passes_and_writes_report(tmp_path, capsys):
    report = tmp_path / "report.md"
    assert cli.main(["--quick", "--report", str(report)]) == 0
    out = capsys.readouterr().out
    for claim in ("B1", "B2", "B3", "B4", "B5", "B6", "B7", "B8", "CE1", "CE2", "CE3", "F1"):
        assert claim in out
    text = report.read_text()
    assert "$$" in text and "| claim |" in text and "FAIL" not in text


@pytest.mark.parametrize("name", [n for n, f in formulas().items() if f.cli])
def test_eval_every_formula(name, capsys):
    args = {
        "so2-coherence": ["law=gaussian", "sigma=0.5", "n=4"],
        "so2-mgf": ["B=3", "r=0.5,0.2"],
        "so2-mgf-subgaussian": ["B=3", "r=0.5,0.2"],
    }
    sample = {
        "d": "16",
        "beta": "1.5",
        "n": "7",
        "c": "0.3",
        "B": "4",
        "F": "100",
        "eta": "0.2",
        "L": "1000",
        "M": "1.6",
        "m": "0.2",
        "W": "8",
        "s_star": "3",
        "N": "50",
        "rho": "0.9",
        "mu2": "1",
        "xi2": "0.5",
        "A": "0.7",
        "eps": "0.05",
        "z": "0.5",
        "mu": "0.3",
        "v": "2",
        "p": "0.2",
        "kappa": "0.8",
        "delta": "1",
        "sigma": "0.3",
        "O_T": "1.5",
        "O_2T": "3",
        "T": "32",
        "u": "0.05",
        "b": "-0.1",
    }
    argv = args.get(name) or [f"{p}={sample[p]}" for p in formulas()[name].params]
    assert cli.main(["eval", name, *argv]) == 0
    value = float(capsys.readouterr().out.strip())
    assert math.isfinite(value)


def test_eval_list(capsys):
    assert cli.main(["eval", "--list"]) == 0
    out = capsys.readouterr().out
    for name in (
        "so2-coherence",
        "householder-coherence",
        "householder-second-moment",
        "sphere-mgf",
        "near-weight-upper",
        "alibi-far-mass",
        "value-residual",
        "window",
    ):
        assert name in out


@pytest.mark.parametrize(
    "argv,word",
    [
        (["eval", "nosuch"], "nosuch"),
        (["eval", "window", "rho=0.9"], "eps"),
        (["eval", "window", "rho=0.9", "eps=0.1", "x=1"], "x"),
        (["eval", "window", "rho"], "key=value"),
        (["eval", "so2-coherence", "law=levy", "n=3"], "law"),
        (["eval", "sphere-mgf", "d=abc", "B=1"], "abc"),
    ],
)
def test_eval_bad_input(argv, word, capsys):
    assert cli.main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and word in err, err


def test_b8_block_factor_and_limits():
    """G(z, mu, v) = E e^{z cos(mu + N)} against direct quadrature over the Gaussian, and B8
    without lookalikes (p = 0) against B4's estimate for aligned targets."""
    from scipy import integrate

    from proofs import lookalike
    from proofs.retention import formulas as rf

    for z, mu, v in ((0.25, 0.3, 0.0), (1.5, 1.0, 0.7), (4.0, -2.0, 3.0)):
        if v == 0:
            direct = math.exp(z * math.cos(mu))
        else:
            direct = integrate.quad(
                lambda t, z=z, mu=mu, v=v: (
                    math.exp(z * math.cos(mu + t) - t * t / (2 * v)) / math.sqrt(2 * math.pi * v)
                ),
                -12 * math.sqrt(v),
                12 * math.sqrt(v),
                limit=200,
            )[0]
        assert lookalike.block_factor(z, mu, v)[0] == pytest.approx(direct, rel=1e-10)
    est = {f.name: f for f in rf()}["near-weight-estimate"]
    for L in (16, 500):
        b8 = lookalike.near_weight("rope", 32, 4.0, 0.0, 1.0, 1, [L])[0]
        assert b8 == pytest.approx(est(B=4.0, d=32, L=L), rel=1e-10)


def test_b8_averaged_so2_reduces_to_rope_and_regroups_the_series():
    """The frequency-regrouped block factor (any phase shift) equals the derived series; the
    averaged SO(2) B8 at sigma = 0 is the averaged RoPE B8 (delta = 1 and, through the bridge
    of the lags before the target, delta = 3). Its accuracy against the engine is checked by
    proofs (B8 rows, 5%)."""
    from proofs import lookalike as lk

    z = np.array([0.3, 2.0, 7.5])
    mus, vs = np.array([0.0, 0.7, -2.5]), np.array([0.0, 0.4, 5.0])
    for a in (0.0, 1.1):
        got = lk._block_energy_factor(z, np.full(3, a), mus, vs)
        want = [[float(lk.block_factor(zz, m + a, v)[0]) for m, v in zip(mus, vs)] for zz in z]
        assert np.allclose(got, want, rtol=1e-12)
    for delta in (1, 3):
        a = lk.near_weight_rope_sphere(16, 6.0, 0.2, 1.0, delta, [64, 512], draws=64, seed=4)
        b = lk.near_weight_so2_sphere(16, 6.0, 0.2, 1.0, delta, [64, 512], sigma=0.0, draws=64, seed=4)
        assert np.allclose(a, b, rtol=1e-12), delta


def test_b8_terms_are_shared_across_lookalike_rates_without_changing_them():
    """The p-independent terms of B8 (s* and Lambda_n) are computed once per mechanism and read
    back unchanged: a sweep over p gives what a fresh computation for each p gives."""
    from proofs import lookalike as lk

    def sweep():
        so2 = [
            lk.near_weight_so2_sphere(16, 6.0, p, 1.0, 2, [64, 256], sigma=0.3, draws=32, seed=1) for p in (0.1, 0.4)
        ]
        b8 = [lk.near_weight("so2", 16, 6.0, p, 1.0, 2, [64, 256], sigma=0.3) for p in (0.1, 0.4)]
        return so2 + b8

    fresh = []
    for p in (0.1, 0.4):
        lk._so2_sphere_scores.cache_clear()
        fresh.append(lk.near_weight_so2_sphere(16, 6.0, p, 1.0, 2, [64, 256], sigma=0.3, draws=32, seed=1))
    for p in (0.1, 0.4):
        lk._lookalike_terms.cache_clear()
        fresh.append(lk.near_weight("so2", 16, 6.0, p, 1.0, 2, [64, 256], sigma=0.3))
    lk._so2_sphere_scores.cache_clear()
    lk._lookalike_terms.cache_clear()
    shared = sweep()
    assert lk._so2_sphere_scores.cache_info().hits == 1 and lk._lookalike_terms.cache_info().hits == 1
    assert all(np.array_equal(a, b) for a, b in zip(shared, fresh))
    assert all(np.array_equal(a, b) for a, b in zip(sweep(), fresh))  # the cached terms were not changed
    _, lam = lk.lookalike_terms("so2", 16, 6.0, 2, 256, sigma=0.3)
    with pytest.raises(ValueError):
        lam[0] = 0.0


def test_approx_check_passes_only_within_its_accuracy():
    from proofs.core import Check

    assert Check("x", "", "approx", 1.1, 1.0, 0.001, tol=0.2).passed
    assert not Check("x", "", "approx", 1.5, 1.0, 0.001, tol=0.2).passed
    assert Check("x", "", "approx", 1.5, 1.0, 0.1, tol=0.2).passed  # within 4 s.e. of the tolerance


@pytest.mark.parametrize(
    "argv, needle",
    [
        (["so2-coherence", "law=gaussian", "sigma=0.5", "n=-5"], "n: must be a lag"),
        (["so2-coherence", "law=gaussian", "sigma=-1", "n=3"], "sigma: must be >= 0"),
        (["householder-second-moment", "d=nan", "beta=2", "n=3", "c=0.5"], "d: must be finite"),
        (["householder-second-moment", "d=0", "beta=2", "n=3", "c=0.5"], "d: must be a dimension"),
        (["householder-second-moment", "d=8.5", "beta=2", "n=3", "c=0.5"], "d: must be a dimension"),
        (["householder-second-moment", "d=8", "beta=3", "n=3", "c=0.5"], "beta: must be in (0, 2]"),
        (["householder-second-moment", "d=8", "beta=2", "n=3", "c=1.5"], "c: must be a cosine"),
        (["far-set-horizon", "B=3", "eta=1"], "eta: must be in (0, 1)"),
        (["b8-near-weight-rope", "d=64", "B=8", "p=1.5", "kappa=1", "delta=1", "L=100"], "p: must be a probability"),
    ],
)
def test_eval_rejects_values_outside_the_domain(argv, needle, capsys):
    assert cli.main(["eval", *argv]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and needle in err, err
