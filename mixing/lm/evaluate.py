"""Evaluation of a trained model beyond its training context, and the theory's quantities in it.

- Loss, full and sliding (``position_bits``, ``sliding_bits``): ``windows`` held-out windows of
  the longest length, each from a different test file (``data.file_windows``, the same for every
  model of a study). Every byte is scored twice on the same tokens: with its full causal
  context, and with a sliding window of the training context T (each byte scored by a window of
  T bytes that ends at it, as the last T/4 positions of a training window see; the first T bytes
  by the window that starts the text, which is their full context). The second is the model's
  in-distribution level on those very bytes, so ``full - sliding`` is its degradation from
  extra context alone, paired per window. Causal attention makes a byte's loss independent of
  how long the window runs past it, so one window of length L gives every shorter length too:
  the excess at ``k`` x T is the mean over the positions ``[k T / 2, k T)``.
- Far mass (per layer and head): the attention mass on sources at lag > W at each query,
  averaged over ``probe_windows`` of the test windows and over the queries of each position
  bucket; ``B_train``, the largest |content score| of the head on ``probe_windows`` validation
  windows of the training length (held out from the test windows); ``B_seen``, the largest
  seen on the long test windows (above ``B_train``: the scores left the training-length range);
  the B5 lower bound on far mass for scores within [-B_train, B_train],
  ``|F_i| e^-B / ((W+1) e^B + |F_i| e^-B)`` with ``|F_i| = i - W`` far sources, averaged like
  the far mass, ``far_mass_b5``; and the B6-form upper bound with the same B under the head's
  own bias (ALiBi's slopes, or the forget gate's realised values on the same window),
  ``far_mass_ub``.
- Coherence (per layer and head, mechanisms with transports): ``tr(P_{i<-j})/d`` along
  held-out text against the lag, averaged over independent held-out windows (written at
  about 48 geometrically spaced lags), and the mixing window ``W(0.1)``: one past the last
  lag where |coherence| is above 0.1 by more than 2 standard errors (NaN when that is the
  largest lag measured).
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable, Iterator

import numpy as np
import torch

from mixing.engine.stats import mean_se, mean_se_rows

from . import data as data_mod
from . import transport as tr
from .model import HOUSEHOLDER, LM, SO2
from .train import loss_bits


def buckets(length: int, context: int) -> list[tuple[int, int]]:
    """Position ranges [a, b): the training context in 4 parts, then doublings to ``length``."""
    edges = sorted({*(context * k // 4 for k in range(1, 5)), *(context * 2**k for k in range(1, 20))})
    edges = [0] + [e for e in edges if e < length] + [length]
    return list(zip(edges[:-1], edges[1:]))


def multiples(length: int, context: int) -> list[int]:
    """The multiples k of the context whose bucket ``[k T / 2, k T)`` lies inside ``length`` (k >= 2)."""
    return [2**e for e in range(1, 21) if context * 2**e <= length]


@contextlib.contextmanager
def fused(model: LM) -> Iterator[LM]:
    """Evaluate with fused attention (the same numbers to rounding, far less memory and time)."""
    old = [a.fast for a in model.attentions()]
    for a in model.attentions():
        a.fast = True
    try:
        yield model
    finally:
        for a, f in zip(model.attentions(), old):
            a.fast = f


@torch.no_grad()
def position_bits(
    model: LM, windows: np.ndarray, device: str = "cpu", progress: Callable[[str], None] | None = None
) -> np.ndarray:
    """Next-byte loss in bits at every position with full causal context, [N, L]."""
    model.eval()
    out = []
    with fused(model):
        for w in torch.from_numpy(windows).split(1):
            out.append(loss_bits(model, w.to(device)).double().cpu().numpy()[0])
            if progress is not None:
                progress()
    return np.stack(out)


def sliding_starts(length: int, context: int, stride: int) -> list[tuple[int, int, int]]:
    """The sliding windows (start, first scored position, end): the first window [0, T) scores
    all its positions; each later one, of T bytes ending at ``end``, scores the last ``stride``
    positions before ``end`` (the last, shorter block whatever remains)."""
    T = context
    spans = [(0, 0, min(T, length))]
    end = T
    while end < length:
        nxt = min(end + stride, length)
        spans.append((nxt - T, end, nxt))
        end = nxt
    return spans


@torch.no_grad()
def sliding_bits(
    model: LM,
    windows: np.ndarray,
    context: int,
    stride: int | None = None,
    device: str = "cpu",
    batch: int = 256,
    progress: Callable[[str], None] | None = None,
) -> np.ndarray:
    """Next-byte loss in bits at every position, each byte scored by a window of ``context``
    bytes ending at it (see ``sliding_starts``; default stride T/4), [N, L]."""
    model.eval()
    N, L = windows.shape[0], windows.shape[1] - 1
    T = min(context, L)
    stride = max(1, T // 4) if stride is None else stride
    spans = sliding_starts(L, T, stride)
    out = np.full((N, L), np.nan)
    pieces = [(n, a, first, end) for n in range(N) for a, first, end in spans]
    with fused(model):
        for k in range(0, len(pieces), batch):
            part = pieces[k : k + batch]
            x = torch.from_numpy(np.stack([windows[n, a : a + T + 1] for n, a, _, _ in part])).to(device)
            bits = loss_bits(model, x).double().cpu().numpy()
            for row, (n, a, first, end) in zip(bits, part):
                out[n, first:end] = row[first - a : end - a]
            if progress is not None:
                progress()
    return out


def bucket_means(bits: np.ndarray, edges: list[tuple[int, int]]) -> np.ndarray:
    """Mean bits over each position bucket, [N, buckets]."""
    return np.stack([bits[:, a:b].mean(1) for a, b in edges], axis=1)


@torch.no_grad()
def _probe(
    model: LM, windows: np.ndarray, W: int, B: np.ndarray | None = None, device: str = "cpu"
) -> tuple[np.ndarray, np.ndarray | None, np.ndarray]:
    """Attention statistics of every layer and head, per window: far mass [N, layers, H, L],
    the B6-form bound (when ``B`` [layers, H] is given) and the largest |score| [N, layers, H]."""
    far, ub, seen = [], [], []
    atts = model.attentions()
    for li, att in enumerate(atts):
        att.probe = {"window": W, "B": None if B is None else torch.as_tensor(B[li])}
    try:
        for w in torch.from_numpy(windows).split(1):
            model(w[:, :-1].to(device))
            far.append(np.stack([a.probe_out["far_mass"].double().cpu().numpy() for a in atts]))
            seen.append(np.stack([a.probe_out["B_seen"].double().cpu().numpy() for a in atts]))
            if B is not None:
                ub.append(np.stack([a.probe_out["far_mass_ub"].double().cpu().numpy() for a in atts]))
    finally:
        for att in atts:
            att.probe, att.probe_out = None, None
    return np.stack(far), (np.stack(ub) if ub else None), np.stack(seen)


@torch.no_grad()
def evaluate(
    model: LM,
    corpus: data_mod.Corpus,
    length: int,
    context: int,
    windows: int = 64,
    probe_windows: int = 8,
    window: int | None = None,
    stride: int | None = None,
    seed: int = 0,
    device: str = "cpu",
    progress: Callable[[str], None] | None = None,
) -> tuple[list[dict], dict]:
    """Rows ``{eval_length, metric, layer, head, x, value, stderr}`` and the arrays of the loss:
    ``edges`` [buckets, 2], ``full`` and ``sliding`` [windows, buckets] (mean bits per bucket),
    ``starts`` (the windows' offsets in the test split)."""
    model.eval()
    W = context // 2 if window is None else window
    win, starts = data_mod.file_windows(corpus, "test", length, windows, seed)
    edges = buckets(length, context)
    full = bucket_means(position_bits(model, win, device, progress), edges)
    slide = bucket_means(sliding_bits(model, win, context, stride, device), edges)
    arrays = {
        "edges": np.array(edges, dtype=np.int64),
        "full": full,
        "sliding": slide,
        "starts": starts,
        "length": np.int64(length),
        "context": np.int64(context),
    }
    rows = []

    def add(
        metric: str, values: np.ndarray, layer: int | str = "", head: int | str = "", x: object = "", L: int = length
    ) -> None:
        m, s = mean_se(values, one=0.0, finite_only=False)
        rows.append({"eval_length": L, "metric": metric, "layer": layer, "head": head, "x": x, "value": m, "stderr": s})

    # the score range at the training length, on validation windows (never the test windows)
    pw = min(probe_windows, windows)
    val, _ = data_mod.file_windows(corpus, "val", context, pw, seed)
    _, _, seen_val = _probe(model, val, W, device=device)
    B_train = seen_val.max(0)  # [layers, H]
    far, ub, seen = _probe(model, win[:pw], W, B_train, device)  # [pw, layers, H, L]
    pos = np.arange(length)
    ks = multiples(length, context)
    for layer in range(far.shape[1]):
        for head in range(far.shape[2]):
            B = float(B_train[layer, head])
            add("B_train", [B], layer, head, L=context)
            add("B_seen", seen[:, layer, head], layer, head)
            n_far = np.maximum(pos - W, 0)
            e2 = math.exp(-2 * B)
            b5 = n_far * e2 / ((W + 1) + n_far * e2)
            for k in ks:
                q = slice(k * context // 2, k * context)
                add("far_mass", far[:, layer, head, q].mean(-1), layer, head, x=k)
                add("far_mass_b5", [b5[q].mean()], layer, head, x=k)
                add("far_mass_ub", ub[:, layer, head, q].mean(-1), layer, head, x=k)
    return rows, arrays


# ---------------------------------------------------------------------------------------
# coherence of the learned transports along held-out text


@torch.no_grad()
def generators(model: LM, tokens: torch.Tensor, layer: int, chunk: int = 8) -> tuple[str | None, object]:
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
def coherence(model: LM, corpus: data_mod.Corpus, max_lag: int, windows: int = 64) -> list[dict]:
    """Rows of ``coherence`` (x = lag; mean and s.e. over ``windows`` held-out windows, each
    measured from its first position) and ``window`` (W(0.1)) per layer and head; for SO(2)
    tables also the i.i.d.-token prediction ``coherence_iid`` / ``window_iid``: bytes drawn
    independently from the test split's byte frequencies p_v, ``c(n) = mean_m Re(psi_m^n)`` with
    ``psi_m = sum_v p_v e^{i phi_{v,m}}`` (section 3 of the theory, for a per-token table)."""
    m = model.cfg.mechanism
    if m not in SO2 + HOUSEHOLDER + ("rope",):
        return []
    tokens = torch.from_numpy(data_mod.eval_windows(corpus.test, max_lag, windows))  # [N, max_lag + 1]
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
                Phi = tr.accumulate(g[:, head].double(), dim=1).numpy()  # [N, T, d/2]
                per = np.cos(Phi[:, 1:, :] - Phi[:, :1, :]).mean(-1)  # [N, max_lag]
                table = model.attentions()[layer].angles[:, head].detach().double().numpy()  # [256, d/2]
                psi = (p[:, None] * np.exp(1j * table)).sum(0)
                pred = np.real(psi[None, :] ** lags[:, None]).mean(1)
            else:
                per = _householder_traces(g[0][:, head].double(), g[1][:, head].double(), max_lag)
            mean, se = mean_se_rows(per)
            base = {"eval_length": "", "layer": layer, "head": head}
            for n in recorded_lags(max_lag):
                rows.append(
                    {
                        **base,
                        "metric": "coherence",
                        "x": int(n),
                        "value": float(mean[n - 1]),
                        "stderr": float(se[n - 1]),
                    }
                )
                if pred is not None:
                    rows.append(
                        {**base, "metric": "coherence_iid", "x": int(n), "value": float(pred[n - 1]), "stderr": 0.0}
                    )
            rows.append(
                {**base, "metric": "window", "x": "", "value": mixing_window(mean, 0.1, se), "stderr": float("nan")}
            )
            if pred is not None:
                rows.append(
                    {**base, "metric": "window_iid", "x": "", "value": mixing_window(pred, 0.1), "stderr": float("nan")}
                )
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
        P = P - bt[:, None, None] * wt[:, :, None] * (wt[:, None, :] @ P)  # H_n P
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
