"""Does the stopping length stay put as the model grows? Two studies at one training context.

The same mechanisms trained at the same context T at two model sizes, and scored on the same
test windows (the windows depend on the evaluation length and their count only, so two studies
with the same ones share them; :func:`compare` checks it). Per mechanism:

- the rule's ``L_stop`` (``report.stop_length``) of each size, as a multiple of T, and its
  crossing with the bootstrap interval;
- at each multiple k, the excess of the larger model minus the smaller one's, windows paired
  and seeds independent (``stats.crossed``), classified against 0 by the one verdict rule
  (``stats.classify``): "larger degrades more", "larger degrades less" or "not resolved".

The verdict on the question: "stays put" when the two rule ``L_stop`` are the same multiple,
"moves" otherwise. With multiples a factor 2 apart, "stays put" means the crossing moved by less
than a factor 2 or not across a measured multiple; the crossings and the per-multiple
differences say how much the level of degradation changed at one ``L_stop``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from mixing.engine.stats import classify, crossed

from .report import Study, _cell, _k, holds_to, stop_text, vs_alibi_text

WORDS = {"above": "larger degrades more", "below": "larger degrades less", "unresolved": "not resolved"}


def parameters(st: Study) -> int | None:
    """The trainable parameters of the study's first model with weights (None without one)."""
    from .store import folder_name
    from .train import load_model

    for lab in st.labels:
        folder = st.folder / "models" / folder_name(lab) / "seed0"
        if (folder / "model.pt").exists():
            return sum(p.numel() for p in load_model(folder).parameters() if p.requires_grad)
    return None


def _size(st: Study) -> str:
    m = st.manifest.get("model", {})
    n = parameters(st) if hasattr(st, "folder") else None
    count = f", {n / 1e3:.0f}k parameters" if n else ""
    return f"{m.get('layers', '?')} layers, width {m.get('width', '?')}{count}"


def compare(small: str | Path | Study, large: str | Path | Study) -> list[dict]:
    """One row per mechanism of both studies (``small``/``large``: folders or ``Study``)."""
    from mixing.engine.errors import ParameterError

    a, b = (s if isinstance(s, Study) else Study(Path(s)) for s in (small, large))
    if a.context != b.context:
        raise ParameterError(f"scale: the studies are trained at other contexts ({a.context} and {b.context})")
    labs = [lab for lab in a.labels if lab in b.labels]
    if labs and not np.array_equal(a.bits[labs[0]].starts, b.bits[labs[0]].starts):
        raise ParameterError("scale: the studies are scored on other test windows")
    ks = [k for k in a.ks if k in b.ks]
    rows = []
    for lab in labs:
        A, B = a.bits[lab], b.bits[lab]
        diffs = [crossed([B.excess(k), A.excess(k)], [1, -1]) for k in ks]
        stops = [s.stop(lab) for s in (a, b)]
        texts = [stop_text(stop, holds_to(s.bits[lab]), max(s.ks)) for s, (stop, _) in zip((a, b), stops)]
        rows.append(
            {
                "mechanism": lab,
                "seeds": (A.seeds, B.seeds),
                "stop": tuple(texts),
                "cross": tuple(c for _, c in stops),
                "ks": ks,
                "diff": diffs,
                "words": [WORDS[classify(iv, 0.0)] for iv in diffs],
                "verdict": _verdict(*texts),
            }
        )
    return rows


def _verdict(small: str, large: str) -> str:
    if "not resolved" in (small, large):
        return "not resolved"
    return "stays put" if small == large else "moves"


def table(small: str | Path | Study, large: str | Path | Study) -> str:
    """The comparison as Markdown, with the regime of both studies."""
    a, b = (s if isinstance(s, Study) else Study(Path(s)) for s in (small, large))
    rows = compare(a, b)
    ks = rows[0]["ks"] if rows else []
    kmax = max(ks) if ks else 0
    lines = [
        f"Model size at T = {a.context}: {_size(a)} ({a.folder.name}) against {_size(b)} ({b.folder.name}), "
        "the same test windows; L_stop by the rule of theory.md section 6 at each size; the excess of the larger "
        "model minus the smaller one at each multiple, 95% over seeds and windows (windows paired); vs ALiBi: "
        "full-context bits minus ALiBi's of the same size on the same bytes:",
        "",
        "| mechanism | seeds | L_stop, smaller | L_stop, larger | crossing, smaller [95%] | crossing, larger [95%] | "
        + " | ".join(f"excess difference at {k}x" for k in ks)
        + f" | vs ALiBi at {kmax}x, smaller | vs ALiBi at {kmax}x, larger | L_stop as the model grows |",
        "|---|---|---|---|---|---|" + "---|" * (len(ks) + 3),
    ]
    for r in rows:
        cross = [f"{_k(c.value, kmax)} [{_k(c.lo, kmax)}, {_k(c.hi, kmax)}]" for c in r["cross"]]
        diffs = [_cell(iv, w) for iv, w in zip(r["diff"], r["words"])]
        vs = [vs_alibi_text(st, r["mechanism"], kmax) for st in (a, b)]
        lines.append(
            f"| {r['mechanism']} | {r['seeds'][0]} / {r['seeds'][1]} | {r['stop'][0]} | {r['stop'][1]} | "
            f"{cross[0]} | {cross[1]} | " + " | ".join(diffs) + f" | {vs[0]} | {vs[1]} | {r['verdict']} |"
        )
    return "\n".join(lines)
