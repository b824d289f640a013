"""Export a trained head's generators along held-out text as an engine generators file.

The file is of kind ``sequence`` (see :mod:`mixing.engine.generators`): one generator per row, the
generator at lag n being row (n - 1) mod L. The rows are therefore the text's positions
taken backwards from its last byte: row 0 is the generator of the last token (the query's
own, the first factor of every path), row r that of the token r places before it. SO(2)
heads give ``angles`` (L x d/2), PaTH heads ``directions`` (L x d) and ``betas`` (L).
``python -m mixing.sweep --mechanism so2|householder --param generators=FILE`` runs it as is.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from mixing.engine import generators as gen_mod
from mixing.engine.errors import ParameterError

from . import data as data_mod
from .evaluate import generators as head_generators
from .model import LM

#: generator files need beta in (0, 2]; a learned beta_t = 2 sigmoid(.) that underflows to 0 is lifted to this
BETA_FLOOR = 1e-12


def export(
    model: LM,
    corpus: data_mod.Corpus,
    layer: int,
    head: int,
    path: str | Path,
    length: int = 4096,
    train_length: int = -1,
) -> dict:
    """Write the generators of ``(layer, head)`` along the first ``length`` bytes of the test split."""
    cfg = model.cfg
    if not 0 <= layer < cfg.layers:
        raise ParameterError(f"--layer: {layer} is outside 0..{cfg.layers - 1}")
    if not 0 <= head < cfg.heads:
        raise ParameterError(f"--head: {head} is outside 0..{cfg.heads - 1}")
    data_mod.check_length(corpus, "test", length, what="--length")
    tokens = torch.from_numpy(data_mod.eval_windows(corpus.test, length, 1)[:, :length])
    kind, g = head_generators(model, tokens, layer)
    if kind == "so2":
        g = g[0]
    elif kind == "householder":
        g = (g[0][0], g[1][0])
    meta = dict(
        mechanism=cfg.mechanism,
        source="mixing.lm",
        layer=layer,
        head=head,
        d=cfg.d_head,
        train_length=train_length,
        seed=cfg.seed,
    )
    if kind == "so2":
        arrays = {"angles": g[head].double().numpy()[::-1].copy()}
        family = "so2"
    elif kind == "householder":
        w = g[0][head].double()
        w = (w / w.norm(dim=-1, keepdim=True)).numpy()[::-1].copy()
        beta = np.clip(g[1][head].double().numpy()[::-1].copy(), BETA_FLOOR, 2.0)
        arrays = {"directions": w, "betas": beta}
        family = "householder"
    else:
        raise ParameterError(
            f"--checkpoint: mechanism {cfg.mechanism} has no token-dependent generators to export "
            f"(export takes so2-* and path* models)"
        )
    gen_mod.save(str(path), "sequence", family, arrays, **meta)
    return {"family": family, "rows": length, **meta}
