"""The tables and E1-E4 verdicts of a study, computed from its files (never typed by hand).

The measure (docs/theory.md, "Trained models: the same-window excess"): for every test window
and position bucket, ``excess = full - sliding``, the model's bits per byte with full causal
context minus its bits on the same bytes with a sliding window of its training context T. The
excess at ``k`` x T is the mean over the positions ``[k T / 2, k T)``.

Intervals: 95%, over seeds and windows together (``mixing.engine.stats.crossed``: seed effects,
window effects shared between mechanisms, Satterthwaite degrees of freedom). The rule, one
for every table (``mixing.engine.stats.classify``):

- a model *extrapolates to* ``k`` x T when the upper bound of its excess is below ``TAU``
  bits per byte at every multiple up to ``k``; it *fails* at ``k`` when the lower bound is
  above ``TAU``; else that multiple is unresolved;
- ``L_stop`` is the first multiple where it fails; its interval is the 2.5-97.5% range of the
  point where the mean excess first crosses ``TAU`` (log-linear between multiples), over a
  pigeonhole bootstrap of seeds and windows;
- a comparison "A beats B" is reproduced when the interval of the difference lies above 0,
  contradicted when below, else inconclusive.

Claims (regime: the study's model, data and lengths, printed with the tables):

- E1: ``so2-random`` at the scale with the lowest validation bits/byte at T (chosen there,
  never at evaluation lengths) against ``rope`` at its validation-chosen base: excess of RoPE
  minus excess of so2-random, at each multiple; every other scale is listed too.
- E2: ``so2-learned`` extrapolates (excess below TAU), at each multiple; and against its own
  frozen start (``so2-random`` at the same table): whether learning lowers the excess.
- E3: ``so2-learned-v`` against ``so2-learned``: excess difference, with the seeds needed to
  resolve it.
- E4: every rotation-only mechanism fails while ALiBi extrapolates, at each multiple.
"""

from __future__ import annotations

import functools
import json
import math
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import ArrayLike

from mixing.engine.stats import Interval, classify, crossed, mean_se, pigeonhole, seeds_needed

if TYPE_CHECKING:
    from .data import Corpus

#: the excess (bits per byte) above which a model no longer extrapolates: about 2% of the
#: in-context level of these models (2.2-2.9 bits per byte); see docs/theory.md
TAU = 0.05
BOOTSTRAP = 2000
#: mechanisms that control far mass with a bias (ALiBi's slopes or a forget gate)
CONTROLLED = ("alibi", "fox", "so2-learned-forget", "path-forget")
ROTATION_ONLY = ("rope", "so2-random", "so2-learned", "so2-learned-v", "path")


def _f(x: object) -> float:
    try:
        return float(x)
    except (TypeError, ValueError):
        return float("nan")


def row_label(r: dict) -> str:
    from .model import label

    return label(r["mechanism"], r.get("scale") or "", r.get("gate") or "", _f(r.get("rope_base")) or 10000.0)


def base_name(lab: str) -> str:
    return lab.split(":")[0]


class Bits:
    """The bits tables of one mechanism: ``full`` and ``sliding`` [seeds, windows, buckets]."""

    def __init__(self, full: ArrayLike, sliding: ArrayLike, edges: ArrayLike, context: int, starts: ArrayLike) -> None:
        self.full, self.sliding = np.asarray(full), np.asarray(sliding)
        self.edges, self.context, self.starts = np.asarray(edges), int(context), np.asarray(starts)

    @property
    def seeds(self) -> int:
        return self.full.shape[0]

    def bucket(self, k: int) -> int:
        a, b = k * self.context // 2, k * self.context
        hit = np.nonzero((self.edges[:, 0] == a) & (self.edges[:, 1] == b))[0]
        if hit.size == 0:
            raise KeyError(k)
        return int(hit[0])

    def multiples(self) -> list[int]:
        out = []
        for a, b in self.edges:
            k = b // self.context
            if b == k * self.context and a == b // 2 and k >= 2:
                out.append(int(k))
        return out

    def excess(self, k: int) -> np.ndarray:
        j = self.bucket(k)
        return self.full[:, :, j] - self.sliding[:, :, j]

    def level(self) -> np.ndarray:
        """Sliding-window bits over every position at or beyond T, [seeds, windows]."""
        keep = self.edges[:, 0] >= self.context
        width = (self.edges[keep, 1] - self.edges[keep, 0]).astype(float)
        return (self.sliding[:, :, keep] * width).sum(-1) / width.sum()


