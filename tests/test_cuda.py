"""CUDA kernels against the numba CPU kernels on the same seeds.

Without a CUDA driver these run under numba's CUDA simulator (set up in conftest.py):
tiny sizes, since every simulated thread costs about 100 us. Tests marked ``gpu`` need
real hardware and are skipped otherwise.
"""

import json
import os
import subprocess
import sys

import numpy as np
import pytest
from conftest import HAS_GPU_DRIVER, ROOT

from mixing.engine import measures as ms
from mixing.engine import mechanisms as M
from mixing.engine.task import Task

cuda_mod = pytest.importorskip("mixing.engine.kernels.cuda", reason="numba-cuda is not installed")
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
    ("householder", 5, {"beta": 1.3, "rotate_values": 1}),  # carries P, explicit noise
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
    r = subprocess.run(
        [sys.executable, "-m", "mixing.sweep", "--device", "cuda", "--out", str(tmp_path / "o")],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=env,
        timeout=120,
    )
    assert r.returncode == 2
    err = r.stderr.strip()
    assert len(err.splitlines()) == 1 and "device" in err and "Traceback" not in err, err


@pytest.mark.parametrize(
    "d,params,task",
    [
        (9, {"beta": 1.3, "forget": 0.1}, Task(B=4.0, delta=4, p=0.1, mu=0.5, xi=1.1, window=2)),  # far target
        (6, {}, Task(B=2.0, delta=1, xi=0.0, window=3)),
        (40, {"beta": 2.0}, TASK),
    ],
)
def test_reduced_retrieval_one_trial_per_thread(d, params, task, fresh_seed):
    # 37 trials: two blocks of threads, the last one partly idle
    mech = M.make("householder", d, **params)
    a = ms.per_trial_retrieval(mech, task, [4, 9, 20], fresh_seed, 37)
    b = ms.per_trial_retrieval(mech, task, [4, 9, 20], fresh_seed, 37, device="cuda")
    np.testing.assert_allclose(b, a, rtol=1e-9, atol=1e-12, err_msg=f"seed {fresh_seed}")


@gpu
@pytest.mark.parametrize(
    "name,params",
    [
        ("householder", {"vocab": 1024}),
        ("so2", {"law": "gaussian"}),
        ("householder", {"beta": 1.5, "rotate_values": 1}),
        ("householder", {"beta": 1.5}),
    ],
)
def test_gpu_real_sizes(name, params, fresh_seed):
    mech = M.make(name, 64, **params)
    task = Task(B=8.0, delta=1, p=0.01, window=64)
    a = ms.per_trial_retrieval(mech, task, [64, 1000, 5000], fresh_seed, 37)
    b = ms.per_trial_retrieval(mech, task, [64, 1000, 5000], fresh_seed, 37, device="cuda")
    np.testing.assert_allclose(b, a, rtol=1e-9, atol=1e-12, err_msg=f"seed {fresh_seed}")


# ---------------------------------------------------------------------------------------
# layouts (lanes per trial, the table in shared memory, float32 directions)

layout = cuda_mod.layout

LAYOUT_CASES = [("householder", 9, {"vocab": 5, "rotate_values": 1}), ("so2", 10, {"law": "gaussian", "vocab": 4})]


@pytest.mark.parametrize("lay", ["lanes=16,table=shared", "lanes=4", "lanes=8,table=shared"])
def test_float64_layouts_match_cpu(lay, fresh_seed):
    # lanes=4 at d = 9: lanes own two or three coordinates; the shared table is used
    for name, d, params in LAYOUT_CASES:
        mech = M.make(name, d, **params)
        a = ms.per_trial_retrieval(mech, TASK, [3, 8], fresh_seed, 2)
        w1 = ms.per_trial_walk(mech, 5, fresh_seed, 2, c=0.4)
        with layout.use(lay):
            if name == "householder" and "shared" in lay:
                assert cuda_mod.shared_rows(mech.spec(fresh_seed), layout.current()) == 5
            b = ms.per_trial_retrieval(mech, TASK, [3, 8], fresh_seed, 2, device="cuda")
            w2 = ms.per_trial_walk(mech, 5, fresh_seed, 2, c=0.4, device="cuda")
        np.testing.assert_allclose(b, a, rtol=1e-9, atol=1e-12, err_msg=f"{lay} {name} seed {fresh_seed}")
        np.testing.assert_allclose(w2, w1, rtol=1e-9, atol=1e-12, err_msg=f"{lay} {name} seed {fresh_seed}")


def test_float32_layout_is_float32_and_close(fresh_seed):
    # on a table already rounded to float32 (so the layout's float32 copy of it is exact),
    # the float64 layout matches the CPU to float64 rounding while the float32 layout moves
    # by float32 rounding of the arithmetic: more than float64 rounding, within 2e-5
    import dataclasses

    from mixing.engine.kernels import cpu

    spec = M.make("householder", 12, vocab=6).spec(fresh_seed)
    spec = dataclasses.replace(spec, table=spec.table.astype(np.float32).astype(np.float64))
    lengths = np.array([5, 40])
    a, b, c = (np.zeros((2, 2, 4)) for _ in range(3))
    cpu.retrieval(spec, TASK, lengths, fresh_seed, 0, a)
    with layout.use("lanes=8,table=shared"):
        cuda_mod.retrieval(spec, TASK, lengths, fresh_seed, 0, b)
    with layout.use("lanes=8,precision=float32,table=shared"):
        cuda_mod.retrieval(spec, TASK, lengths, fresh_seed, 0, c)
    np.testing.assert_allclose(b, a, rtol=1e-9, atol=1e-12, err_msg=f"seed {fresh_seed}")
    assert np.abs(c - a).max() > 1e-10, "float32 layout gave float64 bits"
    np.testing.assert_allclose(c, a, rtol=2e-5, atol=2e-6, err_msg=f"seed {fresh_seed}")


