"""Compiled kernels against the NumPy reference, on fresh seeds and awkward sizes."""

import numpy as np
import pytest

from mixing.engine import measures as ms
from mixing.engine import mechanisms as M
from mixing.engine.task import Task

# i.i.d. Householder directions with the default sampler=auto run the reduced-state walk,
# which agrees with the reference in law, not draw for draw (tests/test_reduced.py)
CASES = [
    ("householder", 7, {"sampler": "full"}),
    ("householder", 6, {"beta": 1.3, "vocab": 5, "tokens": "zipf"}),
    ("householder", 5, {"beta": 0.4, "rotate_values": 1, "sampler": "full"}),
    ("householder", 5, {"rotate_values": 1, "forget": 0.3, "forget_scale": "inv_sqrt_d", "sampler": "full"}),
    ("so2", 6, {"law": "vonmises", "concentration": 2.0}),
    ("so2", 10, {"law": "gaussian", "vocab": 7}),
    ("so2", 6, {"law": "uniform", "rotate_values": 1}),
    ("so2", 4, {"law": "two_point"}),
    ("so2", 6, {"law": "gaussian_rel", "rel_sigma": 0.7, "rotate_values": 1}),
    ("so2", 4, {"law": "wrapped_cauchy", "forget": 0.2, "center": "zero"}),
    ("rope", 6, {"base": 50.0, "rotate_values": 1}),
    ("nope", 5, {}),
    ("alibi", 3, {"m": 0.1}),
]


@pytest.mark.parametrize("name,d,params", CASES, ids=[f"{c[0]}-{c[1]}-{i}" for i, c in enumerate(CASES)])
def test_kernel_matches_reference(name, d, params, fresh_seed):
    mech = M.make(name, d, **params)
    a = ms.per_trial_walk(mech, 13, fresh_seed, 3, c=0.3)
    b = ms.per_trial_walk(mech, 13, fresh_seed, 3, c=0.3, device="reference")
    np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-12, err_msg=f"walk, seed {fresh_seed}")
    task = Task(B=3.0, delta=2, p=0.2, window=5, mu=0.7, xi=1.3)
    r1 = ms.per_trial_retrieval(mech, task, [3, 8, 21], fresh_seed, 3, chunk=2)
    r2 = ms.per_trial_retrieval(mech, task, [3, 8, 21], fresh_seed, 3, device="reference")
    np.testing.assert_allclose(r1, r2, rtol=1e-9, atol=1e-12, err_msg=f"retrieval, seed {fresh_seed}")


def test_far_target_and_strong_bias_match_reference(fresh_seed):
    # target outside the window, and a bias that underflows most weights
    mech = M.make("so2", 4, law="gaussian", sigma=0.8, forget=40.0)
    task = Task(B=5.0, delta=4, p=0.5, window=2)
    r1 = ms.per_trial_retrieval(mech, task, [4, 9, 30], fresh_seed, 2)
    r2 = ms.per_trial_retrieval(mech, task, [4, 9, 30], fresh_seed, 2, device="reference")
    np.testing.assert_allclose(r1, r2, rtol=1e-9, atol=1e-12)


def test_block_split_does_not_change_results():
    mech = M.make("householder", 8, beta=1.5)
    a = ms.per_trial_retrieval(mech, Task(), [10, 100], 4, 9, chunk=9)
    b = ms.per_trial_retrieval(mech, Task(), [10, 100], 4, 9, chunk=2)
    assert np.array_equal(a, b)


def test_thread_count_does_not_change_results():
    import numba

    mech = M.make("so2", 8, law="vonmises")
    before = numba.get_num_threads()
    try:
        numba.set_num_threads(1)
        a = ms.per_trial_retrieval(mech, Task(), [10, 300], 2, 16)
        w1 = ms.per_trial_walk(mech, 50, 2, 16)
        numba.set_num_threads(numba.config.NUMBA_NUM_THREADS)
        b = ms.per_trial_retrieval(mech, Task(), [10, 300], 2, 16)
        w2 = ms.per_trial_walk(mech, 50, 2, 16)
    finally:
        numba.set_num_threads(before)
    assert np.array_equal(a, b) and np.array_equal(w1, w2)


@pytest.mark.parametrize("h", [1, 4, 7, 32, 65])
def test_so2_step_gives_the_angle_laws_bits(h):
    """``cpu_state.step_so2`` runs one loop per common law with the law a constant in it; its
    accumulated angles are those of ``laws.angle`` block by block, bit for bit, for those laws
    and for the others (the ziggurat's rare cases included at these sizes)."""
    from mixing.engine import laws, rng
    from mixing.engine.codes import GAUSSIAN, GAUSSIAN_REL, IID, UNIFORM, VONMISES, WRAPPED_CAUCHY
    from mixing.engine.kernels.cpu_state import step_so2

    centers = 10000.0 ** (-2.0 * np.arange(h) / (2 * h))
    table, alias = np.zeros((1, 1)), np.zeros((1, 2))
    tk = np.uint64(3)
    for law, par in ((GAUSSIAN, 0.7), (GAUSSIAN_REL, 0.3), (UNIFORM, 1.2), (VONMISES, 4.0), (WRAPPED_CAUCHY, 0.1)):
        phi, want = np.zeros(h), np.zeros(h)
        for n in range(1, 120):
            step_so2(IID, law, par, centers, table, alias, tk, n, phi)
            key = np.uint64(rng.pos_key(tk, n, rng.STREAM_GEN))
            for m in range(h):
                want[m] += centers[m] + laws.angle(law, par, key, m, centers[m])
            np.testing.assert_array_equal(phi, want, err_msg=f"law {law}, step {n}")