def load_bits(folder: Path, labels: Iterable[str], seeds: int | dict[str, int]) -> dict[str, Bits]:
    """Every finished model's bits, per mechanism (``seeds``: a count, or label -> count; seeds
    without a finished model are left out); the windows must be the same for every model."""
    from .store import folder_name

    out, starts = {}, None
    for lab in labels:
        full, slide, meta = [], [], None
        for seed in range(seeds[lab] if isinstance(seeds, dict) else seeds):
            p = Path(folder) / "models" / folder_name(lab) / f"seed{seed}" / "bits.npz"
            if not p.exists():
                continue
            with np.load(p, allow_pickle=False) as z:
                full.append(z["full"])
                slide.append(z["sliding"])
                meta = (z["edges"].copy(), int(z["context"]), z["starts"].copy())
            if starts is None:
                starts = meta[2]
            elif not np.array_equal(starts, meta[2]):
                raise ValueError(f"{p}: scored on other test windows than the rest of the study")
        if full:
            out[lab] = Bits(np.stack(full), np.stack(slide), *meta)
    return out


def holds_to(b: Bits, tau: float = TAU) -> int:
    """The largest multiple k such that the model holds (excess below ``tau`` at 95%) at every
    multiple up to k; 1 if it does not hold at the first."""
    out = 1
    for k in b.multiples():
        if classify(crossed([b.excess(k)]), tau) != "below":
            break
        out = k
    return out


def stop_length(b: Bits, tau: float = TAU) -> tuple[float, Interval]:
    """``L_stop`` by the rule (first multiple failing at 95%; inf if none) and the bootstrap
    interval of the crossing point, both as multiples of T."""
    ks = b.multiples()
    ivs = [crossed([b.excess(k)]) for k in ks]
    stop = next((k for k, iv in zip(ks, ivs) if classify(iv, tau) == "above"), math.inf)
    X = np.stack([b.excess(k) for k in ks], axis=-1)  # [S, N, K]
    point = _crossing(X.mean((0, 1)), ks, tau)
    rng = np.random.default_rng(12345)
    boots = np.empty(BOOTSTRAP)
    for i in range(BOOTSTRAP):
        (si,), wi = pigeonhole(rng, [X.shape[0]], X.shape[1])
        boots[i] = _crossing(X[si][:, wi].mean((0, 1)), ks, tau)
    lo, hi = np.percentile(boots, 2.5, method="lower"), np.percentile(boots, 97.5, method="higher")
    return stop, Interval(point, float("nan"), float("nan"), float(lo), float(hi))


def _crossing(curve: np.ndarray, ks: Sequence[int], tau: float) -> float:
    """Where the excess curve (0 at 1x by construction) first exceeds tau, log-linear between
    multiples; inf if it never does."""
    prev_k, prev_e = 1.0, 0.0
    for k, e in zip(ks, curve):
        if e > tau:  # prev_e <= tau < e: the step is never flat
            frac = (tau - prev_e) / (e - prev_e)
            return float(2 ** (math.log2(prev_k) + frac * (math.log2(k) - math.log2(prev_k))))
        prev_k, prev_e = k, e
    return math.inf


