"""Learned generators: gradients, training, files, imports, and their use by the engine."""

import math
import os
import subprocess
import sys

import numpy as np
import pytest
from conftest import ROOT

from mixing.engine import measures as ms
from mixing.engine import mechanisms as M
from mixing.engine.errors import ParameterError
from mixing.engine.generators import save as save_generators
from mixing.engine.task import Task
from mixing.learned import train as learn


def _perturbed(mech, seed=0):
    model = learn.init(mech, d=6, V=5, B=3.0, cap=6, seed=3)
    r = np.random.default_rng(seed)
    for k in model.params:
        model.params[k] = model.params[k] + 0.3 * r.standard_normal(model.params[k].shape)
    return model


@pytest.mark.parametrize("mech", learn.MECHANISMS)
def test_gradient_matches_finite_differences(mech, fresh_seed):
    model = _perturbed(mech, fresh_seed)
    L, n = 11, 3
    _, grads = learn.loss_and_grad(model, L, fresh_seed, 0, n)
    for name in learn.TRAINED[mech]:
        P = model.params[name]
        fd = np.zeros_like(P)
        for idx in np.ndindex(P.shape):
            old = P[idx]
            P[idx] = old + 1e-6
            fp = learn.loss_and_grad(model, L, fresh_seed, 0, n)[0]
            P[idx] = old - 1e-6
            fm = learn.loss_and_grad(model, L, fresh_seed, 0, n)[0]
            P[idx] = old
            fd[idx] = (fp - fm) / 2e-6
        np.testing.assert_allclose(
            grads[name],
            fd,
            rtol=1e-5,
            atol=1e-7 * max(1.0, np.abs(fd).max()),
            err_msg=f"{mech} {name}, seed {fresh_seed}",
        )


@pytest.mark.parametrize("mech", ["so2", "householder", "alibi"])
def test_short_training_lowers_the_loss(mech):
    model = learn.init(mech, d=8, V=8, cap=8, seed=1)
    before = learn.loss_and_grad(model, 32, 99, 0, 256)[0]
    learn.train(model, 32, steps=60, batch=32, lr=0.05, seed=1, progress=False)
    after = learn.loss_and_grad(model, 32, 99, 0, 256)[0]  # the same held-out sequences
    assert after < 0.8 * before, (before, after)


def test_save_load_round_trip(tmp_path):
    for mech in learn.MECHANISMS:
        model = learn.init(mech, d=6, V=5, seed=2)
        learn.train(model, 12, steps=3, batch=4, progress=False)
        path = tmp_path / f"{mech}.npz"
        learn.save(model, path)
        back = learn.load(path)
        assert back.mechanism == mech and back.d == 6 and back.V == 5
        for k, v in model.params.items():
            np.testing.assert_array_equal(back.params[k], v)
        np.testing.assert_array_equal(learn.evaluate(back, 20, 8), learn.evaluate(model, 20, 8))
        assert back.meta["final_loss"] == pytest.approx(model.meta["final_loss"])


def test_evaluate_is_consistent_with_training_loss():
    # at the training length the mean of -log(near weight) is the training loss on the same data
    model = _perturbed("householder")
    loss = learn.loss_and_grad(model, 16, 1_000_003, 0, 64)[0]
    ev = learn.evaluate(model, 16, 64)
    assert np.mean(-np.log(ev[:, 0])) == pytest.approx(loss, rel=1e-10)


GOOD_W = np.eye(4)[:3]


@pytest.mark.parametrize(
    "family,arrays,word",
    [
        ("so2", {"angles": np.zeros((5, 3))}, "columns"),
        ("so2", {"angles": np.zeros(4)}, "2-D"),
        ("so2", {"angles": np.array([[0.0, np.nan]])}, "non-finite"),
        ("so2", {"directions": GOOD_W}, "angles"),
        ("householder", {"directions": GOOD_W * 1.1, "betas": np.ones(3)}, "norm"),
        ("householder", {"directions": GOOD_W, "betas": np.array([1.0, 2.5, 1.0])}, "outside (0, 2]"),
        ("householder", {"directions": GOOD_W, "betas": np.array([1.0, 0.0, 1.0])}, "outside (0, 2]"),
        ("householder", {"directions": GOOD_W, "betas": np.ones(2)}, "one per direction"),
        ("householder", {"directions": GOOD_W, "betas": np.array([1.0, np.inf, 1.0])}, "non-finite"),
        ("householder", {"directions": np.eye(5)[:3], "betas": np.ones(3)}, "columns"),
        ("householder", {"angles": np.zeros((3, 2))}, "directions"),
        ("householder", {"directions": GOOD_W, "betas": np.ones(3), "kind": "bogus"}, "kind"),
    ],
)
def test_invalid_imports_rejected(family, arrays, word, tmp_path):
    path = tmp_path / "g.npz"
    np.savez(path, **arrays)
    with pytest.raises(ParameterError, match="generators") as err:
        M.make("so2" if family == "so2" else "householder", 4, generators=str(path))
    assert word in str(err.value) and "\n" not in str(err.value)


