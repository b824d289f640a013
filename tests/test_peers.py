"""The benchmark peers compute the engine's task: they agree with it in distribution."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

from mixing.engine import measures as ms
from mixing.engine import mechanisms as M
from mixing.engine.task import Task

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))


def _zmax(a, b):
    from engine_bench import zmax

    return zmax(a, b, floor=1e-12)


@pytest.mark.parametrize("peer", ["numpy_peer", "torch_peer"])
@pytest.mark.parametrize("table", [True, False])
def test_peer_agrees_with_the_engine_in_distribution(peer, table):
    if peer == "torch_peer":
        pytest.importorskip("torch")
    mod = __import__(peer)
    task, lengths, trials = Task(window=8), [16, 64, 128], 400
    mech = M.make("householder", 16, **({"vocab": 32} if table else {}))
    spec = mech.spec(0)
    args = (spec.table, np.full(32, 1 / 32)) if table else (None, None)
    engine = ms.per_trial_retrieval(mech, task, lengths, 0, trials)
    other = mod.retrieval(*args, spec.betas, task, lengths, trials, 5, **({} if table else {"d": 16}))
    assert other.shape == engine.shape
    # 12 comparisons (4 metrics x 3 lengths): a true difference of a few s.e. would show
    assert _zmax(engine, other) < 4.0


def test_the_agreement_check_can_fail():
    pytest.importorskip("torch")
    import torch_peer

    task, lengths = Task(window=8), [16, 64, 128]
    mech = M.make("householder", 16)
    engine = ms.per_trial_retrieval(mech, task, lengths, 0, 400)
    wrong = torch_peer.retrieval(None, None, (1.0,), task, lengths, 400, 5, d=16)  # beta 1, not 2
    assert _zmax(engine, wrong) > 4.0
