"""mixing: simulations of accumulated token-dependent transformations in attention.

Modules: ``mechanisms`` (validated descriptions), ``laws`` (angle laws), ``task`` (the
stylized retrieval task), ``measures`` (coherence, second moment, retrieval), ``kernels``
(NumPy reference and numba kernels), ``sweep`` (the command line), ``results`` (table,
manifest, resumable store), ``bench`` (speed and memory).
"""

__version__ = "0.1.0"
