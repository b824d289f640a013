"""The E1-E4 verdicts of a study, computed from its result rows (never typed by hand).

Every comparison uses the mean over seeds and its standard error over seeds (``seed == "all"``
rows). The degradation of a model at length L is ``excess(L) = bpb_beyond(L) - bpb_all(1x)``:
the bits per byte on positions beyond the training context minus the model's own
training-length level. Rules (the same for every run; each verdict prints its numbers):

Each verdict is given at 16x the training context and at the longest length evaluated.

- E1 (random accumulated rotations beat RoPE): ``so2-random`` at the scale with the lowest
  *validation* bits per byte at the training context (chosen there, never at evaluation
  lengths) against ``rope``: bpb beyond the context; reproduced when RoPE's is higher by
  more than 2 combined standard errors, contradicted when lower by more than that, else
  inconclusive. The other scales are listed too ("E1 (other scale)"), never as the headline.
- E2 (learned token-dependent rotations stay near their training-length level):
  ``so2-learned``: reproduced when excess + 2 s.e. < 5% of its 1x level.
- E3 (rotating values helps): ``so2-learned-v`` against ``so2-learned``, as in E1.
- E4 (rotation-only degrades, ALiBi stays flat): for each rotation-only mechanism
  (``so2-learned``, ``so2-learned-v``, ``path``) whether excess - 2 s.e. > 0, and whether ALiBi's
  excess + 2 s.e. < 5% of its level; reproduced when all degrade and ALiBi is flat, partly
  when some do.
"""

from __future__ import annotations

import math

TOL = 0.05


def _f(x):
    try:
        return float(x)
    except (TypeError, ValueError):
        return float("nan")


class Table:
    def __init__(self, rows):
        self.rows = [r for r in rows if str(r["seed"]) == "all"]
        self.lengths = sorted({int(_f(r["eval_length"])) for r in self.rows if r["metric"] == "bpb_all"})
        self.context = int(_f(self.rows[0]["train_context"])) if self.rows else 0

    def labels(self):
        seen = []
        for r in self.rows:
            lab = label(r)
            if lab not in seen:
                seen.append(lab)
        return seen

    def get(self, lab, metric, L=None):
        for r in self.rows:
            if label(r) == lab and r["metric"] == metric and (L is None or int(_f(r["eval_length"])) == L) \
                    and str(r.get("layer", "")) in ("", "nan"):
                return _f(r["value"]), _f(r["stderr"])
        return float("nan"), float("nan")

    def per_head(self, lab, metric, L=None):
        return [_f(r["value"]) for r in self.rows if label(r) == lab and r["metric"] == metric
                and (L is None or str(r["eval_length"]) in ("", str(L))) and str(r.get("layer", "")) not in ("", "nan")]

    def excess(self, lab, L):
        b, sb = self.get(lab, "bpb_beyond", L)
        a, sa = self.get(lab, "bpb_all", self.context)
        return b - a, math.hypot(sb, sa), a


def label(r) -> str:
    from .model import label as model_label

    return model_label(r["mechanism"], r.get("scale") or "")


def _pm(m, s, nd=3):
    if not math.isfinite(m):
        return "-"
    return f"{m:.{nd}f} ± {s:.{nd}f}" if math.isfinite(s) else f"{m:.{nd}f}"


def _compare(t, a, b, L):
    """(verdict on 'a beats b', text) for bpb beyond the context at L (lower is better)."""
    ma, sa = t.get(a, "bpb_beyond", L)
    mb, sb = t.get(b, "bpb_beyond", L)
    diff, se = mb - ma, math.hypot(sa, sb)
    if not math.isfinite(diff):
        return "not measured", f"{a} or {b} missing"
    if not math.isfinite(se):
        return "inconclusive", f"one seed, no standard error: {a} {ma:.3f} vs {b} {mb:.3f} bits/byte beyond the context at {L}"
    verdict = "reproduced" if diff > 2 * se else "contradicted" if diff < -2 * se else "inconclusive"
    return verdict, f"{a} {_pm(ma, sa)} vs {b} {_pm(mb, sb)} bits/byte beyond the context at {L} ({L // t.context}x)"


