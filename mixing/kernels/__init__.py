"""Kernels with one contract: ``reference`` (NumPy), ``cpu`` (numba)."""
