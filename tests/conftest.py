import os
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
