"""mixing: simulations of accumulated token-dependent transformations in attention.

Packages, imported one way (each only from those before it):

- ``mixing.engine``: the compiled engine (codes, parameters, random numbers, laws,
  mechanisms and their generator files, the task, the kernels, the measures, statistics);
- ``mixing.cli``: what every command line shares (parser, error wrapper, checks);
- ``mixing.sweep``: ``python -m mixing.sweep``, its grid, executors (this process or Dask)
  and resumable results;
- ``mixing.learned``: the associative-recall task and its trainer of generators;
- ``mixing.lm``: small trained transformers for E1-E4 (needs PyTorch).

The 0.1 paths (``mixing.mechanisms``, ``mixing.measures``, ...) still import, with a
``DeprecationWarning``, for one release (``mixing._moved``).
"""

__version__ = "0.1.0"

from . import _moved  # noqa: E402

_moved.install()