def bits_rows(folder: Path, labels: Iterable[str], seeds: int | dict[str, int]) -> list[dict]:
    """results.csv rows of the bits: per seed (mean and s.e. over windows) and over seeds and
    windows (``seed`` "all": the crossed interval), and the stopping length."""
    tables = load_bits(folder, labels, seeds)
    rows = []
    alibi = tables.get("alibi")
    for lab, b in tables.items():
        base = _identity(lab)
        ctx = b.context
        for k in b.multiples():
            L = k * ctx
            series = {
                "bpb_full": b.full[:, :, b.bucket(k)],
                "bpb_sliding": b.sliding[:, :, b.bucket(k)],
                "excess": b.excess(k),
            }
            for metric, X in series.items():
                for s in range(b.seeds):
                    m, se = mean_se(X[s])
                    rows.append(
                        {
                            **base,
                            "seed": s,
                            "seeds": 1,
                            "eval_length": L,
                            "metric": metric,
                            "x": k,
                            "value": m,
                            "stderr": se,
                        }
                    )
                rows.append(_iv_row(base, b.seeds, L, metric, k, crossed([X])))
            if alibi is not None and lab != "alibi":
                j = b.bucket(k)
                rows.append(
                    _iv_row(base, b.seeds, L, "vs_alibi", k, crossed([b.full[:, :, j], alibi.full[:, :, j]], [1, -1]))
                )
        rows.append(_iv_row(base, b.seeds, "", "level", "", crossed([b.level()])))
        stop, cross = stop_length(b)
        rows.append(
            {
                **base,
                "seed": "all",
                "seeds": b.seeds,
                "eval_length": "",
                "metric": "L_stop",
                "x": "",
                "value": stop,
                "stderr": float("nan"),
            }
        )
        rows.append(
            {
                **base,
                "seed": "all",
                "seeds": b.seeds,
                "eval_length": "",
                "metric": "L_cross",
                "x": "",
                "value": cross.value,
                "stderr": float("nan"),
                "lo": cross.lo,
                "hi": cross.hi,
            }
        )
    return rows


def _identity(lab: str) -> dict:
    from .model import parse_mechanism

    p = parse_mechanism(lab)
    return {"mechanism": p["mechanism"], "scale": p["scale"], "gate": p["gate"], "rope_base": p["rope_base"]}


def _iv_row(base: dict, seeds: int, L: int | str, metric: str, x: object, iv: Interval) -> dict:
    return {
        **base,
        "seed": "all",
        "seeds": seeds,
        "eval_length": L,
        "metric": metric,
        "x": x,
        "value": iv.value,
        "stderr": iv.se,
        "lo": iv.lo,
        "hi": iv.hi,
        "dof": iv.dof,
    }


# ---------------------------------------------------------------------------------------
# the report


