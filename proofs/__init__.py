"""Symbolic derivations of the bounds B1-B7 of the theory, checked against the engine.

One module per bound family (``coherence``, ``second_moment``, ``score_gap``,
``retention``, ``far_mass``, ``values``); each derives its results in sympy from the
definitions and exports them as :class:`proofs.core.Formula` objects (sympy expression plus
a lambdified numeric function). ``python -m proofs`` verifies every claim against the
simulations of :mod:`mixing`; ``python -m proofs eval NAME key=value ...`` evaluates one
formula. See :func:`proofs.registry.formulas` for the list.
"""
