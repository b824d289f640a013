"""Evaluation of a trained model beyond its training context, and the theory's quantities in it.

- Loss: ``windows`` held-out (test split) windows of each evaluation length L, evenly spaced
  through the split and the same for every model; the next-byte loss in bits at every
  position. Reported: ``bpb_all`` (mean over all positions of the window), ``bpb_within``
  (positions < the training context), ``bpb_beyond`` (positions >= the training context;
  a whole-window average hides the failure there) and, at the longest length, ``bpb_pos``
  over position buckets (``x`` = the bucket's last position). Standard errors are over
  windows.
- Far mass (per layer and head): the attention mass on sources at lag > W, averaged over
  the queries in the second half of each window, ``far_mass``; beside it ``B`` (the largest
  |content score| seen, in logits), and the B5 lower bound on far mass for scores within
  [-B, B], ``|F_i| e^-B / ((W+1) e^B + |F_i| e^-B)`` with ``|F_i| = i - W`` far sources,
  averaged over the same queries, ``far_mass_b5``; and the upper bound of B6's form for
  scores within [-B, B] under the head's own bias (ALiBi's slopes or the forget gate's
  values along the text; trivial, near 1, without a bias), ``far_mass_ub``.
- Coherence (per layer and head, mechanisms with transports): ``tr(P_{i<-j})/d`` along
  held-out text against the lag, averaged over independent held-out windows (written at
  about 48 geometrically spaced lags), and the mixing window ``W(0.1)``: one past the last
  lag where |coherence| is above 0.1 by more than 2 standard errors (NaN when that is the
  largest lag measured).
"""

from __future__ import annotations

import math

import numpy as np
import torch

from . import data as data_mod
from . import transport as tr
from .model import HOUSEHOLDER, LM, SO2
from .train import loss_bits


def _mean_se(x: np.ndarray) -> tuple[float, float]:
    x = np.asarray(x, dtype=np.float64)
    if x.size == 0:
        return float("nan"), float("nan")
    return float(x.mean()), float(x.std(ddof=1) / math.sqrt(x.size)) if x.size > 1 else 0.0


