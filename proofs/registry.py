"""The proofs modules, in report order, and every derived formula by name (what
``python -m proofs eval --list`` prints). The runner, the report and ``eval`` all read
``MODULES``: a module added here is derived, reported and evaluable."""

from __future__ import annotations

from functools import cache

from . import coherence, far_mass, forecast, lookalike, retention, score_gap, second_moment, values

#: (section title, module): each module has ``formulas()`` and a docstring that opens its section
MODULES = (
    ("B1 coherence and window", coherence),
    ("B2 second moment", second_moment),
    ("B3 score gap", score_gap),
    ("B4, B5 retention and lower bound", retention),
    ("B6 far-mass control", far_mass),
    ("B7 value transport", values),
    ("B8 lookalike far mass", lookalike),
    ("F1 stationary-tail forecast", forecast),
)


@cache
def formulas() -> dict:
    out = {}
    for _, mod in MODULES:
        for f in mod.formulas():
            out[f.name] = f
    return out
