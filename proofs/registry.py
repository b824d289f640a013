"""Every derived formula by name (what ``python -m proofs eval --list`` prints)."""

from __future__ import annotations

from functools import cache

from . import coherence, far_mass, forecast, lookalike, retention, score_gap, second_moment, values


@cache
def formulas() -> dict:
    out = {}
    for mod in (coherence, second_moment, score_gap, retention, far_mass, values, lookalike, forecast):
        for f in mod.formulas():
            out[f.name] = f
    return out