class Study:
    """A finished (or partly finished) study folder: its rows, bits and settings."""

    def __init__(self, folder: Path) -> None:
        from .store import read_csv

        self.folder = Path(folder)
        path = self.folder / "results.csv"
        if not path.exists():
            from mixing.engine.errors import ParameterError

            raise ParameterError(f"dir: no results.csv in {folder}")
        from mixing.engine.errors import ParameterError

        try:
            self.rows = read_csv(path)
            man = self.folder / "manifest.json"
            self.manifest = json.loads(man.read_text()) if man.exists() else {}
            if not isinstance(self.manifest, dict):
                raise ValueError("manifest.json is not an object")
            labels = list(self.by_label)
            for r in self.rows:
                if str(r["seed"]) not in ("all", ""):
                    int(_f(r["seed"]))
        except (KeyError, ValueError, TypeError, UnicodeDecodeError) as exc:
            raise ParameterError(
                f"dir: {path} is not the results of a mixing.lm study ({type(exc).__name__}: {exc})"
            ) from None
        seeds = {}
        for lab, rows in self.by_label.items():
            for r in rows:
                if str(r["seed"]) not in ("all", ""):
                    seeds[lab] = max(seeds.get(lab, 0), int(_f(r["seed"])) + 1)
        self.bits = load_bits(self.folder, labels, {lab: seeds.get(lab, 0) for lab in labels})
        self.labels = [lab for lab in labels if lab in self.bits]
        self.context = next(iter(self.bits.values())).context if self.bits else 0
        self.coherence_lags = int(self.manifest.get("coherence_lags", 512))
        self.ks = next(iter(self.bits.values())).multiples() if self.bits else []

    @functools.cached_property
    def by_label(self) -> dict[str, list[dict]]:
        """The rows of each mechanism label, in file order (the tables look rows up by label)."""
        out: dict[str, list[dict]] = {}
        for r in self.rows:
            out.setdefault(row_label(r), []).append(r)
        return out

    def rows_of(self, lab: str) -> list[dict]:
        """The rows of one mechanism label."""
        return self.by_label.get(lab, [])

    def value(self, lab: str, metric: str, x: object = "") -> float:
        vals = [
            _f(r["value"])
            for r in self.rows_of(lab)
            if str(r["seed"]) == "all"
            and r["metric"] == metric
            and str(r.get("layer", "")) in ("", "nan")
            and str(r.get("x", "")) == str(x)
        ]
        return vals[0] if vals else float("nan")

    def per_head(self, lab: str, metric: str, x: object = "") -> list[float]:
        return [
            _f(r["value"])
            for r in self.rows_of(lab)
            if str(r["seed"]) == "all"
            and r["metric"] == metric
            and str(r.get("layer", "")) not in ("", "nan")
            and str(r.get("x", "")) == str(x)
        ]

    def excess(self, lab: str, k: int) -> Interval:
        return crossed([self.bits[lab].excess(k)])

    def stop(self, lab: str) -> tuple[float, Interval]:
        """``stop_length`` of a mechanism as ``bits_rows`` wrote it into results.csv."""
        got = {
            r["metric"]: r
            for r in self.rows_of(lab)
            if str(r["seed"]) == "all" and r["metric"] in ("L_stop", "L_cross")
        }
        c = got["L_cross"]
        return _f(got["L_stop"]["value"]), Interval(
            _f(c["value"]), float("nan"), float("nan"), _f(c["lo"]), _f(c["hi"])
        )

    def diff(self, a: str, b: str, k: int, what: str = "excess") -> Interval:
        """``what``(a) - ``what``(b) at k (``excess`` or ``full``), windows paired."""
        A, B = self.bits[a], self.bits[b]
        if what == "excess":
            return crossed([A.excess(k), B.excess(k)], [1, -1])
        return crossed([A.full[:, :, A.bucket(k)], B.full[:, :, B.bucket(k)]], [1, -1])

    def regime(self) -> str:
        m = self.manifest
        model, tr = m.get("model", {}), m.get("train", {})
        corpus = m.get("corpus", {})
        seeds = sorted({b.seeds for b in self.bits.values()})
        windows = sorted({b.full.shape[1] for b in self.bits.values()})
        return (
            f"Regime: byte-level language models on {corpus.get('source', '?')} ({corpus.get('files', '?')} files), "
            f"{model.get('layers', '?')} layers, width {model.get('width', '?')}, {model.get('heads', '?')} heads, "
            f"trained at context T = {tr.get('context', '?')} for {tr.get('steps', '?')} steps of "
            f"{tr.get('batch', '?')} windows; {'-'.join(map(str, seeds))} seeds per mechanism; "
            f"{'/'.join(map(str, windows))} test windows of {self.context * max(self.ks or [1])} bytes from distinct "
            f"test files, the same for every model; intervals 95% over seeds and windows; "
            f"threshold TAU = {TAU} bits/byte."
        )


def _cell(iv: Interval, verdict: str | None = None) -> str:
    text = iv.text()
    return f"{text} {verdict}" if verdict else text


def _k(x: float, kmax: int) -> str:
    return f"{x:.3g}x" if math.isfinite(x) else f"> {kmax}x"


def stop_text(stop: float, held: int, kmax: int) -> str:
    """The rule's L_stop as the tables write it: a multiple, beyond the largest measured (the
    excess held, ``holds_to``, at every multiple up to ``kmax``), or not resolved."""
    if math.isfinite(stop):
        return f"{stop:g}x"
    return f"> {kmax}x" if held == kmax else "not resolved"


def vs_alibi_text(st: Study, lab: str, k: int) -> str:
    """Full-context bits minus ALiBi's on the same bytes at k, with its interval ("-" for ALiBi
    itself or a study without it)."""
    if "alibi" not in st.bits or lab == "alibi":
        return "-"
    return st.diff(lab, "alibi", k, "full").text()


