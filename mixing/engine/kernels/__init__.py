"""The backends, one contract (``contract.py``): ``reference`` (NumPy, from the
definitions), ``cpu`` (numba), ``cuda`` (numba-cuda, a package); ``draws`` holds the
per-step draws both compiled backends share."""
