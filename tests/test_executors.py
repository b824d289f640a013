"""Executors: a Dask LocalCluster of 2 worker processes gives the local executor's numbers
value for value, survives a killed worker, resumes across executors; bad input is one line."""

import os
import signal
import sys

import numpy as np
import pytest

pytest.importorskip("distributed")

from mixing import sweep  # noqa: E402
from mixing.engine import measures  # noqa: E402
from mixing.engine import mechanisms as M  # noqa: E402
from mixing.engine.errors import ParameterError  # noqa: E402
from mixing.engine.task import Task  # noqa: E402
from mixing.sweep import executors  # noqa: E402

GRID = [
    "--mechanism",
    "so2",
    "--mechanism",
    "householder",
    "--param",
    "beta=1,2",
    "--d",
    "8,16",
    "--lengths",
    "8,40,200",
    "--trials",
    "24",
    "--seed",
    "11",
]


@pytest.fixture(scope="module")
def dask2():
    ex = executors.DaskExecutor(workers=2)
    yield ex
    ex.close()


def test_blocks_join_to_the_whole_run():
    mech = M.make("householder", 16, beta=1.5)
    task = Task(p=0.1)
    whole = measures.per_trial_retrieval(mech, task, [8, 64], 3, 30)
    blocks = executors.split("retrieval", mech, np.array([8, 64]), 3, 30, task=task, pieces=4)
    assert len(blocks) == 4 and sum(b.count for b in blocks) == 30
    parts = [executors.run_block(b) for b in reversed(blocks)]
    assert np.array_equal(executors.join(list(reversed(blocks)), parts), whole)


def test_sweep_on_dask_is_identical_to_local(tmp_path, dask2, monkeypatch):
    assert sweep.main([*GRID, "--out", str(tmp_path / "local")]) == 0
    monkeypatch.setattr(executors, "DaskExecutor", lambda *a, **k: dask2)  # reuse the running cluster
    monkeypatch.setattr(dask2, "close", lambda: None)
    assert sweep.main([*GRID, "--out", str(tmp_path / "dask"), "--executor", "dask"]) == 0
    assert (tmp_path / "local" / "results.csv").read_bytes() == (tmp_path / "dask" / "results.csv").read_bytes()
    import json

    man = json.loads((tmp_path / "dask" / "manifest.json").read_text())
    info = man["executors"][-1]
    assert info["executor"] == "dask" and info["workers"] == 2 and len(info["worker_versions"]) == 2


def test_resume_across_executors(tmp_path, dask2, monkeypatch):
    out = tmp_path / "r"
    assert sweep.main([*GRID, "--out", str(out)]) == 0
    full = (out / "results.csv").read_bytes()
    points = sorted((out / "points").iterdir())
    for p in points[::2]:  # as if interrupted: half the points missing
        p.unlink()
    monkeypatch.setattr(executors, "DaskExecutor", lambda *a, **k: dask2)
    monkeypatch.setattr(dask2, "close", lambda: None)
    assert sweep.main([*GRID, "--out", str(out), "--resume", "--executor", "dask"]) == 0
    assert (out / "results.csv").read_bytes() == full


def test_measures_through_an_executor(dask2):
    mech = M.make("so2", 16, law="gaussian", sigma=0.3)
    local = measures.coherence(mech, 30, 40, seed=2)
    run = executors.runner(dask2)
    calls = []

    def counted(*args):
        calls.append(args[0])
        return run(*args)

    remote = measures.coherence(mech, 30, 40, seed=2, runner=counted)
    assert calls == ["walk"]  # the trials ran on the cluster, not here
    assert np.array_equal(local.mean["coherence"], remote.mean["coherence"])
    assert np.array_equal(local.stderr["coherence"], remote.stderr["coherence"])
    task = Task(window=8)
    a = measures.per_trial_retrieval(mech, task, [16, 64], seed=3, trials=12)
    b = measures.rows("retrieval", mech, [16, 64], seed=3, trials=12, task=task, runner=run)
    assert np.array_equal(a, b)
    assert executors.runner(executors.LocalExecutor()) is None and executors.runner(None) is None