def best_random(t):
    cands = [lab for lab in t.labels() if lab.startswith("so2-random")]
    if not cands:
        return None
    return min(cands, key=lambda lab: t.get(lab, "val_bpb")[0])


def verdicts(rows) -> list[tuple[str, str, str]]:
    """(claim, verdict, evidence) rows, at 16x the training context and at the longest length."""
    t = Table(rows)
    if not t.rows:
        return []
    lengths = [L for L in (16 * t.context, max(t.lengths)) if L in t.lengths]
    lengths = list(dict.fromkeys(lengths))
    out = []
    chosen = best_random(t)
    if chosen:
        vals = ", ".join(f"{lab} {t.get(lab, 'val_bpb')[0]:.3f}" for lab in t.labels() if lab.startswith("so2-random"))
        for lab in [chosen] + [x for x in t.labels() if x.startswith("so2-random") and x != chosen]:
            for L in lengths:
                v, text = _compare(t, lab, "rope", L)
                tag = "E1" if lab == chosen else "E1 (other scale)"
                extra = (f"; {lab} has the lowest validation bits/byte at the training context ({vals}), "
                         "so it is the headline scale") if lab == chosen and L == lengths[0] else ""
                out.append((tag, v, text + extra))
    if "so2-learned" in t.labels():
        for L in lengths:
            ex, se, lvl = t.excess("so2-learned", L)
            if not math.isfinite(ex):
                continue
            v = ("inconclusive" if not math.isfinite(se) else
                 "reproduced" if ex + 2 * se < TOL * lvl else "not reproduced")
            out.append(("E2", v, f"so2-learned: excess {ex:+.3f} ± {se:.3f} bits/byte at {L // t.context}x over "
                                 f"its 1x level {lvl:.3f} (threshold {TOL:.0%} = {TOL * lvl:.3f})"))
    if "so2-learned-v" in t.labels() and "so2-learned" in t.labels():
        for L in lengths:
            v, text = _compare(t, "so2-learned-v", "so2-learned", L)
            out.append(("E3", v, text))
    rot = [lab for lab in ("so2-learned", "so2-learned-v", "path") if lab in t.labels()]
    if rot and "alibi" in t.labels():
        for L in lengths:
            exs = {lab: t.excess(lab, L) for lab in rot + ["alibi"]}
            if not all(math.isfinite(s) for _, s, _ in exs.values()):
                out.append(("E4", "inconclusive", "one seed: no standard errors"))
                continue
            degrade = [lab for lab in rot if exs[lab][0] - 2 * exs[lab][1] > 0]
            a_e, a_s, a_l = exs["alibi"]
            flat = a_e + 2 * a_s < TOL * a_l
            v = ("reproduced" if flat and len(degrade) == len(rot) else
                 "partly" if flat and degrade else "not reproduced")
            text = "; ".join(f"{lab} excess {e:+.3f} ± {s:.3f}" for lab, (e, s, _) in exs.items())
            out.append(("E4", v, f"at {L // t.context}x: {text} bits/byte (degrading: {', '.join(degrade) or 'none'}; "
                                 f"ALiBi {'flat' if flat else 'not flat'})"))
    return out