def stop_table(st: Study) -> str:
    head = [
        "mechanism",
        "val bpb (T)",
        "in-context level",
        "holds to",
        "L_stop (rule)",
        "crossing [95%]",
        f"vs ALiBi at {max(st.ks)}x",
        f"far mass at {max(st.ks)}x",
        "W(0.1) median [range]",
        "table moved (rad RMS)",
    ]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    kmax = max(st.ks)
    for lab in st.labels:
        b = st.bits[lab]
        stop, cross = st.stop(lab)
        held = holds_to(b)
        stop_txt = stop_text(stop, held, kmax)
        held_txt = f"{held}x" if held > 1 else "-"
        cross_txt = f"{_k(cross.value, kmax)} [{_k(cross.lo, kmax)}, {_k(cross.hi, kmax)}]"
        vs = vs_alibi_text(st, lab, kmax)
        far = st.per_head(lab, "far_mass", kmax)
        win = sorted(w if math.isfinite(w) else math.inf for w in st.per_head(lab, "window"))  # beyond: above all
        fin = [w for w in win if math.isfinite(w)]
        if win:
            med = win[len(win) // 2]
            wtxt = (
                f"{med:.0f} [{min(fin):.0f}, {max(fin):.0f}]"
                if fin and math.isfinite(med)
                else f"> lags ({len(fin)}/{len(win)} finite)"
            )
        else:
            wtxt = "-"
        moved = [
            _f(r["value"])
            for r in st.rows_of(lab)
            if str(r["seed"]) not in ("all", "") and r["metric"] == "angle_shift"
        ]
        cells = [
            lab,
            f"{st.value(lab, 'val_bpb'):.3f}",
            crossed([b.level()]).text(sign=False),
            held_txt,
            stop_txt,
            cross_txt,
            vs,
            f"{sum(far) / len(far):.3g}" if far else "-",
            wtxt,
            f"{np.mean(moved):.3f} ({min(moved):.3f}-{max(moved):.3f})" if moved else "-",
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


WORD = {"below": "holds", "above": "fails", "unresolved": "unresolved"}


def excess_table(st: Study) -> str:
    head = ["mechanism"] + [f"{k}x" for k in st.ks]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for lab in st.labels:
        cells = [lab]
        for k in st.ks:
            iv = st.excess(lab, k)
            cells.append(_cell(iv, WORD[classify(iv, TAU)]))
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _chosen(st: Study, prefix: str) -> tuple[str | None, list[str]]:
    cands = [lab for lab in st.labels if base_name(lab) == prefix]
    if not cands:
        return None, []
    return min(cands, key=lambda lab: st.value(lab, "val_bpb")), cands


COMPARE = {"above": "reproduced", "below": "contradicted", "unresolved": "inconclusive"}


def _compare_cell(st: Study, a: str, b: str, k: int) -> str:
    """The cell of "a minus b > 0": the interval, the verdict and, when inconclusive, the seeds
    an effect of the measured size would need."""
    iv = st.diff(a, b, k)
    v = COMPARE[classify(iv)]
    if v == "inconclusive":
        need = seeds_needed(iv, min(st.bits[a].seeds, st.bits[b].seeds))
        v += f" (~{need:.0f} seeds)" if math.isfinite(need) else ""
    return _cell(iv, v)


def verdicts(st: Study) -> list[list[str]]:
    """Rows [claim, subject, cell per multiple..., rule] of the E1-E4 verdicts."""
    out = []
    so2, scales = _chosen(st, "so2-random")
    rope, bases = _chosen(st, "rope")
    if so2 and rope:
        for lab in [so2] + [s for s in scales if s != so2]:
            cells = [_compare_cell(st, rope, lab, k) for k in st.ks]
            tag = "E1" if lab == so2 else "E1 (other scale)"
            out.append([tag, f"{rope} minus {lab}", *cells, "excess difference > 0 at 95%"])
    if "so2-learned" in st.bits:
        cells = []
        for k in st.ks:
            iv = st.excess("so2-learned", k)
            cells.append(
                _cell(
                    iv,
                    {"below": "reproduced", "above": "not reproduced", "unresolved": "unresolved"}[classify(iv, TAU)],
                )
            )
        out.append(["E2", "so2-learned", *cells, f"excess < {TAU} at 95%"])
    # each learned table against its own frozen start (the same table, not learned)
    for lab in [x for x in st.labels if base_name(x) == "so2-learned"]:
        table = lab.partition(":")[2] or "abs=0.3"
        start = {"abs=0": "rope", "zero": "nope"}.get(table, f"so2-random:{table}")
        if start in st.bits:
            cells = [_compare_cell(st, start, lab, k) for k in st.ks]
            out.append(["E2 (learning)", f"{start} (frozen start) minus {lab}", *cells, "excess difference > 0 at 95%"])
    if "so2-learned-v" in st.bits and "so2-learned" in st.bits:
        cells = [_compare_cell(st, "so2-learned", "so2-learned-v", k) for k in st.ks]
        out.append(["E3", "so2-learned minus so2-learned-v", *cells, "excess difference > 0 at 95%"])
    rot = [lab for lab in st.labels if base_name(lab) in ROTATION_ONLY]
    if rot and "alibi" in st.bits:
        cells = []
        for k in st.ks:
            states = {lab: classify(st.excess(lab, k), TAU) for lab in rot + ["alibi"]}
            failing = [lab for lab in rot if states[lab] == "above"]
            holding = [lab for lab in rot if states[lab] == "below"]
            flat = states["alibi"] == "below"
            if flat and len(failing) == len(rot):
                v = "reproduced"
            elif holding or states["alibi"] == "above":
                v = (
                    "not reproduced ("
                    + ", ".join(
                        [f"{lab} holds" for lab in holding] + (["ALiBi fails"] if states["alibi"] == "above" else [])
                    )
                    + ")"
                )
            else:
                v = f"unresolved ({len(failing)}/{len(rot)} fail)"
            cells.append(v)
        out.append(
            [
                "E4",
                "every rotation-only model fails, ALiBi holds",
                *cells,
                f"excess > {TAU} (fails) / < {TAU} (holds) at 95%",
            ]
        )
    return out


def verdict_block(st: Study) -> str:
    head = ["claim", "comparison"] + [f"{k}x" for k in st.ks] + ["rule"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    lines += ["| " + " | ".join(r) + " |" for r in verdicts(st)]
    return "\n".join(lines)


def bound_rows(st: Study) -> list[list[str]]:
    """B5 and B6 with B from the training length: checks that can fail, with their slack."""
    per = {}
    for r in st.rows:
        if str(r["seed"]) == "all" or r["metric"] not in ("far_mass", "far_mass_b5", "far_mass_ub"):
            continue
        key = (row_label(r), r["seed"], r["layer"], r["head"], r["x"])
        per.setdefault(key, {})[r["metric"]] = _f(r["value"])
    seen = {}
    for r in st.rows:
        if str(r["seed"]) != "all" and r["metric"] in ("B_train", "B_seen"):
            seen.setdefault((row_label(r), r["seed"], r["layer"], r["head"]), {})[r["metric"]] = _f(r["value"])
    out_of_range = sum(1 for v in seen.values() if v.get("B_seen", 0) > v.get("B_train", math.inf))
    rot = [v for k, v in per.items() if base_name(k[0]) in ROTATION_ONLY + ("nope",) and "far_mass_b5" in v]
    out = []
    if rot:
        slack = [v["far_mass"] - v["far_mass_b5"] for v in rot]
        bound = max(v["far_mass_b5"] for v in rot)
        held = sum(s >= 0 for s in slack)
        bounds = np.array([v["far_mass_b5"] for v in rot])
        out.append(
            [
                "B5",
                f"{held}/{len(slack)} hold",
                f"far mass >= the B5 lower bound, with B measured on training-length validation windows, per "
                f"(seed, multiple, layer, head) of the rotation-only models and NoPE; the bound: median "
                f"{np.median(bounds):.2g}, largest {bound:.2g}; smallest slack {min(slack):.3g}; "
                f"{out_of_range}/{len(seen)} heads saw |scores| above their training-length B on the long windows",
            ]
        )
    biased = [v for k, v in per.items() if base_name(k[0]) in CONTROLLED and "far_mass_ub" in v]
    if biased:
        slack = [v["far_mass_ub"] - v["far_mass"] for v in biased]
        held = sum(s >= -1e-9 for s in slack)
        out.append(
            [
                "B6",
                f"{held}/{len(slack)} hold",
                "far mass <= the B6-form bound with B from training-length validation windows and the head's "
                "realised bias (ALiBi's slopes; the forget gate's values on the same window, so for gated heads "
                f"it is conditional on the gate); smallest slack {min(slack):.3g}, median "
                f"{float(np.median(slack)):.3g}",
            ]
        )
    return out


def load_passkey(st: Study) -> dict:
    """Per mechanism with a passkey test: (ks, accuracy [seeds, len(ks), windows])."""
    from .store import folder_name

    out = {}
    for lab in st.labels:
        accs, ks = [], None
        for seed in range(st.bits[lab].seeds):
            p = st.folder / "models" / folder_name(lab) / f"seed{seed}" / "passkey.npz"
            if p.exists():
                with np.load(p, allow_pickle=False) as z:
                    accs.append(z["acc"])
                    ks = [float(k) for k in z["ks"]]
        if accs:
            out[lab] = (ks, np.stack(accs))
    return out


def passkey_table(st: Study) -> str:
    """Retrieval accuracy by distance (the key k T bytes before the query), 95% over seeds and
    windows, and the verdict against chance (1/26): "retrieves" when the interval lies above
    it, "chance" when it holds it."""
    from .passkey import CHANCE

    got = load_passkey(st)
    if not got:
        return ""
    ks = next(iter(got.values()))[0]
    lines = ["| mechanism | " + " | ".join(f"key {k:g} T back" for k in ks) + " |", "|---|" + "---|" * len(ks)]
    for lab, (kk, acc) in got.items():
        cells = []
        for j in range(len(kk)):
            iv = crossed([acc[:, j, :]]).within(0.0, 1.0)  # a proportion
            cells.append(_cell(iv, classify(iv, CHANCE, above="retrieves", below="below chance", unresolved="chance")))
        lines.append(f"| {lab} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


#: the distances (multiples of T) at which :func:`routes_table` looks for the copy's route:
#: well inside every mixing window, half the context, and beyond it
ROUTE_KS = (0.125, 0.5, 2.0)


def load_routes(st: Study, corpus: Corpus | None = None, progress: Callable[[str], None] | None = None) -> dict:
    """Per mechanism with a passkey test: the passkey accuracy and the attention routes
    (:func:`mixing.lm.passkey.routes`) at ``ROUTE_KS`` of every seed, each [seeds, K, windows, ...],
    from ``routes.npz`` in each model folder (computed from its weights when missing or made with
    other distances or windows)."""
    from . import data as data_mod
    from . import passkey as passkey_mod
    from .store import atomic_npz, folder_name
    from .train import load_model

    out, win = {}, None
    length = int(st.manifest["length"])
    fits = [k for k in ROUTE_KS if passkey_mod.prefix_length(st.context, k) <= length]
    ks = np.asarray(fits, dtype=np.float64)
    for lab in load_passkey(st):
        got = []
        for seed in range(st.bits[lab].seeds):
            folder = st.folder / "models" / folder_name(lab) / f"seed{seed}"
            cache = folder / "routes.npz"
            if cache.exists():
                with np.load(cache, allow_pickle=False) as z:
                    arrays = {k: z[k] for k in z.files}
                if np.array_equal(arrays["ks"], ks) and arrays["acc"].shape[1] == int(st.manifest.get("windows", -1)):
                    got.append(arrays)
                    continue
            if not (folder / "model.pt").exists():
                continue
            if win is None:
                corpus = corpus if corpus is not None else data_mod.load()
                win, _ = data_mod.file_windows(corpus, "test", length, int(st.manifest["windows"]))
            model = load_model(folder)
            arrays = {
                **passkey_mod.routes(model, win, st.context, ks),
                "acc": passkey_mod.accuracy(model, win, st.context, ks)["acc"],
            }
            atomic_npz(cache, arrays)
            got.append(arrays)
            if progress:
                progress(f"routes: {lab} seed {seed}")
        if got:
            out[lab] = {k: np.stack([g[k] for g in got]) for k in ("acc", "span", "target", "gate")}
    return out


def route_summary(r: dict) -> dict:
    """One mechanism's routes (``load_routes``) reduced: at each distance, the accuracy and the
    attention mass on the letter to copy of each seed's head with the most of it at the shortest
    distance (the induction head if one formed), each with its 95% interval over seeds and
    windows (cut to [0, 1]); and the log factor of the most open gate [seeds, K] (mean over
    windows, the largest head of each seed), None without a gate."""
    S, K = r["acc"].shape[:2]
    flat = r["target"].reshape(S, K, r["target"].shape[2], -1)  # [S, K, N, layers * H]
    head = flat[:, 0].mean(1).argmax(-1)
    g = r["gate"].reshape(S, K, r["gate"].shape[2], -1)
    return {
        "acc": [crossed([r["acc"][:, j]]).within(0.0, 1.0) for j in range(K)],
        "target": [crossed([flat[np.arange(S), j, :, head]]).within(0.0, 1.0) for j in range(K)],
        "gate": np.nanmax(np.nanmean(g, axis=2), axis=-1) if np.isfinite(g).any() else None,
    }


def routes_table(st: Study, corpus: Corpus | None = None) -> str:
    """Why a model copies or not: per mechanism and distance (``ROUTE_KS``), the passkey
    accuracy; the attention mass on the letter to copy of the head with the most of it at the
    shortest distance (per seed: the induction head if one formed), 95% over seeds and windows;
    and, for gated heads, the log factor of the most open gate over the distance (mean over
    windows, the largest head of each seed; mean and range over seeds)."""
    from .passkey import CHANCE

    got = load_routes(st, corpus)
    if not got:
        return ""
    kk = [f"{k:g} T" for k in ROUTE_KS][: next(iter(got.values()))["acc"].shape[1]]
    lines = [
        "| mechanism | "
        + " | ".join(f"accuracy {k}" for k in kk)
        + " | "
        + " | ".join(f"mass on the letter to copy, {k}" for k in kk)
        + " | most open gate, log factor ("
        + ", ".join(kk)
        + ") |",
        "|---|" + "---|" * (2 * len(kk) + 1),
    ]
    for lab, r in got.items():
        sm = route_summary(r)
        acc = [
            _cell(iv, classify(iv, CHANCE, above="retrieves", below="below chance", unresolved="chance"))
            for iv in sm["acc"]
        ]
        target = [_cell(iv) for iv in sm["target"]]
        most = sm["gate"]
        gate = (
            "(no gate)" if most is None else ", ".join(f"{m.mean():.1f} [{m.min():.1f}, {m.max():.1f}]" for m in most.T)
        )
        lines.append(f"| {lab} | " + " | ".join(acc + target) + f" | {gate} |")
    return "\n".join(lines)


def verdict_table(folder: str | Path | Study) -> str:
    """The whole report of a study folder (Markdown)."""
    st = folder if isinstance(folder, Study) else Study(Path(folder))
    if not st.labels:
        return "(no finished models)"
    parts = [
        st.regime(),
        "",
        "Level and stopping length (L_stop: the first multiple whose excess is above "
        f"TAU = {TAU} at 95%; crossing: bootstrap over seeds and windows):",
        "",
        stop_table(st),
        "",
        "Excess over the sliding-window level (bits/byte, 95% interval; holds: below TAU, fails: above):",
        "",
        excess_table(st),
        "",
        "Verdicts:",
        "",
        verdict_block(st),
    ]
    keys = passkey_table(st)
    if keys:
        parts += [
            "",
            "Passkey retrieval (mixing.lm.passkey; trained with a planted pair in a fraction "
            f"{st.manifest.get('train', {}).get('passkey', '?')} of its windows, at distances up to T): "
            "accuracy on the value's letters, 95% over seeds and windows; chance 1/26 = 0.038, and a "
            "model that saw only its last T bytes would be at chance beyond 1 T:",
            "",
            keys,
        ]
        routes = routes_table(st)
        if routes:
            parts += [
                "",
                "Routes to the key (mixing.lm.passkey.routes): accuracy and the attention mass on the letter "
                "to copy (one past the first occurrence of the query's byte) of each seed's head with the most "
                "of it at the shortest distance, 95% over seeds and windows; for gated heads, the log factor "
                "G_query - G_key of the most open gate (mean [range] over seeds). A model whose accuracy is at "
                "chance at 0.125 T, inside every window, never learned to copy:",
                "",
                routes,
            ]
    bounds = bound_rows(st)
    if bounds:
        parts += ["", "| bound | cases | what it says |", "|---|---|---|"]
        parts += ["| " + " | ".join(r) + " |" for r in bounds]
    return "\n".join(parts)