def test_killed_worker_loses_nothing():
    ex = executors.DaskExecutor(workers=2)
    try:
        mech = M.make("householder", 32, beta=2.0)
        task = Task()
        lengths = np.array([16, 20000])
        # 12 blocks of 20 trials x 20000 steps (about 0.1 s each): the kill lands while tasks run
        blocks = executors.split("retrieval", mech, lengths, 5, 240, task=task, pieces=12)
        pids = ex.client.run(os.getpid)
        arrays, killed = [None] * len(blocks), False
        seen = 0
        for i, rows in ex.run(blocks):
            assert arrays[i] is None  # nothing counted twice
            arrays[i] = rows
            seen += 1
            if not killed:
                victim = next(iter(pids))
                running = ex.client.run_on_scheduler(
                    lambda dask_scheduler, a=victim: len(dask_scheduler.workers[a].processing)
                )
                assert running >= 1  # it dies with work in hand
                os.kill(pids[victim], signal.SIGKILL)
                killed = True
        assert seen == len(blocks)
        whole = measures.per_trial_retrieval(mech, task, lengths, 5, 240)
        assert np.array_equal(executors.join(blocks, arrays), whole)
    finally:
        ex.close()


@pytest.mark.parametrize(
    "argv, needle",
    [
        (["--scheduler", "tcp://127.0.0.1:8786"], "only used with --executor dask"),
        (["--executor", "dask", "--scheduler", "not an address"], "not a scheduler address"),
        (["--executor", "dask", "--scheduler", "tcp://127.0.0.1:1"], "cannot reach"),
        (["--executor", "dask", "--scheduler", "tcp://127.0.0.1:1", "--workers", "2"], "--workers"),
        (["--executor", "ray"], "invalid choice"),
    ],
)
def test_bad_executor_input(tmp_path, capsys, argv, needle):
    import time

    t = time.perf_counter()
    rc = sweep.main(["--mechanism", "nope", "--trials", "2", "--lengths", "8", "--out", str(tmp_path / "o"), *argv])
    err = capsys.readouterr().err.strip()
    assert rc == 2 and len(err.splitlines()) == 1 and needle in err, err
    assert time.perf_counter() - t < 15


def test_missing_dask_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "distributed", None)
    with pytest.raises(ParameterError, match=r'pip install -e "\.\[dask\]"'):
        executors.make("dask")


def test_worker_version_mismatch_is_refused(monkeypatch, dask2):
    monkeypatch.setattr(executors, "__version__", "0.0.0-other")
    addr = dask2.client.scheduler.address
    import mixing

    with pytest.raises(ParameterError, match=f"has mixing {mixing.__version__}, this client 0.0.0-other"):
        executors.DaskExecutor(addr)


def test_figures_cli_on_dask(tmp_path):
    from figures import __main__ as cli

    assert cli.main(["window", "--quick", "--out", str(tmp_path / "l")]) == 0
    assert cli.main(["window", "--quick", "--out", str(tmp_path / "d"), "--executor", "dask"]) == 0
    assert (tmp_path / "l" / "window.csv").read_bytes() == (tmp_path / "d" / "window.csv").read_bytes()


def test_a_run_with_no_live_worker_fails_in_bounded_time():
    """Every worker gone: the run raises WorkersLost after no_workers_timeout, never hangs."""
    import time

    from distributed import LocalCluster

    cluster = LocalCluster(n_workers=1, threads_per_worker=1, processes=True, dashboard_address=":0", silence_logs=40)
    try:
        ex = executors.DaskExecutor(cluster.scheduler_address, no_workers_timeout=2.0)
        try:
            cluster.scale(0)
            deadline = time.monotonic() + 30
            while ex.live_workers() and time.monotonic() < deadline:
                time.sleep(0.1)
            assert ex.live_workers() == 0
            blocks = executors.split("walk", M.make("rope", 8), 16, 0, 8, pieces=2)
            t = time.monotonic()
            with pytest.raises(executors.WorkersLost, match="no live worker for 2 s"):
                list(ex.run(blocks, poll=0.2))
            assert time.monotonic() - t < 15
        finally:
            ex.close()
    finally:
        cluster.close()
