"""The engine: what the compiled kernels are built from, and the measures that run them.

Nothing here imports from the rest of ``mixing``; ``mixing.engine._jit`` keys the on-disk
kernel cache on a digest of this folder alone.

- ``codes``: integer codes of families, sources, laws and key kinds;
- ``params``: declared parameters and their checks; ``errors``: ``ParameterError``;
- ``rng``: counter-based random numbers; ``twins``: helpers compiled for CPU and GPU from
  one source; ``laws``: the angle laws; ``_jit``: the project-wide ``njit`` and its cache;
- ``mechanisms``: validated descriptions of a mechanism (and its per-token tables);
  ``generators``: the ``.npz`` files of learned, imported or exported generators;
- ``task``: the stylized retrieval task;
- ``kernels``: the backends (NumPy reference, numba CPU, numba-cuda) and their contract;
- ``measures``: coherence, second moment and retrieval (per-trial rows, ``rows`` through an
  optional runner, ``summarize`` and the ``MEASURES`` table);
- ``stats``: means, standard errors and t intervals; ``files``: atomic writes;
- ``forecast``: the engine forecast of a generators file.
"""