def buckets(length: int, context: int) -> list[tuple[int, int]]:
    """Position ranges [a, b): the training context in 4 parts, then doublings to ``length``."""
    edges = sorted({*(context * k // 4 for k in range(1, 5)), *(context * 2 ** k for k in range(1, 20))})
    edges = [0] + [e for e in edges if e < length] + [length]
    return list(zip(edges[:-1], edges[1:]))


@torch.no_grad()
def evaluate(model: LM, corpus, lengths, context: int, windows: int = 8, window: int | None = None,
             device: str = "cpu", progress=None) -> list[dict]:
    """Rows ``{eval_length, metric, layer, head, x, value, stderr}`` for every length."""
    model.eval()
    W = context // 2 if window is None else window
    rows = []
    longest = max(lengths)
    for L in lengths:
        win = torch.from_numpy(data_mod.eval_windows(corpus.test, L, windows)).to(device)
        for att in model.attentions():
            att.probe = {"window": W}
        bits, far, Bmax, upper = [], [], [], []
        for w in win.split(1):
            bits.append(loss_bits(model, w).cpu().numpy()[0])
            far.append(torch.stack([a.probe_out["far_mass"][:, L // 2:].mean(-1) for a in model.attentions()]).cpu().numpy())
            upper.append(torch.stack([a.probe_out["far_mass_ub"][:, L // 2:].mean(-1)
                                      for a in model.attentions()]).cpu().numpy())
            Bmax.append(torch.stack([a.probe_out["B"] for a in model.attentions()]).cpu().numpy())
            if progress is not None:
                progress()
        for att in model.attentions():
            att.probe, att.probe_out = None, None
        bits = np.stack(bits)                       # [windows, L]
        far, Bmax, upper = np.stack(far), np.stack(Bmax), np.stack(upper)   # [windows, layers, heads]

        def add(metric, values, layer="", head="", x=""):
            m, s = _mean_se(values)
            rows.append({"eval_length": L, "metric": metric, "layer": layer, "head": head, "x": x, "value": m, "stderr": s})

        add("bpb_all", bits.mean(1))
        add("bpb_within", bits[:, :min(context, L)].mean(1))
        if L > context:
            add("bpb_beyond", bits[:, context:].mean(1))
        if L == longest:
            for a, b in buckets(L, context):
                add("bpb_pos", bits[:, a:b].mean(1), x=b - 1)
        n_far = np.maximum(np.arange(L // 2, L) - W, 0)       # far sources of each recorded query
        for layer in range(far.shape[1]):
            for head in range(far.shape[2]):
                add("far_mass", far[:, layer, head], layer, head)
                B = Bmax[:, layer, head]
                add("B", B, layer, head)
                e2 = np.exp(-2 * B)[:, None]                        # per window
                b5 = (n_far * e2 / ((W + 1) + n_far * e2)).mean(1)   # the bound, averaged like far_mass
                add("far_mass_b5", b5, layer, head)
                add("far_mass_ub", upper[:, layer, head], layer, head)
    return rows


# ---------------------------------------------------------------------------------------
# coherence of the learned transports along held-out text


@torch.no_grad()
def generators(model: LM, tokens: torch.Tensor, layer: int, chunk: int = 8):
    """The generators of one layer along token windows [N, T]: ``("so2", phi [N, H, T, d/2])``,
    ``("householder", (w [N, H, T, d], beta [N, H, T]))``, ``("rope", theta)`` or ``(None, None)``."""
    att = model.attentions()[layer]
    m = model.cfg.mechanism
    if m in SO2:
        return "so2", att.angles[tokens].permute(0, 2, 1, 3)
    if m in HOUSEHOLDER:
        ws, bs = [], []
        for part in tokens.split(chunk):
            x = model.embed(part)
            for blk in model.blocks[:layer]:
                x = blk(x, part)
            w, beta = att.householder(model.blocks[layer].ln1(x))
            ws.append(w)
            bs.append(beta)
        return "householder", (torch.cat(ws), torch.cat(bs))
    if m == "rope":
        return "rope", att.theta
    return None, None


@torch.no_grad()
def coherence(model: LM, corpus, max_lag: int, windows: int = 64) -> list[dict]:
    """Rows of ``coherence`` (x = lag; mean and s.e. over ``windows`` held-out windows, each
    measured from its first position) and ``window`` (W(0.1)) per layer and head; for SO(2)
    tables also the i.i.d.-token prediction ``coherence_iid`` / ``window_iid``: bytes drawn
    independently from the test split's byte frequencies p_v, ``c(n) = mean_m Re(psi_m^n)`` with
    ``psi_m = sum_v p_v e^{i phi_{v,m}}`` (section 3 of the theory, for a per-token table)."""
    m = model.cfg.mechanism
    if m not in SO2 + HOUSEHOLDER + ("rope",):
        return []
    tokens = torch.from_numpy(data_mod.eval_windows(corpus.test, max_lag, windows))     # [N, max_lag + 1]
    lags = np.arange(1, max_lag + 1)
    p = np.bincount(corpus.test, minlength=256) / corpus.test.size
    rows = []
    for layer in range(model.cfg.layers):
        kind, g = generators(model, tokens, layer)
        for head in range(model.cfg.heads):
            pred = None
            if kind == "rope":
                per = np.cos(np.outer(lags, g.double().numpy())).mean(1)[None, :]
            elif kind == "so2":
                Phi = tr.accumulate(g[:, head].double(), dim=1).numpy()          # [N, T, d/2]
                per = np.cos(Phi[:, 1:, :] - Phi[:, :1, :]).mean(-1)             # [N, max_lag]
                table = model.attentions()[layer].angles[:, head].detach().double().numpy()   # [256, d/2]
                psi = (p[:, None] * np.exp(1j * table)).sum(0)
                pred = np.real(psi[None, :] ** lags[:, None]).mean(1)
            else:
                per = _householder_traces(g[0][:, head].double(), g[1][:, head].double(), max_lag)
            mean = per.mean(0)
            se = per.std(0, ddof=1) / np.sqrt(per.shape[0]) if per.shape[0] > 1 else np.zeros_like(mean)
            base = {"eval_length": "", "layer": layer, "head": head}
            for n in recorded_lags(max_lag):
                rows.append({**base, "metric": "coherence", "x": int(n), "value": float(mean[n - 1]),
                             "stderr": float(se[n - 1])})
                if pred is not None:
                    rows.append({**base, "metric": "coherence_iid", "x": int(n), "value": float(pred[n - 1]),
                                 "stderr": 0.0})
            rows.append({**base, "metric": "window", "x": "", "value": mixing_window(mean, 0.1, se),
                         "stderr": float("nan")})
            if pred is not None:
                rows.append({**base, "metric": "window_iid", "x": "", "value": mixing_window(pred, 0.1),
                             "stderr": float("nan")})
    return rows


def recorded_lags(max_lag: int, count: int = 48) -> list[int]:
    """The lags whose coherence is written out (about ``count``, geometric; the window uses every lag)."""
    return sorted({int(round(x)) for x in np.geomspace(1, max_lag, count)})


def _householder_traces(w: torch.Tensor, beta: torch.Tensor, max_lag: int) -> np.ndarray:
    """``tr(H_n ... H_1) / d`` for every window (w [N, T, d], beta [N, T]) and lags n = 1..max_lag."""
    N, _, d = w.shape
    P = torch.eye(d, dtype=torch.float64).repeat(N, 1, 1)
    out = np.empty((N, max_lag))
    for n in range(1, max_lag + 1):
        wt, bt = w[:, n], beta[:, n]
        P = P - bt[:, None, None] * wt[:, :, None] * (wt[:, None, :] @ P)   # H_n P
        out[:, n - 1] = (torch.diagonal(P, dim1=-2, dim2=-1).sum(-1) / d).numpy()
    return out


def mixing_window(c: np.ndarray, eps: float, se: np.ndarray | None = None) -> float:
    """W(eps) from a coherence curve at lags 1..N: one past the last lag where |c| exceeds eps
    (by more than 2 standard errors when ``se`` is given, so estimation noise in the tail does
    not count); 1 if none does; NaN if the last lag does (the window lies beyond the lags
    measured)."""
    c = np.abs(np.asarray(c, dtype=np.float64))
    margin = 0.0 if se is None else 2 * np.asarray(se, dtype=np.float64)
    above = np.nonzero(c - margin > eps)[0]
    if above.size == 0:
        return 1.0
    if above[-1] == len(c) - 1:
        return float("nan")
    return float(above[-1] + 2)
