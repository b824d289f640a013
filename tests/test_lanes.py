"""The trial-batched Householder retrieval kernel (``kernels/lanes.py``) against its reference,
the per-trial kernel: the same bits for every trial, whatever the block, the lane count or the
thread count."""

import platform
import re

import numba
import numpy as np
import pytest

from mixing.engine import generators as gen
from mixing.engine import mechanisms as M
from mixing.engine import rng
from mixing.engine.kernels import cpu, lanes
from mixing.engine.kernels.contract import retrieval_args
from mixing.engine.task import Task

LENGTHS = [1, 5, 16, 64, 300, 1100]  # 1100 passes the n % 1024 recomputation of |u|^2


def _sequence(tmp_path):
    r = np.random.default_rng(0)
    dirs = r.normal(size=(50, 10))
    dirs /= np.linalg.norm(dirs, axis=1)[:, None]
    path = tmp_path / "seq.npz"
    gen.save(str(path), "sequence", "householder", {"directions": dirs, "betas": r.uniform(0.5, 2.0, 50)})
    return str(path)


CASES = [
    ("householder", 64, dict(vocab=64), Task()),
    ("householder", 66, dict(vocab=20, beta=1.3), Task(delta=3, p=0.2)),  # d % 4 != 0
    ("householder", 3, dict(vocab=10), Task(p=0.0)),
    ("householder", 2, dict(vocab=10), Task()),  # a key's projection by the d < 3 sampler
    ("householder", 8, dict(vocab=30, tokens="zipf"), Task(mu=1.0, xi=0.5, kappa=0.5)),
    ("householder", 64, {}, Task()),  # the reduced i.i.d. walk
    ("householder", 5, dict(beta=0.7), Task(delta=40, window=16, xi=0.0)),  # target in the far set
    ("nope", 16, {}, Task(delta=5)),
    ("alibi", 16, {}, Task(p=0.3, kappa=0.5)),
]


def _rows(spec, task, T, t0, use_lanes):
    out = np.full((T, len(LENGTHS), 4), np.nan)
    cpu.retrieval(spec, task, np.array(LENGTHS), 7, t0, out, lanes=use_lanes)
    return out


@pytest.mark.parametrize("name,d,kw,task", CASES)
def test_lanes_give_the_per_trial_kernels_bits(name, d, kw, task):
    spec = M.make(name, d, **kw).spec(7)
    assert lanes.applies(int(spec.src), retrieval_args(spec, task, np.array(LENGTHS), 7, 0)[8], False)
    for T, t0 in ((13, 0), (1, 100)):
        ref = _rows(spec, task, T, t0, False)
        got = _rows(spec, task, T, t0, True)
        assert np.isfinite(ref).all()
        np.testing.assert_array_equal(got, ref)


def test_a_position_wise_sequence_file(tmp_path):
    spec = M.make("householder", 10, generators=_sequence(tmp_path)).spec(7)
    task = Task(window=8)
    np.testing.assert_array_equal(_rows(spec, task, 9, 3, True), _rows(spec, task, 9, 3, False))


def test_any_lane_count_and_thread_count_gives_the_same_rows():
    spec = M.make("householder", 16, vocab=32).spec(7)
    task = Task()
    args = retrieval_args(spec, task, np.array(LENGTHS), 7, 0)
    ref = _rows(spec, task, 21, 0, False)
    for nl in (1, 3, 8, 32, 64):
        out = np.zeros_like(ref)
        lanes._retrieval_hh_lanes(*args, nl, np.zeros(1, dtype=np.int64), out)
        np.testing.assert_array_equal(out, ref)
    threads = numba.get_num_threads()
    try:
        numba.set_num_threads(1)
        np.testing.assert_array_equal(_rows(spec, task, 21, 0, True), ref)
    finally:
        numba.set_num_threads(threads)


def test_lane_counts():
    assert lanes.lanes_for(1000, 2) == lanes.LANES
    assert lanes.lanes_for(16, 2) == 8  # every thread gets a block
    assert lanes.lanes_for(1, 4) == 1


def test_value_transport_and_the_full_walk_stay_with_the_per_trial_kernel():
    for name, kw, measure_reduced in (
        ("householder", dict(vocab=16, rotate_values=1), False),
        ("householder", dict(sampler="full"), False),
    ):
        spec = M.make(name, 16, **kw).spec(0)
        red = retrieval_args(spec, Task(), np.array([8]), 0, 0)[8]
        assert red == measure_reduced
        assert not lanes.applies(int(spec.src), red, bool(spec.rotate_values))


def test_lane_samplers_match_the_scalar_ones():
    """The lane normals (rare ziggurat cases included) and Gamma variates (rejections
    included) are ``rng.normal`` and ``rng.gamma_mt`` lane by lane."""
    n = 4096
    keys = np.array([rng.pos_key(np.uint64(5), i, 1) for i in range(n)], dtype=np.uint64)
    z = np.empty(n)
    slow = np.empty(n, dtype=np.bool_)
    lanes.normals(keys, 3, z, slow)
    ref = np.array([rng.normal(k, 3) for k in keys])
    np.testing.assert_array_equal(z, ref)
    assert 0 < slow.sum() < n // 20  # the fix-up path ran, for about 1% of the lanes
    for alpha in (1.0, 1.5, 31.5):
        dd, c = rng.gamma_consts(alpha)
        g = np.empty(n)
        lanes.gammas(keys, dd, c, g, np.empty(n), np.empty(n), np.empty(n, dtype=np.bool_), slow)
        np.testing.assert_array_equal(g, np.array([rng.gamma_mt(k, dd, c) for k in keys]))
    salted = np.empty(n, dtype=np.uint64)
    lanes.mix_lanes(np.full(n, 11, dtype=np.uint64), rng.pos_salt(9, 2), salted)
    assert int(salted[0]) == int(rng.pos_key(np.uint64(11), 9, 2))


@pytest.mark.parametrize("strided", [False, True])
def test_vector_dot_has_the_fixed_order_bits(strided):
    """``_jit.dot4`` (four accumulators in one vector register) against its pure-Python
    reference, bit for bit: every length 0..69 (each tail), magnitudes over ten decades so
    that any other order of the additions shows, and strided views (the reference's code)."""
    from mixing.engine._jit import dot_fixed_order
    from mixing.engine.kernels.cpu_state import dot

    draw = np.random.default_rng(7)
    for n in [*range(70), 1027]:
        for _ in range(10):
            k = 2 * n if strided else n
            x = (draw.standard_normal(k) * 10.0 ** draw.integers(-5, 6, k))[:: 2 if strided else 1]
            y = draw.standard_normal(n)
            assert dot(x, y) == dot_fixed_order(x, y), (n, strided)


@pytest.mark.skipif(platform.machine() not in ("x86_64", "AMD64"), reason="x86 vector registers")
def test_vector_dot_compiles_to_vector_arithmetic():
    from mixing.engine._jit import dot4

    fresh = numba.njit(lambda x, y: dot4(x, y))  # not cached: numba inspects only fresh code
    x = np.ones(64)
    fresh(x, x)
    asm = "\n".join(fresh.inspect_asm().values())
    assert re.search(r"vmulpd\s+.*%[yz]mm", asm) and re.search(r"vaddpd\s+.*%[yz]mm", asm), "no packed arithmetic"
