"""mixing: simulations of accumulated token-dependent transformations in attention.

Modules: ``mechanisms`` (validated descriptions), ``laws`` (angle laws), ``task`` (the
stylized retrieval task), ``measures`` (coherence, second moment, retrieval), ``kernels``
(NumPy reference, numba CPU and numba-cuda kernels), ``sweep`` (the command line),
``results`` (table, manifest, resumable store), ``bench`` and ``bench_cuda`` (speed and
memory), ``recall`` (the associative-recall task with analytic gradients), ``learn`` (the
trainer), ``generators`` (learned or imported generator files), ``executors`` (where blocks
of trials run: this process or a Dask cluster), ``lm`` (small trained transformers for E1-E4,
needs PyTorch).
"""

__version__ = "0.1.0"
