"""CUDA kernels against the numba CPU kernels on the same seeds.

Without a CUDA driver these run under numba's CUDA simulator (set up in conftest.py):
tiny sizes, since every simulated thread costs about 100 us. Tests marked ``gpu`` need
real hardware and are skipped otherwise.
"""

import os
import subprocess
import sys

import numpy as np
import pytest

from mixing import mechanisms as M
from mixing import measures as ms
from mixing.task import Task

from conftest import HAS_GPU_DRIVER, ROOT

cuda_mod = pytest.importorskip("mixing.kernels.cuda", reason="numba-cuda is not installed")
_no_gpu = pytest.mark.skipif(cuda_mod.SIM or not cuda_mod.available(), reason="needs a CUDA GPU")


def gpu(fn):
    """Marked `gpu` (select with -m gpu) and skipped without real hardware."""
    return pytest.mark.gpu(_no_gpu(fn))

WALKS = [
    ("so2", 6, {"law": "vonmises", "concentration": 2.0}),
    ("so2", 10, {"law": "gaussian", "vocab": 7, "tokens": "zipf"}),
    ("rope", 4, {"base": 50.0}),
    ("householder", 5, {"beta": 0.7}),
    ("householder", 6, {"vocab": 5}),
    ("nope", 3, {}),
]

RETRIEVALS = [
    ("so2", 6, {"law": "uniform", "rotate_values": 1}),
    ("so2", 4, {"law": "gaussian_rel", "rel_sigma": 0.7}),
    ("so2", 4, {"law": "wrapped_cauchy", "vocab": 5, "forget": 0.2}),
    ("rope", 6, {"base": 50.0, "rotate_values": 1}),
    ("householder", 5, {"beta": 1.3, "rotate_values": 1}),       # carries P, explicit noise
    ("householder", 6, {"vocab": 7, "tokens": "zipf", "rotate_values": 1}),
    ("householder", 7, {"beta": 0.5}),
    ("alibi", 3, {"m": 0.3, "rotate_values": 1}),
    ("nope", 4, {"forget": 0.1}),
]

TASK = Task(B=3.0, delta=2, p=0.2, window=5, mu=0.7, xi=1.3)


def _ids(cases):
    return [f"{c[0]}-{c[1]}-{i}" for i, c in enumerate(cases)]


def test_simulator_is_on_without_a_driver():
    # if this fails, numba was imported before conftest set NUMBA_ENABLE_CUDASIM
    assert cuda_mod.SIM or HAS_GPU_DRIVER
    assert cuda_mod.available()


@pytest.mark.parametrize("name,d,params", WALKS, ids=_ids(WALKS))
def test_walk_matches_cpu(name, d, params, fresh_seed):
    mech = M.make(name, d, **params)
    a = ms.per_trial_walk(mech, 6, fresh_seed, 2, c=0.4)
    b = ms.per_trial_walk(mech, 6, fresh_seed, 2, c=0.4, device="cuda")
    np.testing.assert_allclose(b, a, rtol=1e-9, atol=1e-12, err_msg=f"seed {fresh_seed}")


@pytest.mark.parametrize("name,d,params", RETRIEVALS, ids=_ids(RETRIEVALS))
def test_retrieval_matches_cpu(name, d, params, fresh_seed):
    mech = M.make(name, d, **params)
    a = ms.per_trial_retrieval(mech, TASK, [3, 8, 14], fresh_seed, 2)
    b = ms.per_trial_retrieval(mech, TASK, [3, 8, 14], fresh_seed, 2, device="cuda")
    np.testing.assert_allclose(b, a, rtol=1e-9, atol=1e-12, err_msg=f"seed {fresh_seed}")


def test_launch_shape_does_not_change_numbers(fresh_seed):
    # three trials in one launch (one warp left idle on a GPU) vs one trial per launch
    mech = M.make("householder", 4, vocab=3)
    a = ms.per_trial_retrieval(mech, TASK, [3, 5], fresh_seed, 3, device="cuda")
    b = ms.per_trial_retrieval(mech, TASK, [3, 5], fresh_seed, 3, device="cuda", chunk=1)
    np.testing.assert_array_equal(a, b)


def test_more_than_one_warp_of_coordinates(fresh_seed):
    # d = 70: lanes own two or three coordinates (Householder) or one or two blocks (SO(2))
    for mech in (M.make("householder", 70, vocab=4), M.make("so2", 70, law="gaussian", sigma=0.3)):
        a = ms.per_trial_walk(mech, 3, fresh_seed, 1, c=0.2)
        b = ms.per_trial_walk(mech, 3, fresh_seed, 1, c=0.2, device="cuda")
        np.testing.assert_allclose(b, a, rtol=1e-9, atol=1e-12, err_msg=f"seed {fresh_seed}")


@pytest.mark.skipif(HAS_GPU_DRIVER, reason="this machine has a CUDA driver")
def test_cuda_without_gpu_is_one_line_exit_2(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "NUMBA_ENABLE_CUDASIM"}
    r = subprocess.run([sys.executable, "-m", "mixing.sweep", "--device", "cuda", "--out", str(tmp_path / "o")],
                       capture_output=True, text=True, cwd=ROOT, env=env, timeout=120)
    assert r.returncode == 2
    err = r.stderr.strip()
    assert len(err.splitlines()) == 1 and "device" in err and "Traceback" not in err, err


@gpu
@pytest.mark.parametrize("name,params", [("householder", {"vocab": 1024}), ("so2", {"law": "gaussian"}),
                                         ("householder", {"beta": 1.5, "rotate_values": 1})])
def test_gpu_real_sizes(name, params, fresh_seed):
    mech = M.make(name, 64, **params)
    task = Task(B=8.0, delta=1, p=0.01, window=64)
    a = ms.per_trial_retrieval(mech, task, [64, 1000, 5000], fresh_seed, 37)
    b = ms.per_trial_retrieval(mech, task, [64, 1000, 5000], fresh_seed, 37, device="cuda")
    np.testing.assert_allclose(b, a, rtol=1e-9, atol=1e-12, err_msg=f"seed {fresh_seed}")
