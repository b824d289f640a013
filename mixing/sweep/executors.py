"""Where blocks of trials run: in this process (``local``) or on a Dask cluster (``dask``).

The unit of work is a :class:`Block`: trials ``first .. first + count - 1`` of one measure
on one mechanism. Every random draw is keyed by (seed, trial, position, stream), so a block
computes exactly the per-trial rows a whole run has at those trials; concatenating the
blocks of a point in trial order and reducing them gives the same numbers, value for
value, whichever executor ran them and however the trials were split.

``DaskExecutor`` starts an embedded ``LocalCluster`` (worker processes with one thread each,
numba and BLAS limited to one thread per worker, so the machine is not oversubscribed)
or connects to a running scheduler. What a task ships to a worker is the block itself (the
mechanism's parameters, the task, the lengths, the seed and the trial range, a few hundred
bytes); a worker needs this package at the client's version (checked when connecting) and
any generators file at the same path.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

import numpy as np

from mixing import __version__
from mixing.engine import measures
from mixing.engine.errors import ParameterError
from mixing.engine.mechanisms import Mechanism
from mixing.engine.task import Task

#: a progress callback: called with the work done since its last call
Progress = Callable[[int], None]

EXECUTORS = ("local", "dask")
#: steps (trials x longest length) a block aims at: big enough that a task's overhead
#: (about a millisecond) is noise, small enough that progress moves and a lost worker
#: costs little
BLOCK_STEPS = 2e7
MISSING_DASK = 'the dask executor needs dask.distributed: pip install -e ".[dask]"'
ADDRESS = re.compile(r"^(tcp|tls|ws|wss|inproc|ucx)://[^\s/:]+(:\d{1,5})?$|^[A-Za-z0-9.\-]+:\d{1,5}$")
WORKER_ENV = {"NUMBA_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


def longest(x: int | Sequence[int] | np.ndarray) -> int:
    """The largest length of a list of lengths, or the lag count of a walk."""
    return int(max(x)) if isinstance(x, (list, tuple, np.ndarray)) else int(x)


@dataclass(frozen=True)
class Block:
    kind: str  # "walk" or "retrieval"
    mech: Mechanism  # frozen
    x: object  # lags (an int, walk) or the lengths (an int64 array, retrieval)
    seed: int
    first: int
    count: int
    device: str = "cpu"
    task: Task | None = None  # retrieval only
    c: float = 1.0  # walk: q . k

    @property
    def steps(self) -> int:
        return self.count * longest(self.x)


def run_block(block: Block, progress: Progress | None = None) -> np.ndarray:
    """The per-trial rows of one block (a module-level function: Dask pickles it by name)."""
    if block.kind == "retrieval":
        return measures.per_trial_retrieval(
            block.mech, block.task, block.x, block.seed, block.count, block.device, progress=progress, first=block.first
        )
    return measures.per_trial_walk(
        block.mech, block.x, block.seed, block.count, block.c, block.device, progress=progress, first=block.first
    )


def split(
    kind: str,
    mech: Mechanism,
    x: object,
    seed: int,
    trials: int,
    device: str = "cpu",
    task: Task | None = None,
    c: float = 1.0,
    pieces: int = 1,
) -> list[Block]:
    """The blocks of one run: about BLOCK_STEPS each, and at least ``pieces`` (to spread one point)."""
    n = max(1, min(trials, max(pieces, math.ceil(trials * longest(x) / BLOCK_STEPS))))
    edges = np.linspace(0, trials, n + 1).round().astype(int)
    return [
        Block(kind, mech, x, seed, int(a), int(b - a), device, task, c) for a, b in zip(edges[:-1], edges[1:]) if b > a
    ]


def join(blocks: Sequence[Block], arrays: Sequence[np.ndarray]) -> np.ndarray:
    """Per-trial rows of the whole run from its blocks' arrays (in trial order)."""
    order = sorted(range(len(blocks)), key=lambda i: blocks[i].first)
    return np.concatenate([arrays[i] for i in order], axis=0)


class LocalExecutor:
    """Runs blocks one after the other in this process (numba's threads inside each)."""

    name = "local"
    workers = 1

    def run(self, blocks: Sequence[Block], progress: Progress | None = None) -> Iterator[tuple[int, np.ndarray]]:
        """Yield ``(index, rows)`` for every block; ``progress(steps)`` as work is done."""
        for i, b in enumerate(blocks):
            per = b.steps // max(b.count, 1)
            yield i, run_block(b, None if progress is None else (lambda T, per=per: progress(T * per)))

    def info(self) -> dict:
        return {"executor": "local", "workers": 1}

    def close(self) -> None:
        pass


def _worker_versions() -> dict:
    import numba
    import numpy

    import mixing

    return {"mixing": mixing.__version__, "numpy": numpy.__version__, "numba": numba.__version__}


class WorkersLost(RuntimeError):
    """A Dask run that cannot finish: no live worker for ``no_workers_timeout`` seconds, or a
    block whose workers died more often than Dask's ``allowed-failures`` retries allow."""


#: seconds a Dask run waits with no live worker before it gives up (a restarting worker or a
#: cluster that scales up comes back well within this)
NO_WORKERS_TIMEOUT = 60.0