def test_layout_launch_shape_does_not_change_numbers(fresh_seed):
    mech = M.make("householder", 6, vocab=3)
    with layout.use("lanes=8"):
        a = ms.per_trial_retrieval(mech, TASK, [3, 5], fresh_seed, 3, device="cuda")
        b = ms.per_trial_retrieval(mech, TASK, [3, 5], fresh_seed, 3, device="cuda", chunk=1)
    np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("G", layout.LANES)
def test_group_masks_partition_the_warp(G):
    masks = {layout.group_mask(lane, G) for lane in range(32)}
    assert len(masks) == 32 // G
    total = 0
    for m in masks:
        assert bin(m).count("1") == G and m & total == 0
        total |= m
    assert total == 0xFFFFFFFF
    # a lane's partners at every butterfly offset stay inside its group's mask
    for lane in range(32):
        m = layout.group_mask(lane, G)
        off = G // 2
        while off:
            assert m >> (lane ^ off) & 1
            off //= 2


def test_shared_table_only_where_it_fits():
    small, big = M.make("householder", 64, vocab=64), M.make("householder", 64, vocab=1024)
    f64, f32 = layout.Layout(table="shared"), layout.Layout(table="shared", precision="float32")
    assert cuda_mod.shared_rows(small.spec(0), f64) == 64 and cuda_mod.shared_rows(big.spec(0), f64) == 0
    mid = M.make("householder", 64, vocab=95)  # 47.5 KiB in float64, 23.75 KiB in float32
    assert cuda_mod.shared_rows(mid.spec(0), f64) == 0 and cuda_mod.shared_rows(mid.spec(0), f32) == 95
    assert cuda_mod.shared_rows(small.spec(0), layout.Layout()) == 0
    assert cuda_mod.shared_rows(M.make("householder", 64).spec(0), f64) == 0  # i.i.d.: no table


@pytest.mark.parametrize(
    "text,word",
    [
        ("lanes=3", "lanes"),
        ("lanes=x", "lanes"),
        ("table=texture", "table"),
        ("precision=half", "precision"),
        ("warps=2", "expected"),
        ("lanes=8,lanes=16", "twice"),
        ("lanes", "expected"),
    ],
)
def test_bad_layout_is_one_line(text, word, monkeypatch):
    from mixing.engine.errors import ParameterError

    with pytest.raises(ParameterError, match=word) as info:
        layout.Layout.parse(text)
    assert "\n" not in str(info.value) and "MIXING_CUDA_LAYOUT" in str(info.value)
    monkeypatch.setenv("MIXING_CUDA_LAYOUT", text)
    with pytest.raises(ParameterError):
        ms.check_device("cuda")


def test_layout_text_round_trips():
    lay = layout.Layout.parse(" lanes=8, precision=float32 ")
    assert lay == layout.Layout(8, "global", "float32") and layout.Layout.parse(str(lay)) == lay
    assert layout.Layout.parse("") == layout.Layout()


@gpu
@pytest.mark.parametrize("lay", ["lanes=16", "lanes=8,table=shared", "lanes=4"])
def test_gpu_layouts_real_sizes(lay, fresh_seed):
    # the group shuffles and masks run only on hardware: several trials per warp, d = 64
    task = Task(B=8.0, delta=1, p=0.01, window=64)
    for mech in (M.make("householder", 64, vocab=64, rotate_values=1), M.make("so2", 64, law="gaussian")):
        a = ms.per_trial_retrieval(mech, task, [64, 3000], fresh_seed, 37)
        with layout.use(lay):
            b = ms.per_trial_retrieval(mech, task, [64, 3000], fresh_seed, 37, device="cuda")
        np.testing.assert_allclose(b, a, rtol=1e-9, atol=1e-12, err_msg=f"{lay} seed {fresh_seed}")


def test_sweep_records_the_layout_and_refuses_a_bad_one(tmp_path):
    env = dict(os.environ, NUMBA_ENABLE_CUDASIM="1", MIXING_CUDA_LAYOUT="lanes=8,table=shared")
    argv = [
        sys.executable,
        "-m",
        "mixing.sweep",
        "--mechanism",
        "householder",
        "--param",
        "vocab=3",
        "--d",
        "6",
        "--lengths",
        "4,8",
        "--trials",
        "2",
        "--device",
        "cuda",
    ]
    r = subprocess.run(
        argv + ["--out", str(tmp_path / "ok")], capture_output=True, text=True, cwd=ROOT, env=env, timeout=300
    )
    assert r.returncode == 0, r.stderr
    manifest = json.loads((tmp_path / "ok" / "manifest.json").read_text())
    assert manifest["device"]["cuda_layout"] == "lanes=8,table=shared,precision=float64"
    assert manifest["executors"][0]["cuda_layout"] == manifest["device"]["cuda_layout"]
    env["MIXING_CUDA_LAYOUT"] = "lanes=3"
    r = subprocess.run(
        argv + ["--out", str(tmp_path / "bad")], capture_output=True, text=True, cwd=ROOT, env=env, timeout=300
    )
    err = r.stderr.strip()
    assert r.returncode == 2 and len(err.splitlines()) == 1 and "MIXING_CUDA_LAYOUT" in err, err
    assert not (tmp_path / "bad").exists()
