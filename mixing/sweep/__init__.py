"""The sweep: a grid of simulations from the command line into a resumable results table.

- ``command``: ``python -m mixing.sweep`` (its parser, ``main`` and the summary table);
- ``grid``: the grid of points a command line or TOML file resolves to;
- ``executors``: where blocks of trials run (this process or a Dask cluster), and the
  ``runner`` that lets ``mixing.engine.measures`` run through one;
- ``results``: the results contract (columns, manifest, the resumable store, ``load``);
- ``plot``: ``python -m mixing.plot`` / ``--plot``, a finished or interrupted sweep drawn;
- ``smoke``: small end-to-end runs; ``locks``: one writer per output folder.
"""

from .command import build_parser, main, point_blocks, point_rows, run_point, summary  # noqa: F401
from .grid import DEFAULT_MECHANISMS, DEFAULTS, MEASURES, SHOWABLE, parse_lengths, resolve, show_metrics, size_estimate  # noqa: F401