class DaskExecutor:
    """Runs blocks as Dask tasks: an embedded LocalCluster, or the scheduler at ``address``.

    A run never hangs: with no live worker for ``no_workers_timeout`` seconds it raises
    :class:`WorkersLost`; a killed worker's blocks are rerun by Dask on the others (up to its
    ``distributed.scheduler.allowed-failures`` retries, then :class:`WorkersLost` too)."""

    name = "dask"

    def __init__(
        self,
        address: str | None = None,
        workers: int | None = None,
        timeout: float = 5.0,
        no_workers_timeout: float = NO_WORKERS_TIMEOUT,
    ) -> None:
        self.no_workers_timeout = float(no_workers_timeout)
        try:
            from distributed import Client, LocalCluster
        except ImportError:
            raise ParameterError(f"--executor: {MISSING_DASK}") from None
        self.cluster = None
        if address is not None:
            if not ADDRESS.match(address):
                raise ParameterError(f"--scheduler: {address!r} is not a scheduler address (like tcp://host:8786)")
            try:
                self.client = Client(address, timeout=timeout)
            except (OSError, TimeoutError) as exc:
                raise ParameterError(
                    f"--scheduler: cannot reach {address} within {timeout:g} s ({type(exc).__name__})"
                ) from None
        else:
            n = workers or os.cpu_count() or 1
            self.cluster = LocalCluster(
                n_workers=n,
                threads_per_worker=1,
                processes=True,
                dashboard_address=":0",
                env=dict(WORKER_ENV),
                silence_logs=40,
            )
            self.client = Client(self.cluster)
        try:
            self.versions = self.client.run(_worker_versions)
        except Exception as exc:  # noqa: BLE001  (a worker that cannot even import this package)
            self.close()
            raise ParameterError(f"--scheduler: the workers cannot run mixing ({type(exc).__name__}: {exc})") from None
        for addr, ver in self.versions.items():
            if ver["mixing"] != __version__:
                self.close()
                raise ParameterError(
                    f"--scheduler: worker {addr} has mixing {ver['mixing']}, this client "
                    f"{__version__}; install the same version on every worker"
                )
        self.workers = len(self.versions)
        if self.workers == 0:
            self.close()
            raise ParameterError(f"--scheduler: {address} has no workers")

    def live_workers(self) -> int:
        return len(self.client.scheduler_info().get("workers", {}))

    def run(
        self, blocks: Sequence[Block], progress: Progress | None = None, poll: float = 1.0
    ) -> Iterator[tuple[int, np.ndarray]]:
        import time

        from distributed import wait
        from distributed.scheduler import KilledWorker

        # pure=False: a fresh key per task, never a result cached from an earlier call
        futures = self.client.map(run_block, blocks, pure=False)
        index = {f.key: i for i, f in enumerate(futures)}
        pending, alone_since = set(futures), None
        try:
            while pending:
                try:
                    done, pending = wait(pending, timeout=poll, return_when="FIRST_COMPLETED")
                except TimeoutError:  # nothing finished within poll seconds
                    done = set()
                for fut in done:
                    try:
                        rows = fut.result()
                    except KilledWorker:
                        import dask

                        tries = dask.config.get("distributed.scheduler.allowed-failures")
                        raise WorkersLost(
                            f"dask: the workers running a block died more often than Dask retries "
                            f"it (allowed-failures = {tries})"
                        ) from None
                    i = index[fut.key]
                    if progress is not None:
                        progress(blocks[i].steps)
                    yield i, rows
                if done or not pending:
                    alone_since = None
                elif self.live_workers() == 0:
                    alone_since = alone_since or time.monotonic()
                    if time.monotonic() - alone_since > self.no_workers_timeout:
                        raise WorkersLost(
                            f"dask: no live worker for {self.no_workers_timeout:g} s ({len(pending)} blocks left)"
                        )
                else:
                    alone_since = None
        finally:
            if pending:
                self.client.cancel(list(pending))

    def info(self) -> dict:
        return {
            "executor": "dask",
            "scheduler": self.client.scheduler.address,
            "embedded": self.cluster is not None,
            "workers": self.workers,
            "worker_versions": self.versions,
        }

    def close(self) -> None:
        try:
            self.client.close()
        finally:
            if self.cluster is not None:
                self.cluster.close()


def make(name: str, scheduler: str | None = None, workers: int | None = None) -> LocalExecutor | DaskExecutor:
    if name not in EXECUTORS:
        raise ParameterError(f"--executor: unknown {name!r} (choose from {', '.join(EXECUTORS)})")
    if scheduler is not None and name != "dask":
        raise ParameterError("--scheduler: only used with --executor dask")
    if name == "local":
        return LocalExecutor()
    return DaskExecutor(scheduler, workers)


# -- measures through an executor -----------------------------------------------------------


def runner(executor: LocalExecutor | DaskExecutor | None) -> Callable[..., np.ndarray] | None:
    """A ``runner`` for ``mixing.engine.measures`` (``coherence``, ``second_moment``,
    ``retrieval``, ``rows``) that spreads a run's trials over ``executor``'s workers; None
    (run in this process) for the local executor or None."""
    if executor is None or executor.name == "local":
        return None

    def run(
        kind: str,
        mech: Mechanism,
        x: object,
        seed: int,
        trials: int,
        device: str = "cpu",
        task: Task | None = None,
        c: float = 1.0,
        progress: Progress | None = None,
    ) -> np.ndarray:
        blocks = split(kind, mech, x, seed, trials, device, task, c, pieces=2 * executor.workers)
        arrays = [None] * len(blocks)
        for i, rows in executor.run(blocks):
            arrays[i] = rows
            if progress is not None:
                progress(blocks[i].count)  # trials, as the local path reports them
        return join(blocks, arrays)

    return run
