"""Retrieval beyond the context: a planted passkey, mixed into training and tested far back.

Bits per byte barely needs long context in these models, so a claim about retrieval (C6) needs
a task whose answer lies far back. This one is a key-value passkey:

- **The pair.** The marker byte ``MARK`` (absent from the corpus) followed by ``VALUE`` random
  lowercase letters, written twice into a window: at a key position, and again at a query
  position ``distance`` bytes later. The letters after the second marker can only be
  predicted by copying them from the first; the rest of the window is the text.
- **Training** (``TrainConfig.passkey = q``): each training window carries one pair with
  probability q, at a distance uniform in ``[VALUE + 2, T - VALUE - 2]`` (inside the context;
  ``TrainConfig.passkey_max`` lowers the top),
  drawn from the model seed and the step, so that a resumed run sees the same windows. The
  loss is the usual next-byte loss over the whole window plus, as a copy term of weight 1,
  the mean loss on the queried value's letters (without it these small models do not learn
  to copy within 2500 steps: accuracy at chance).
- **Test** (:func:`accuracy`): on the study's held-out windows (one per test file, the same for
  every model), the query is put at the end of a prefix of the window and the key ``k T``
  bytes before it, for each distance multiple k (0.5 is inside the training context; 2 and
  beyond are not). Accuracy is the fraction of the value's letters whose most likely next
  byte, given the full causal context (teacher-forced), is right; chance is 1/26 and a model
  limited to its training context T can do no better than chance beyond k = 1. The bits on
  the value letters are kept too.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import torch

    from .data import Corpus
    from .model import LM, Attention

#: the marker byte (the stdlib corpus has no byte 0x01; :func:`check_corpus` refuses one that has)
MARK = 1
#: letters of a value
VALUE = 6
#: the distance multiples k of the training context that a study tests (the key k T bytes back)
DISTANCES = (0.5, 2, 4, 8, 16)
CHANCE = 1 / 26


def check_corpus(corpus: Corpus) -> None:
    from mixing.engine.errors import ParameterError

    for name in ("train", "val", "test"):
        if np.any(getattr(corpus, name) == MARK):
            raise ParameterError(
                f"--passkey: the corpus holds the marker byte {MARK:#04x}, which the task needs unused"
            )


def _pair(window: np.ndarray, key: int, query: int, value: np.ndarray) -> None:
    for pos in (key, query):
        window[pos] = MARK
        window[pos + 1 : pos + 1 + VALUE] = value


def distances(context: int) -> tuple[int, int]:
    """The smallest and largest distance of a pair planted in a training window of ``context``."""
    return VALUE + 2, context - VALUE - 2


def plant(batch: np.ndarray, rate: float, seed: int, step: int, max_distance: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """A copy of the training ``batch`` [B, T + 1] with a pair in each window with probability
    ``rate`` (deterministic in seed and step), at a distance uniform from the smallest to
    ``max_distance`` (0: the largest the window allows), and the mask [B, T] of the positions
    whose next byte is a letter of a queried value (where the loss's copy term applies)."""
    out = batch.copy()
    n = out.shape[1] - 1  # positions the model sees
    mask = np.zeros((out.shape[0], n), dtype=bool)
    lo, hi = distances(n)
    if max_distance:
        hi = min(hi, int(max_distance))
    if rate <= 0 or hi < lo:
        return out, mask  # no pairs, or a context too short for one
    rng = np.random.default_rng([int(seed), int(step), 0x9A55])
    for i, row in enumerate(out):
        if rng.random() >= rate:
            continue
        dist = int(rng.integers(lo, hi + 1))
        query = int(rng.integers(dist, n - VALUE))  # the value after the query stays in the window
        _pair(row, query - dist, query, rng.integers(97, 123, size=VALUE).astype(row.dtype))
        mask[i, query : query + VALUE] = True
    return out, mask


def prefix_length(context: int, k: float) -> int:
    """The bytes a test prefix with the key ``k T`` back needs: T bytes of text before the key,
    the distance, and the two copies of the marker and value."""
    return int(round(k * context)) + context + 2 * (VALUE + 1)


def query_windows(windows: np.ndarray, context: int, k: float, seed: int = 0) -> tuple[np.ndarray, int]:
    """Prefixes of the held-out ``windows`` with the query at the end and the key ``k T`` bytes
    before it; returns them [N, n] and the query position. The values depend on ``seed`` and k
    only, so every model is tested on the same bytes."""
    dist = int(round(k * context))
    n = prefix_length(context, k)
    if n > windows.shape[1]:
        from mixing.engine.errors import ParameterError

        raise ParameterError(
            f"passkey: distance {k:g} T needs windows of {n} bytes, the study's are {windows.shape[1]}"
        )
    out = np.ascontiguousarray(windows[:, :n]).copy()
    rng = np.random.default_rng([int(seed), int(round(k * 1000)), 0x7E57])
    query = n - VALUE - 1
    for row in out:
        _pair(row, query - dist, query, rng.integers(97, 123, size=VALUE).astype(row.dtype))
    return out, query


def accuracy(
    model: torch.nn.Module, windows: np.ndarray, context: int, ks: Sequence[float] = DISTANCES, device: str = "cpu"
) -> dict:
    """Per distance multiple k: the accuracy [N] and bits [N] on the value letters of each held-out
    window (full causal context, teacher-forced)."""
    import torch

    model.eval()
    acc, bits = [], []
    with torch.no_grad():
        for k in ks:
            win, query = query_windows(windows, context, k)
            a, b = [], []
            for part in torch.from_numpy(win).split(8):
                part = part.to(device).long()
                logits = model(part[:, : query + VALUE])[:, query : query + VALUE]  # predicts the letters
                target = part[:, query + 1 : query + 1 + VALUE].long()
                logp = torch.log_softmax(logits.double(), -1).gather(-1, target[..., None])[..., 0]
                a.append((logits.argmax(-1) == target).double().mean(1).cpu().numpy())
                b.append((-logp / np.log(2)).mean(1).cpu().numpy())
            acc.append(np.concatenate(a))
            bits.append(np.concatenate(b))
    return {"ks": np.asarray(ks, dtype=np.float64), "acc": np.stack(acc), "bits": np.stack(bits)}


def routes(model: LM, windows: np.ndarray, context: int, ks: Sequence[float] = DISTANCES, device: str = "cpu") -> dict:
    """Where the heads look when a value is queried, per distance multiple k, held-out window,
    layer and head, each a mean over the queried positions (the second marker and the value's
    letters but the last: the positions that predict the letters):

    - ``span``: the attention mass on the first copy (its marker and letters);
    - ``target``: the mass on the letter to copy, one past the first occurrence of the query's
      own byte (where an induction head looks);
    - ``gate``: for heads with a forget gate, the gate's log factor ``G_query - G_key`` over the
      distance (NaN for other heads).

    The same prefixes as :func:`accuracy`. ``uniform`` [K] is the mass a head spreading its
    weight evenly over the causal prefix would give the span."""
    import torch

    model.eval()
    atts = model.attentions()
    out = {"span": [], "target": [], "gate": []}
    uniform = []
    try:
        with torch.no_grad():
            for k in ks:
                win, query = query_windows(windows, context, k)
                key = query - int(round(k * context))
                rows = torch.arange(query, query + VALUE)
                for att in atts:
                    att.probe = {"rows": rows}
                got = {name: [] for name in out}
                for part in torch.from_numpy(win).split(8):
                    model(part[:, : query + VALUE].to(device).long())
                    per = [_route_stats(a, key) for a in atts]
                    for name in out:
                        got[name].append(np.stack([p[name] for p in per], 1))  # [n, layers, H]
                for name in out:
                    out[name].append(np.concatenate(got[name]))
                uniform.append(float(np.mean((VALUE + 1) / np.arange(query + 1, query + VALUE + 1))))
    finally:
        for att in atts:
            att.probe, att.probe_out = None, None
    arrays = {name: np.stack(v) for name, v in out.items()}
    return {"ks": np.asarray(ks, dtype=np.float64), **arrays, "uniform": np.array(uniform)}


def _route_stats(att: Attention, key: int) -> dict:
    """Of one attention layer's recorded rows [n, H, VALUE, prefix]: the span and target masses
    and the gate's log factor at ``key`` (see :func:`routes`), each [n, H]."""
    r = att.probe_out["rows"].double()
    span = r[..., key : key + VALUE + 1].sum(-1).mean(-1)
    target = r[..., key + 1 : key + 1 + VALUE].diagonal(dim1=-2, dim2=-1).mean(-1)
    b = att.probe_out["bias_rows"]
    gated = b is not None and att.cfg.mechanism != "alibi"
    gate = b[:, :, 0, key].double() if gated else span.new_full(span.shape, float("nan"))
    return {"span": span.cpu().numpy(), "target": target.cpu().numpy(), "gate": gate.cpu().numpy()}
