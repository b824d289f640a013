"""Training with AdamW and a cosine schedule, resumable from the last checkpoint.

A run folder holds ``checkpoint.pt`` (model, optimiser, step, loss log, configs, corpus
fingerprint), rewritten atomically every ``checkpoint_every`` steps and at the end. The
batch of step s derives from ``(seed, s)`` alone, so a killed run restarted on the same
folder continues where its last checkpoint stopped and sees the batches an uninterrupted
run would. Angle tables (the learned SO(2) mechanisms) get no weight decay and their own
learning-rate factor ``angle_lr``.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
import torch.nn.functional as F

from mixing import __version__
from mixing.engine.errors import ParameterError
from mixing.engine.files import write_bytes
from mixing.engine.stats import mean_se
from mixing.sweep.locks import held

from . import data as data_mod
from . import passkey
from .model import LM, Config

#: checkpoint format; a checkpoint of another format is refused
FORMAT = 1
LN2 = math.log(2.0)


@dataclass
class TrainConfig:
    context: int = 128
    batch: int = 16
    steps: int = 2000
    lr: float = 1e-3
    min_lr: float = 1e-4
    warmup: int = 100
    weight_decay: float = 0.1
    angle_lr: float = 1.0
    checkpoint_every: int = 250
    val_windows: int = 64
    device: str = "cpu"
    passkey: float = 0.0  # fraction of training windows with a planted passkey (mixing.lm.passkey)
    passkey_max: int = 0  # the largest distance of a planted pair in bytes (0: as far as the context allows)

    def to_dict(self) -> dict:
        """The settings as stored in checkpoints and manifests (``passkey`` and ``passkey_max``
        only when used, so that runs from before them compare equal)."""
        out = asdict(self)
        for key in ("passkey", "passkey_max"):
            if not out[key]:
                out.pop(key)
        return out

    def validate(self) -> TrainConfig:
        for key in ("context", "batch", "steps", "checkpoint_every", "val_windows"):
            v = getattr(self, key)
            if not isinstance(v, int) or v < 1:
                raise ParameterError(f"--{key.replace('_', '-')}: must be a positive integer (got {v!r})")
        for key in ("lr", "min_lr", "weight_decay", "angle_lr"):
            v = getattr(self, key)
            if not (isinstance(v, (int, float)) and math.isfinite(v) and v >= 0):
                raise ParameterError(f"--{key.replace('_', '-')}: must be a finite number >= 0 (got {v!r})")
        if self.warmup < 0:
            raise ParameterError(f"--warmup: must be >= 0 (got {self.warmup})")
        if not (isinstance(self.passkey, (int, float)) and 0 <= self.passkey <= 1):
            raise ParameterError(f"--passkey: must be a fraction in [0, 1] (got {self.passkey!r})")
        lo, hi = passkey.distances(self.context)
        if self.passkey_max and not (isinstance(self.passkey_max, int) and lo <= self.passkey_max <= hi):
            raise ParameterError(
                f"--passkey-max: must be a distance in bytes from {lo} to {hi} at context {self.context} "
                f"(got {self.passkey_max!r})"
            )
        check_device(self.device)
        return self


def check_device(device: str) -> None:
    if device not in ("cpu", "cuda"):
        raise ParameterError(f"--device: must be cpu or cuda (got {device!r})")
    if device == "cuda" and not torch.cuda.is_available():
        raise ParameterError("--device: cuda requested but torch sees no CUDA GPU")


def learning_rate(tc: TrainConfig, step: int) -> float:
    """Linear warm-up, then cosine decay from ``lr`` to ``min_lr`` at the last step."""
    if step < tc.warmup:
        return tc.lr * (step + 1) / tc.warmup
    frac = (step - tc.warmup) / max(1, tc.steps - tc.warmup)
    return tc.min_lr + 0.5 * (tc.lr - tc.min_lr) * (1 + math.cos(math.pi * min(1.0, frac)))


def optimizer(model: LM, tc: TrainConfig) -> torch.optim.Optimizer:
    angles = [p for n, p in model.named_parameters() if n.endswith(".angles")]
    decay = [p for n, p in model.named_parameters() if not n.endswith(".angles") and p.ndim >= 2]
    plain = [p for n, p in model.named_parameters() if not n.endswith(".angles") and p.ndim < 2]
    groups = [
        {"params": decay, "weight_decay": tc.weight_decay, "lr_factor": 1.0},
        {"params": plain, "weight_decay": 0.0, "lr_factor": 1.0},
    ]
    if angles:
        groups.append({"params": angles, "weight_decay": 0.0, "lr_factor": tc.angle_lr})
    return torch.optim.AdamW(groups, lr=tc.lr, betas=(0.9, 0.95))


def loss_bits(model: LM, windows: torch.Tensor) -> torch.Tensor:
    """Next-byte loss in bits at every position, [windows, length]."""
    logits = model(windows[:, :-1])
    nll = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), windows[:, 1:].reshape(-1), reduction="none")
    return nll.reshape(windows.shape[0], -1) / LN2


def _atomic_save(obj: object, path: Path) -> None:
    """torch.save through ``mixing.engine.files``: serialised in memory first, so that a full disk is an
    OSError of the write (torch's own writer reports it as a RuntimeError)."""
    import io

    buf = io.BytesIO()
    torch.save(obj, buf)
    write_bytes(path, buf.getvalue())


def read_checkpoint(folder: str | Path) -> dict:
    """The checkpoint of a run folder (or a checkpoint file), checked for its format."""
    path = Path(folder)
    if path.is_dir():  # a training run, or a study's model folder (weights only)
        path = (
            path / "checkpoint.pt"
            if (path / "checkpoint.pt").exists() or not (path / "model.pt").exists()
            else path / "model.pt"
        )
    if not path.exists():
        raise ParameterError(f"--checkpoint: no checkpoint at {path}")
    from mixing.engine.params import MAX_BYTES

    if path.is_file() and path.stat().st_size > MAX_BYTES:
        raise ParameterError(
            f"--checkpoint: {path} is larger than {MAX_BYTES >> 30} GiB; not a checkpoint of mixing.lm"
        )
    try:
        # weights_only: tensors, numbers, strings and containers only, never a pickled object that
        # runs code; TorchVersion (a str) is what older checkpoints stored for the torch version
        with torch.serialization.safe_globals([torch.torch_version.TorchVersion]):
            ck = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001  (any unreadable file is one line)
        raise ParameterError(f"--checkpoint: {path} is not a readable checkpoint ({type(exc).__name__})") from None
    if not isinstance(ck, dict) or ck.get("format") != FORMAT:
        got = ck.get("format") if isinstance(ck, dict) else None
        raise ParameterError(
            f"--checkpoint: {path} has format {got!r}, this version reads format {FORMAT} "
            f"(retrain it with this version)"
        )
    return ck


def load_model(folder: str | Path, device: str = "cpu") -> LM:
    """The trained model of a run folder, in eval mode."""
    ck = read_checkpoint(folder)
    model = LM(Config(**ck["config"]))
    model.load_state_dict(ck["model"])
    return model.to(device).eval()


@torch.no_grad()
def validation_bits(model: LM, corpus: data_mod.Corpus, context: int, windows: int, device: str) -> tuple[float, float]:
    """Mean bits per byte on ``windows`` validation windows at the training context, and its s.e."""
    win = torch.from_numpy(data_mod.eval_windows(corpus.val, context, windows)).to(device)
    per = torch.cat([loss_bits(model, w).mean(1) for w in win.split(16)]).cpu().numpy()
    return mean_se(per, one=0.0, finite_only=False)


def memory_estimate(cfg: Config, tc: TrainConfig) -> float:
    """Bytes a training step needs, roughly: float32 weights, gradients and the two AdamW
    moments (4 copies of the parameters), plus each layer's activations (about 16 floats per
    position and width unit) and attention maps (4 per pair of positions and head; PaTH also
    keeps a head dimension per pair)."""
    w, L, T, B, H = cfg.width, cfg.layers, tc.context, tc.batch, cfg.heads
    params = L * 12.0 * w * w + 2 * 256.0 * w + L * 256.0 * w
    pair = 4.0 + (w / H if cfg.mechanism.startswith("path") else 0.0)
    acts = L * (B * T * w * 16.0 + B * H * float(T) ** 2 * pair)
    return 4.0 * (4 * params + acts)


def flop_estimate(cfg: Config, tc: TrainConfig) -> float:
    """Floating-point operations of a training run, roughly: 6 per parameter and token (forward
    and backward) plus 12 per pair of positions and width unit in attention."""
    w, L, T = cfg.width, cfg.layers, tc.context
    tokens = float(tc.steps) * tc.batch * T
    return tokens * (6.0 * (L * 12.0 * w * w + 256.0 * w) + 12.0 * L * T * w)


#: the most floating-point operations a training run may take: about a day of one CPU core
#: (1e11 per second), or of a GPU (1e14 per second)
MAX_FLOPS = {"cpu": 1e16, "cuda": 1e19}


def check_size(cfg: Config, tc: TrainConfig) -> None:
    """Refuse a model whose training would need more than ``mixing.engine.params.MAX_BYTES`` of memory
    or more than ``MAX_FLOPS`` operations, before any work."""
    from mixing.engine.params import MAX_BYTES

    need = memory_estimate(cfg, tc)
    if need > MAX_BYTES:
        raise ParameterError(
            f"--width/--layers/--context/--batch: training needs about {need / 2**30:.3g} GiB "
            f"(at most {MAX_BYTES >> 30} GiB)"
        )
    flops = flop_estimate(cfg, tc)
    if flops > MAX_FLOPS.get(tc.device, MAX_FLOPS["cpu"]):
        raise ParameterError(
            f"--steps/--width/--layers/--context/--batch: training needs about {flops:.2g} "
            f"floating-point operations (more than a day on {tc.device})"
        )


def train(
    cfg: Config,
    tc: TrainConfig,
    corpus: data_mod.Corpus,
    out: str | Path,
    progress: Callable[[str], None] | None = None,
) -> dict:
    """Train (or resume) the model of ``cfg`` in folder ``out``; returns the final checkpoint dict."""
    cfg.validate()
    tc.validate()
    check_size(cfg, tc)
    data_mod.check_length(corpus, "train", tc.context)
    data_mod.check_length(corpus, "val", tc.context, what="--context")
    out = Path(out)
    with held(out, "training run"):
        return _train(cfg, tc, corpus, out, progress)


def _train(
    cfg: Config, tc: TrainConfig, corpus: data_mod.Corpus, out: Path, progress: Callable[[str], None] | None = None
) -> dict:
    path = out / "checkpoint.pt"
    model = LM(cfg).to(tc.device)
    opt = optimizer(model, tc)
    step, log, wall = 0, [], 0.0
    if path.exists():
        ck = read_checkpoint(path)
        if ck["config"] != cfg.to_dict() or ck["train"] != tc.to_dict():
            raise ParameterError(
                f"--out: {out} holds a run with other settings ({ck['config']['mechanism']}, "
                f"{ck['train']['steps']} steps); choose another folder"
            )
        if ck["corpus"]["sha256"] != corpus.fingerprint["sha256"]:
            raise ParameterError(f"--out: {out} was trained on another corpus; choose another folder")
        model.load_state_dict(ck["model"])
        opt.load_state_dict(ck["optim"])
        step, log, wall = ck["step"], ck["log"], ck["wall"]
        if ck.get("done"):
            return ck
    torch.manual_seed(cfg.seed + 1)
    model.train()
    t0 = time.perf_counter()

    def checkpoint(done: bool) -> dict:
        ck = {
            "format": FORMAT,
            "mixing": __version__,
            "torch": str(torch.__version__),
            "config": cfg.to_dict(),
            "train": tc.to_dict(),
            "model": model.state_dict(),
            "optim": opt.state_dict(),
            "step": step,
            "log": log,
            "corpus": corpus.fingerprint,
            "wall": wall + time.perf_counter() - t0,
            "done": done,
        }
        if done:
            model.eval()
            ck["val_bpb"], ck["val_bpb_se"] = validation_bits(model, corpus, tc.context, tc.val_windows, tc.device)
        _atomic_save(ck, path)
        return ck

    while step < tc.steps:
        lr = learning_rate(tc, step)
        for g in opt.param_groups:
            g["lr"] = lr * g["lr_factor"]
        xb = data_mod.batch(corpus.train, tc.batch, tc.context, cfg.seed, step)
        copy = None
        if tc.passkey:
            xb, copy = passkey.plant(xb, tc.passkey, cfg.seed, step, tc.passkey_max)
        x = torch.from_numpy(xb).to(tc.device)
        bits = loss_bits(model, x)
        lm_loss = loss = bits.mean()
        if copy is not None and copy.any():  # the passkey's copy term (mixing.lm.passkey), not logged
            loss = loss + bits[torch.from_numpy(copy).to(tc.device)].mean()
        if not torch.isfinite(loss):
            raise FloatingPointError(
                f"{cfg.label()}: training loss became {loss.item()} at step {step} (lower --lr, now {tc.lr:g})"
            )
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        step += 1
        log.append(float(lm_loss.item()))
        if progress is not None:
            progress(step, tc.steps, log[-1])
        if step % tc.checkpoint_every == 0 and step < tc.steps:
            checkpoint(False)
    return checkpoint(True)