def test_missing_and_unreadable_files(tmp_path):
    with pytest.raises(ParameterError, match="no such file"):
        M.make("so2", 4, generators=str(tmp_path / "nope.npz"))
    bad = tmp_path / "bad.npz"
    bad.write_text("not a zip")
    with pytest.raises(ParameterError, match="readable"):
        M.make("householder", 4, generators=str(bad))


def _files(tmp_path, d=6, V=5, seed=4):
    g = np.random.default_rng(seed)
    w = g.standard_normal((V, d))
    w /= np.linalg.norm(w, axis=1, keepdims=True)
    betas = g.uniform(0.3, 2.0, V)
    betas[0] = 2.0
    out = {}
    for kind in ("table", "sequence"):
        out["hh", kind] = tmp_path / f"hh-{kind}.npz"
        save_generators(out["hh", kind], kind, "householder", {"directions": w, "betas": betas})
        out["so2", kind] = tmp_path / f"so2-{kind}.npz"
        save_generators(out["so2", kind], kind, "so2", {"angles": g.normal(0.0, 0.7, (V, d // 2))})
    return out


@pytest.mark.parametrize("kind", ["table", "sequence"])
def test_imported_generators_kernel_matches_reference(kind, tmp_path, fresh_seed):
    files = _files(tmp_path)
    task = Task(B=3.0, delta=2, p=0.2, window=4, mu=0.7, xi=1.3)
    for name, key, extra in (
        ("householder", "hh", {"rotate_values": 1}),
        ("householder", "hh", {}),
        ("so2", "so2", {"rotate_values": 1}),
    ):
        mech = M.make(name, 6, generators=str(files[key, kind]), **extra)
        assert mech.src == (M.SEQ if kind == "sequence" else M.TABLE)
        a = ms.per_trial_walk(mech, 9, fresh_seed, 3, c=0.3)
        b = ms.per_trial_walk(mech, 9, fresh_seed, 3, c=0.3, device="reference")
        np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-12, err_msg=f"{name} {kind} walk")
        r1 = ms.per_trial_retrieval(mech, task, [3, 7, 12], fresh_seed, 3)
        r2 = ms.per_trial_retrieval(mech, task, [3, 7, 12], fresh_seed, 3, device="reference")
        np.testing.assert_allclose(r1, r2, rtol=1e-9, atol=1e-12, err_msg=f"{name} {kind} retrieval")


def test_imported_generators_cuda_matches_cpu(tmp_path, fresh_seed):
    pytest.importorskip("mixing.engine.kernels.cuda")
    files = _files(tmp_path, d=4, V=3)
    task = Task(B=3.0, delta=1, p=0.2, window=3)
    for key, kind, name in (
        (("hh", "table"), "table", "householder"),
        (("hh", "sequence"), "sequence", "householder"),
        (("so2", "sequence"), "sequence", "so2"),
    ):
        mech = M.make(name, 4, generators=str(files[key]), rotate_values=1)
        a = ms.per_trial_retrieval(mech, task, [3, 6], fresh_seed, 2)
        b = ms.per_trial_retrieval(mech, task, [3, 6], fresh_seed, 2, device="cuda")
        np.testing.assert_allclose(b, a, rtol=1e-9, atol=1e-12, err_msg=f"{name} {kind}")


def test_sequence_target_key_uses_the_exact_path(tmp_path):
    # a position-wise sequence is deterministic: the target key is exactly aligned, so with
    # orthogonal rows the target score is B at every delta
    files = _files(tmp_path)
    mech = M.make("so2", 6, generators=str(files["so2", "sequence"]))
    for delta in (1, 3, 7):
        est = ms.retrieval(mech, Task(B=2.0, delta=delta, p=0.0, window=delta), [delta], 8, seed=1)
        # with L = delta the only other sources are the delta - 1 random keys
        assert np.all(est.mean["near_weight"] > 0)
    spec = mech.spec(0)
    P3 = spec.mean_path(3)
    np.testing.assert_allclose(P3 @ P3.T, np.eye(6), atol=1e-12)


def test_learned_table_coherence_and_window_by_the_engine(tmp_path):
    # V >= d: with fewer directions than dimensions the table cannot span R^d (counterexample CE1)
    model = learn.init("householder", d=8, V=12, seed=5)
    learn.train(model, 16, steps=20, batch=16, progress=False)
    path = tmp_path / "hh.npz"
    learn.save(model, path)
    mech = M.make("householder", 8, generators=str(path))
    spec = mech.spec(0)
    est = ms.coherence(mech, 30, 4000, seed=2)
    pred = np.array([np.trace(np.linalg.matrix_power(spec.mean_generator, n)) / 8 for n in range(1, 31)])
    assert np.all(np.abs(est.mean["coherence"] - pred) <= 4 * est.stderr["coherence"] + 1e-12)
    from proofs.registry import formulas

    rho = float(np.linalg.norm(spec.mean_generator, 2))
    assert rho < 1
    W = formulas()["window"](rho=rho, eps=0.1)
    assert W == math.ceil(math.log(10) / -math.log(rho))


def test_cli_trains_and_writes(tmp_path):
    out = tmp_path / "m.npz"
    r = subprocess.run(
        [
            sys.executable,
            "-m",
            "mixing.learned",
            "--mechanism",
            "so2",
            "--train-length",
            "16",
            "--d",
            "8",
            "--vocab",
            "8",
            "--steps",
            "5",
            "--batch",
            "8",
            "--log-every",
            "0",
            "--out",
            str(out),
        ],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=300,
        env={**os.environ, "NUMBA_ENABLE_CUDASIM": "0"},
    )
    assert r.returncode == 0, r.stderr
    assert out.exists() and "near weight" in r.stdout
    r = subprocess.run(
        [sys.executable, "-m", "mixing.learned", "--mechanism", "bogus", "--out", str(out)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
    )
    assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1 and "mechanism" in r.stderr


def test_same_numbers_whatever_the_thread_count():
    import numba

    model = _perturbed("householder")
    n0 = numba.get_num_threads()
    try:
        numba.set_num_threads(1)
        a = learn.loss_and_grad(model, 20, 5, 0, 9)
        e1 = learn.evaluate(model, 50, 9)
        numba.set_num_threads(max(2, n0))
        b = learn.loss_and_grad(model, 20, 5, 0, 9)
        e2 = learn.evaluate(model, 50, 9)
    finally:
        numba.set_num_threads(n0)
    assert a[0] == b[0]
    for k in a[1]:
        np.testing.assert_array_equal(a[1][k], b[1][k])
    np.testing.assert_array_equal(e1, e2)


def test_random_table_spread_absolute_or_relative():
    from mixing.engine.errors import ParameterError
    from mixing.learned import train as learn

    absolute = learn.init("so2-random", 16, 32, seed=4, sigma="abs=0.3")
    relative = learn.init("so2-random", 16, 32, seed=4, sigma="rel=0.3")
    theta = 10000.0 ** (-2.0 * np.arange(8) / 16)
    da = absolute.params["phi"] - theta
    dr = relative.params["phi"] / theta - 1
    # the same normals z behind both: abs adds 0.3 z, rel multiplies by 1 + 0.3 z
    assert np.allclose(da / 0.3, dr / 0.3, atol=1e-12)
    assert abs(np.std(da / 0.3) - 1) < 0.2
    # relative: the lowest-frequency block barely moves in radians; absolute: every block moves
    assert np.abs(relative.params["phi"][:, -1] - theta[-1]).max() < 0.01
    assert np.abs(da[:, -1]).max() > 0.3
    assert np.array_equal(learn.init("so2-random", 16, 32, seed=4, sigma=0.3).params["phi"], absolute.params["phi"])
    assert relative.meta["sigma"] == "rel=0.3"
    for bad in ("rel=-1", "cos=1", "abs=nan", "x"):
        with pytest.raises(ParameterError, match="sigma"):
            learn.init("so2-random", 16, 32, sigma=bad)