def bpb_table(rows) -> str:
    t = Table(rows)
    if not t.rows:
        return "(no aggregated rows)"
    mults = [k for k in (1, 4, 16) if t.context * k in t.lengths]
    head = ["mechanism", "val bpb (1x)"] + [f"bpb {k}x" if k == 1 else f"beyond ctx {k}x" for k in mults] \
        + ["far mass 16x", "W(0.1) median [range]", "W(0.1) i.i.d. tokens"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for lab in t.labels():
        cells = [lab, _pm(*t.get(lab, "val_bpb"))]
        for k in mults:
            L = t.context * k
            cells.append(_pm(*t.get(lab, "bpb_all" if k == 1 else "bpb_beyond", L)))
        far = t.per_head(lab, "far_mass", 16 * t.context if 16 * t.context in t.lengths else max(t.lengths))
        cells.append(f"{sum(far) / len(far):.3g}" if far else "-")
        win = sorted(w for w in t.per_head(lab, "window"))
        fin = [w for w in win if math.isfinite(w)]
        if win:
            med = win[len(win) // 2]
            cells.append(f"{med:.0f} [{min(fin):.0f}, {max(fin):.0f}]" if fin and math.isfinite(med)
                         else f"> lags ({len(fin)}/{len(win)} finite)")
        else:
            cells.append("-")
        iid = sorted(w for w in t.per_head(lab, "window_iid") if math.isfinite(w))
        cells.append(f"{iid[len(iid) // 2]:.0f} [{iid[0]:.0f}, {iid[-1]:.0f}]" if iid else "-")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


BIASED = ("alibi", "so2-learned-forget", "path-forget")


def b5_check(rows) -> list[tuple[str, str, str]]:
    """B5 on every (seed, length, layer, head): far mass >= the bound for scores within the measured B.

    It must hold for rotation-only mechanisms; ALiBi and the gated ones add a bias outside B,
    so the bound does not apply to them (and a violation there is the far-mass control at work)."""
    per = {}
    for r in rows:
        if str(r["seed"]) == "all" or r["metric"] not in ("far_mass", "far_mass_b5"):
            continue
        key = (label(r), r["seed"], r["eval_length"], r["layer"], r["head"])
        per.setdefault(key, {})[r["metric"]] = _f(r["value"])
    slack: dict = {}
    for key, v in per.items():
        if len(v) == 2:
            lab = key[0]
            slack.setdefault(lab, []).append(v["far_mass"] - v["far_mass_b5"])
    if not slack:
        return []
    rot = {lab: min(v) for lab, v in slack.items() if not lab.startswith(BIASED)}
    bias = {lab: min(v) for lab, v in slack.items() if lab.startswith(BIASED)}
    n = sum(len(v) for lab, v in slack.items() if lab in rot)
    ok = all(m >= 0 for m in rot.values())
    worst = min(rot, key=rot.get) if rot else None
    out = [("B5", "holds" if ok else "violated",
            f"rotation-only heads: far mass minus the bound >= {rot[worst]:.3g} over {n} (seed, length, layer, "
            f"head) cases (smallest: {worst})" if worst else "no rotation-only mechanism")]
    if bias:
        text = ", ".join(f"{lab} {m:+.3g}" for lab, m in bias.items())
        out.append(("B5 (biased)", "does not apply",
                    f"smallest slack with a bias outside B: {text} (negative: far mass below the rotation-only floor)"))
    return out


def b6_check(rows) -> list[tuple[str, str, str]]:
    """B6 (far-mass control): far mass <= the bound for scores within [-B, B] under the head's own
    bias, on every (seed, length, layer, head) of the biased mechanisms, and how the bound (mean
    over heads and seeds) moves from the shortest to the longest length."""
    per, lengths = {}, set()
    for r in rows:
        if str(r["seed"]) == "all" or r["metric"] not in ("far_mass", "far_mass_ub") or not label(r).startswith(BIASED):
            continue
        key = (label(r), r["seed"], r["eval_length"], r["layer"], r["head"])
        per.setdefault(key, {})[r["metric"]] = _f(r["value"])
        lengths.add(int(_f(r["eval_length"])))
    if not per:
        return []
    slack = [v["far_mass_ub"] - v["far_mass"] for v in per.values() if len(v) == 2]
    lo, hi = min(lengths), max(lengths)
    trend = []
    for lab in dict.fromkeys(k[0] for k in per):
        ub = {L: [v["far_mass_ub"] for k, v in per.items() if k[0] == lab and int(_f(k[2])) == L and len(v) == 2]
              for L in (lo, hi)}
        if ub[lo] and ub[hi]:
            trend.append(f"{lab} {sum(ub[lo]) / len(ub[lo]):.3g} -> {sum(ub[hi]) / len(ub[hi]):.3g}")
    ok = min(slack) >= -1e-6
    return [("B6", "holds" if ok else "violated",
             f"biased heads: bound minus far mass >= {min(slack):.3g} over {len(slack)} cases; the bound (mean over "
             f"heads) from L = {lo} to {hi}: {'; '.join(trend)}")]


def verdict_table(rows) -> str:
    lines = [bpb_table(rows), "", "| claim | verdict | evidence |", "|---|---|---|"]
    lines += [f"| {c} | {v} | {e} |" for c, v, e in verdicts(rows) + b5_check(rows) + b6_check(rows)]
    return "\n".join(lines)
