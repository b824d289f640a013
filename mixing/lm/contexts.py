"""C3 and C4 across training contexts: the same mechanisms trained at several contexts T.

- **C3** (docs/theory.md: the mixing window is finite and does not depend on the context).
  Per model, ``W`` is the median of its heads' ``W(0.1)`` (a head whose coherence stays above
  0.1 at every measured lag counts as beyond all of them; a model whose median head is beyond
  them has no finite window). Between the smallest and the largest context, the log ratio of
  the seeds' mean log ``W`` gets a Welch t interval over seeds; the verdict is
  ``stats.independence`` against ``log(T_max / T_min)``, the log ratio a window that grows in
  proportion to the context would have: ``holds`` when the interval contains 0 and excludes
  proportional growth, ``contradicted`` when it excludes 0. The frozen random tables
  (``so2-random``) draw their angles from the seed alone and never train them, so their
  window cannot depend on T: for them the row checks the measurement, not the theory.
- **C4** (suppression learned at the training length transfers to any length, when
  ``W < T``). For every mechanism and context whose windows all lie inside the context
  (largest per-model ``W`` below ``T``), the stopping length: ``reproduced`` when the excess
  holds (below TAU at 95%) at every multiple measured, ``contradicted`` when the rule's
  ``L_stop`` is finite, else ``unresolved``.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from pathlib import Path

import numpy as np

from mixing.engine.stats import Interval, independence, welch

from .report import Study, _f, holds_to


def model_windows(st: Study, lab: str) -> list[float]:
    """Per seed, the median over heads of ``W(0.1)`` (inf where the median head has none)."""
    by_seed: dict[str, list[float]] = {}
    for r in st.rows_of(lab):
        if r["metric"] == "window" and str(r["seed"]) not in ("all", ""):
            w = _f(r["value"])
            by_seed.setdefault(str(r["seed"]), []).append(w if math.isfinite(w) else math.inf)
    return [float(np.median(v)) for _, v in sorted(by_seed.items())]


def _w_text(ws: list[float]) -> str:
    fin = [w for w in ws if math.isfinite(w)]
    if not ws:
        return "-"
    if len(fin) < len(ws):
        return f"> lags ({len(fin)}/{len(ws)} seeds finite)"
    return f"{np.median(fin):.0f} [{min(fin):.0f}, {max(fin):.0f}]"


def studies(folders: Iterable[str | Path | Study]) -> list[Study]:
    """The studies of ``folders``, in increasing training context (one study per context)."""
    sts = [f if isinstance(f, Study) else Study(Path(f)) for f in folders]
    sts.sort(key=lambda s: s.context)
    contexts = [s.context for s in sts]
    if len(set(contexts)) < len(contexts):
        from mixing.engine.errors import ParameterError

        raise ParameterError(f"studies: two folders share a training context ({contexts})")
    return sts


def c3_rows(folders: Iterable[str | Path | Study]) -> list[dict]:
    """One row per mechanism trained at two or more contexts: the smallest against the largest
    of them."""
    sts = studies(folders)
    rows = []
    for lab in dict.fromkeys(lab for s in sts for lab in s.labels):
        have = [s for s in sts if lab in s.labels]
        ws = {s.context: model_windows(s, lab) for s in have}
        if len(have) < 2 or not any(ws.values()):  # one context, or no transports (ALiBi, NoPE, FoX)
            continue
        lo, hi = have[0], have[-1]
        a, b = ws[lo.context], ws[hi.context]
        if not all(math.isfinite(w) for w in a + b):
            iv, verdict = (
                Interval(float("nan"), float("nan"), float("nan"), float("nan"), float("nan")),
                "no finite window",
            )
        else:
            iv = welch(np.log(a), np.log(b))
            verdict = independence(iv, math.log(hi.context / lo.context))
        if lab.startswith("so2-random") and verdict != "no finite window":
            verdict += " (frozen table: by construction)"
        rows.append(
            {
                "mechanism": lab,
                "windows": {T: _w_text(w) for T, w in ws.items()},
                "log_ratio": iv,
                "contexts": (lo.context, hi.context),
                "ratio": tuple(math.exp(x) if math.isfinite(x) else float("nan") for x in (iv.value, iv.lo, iv.hi)),
                "verdict": verdict,
            }
        )
    return rows


def c4_rows(folders: Iterable[str | Path | Study]) -> list[dict]:
    """One row per (mechanism, context) whose every model's window lies inside the context."""
    rows = []
    for st in studies(folders):
        kmax = max(st.ks)
        for lab in st.labels:
            ws = model_windows(st, lab)
            if not ws or not max(ws) < st.context:
                continue
            stop, cross = st.stop(lab)
            held = holds_to(st.bits[lab])
            verdict = "contradicted" if math.isfinite(stop) else "reproduced" if held == kmax else "unresolved"
            rows.append(
                {
                    "mechanism": lab,
                    "context": st.context,
                    "window": _w_text(ws),
                    "stop": stop,
                    "kmax": kmax,
                    "verdict": verdict,
                }
            )
    return rows


def table(folders: Iterable[str | Path | Study]) -> str:
    """The C3 and C4 tables (Markdown)."""
    sts = studies(folders)
    Ts = [s.context for s in sts]
    lines = [
        f"C3 across training contexts T = {', '.join(map(str, Ts))} (W: median over heads of W(0.1) per model; "
        "median [range] over seeds; ratio: W at the largest T a mechanism was trained at over W at the smallest, "
        "95% Welch interval over seeds, against the ratio of the contexts, which a window growing in proportion "
        "would have):",
        "",
        "| mechanism | " + " | ".join(f"W at T = {T}" for T in Ts) + " | ratio [95%] (contexts) | C3 |",
        "|---|" + "---|" * (len(Ts) + 2),
    ]
    for r in c3_rows(sts):
        v, lo, hi = r["ratio"]
        a, b = r["contexts"]
        ratio = f"{v:.2f} [{lo:.2f}, {hi:.2f}] ({b}/{a} = {b / a:g})" if math.isfinite(lo) else "-"
        lines.append(
            f"| {r['mechanism']} | "
            + " | ".join(r["windows"].get(T, "-") for T in Ts)
            + f" | {ratio} | {r['verdict']} |"
        )
    lines += [
        "",
        "C4 where every model's window lies inside its training context (W < T):",
        "",
        "| mechanism | T | W | L_stop | C4 |",
        "|---|---|---|---|---|",
    ]
    for r in c4_rows(sts):
        stop = f"{r['stop']:g}x" if math.isfinite(r["stop"]) else f"> {r['kmax']}x"
        lines.append(f"| {r['mechanism']} | {r['context']} | {r['window']} | {stop} | {r['verdict']} |")
    return "\n".join(lines)
