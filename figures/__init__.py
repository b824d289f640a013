"""Every figure of the study, regenerated from the engine with theory overlaid.

One module per figure (``coherence``, ``score_gap``, ``extrapolation``, ``lower_bound``,
``values``, ``window``, ``horizon``, ``regimes``, ``learned``, ``lm``, ``forecast``, ``passkey``), each with
``compute(quick, out=None, runner=None) -> rows`` (tidy data, the CSV written beside the image)
and ``draw(rows) -> Figure``. ``python -m figures`` runs them; data already on disk is reused
when its manifest matches.
"""

NAMES = (
    "coherence",
    "score-gap",
    "extrapolation",
    "lower-bound",
    "values",
    "window",
    "horizon",
    "regimes",
    "learned",
    "lm",
    "forecast",
    "passkey",
)
