"""The Dask executor against the local one on the same machine, side by side in one run.

  python benchmarks/dask_bench.py [--points 16] [--workers 2]

1. A retrieval grid of ``--points`` points (Householder and SO(2), several beta / sigma
   values, d = 32, lengths to 2^12, 64 trials) run by ``python -m mixing.sweep`` with the
   local executor (numba on every core) and with an embedded LocalCluster of ``--workers``
   one-thread worker processes; wall times (each including its own start-up: the cluster's
   start and numba compilation in every worker), the speedup, and the results compared
   byte for byte.
2. The overhead per task: 200 empty tasks on a warm cluster, wall time / tasks.
3. The overhead of a 1-second task (``time.sleep(1)``): wall time on a warm cluster minus 1 s.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def grid(points: int) -> list[str]:
    """2 mechanisms x 4 parameter values x points/8 head dimensions (32, 64, 96, ...)."""
    dims = ",".join(str(32 * (k + 1)) for k in range(max(1, points // 8)))
    return [
        "--mechanism",
        "householder",
        "--param",
        "beta=0.5,1,1.5,2",
        "--mechanism",
        "so2",
        "--param",
        "sigma=0.1,0.2,0.3,0.5",
        "--d",
        dims,
        "--lengths",
        "2^4:2^15",
        "--trials",
        "128",
    ]


def sweep(args, out, extra=()):
    t = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "mixing.sweep", *args, "--out", str(out), *extra], check=True, capture_output=True
    )
    return time.perf_counter() - t


def _nothing(i):
    return i


def _sleep(s):
    time.sleep(s)
    return s


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--points", type=int, default=16)
    ap.add_argument("--workers", type=int, default=os.cpu_count() or 2)
    a = ap.parse_args(argv)
    args = grid(a.points)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        t_local = sweep(args, tmp / "local")
        t_dask = sweep(args, tmp / "dask", ("--executor", "dask", "--workers", str(a.workers)))
        same = (tmp / "local" / "results.csv").read_bytes() == (tmp / "dask" / "results.csv").read_bytes()
        import json

        n = len(json.loads((tmp / "local" / "manifest.json").read_text())["grid"])
    print(f"1. grid of {n} retrieval points ({' '.join(args)}), {os.cpu_count()} cores")
    print(f"   local executor (numba threads on every core): {t_local:6.1f} s")
    print(
        f"   dask, embedded LocalCluster of {a.workers} workers:    {t_dask:6.1f} s   "
        f"speedup {t_local / t_dask:.2f}x   results identical: {same}"
    )
    from distributed import Client, LocalCluster

    with (
        LocalCluster(
            n_workers=a.workers, threads_per_worker=1, processes=True, dashboard_address=":0", silence_logs=40
        ) as cluster,
        Client(cluster) as client,
    ):
        client.gather(client.map(_nothing, range(a.workers)))  # warm
        t = time.perf_counter()
        client.gather(client.map(_nothing, range(200), pure=False))
        per = (time.perf_counter() - t) / 200
        t = time.perf_counter()
        client.submit(_sleep, 1.0, pure=False).result()
        one = time.perf_counter() - t - 1.0
    print(f"2. overhead per task (200 empty tasks, warm cluster): {per * 1e3:.2f} ms")
    print(f"3. a 1-second task: {1 + one:.3f} s wall, overhead {one * 1e3:.1f} ms")


if __name__ == "__main__":
    main()
