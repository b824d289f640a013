"""Shared fixtures. The CUDA kernels run under numba's simulator when this machine has no
CUDA driver: the variable must be set before numba is first imported, so it is set here,
at the top of the first file pytest loads (and never through a numba warning filter in the
pytest configuration, which would import numba first)."""

import ctypes.util
import os

HAS_GPU_DRIVER = ctypes.util.find_library("cuda") is not None or os.path.exists("/dev/nvidiactl")
if "NUMBA_ENABLE_CUDASIM" not in os.environ and not HAS_GPU_DRIVER:
    os.environ["NUMBA_ENABLE_CUDASIM"] = "1"

import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def fresh_seed(request):
    """A seed drawn afresh for every run; printed so a failure can be replayed."""
    seed = int(os.environ.get("MIXING_TEST_SEED", np.random.SeedSequence().entropy % 2**31))
    sys.stderr.write(f"[{request.node.name}] seed={seed}\n")
    return seed
