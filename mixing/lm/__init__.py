"""Small trained transformers for the paper's experimental claims E1-E4 (needs PyTorch).

Byte-level language models (``model``) on real text (``data``: by default the standard
library's source, split by file), one attention code path with the position mechanism as a
component and its explicit-matrix reference (``reference``, ``transport``), AdamW training
that resumes (``train``), evaluation beyond the training context (``evaluate``: every byte
scored with full and with sliding-window context on the same held-out windows, far mass per
head against the B5/B6 bounds with the score range of the training length, coherence of the
learned transports and their mixing windows), export of a head's generators to an engine
generators file (``export``), studies over mechanisms and seeds in worker processes
(``run``), and the tables, stopping lengths and E1-E4 verdicts with their intervals
(``report``, on ``mixing.engine.stats``). Command line: ``python -m mixing.lm``.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import torch


MECHANISM_HELP = """mechanisms (options follow the name after ':', e.g. so2-learned:abs=0:base=500):
  nope                 no position information
  rope[:base=B]        RoPE, theta_m = B^(-2m/d), default base 10000
  alibi                ALiBi, slopes 2^(-8h/H)
  fox[:gate=G]         softmax with a forget gate (FoX), no rotation
  so2-random[:abs=S|:rel=S|:zero]
                       accumulated SO(2), frozen random per-token angles around the RoPE
                       frequencies: abs=S adds S*N(0,1) radians (every block decoheres),
                       rel=S multiplies by 1 + S*N(0,1) (RoPE-matched); default abs=0.3
  so2-learned[:TABLE]  accumulated SO(2), learned per-token angles, started at TABLE
                       (abs=S, rel=S or zero; default abs=0.3; abs=0 starts at RoPE)
  so2-learned-v        the same with values rotated and the output rotated back
  so2-learned-forget   so2-learned with a forget gate
  path                 PaTH: Householder-like transports I - beta w w^T from the hidden state
  path-forget[:gate=G] PaTH with a forget gate
gates (G): fox adds sum log f unscaled (FoX, the default); fla divides it by sqrt(d)
  with the scores, as fla's PaTH-FoX does"""


def load(checkpoint: str | Path, device: str = "cpu") -> torch.nn.Module:
    """The trained model of a run folder as a ``torch.nn.Module`` in eval mode.

    ``model(tokens)`` takes a LongTensor of bytes ``[batch, length]`` and returns logits
    ``[batch, length, 256]``.
    """
    from .train import load_model

    return load_model(checkpoint, device)
