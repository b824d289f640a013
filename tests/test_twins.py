"""Scalar helpers have registered twins; the on-disk cache is keyed on every kernel source."""

import shutil

import numpy as np
import pytest
from numba.core.registry import CPUDispatcher

from mixing.engine import _jit, laws, rng, twins
from mixing.engine.kernels import cpu, draws, readout


@pytest.mark.parametrize("module", [rng, laws, draws, readout])
def test_every_compiled_helper_is_registered(module):
    compiled = {
        name
        for name, obj in vars(module).items()
        if isinstance(obj, CPUDispatcher) and obj.py_func.__module__ == module.__name__
    }
    assert compiled, module.__name__
    assert compiled == set(twins.registered(module))


def test_plain_twins_match_the_compiled_ones_bit_for_bit():
    plain = twins.rebuild(draws, lambda f: f, "draws.plain", deps={"rng": rng.plain})
    cdf = np.cumsum(np.full(37, 1 / 37))
    cdf[-1] = 1.0
    tk = np.uint64(rng.trial_key(np.uint64(5), 3))
    for n in range(1, 200):
        key = np.uint64(rng.pos_key(tk, n, rng.STREAM_GEN))
        assert plain.token(key, cdf) == draws.token(key, cdf)
        kind, kk = draws.key_kind(tk, n, 7, 0.3)
        pkind, pkk = plain.key_kind(tk, n, 7, 0.3)
        assert (kind, np.uint64(kk)) == (pkind, np.uint64(pkk))
        assert plain.other_coord(np.uint64(kk), 9) == draws.other_coord(np.uint64(kk), 9)
    u, w = rng.unit_np(np.uint64(1), 8), rng.unit_np(np.uint64(2), 8)
    a, b = u.copy(), u.copy()
    draws.reflect(a, w, 1.3)
    plain.reflect(b, w, 1.3)
    assert np.array_equal(a, b)


def test_rebuild_refuses_a_module_without_helpers():
    with pytest.raises(ValueError, match="registers no"):
        twins.rebuild(cpu, lambda f: f, "x")


def test_cache_stamp_carries_the_digest_of_every_kernel_source(tmp_path):
    if not _jit.SALTED:
        pytest.skip("this numba has no cache-locator hook")
    locator = cpu._walk_hh._cache._impl.locator
    assert type(locator).__name__.startswith("Mixing")
    assert locator.get_source_stamp()[1] == _jit.DIGEST
    # a change in any source the kernels compile from changes the digest
    copy = tmp_path / "mixing"
    shutil.copytree(_jit._PKG.parent, copy, ignore=shutil.ignore_patterns("__pycache__"))
    before = _jit.source_digest(copy / "engine")
    assert before == _jit.DIGEST
    for edited in ("engine/rng.py", "engine/kernels/cuda/so2.py"):
        text = (copy / edited).read_text()
        (copy / edited).write_text(text + "\n# edited\n")
        assert _jit.source_digest(copy / "engine") != before, edited
        (copy / edited).write_text(text)
    assert _jit.source_digest(copy / "engine") == before


def test_editing_the_command_line_does_not_recompile_the_kernels(tmp_path):
    # the kernel cache key is the engine's digest: the sweep's command line, the lm package
    # and the shared cli are outside it, so editing them keeps every cached kernel
    copy = tmp_path / "mixing"
    shutil.copytree(_jit._PKG.parent, copy, ignore=shutil.ignore_patterns("__pycache__"))
    for edited in ("sweep/command.py", "sweep/grid.py", "cli.py", "lm/run.py", "__init__.py"):
        with open(copy / edited, "a") as fh:
            fh.write("\n# edited\n")
    assert _jit.source_digest(copy / "engine") == _jit.DIGEST
