"""forecast: far mass and the stopping length forecast from lengths up to 2T, beside the measurements.

For every mechanism of the transformer study (``figures/output/lm-run``, the figure ``lm``):
the far mass (lag > T/2, head mean) forecast by ``mixing.lm.forecast`` from the first 2T bytes
of the test windows, against the far mass measured on the same windows at each multiple k of
the training context; the forecast error with its 95% t interval over seeds; the same
forecast in the stylized engine on each model's exported generators (``mixing.engine.forecast.from_file``:
does the transport alone keep the stationary tail?); and the predicted stopping length against
the measured one. ``--quick`` forecasts the tiny smoke-test
study of the figure ``lm`` (trained first if it is not there).
"""

from __future__ import annotations

from pathlib import Path

from mixing.lm.plots import SHOWN, TABLES, draw_one  # noqa: F401
from mixing.lm.plots import draw_forecast as draw  # noqa: F401
from mixing.lm.plots import forecast_rows as rows_of


def spec(quick):
    from mixing.engine.forecast import ENGINE_TRIALS, FORECAST_VERSION

    from . import lm

    return {"study": lm.spec(quick), "forecast_version": FORECAST_VERSION, "engine_trials": ENGINE_TRIALS}


def compute(quick, out: Path | None = None, runner=None):
    import os

    from mixing.lm import forecast as fo
    from mixing.lm import run as run_mod

    from . import lm

    base = Path(out if out is not None else ".")
    folder = base / ("lm-run-quick" if quick else "lm-run")
    if not quick and not (folder / "results.csv").exists():
        from .__main__ import COMMITTED

        folder = COMMITTED / "lm-run"  # the committed study (never retrained here)
    if not (folder / "results.csv").exists():
        run_mod.run(lm.study(quick), folder, progress=None if quick else print, jobs=len(os.sched_getaffinity(0)))
    return rows_of(fo.study_rows(folder, engine=True))
