"""mixing: simulations of accumulated token-dependent transformations in attention.

Modules: ``mechanisms`` (validated descriptions), ``params`` (declared parameters),
``codes`` (the integer codes of families, sources, laws and key kinds), ``laws`` (angle
laws), ``rng`` (counter-based random numbers), ``twins`` (helpers compiled for CPU and GPU
from one source), ``task`` (the stylized retrieval task), ``measures`` (coherence, second
moment, retrieval), ``kernels`` (the backends: NumPy reference, numba CPU, numba-cuda, one
contract), ``sweep`` (the command line), ``results`` (table, manifest, resumable store),
``executors`` (where blocks of trials run: this process or a Dask cluster), ``learned``
(the associative-recall task, its trainer and generator files), ``lm`` (small trained
transformers for E1-E4, needs PyTorch).
"""

__version__ = "0.1.0"
