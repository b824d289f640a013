"""``python -m mixing.lm``: small byte-level transformers, one per position mechanism.

  run     train every mechanism at several seeds, evaluate to 32x the context, tabulate, draw
  train   train one model (resumes a killed run in the same folder)
  eval    evaluate a trained model at several lengths (bits per byte, far mass, coherence)
  export  write one head's generators along held-out text as an engine generators file
  report  the E1-E4 verdict table of a finished run (Markdown)
  forecast  far mass and the stopping length forecast from lengths up to 2T
  contexts  C3 and C4 across studies trained at different contexts (Markdown)
  scale     the stopping length of the same mechanisms at two model sizes (Markdown)

Data: byte-level text, by default the source of this Python's standard library, split by
file into train/val/test; --corpus PATH for a text file or a directory of text files.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from mixing.cli import Parser as _Parser
from mixing.cli import guarded, int_in

if TYPE_CHECKING:
    from .data import Corpus
    from .train import TrainConfig

MISSING_TORCH = 'mixing.lm needs PyTorch: pip install -e ".[lm]"'

_seed = int_in(0, 2**63, "an integer in [0, 2^63)")
_index = int_in(0)
_positive_int = int_in(1)


def _int_list(text: str) -> list[int]:
    try:
        vals = [int(x) for x in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated positive integers, got {text!r}") from None
    if not vals or min(vals) < 1:
        raise argparse.ArgumentTypeError(f"expected comma-separated positive integers, got {text!r}")
    return sorted(set(vals))


def _check_multiples(ks: Sequence[int]) -> None:
    """--multiples: powers of 2, at least 2 (each names the bucket [kT/2, kT))."""
    if any(k & (k - 1) or k < 2 for k in ks):
        from mixing.engine.errors import ParameterError

        raise ParameterError(f"--multiples: each must be a power of 2, at least 2 (got {list(ks)})")


def _examples(*lines: str) -> str:
    return "examples:\n" + "\n".join(f"  {line}" for line in lines)


def _model_args(ap: argparse.ArgumentParser) -> None:
    ap.add_argument("--layers", type=_positive_int, default=4, help="transformer blocks (default 4)")
    ap.add_argument("--width", type=_positive_int, default=128, help="model width (default 128)")
    ap.add_argument("--heads", type=_positive_int, default=4, help="attention heads (default 4)")


def _train_args(ap: argparse.ArgumentParser, steps: int = 2000) -> None:
    ap.add_argument("--context", type=_positive_int, default=128, help="training context in bytes (default 128)")
    ap.add_argument("--steps", type=_positive_int, default=steps, help=f"optimiser steps (default {steps})")
    ap.add_argument("--batch", type=_positive_int, default=16, help="windows per step (default 16)")
    ap.add_argument("--lr", type=float, default=1e-3, help="peak AdamW learning rate (default 1e-3)")
    ap.add_argument(
        "--angle-lr", type=float, default=1.0, help="learning-rate factor of learned angle tables (default 1)"
    )
    ap.add_argument("--corpus", metavar="PATH", help="text file or folder of text files (default: the stdlib source)")
    ap.add_argument("--device", default="cpu", help="cpu or cuda (default cpu)")
    ap.add_argument(
        "--passkey",
        type=float,
        default=0.0,
        metavar="Q",
        help="plant a key-value passkey in a fraction Q of the training windows; run also tests "
        "retrieval with the key 0.5T-16T back (mixing.lm.passkey; default 0: none)",
    )
    ap.add_argument(
        "--passkey-max",
        type=_positive_int,
        default=0,
        metavar="BYTES",
        help="the largest distance of a planted pair in training, in bytes (default: as far as the "
        "context allows, T - 8)",
    )


def _train_config(args: argparse.Namespace) -> TrainConfig:
    from .train import TrainConfig

    return TrainConfig(
        context=args.context,
        steps=args.steps,
        batch=args.batch,
        lr=args.lr,
        min_lr=args.lr / 10,
        angle_lr=args.angle_lr,
        device=args.device,
        warmup=min(100, max(1, args.steps // 20)),
        checkpoint_every=max(1, min(250, args.steps // 4)),
        passkey=args.passkey,
        passkey_max=args.passkey_max,
    )


def parser() -> argparse.ArgumentParser:
    ap = _Parser(
        prog="python -m mixing.lm",
        description=__doc__.strip().splitlines()[0].split(": ", 1)[-1],
        epilog="\n".join(__doc__.strip().splitlines()[2:]),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = ap.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    from . import MECHANISM_HELP

    r = sub.add_parser(
        "run",
        help="train and evaluate every mechanism, write results.csv and the figure",
        description="Train every mechanism at several seeds, score held-out windows with full and sliding-window "
        "context, "
        "write DIR/results.csv, DIR/manifest.json and DIR/lm.png. Rerunning resumes.",
        epilog=_examples(
            "python -m mixing.lm run --quick --out runs/lm-quick",
            "python -m mixing.lm run --mechanisms rope,alibi,path --seeds 3 --layers 2 "
            "--width 64 --context 64 --steps 2500 --out runs/lm-study",
        )
        + "\n\n"
        + MECHANISM_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    r.add_argument(
        "--quick",
        action="store_true",
        help="every mechanism, one seed, a tiny model (1 layer, width 32, context 32) for 60 steps: the smoke "
        "test (the size and training options are ignored, but for --device and --passkey)",
    )
    r.add_argument(
        "--preset",
        choices=sorted(PRESETS),
        help="a named study size: gpu = rope, alibi, so2-random:abs=0.3, so2-learned, path, path-forget, "
        "3 seeds, 4 layers, width 256, context 256, batch 64, 1500 steps, to 16x, on cuda (about 3.2-3.5M "
        "parameters, 24M training bytes a model); options given here win",
    )
    r.add_argument(
        "--mechanisms", metavar="LIST", help="comma-separated (default: all, with so2-random at abs=0.3 and rel=0.5)"
    )
    r.add_argument("--seeds", type=_positive_int, help="seeds per mechanism (default 5; 1 with --quick)")
    r.add_argument(
        "--multiples",
        type=_int_list,
        help="multiples k of the context whose excess is reported (powers of 2, default 2,4,8,16,32; "
        "every model is scored on windows of the largest, one per test file)",
    )
    r.add_argument(
        "--windows",
        type=_positive_int,
        help="held-out windows, from distinct test files (default 64, or as many "
        "test files as hold a window of the largest multiple)",
    )
    r.add_argument(
        "--jobs",
        type=_positive_int,
        help="models trained at once, one process and one torch thread each (default: the number of cores)",
    )
    r.add_argument("--out", required=True, help="run folder")
    _model_args(r)
    _train_args(r)

    t = sub.add_parser(
        "train",
        help="train one model",
        epilog=_examples(
            "python -m mixing.lm train --mechanism path --out runs/path",
            "python -m mixing.lm train --mechanism so2-random:abs=0.3 --layers 2 --width 64 "
            "--context 64 --out runs/so2",
        )
        + "\n\n"
        + MECHANISM_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    t.add_argument("--mechanism", required=True, help="one of the mechanisms below (SO(2) ones take :abs=S or :rel=S)")
    t.add_argument("--seed", type=_seed, default=0, help="model seed (default 0)")
    t.add_argument("--out", required=True, help="run folder (a killed run resumes here)")
    _model_args(t)
    _train_args(t)

    e = sub.add_parser(
        "eval",
        help="evaluate a trained model",
        epilog=_examples(
            "python -m mixing.lm eval --checkpoint runs/path --multiple 8 --windows 16 --out runs/path-eval"
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    e.add_argument("--checkpoint", required=True, help="run folder of a trained model")
    e.add_argument(
        "--multiple",
        type=_positive_int,
        default=32,
        help="evaluation length as a multiple of the training context (default 32)",
    )
    e.add_argument(
        "--windows", type=_positive_int, default=64, help="held-out windows from distinct test files (default 64)"
    )
    e.add_argument("--corpus", metavar="PATH", help="the corpus it was trained on (default: the stdlib source)")
    e.add_argument("--out", required=True, help="folder for eval.csv")
    e.add_argument("--device", default="cpu", help="cpu or cuda (default cpu)")

    x = sub.add_parser(
        "export",
        help="export a head's generators as a generators file",
        epilog=_examples(
            "python -m mixing.lm export --checkpoint runs/path --layer 1 --head 0 --out runs/path-head.npz",
            "python -m mixing.sweep --mechanism householder --param "
            "generators=runs/path-head.npz --out runs/path-engine",
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    x.add_argument("--checkpoint", required=True, help="run folder of a trained so2-* or path* model")
    x.add_argument("--layer", type=_index, default=0, help="layer (default 0)")
    x.add_argument("--head", type=_index, default=0, help="head (default 0)")
    x.add_argument("--length", type=_positive_int, default=4096, help="positions of held-out text (default 4096)")
    x.add_argument("--corpus", metavar="PATH", help="corpus (default: the stdlib source)")
    x.add_argument("--out", required=True, help="FILE.npz")

    p = sub.add_parser(
        "report",
        help="the E1-E4 verdict table of a finished run",
        epilog=_examples("python -m mixing.lm report figures/output/lm-run"),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("dir", help="run folder (holding results.csv)")

    f = sub.add_parser(
        "forecast",
        help="forecast far mass and the stopping length from lengths up to 2T",
        description="Forecast, from measurements at lengths up to twice the training context only, "
        "each head's far mass at longer lengths and the length where the model stops "
        "extrapolating (mixing.lm.forecast; docs/theory.md, section 7). --checkpoint: "
        "one trained model (intervals over test windows); --study: every model of a "
        "finished study, beside its measured far mass and L_stop (intervals over seeds); "
        "--generators: one head's exported generators (python -m mixing.lm export) in the "
        "stylized engine, where the forecast is checked against the engine at every "
        "length (intervals over trials); with --checkpoint too, beside the model's own "
        "forecast for that head.",
        epilog=_examples(
            "python -m mixing.lm forecast --checkpoint runs/path --out runs/forecast",
            "python -m mixing.lm forecast --study figures/output/lm-run --engine",
            "python -m mixing.lm export --checkpoint runs/path --length 4096 --out runs/path-head.npz",
            "python -m mixing.lm forecast --generators runs/path-head.npz --checkpoint runs/path",
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    g = f.add_mutually_exclusive_group()
    g.add_argument("--checkpoint", help="run folder of a trained model")
    g.add_argument("--study", help="a finished study folder (python -m mixing.lm run)")
    f.add_argument(
        "--generators",
        metavar="FILE.npz",
        help="a head's generators from python -m mixing.lm export: forecast in the engine",
    )
    f.add_argument("--trials", type=_positive_int, default=256, help="engine trials for --generators (default 256)")
    f.add_argument("--seed", type=_seed, default=0, help="engine seed for --generators (default 0)")
    f.add_argument(
        "--engine",
        action="store_true",
        help="with --study: the engine forecast on every head's exported generators too (seed 0 of "
        "each mechanism, cached in its folder)",
    )
    f.add_argument(
        "--multiples",
        type=_int_list,
        default=[2, 4, 8, 16, 32],
        help="multiples k of the context to forecast (default 2,4,8,16,32)",
    )
    f.add_argument("--windows", type=_positive_int, default=8, help="test windows of 2T bytes (default 8)")
    f.add_argument("--corpus", metavar="PATH", help="the corpus it was trained on (default: the stdlib source)")
    f.add_argument("--out", help="folder for forecast.json and forecast.png (default: print only)")

    c = sub.add_parser(
        "contexts",
        help="C3 and C4 across studies trained at different contexts",
        description="The mixing windows W(0.1) and stopping lengths of the same mechanisms trained "
        "at two or more contexts T (one study folder per T): C3 (W does not depend on T) "
        "and C4 (models with W < T extrapolate), with their 95% intervals and rules "
        "(mixing.lm.contexts).",
        epilog=_examples(
            "python -m mixing.lm contexts figures/output/lm-ctx32 figures/output/lm-run figures/output/lm-ctx128"
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    c.add_argument("dirs", nargs="+", metavar="DIR", help="study folders (holding results.csv), one per context")

    z = sub.add_parser(
        "scale",
        help="the stopping length of the same mechanisms at two model sizes",
        description="Two studies of the same mechanisms at one training context and two model sizes, "
        "scored on the same test windows: each size's L_stop and crossing, and the excess of the larger "
        "model minus the smaller at each multiple, 95% over seeds and windows (mixing.lm.scale).",
        epilog=_examples("python -m mixing.lm scale figures/output/lm-ctx128 figures/output/lm-default"),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    z.add_argument("small", metavar="SMALL", help="the study of the smaller models (a folder holding results.csv)")
    z.add_argument("large", metavar="LARGE", help="the study of the larger models")
    return ap


def main(argv: Sequence[str] | None = None) -> int:
    args_list = sys.argv[1:] if argv is None else argv
    try:
        import torch  # noqa: F401
    except ImportError:
        print(f"python -m mixing.lm: error: {MISSING_TORCH}", file=sys.stderr)
        return 2

    ap = parser()
    try:
        args = ap.parse_args(args_list)
    except SystemExit as exc:  # argparse: --help (0) or one line of usage error (2)
        return int(exc.code or 0)
    if args.command is None:
        print(
            f"python -m mixing.lm: error: name a command: {', '.join(COMMANDS)} (python -m mixing.lm --help "
            "explains them)",
            file=sys.stderr,
        )
        return 2
    return guarded(
        f"python -m mixing.lm {args.command}",
        lambda: COMMANDS[args.command](args, args_list),
        interrupted="interrupted; rerun the same command to resume",
    )


def _corpus(args: argparse.Namespace) -> Corpus:
    from . import data

    return data.load(args.corpus)


#: named study sizes for ``run --preset``; options given on the command line win over them
PRESETS = {
    # a GPU-sized study of the mechanisms of the scale question: 3.2-3.5 million parameters,
    # context 256, 24 million training bytes per model, scored to 16x (4096 bytes: as many test
    # windows as the corpus has files that long). Sized for one H100/H200; not measured on a
    # card yet (BENCHMARKS.md says so); tested on the CPU at toy size.
    "gpu": {
        "mechanisms": "rope,alibi,so2-random:abs=0.3,so2-learned,path,path-forget",
        "seeds": 3,
        "layers": 4,
        "width": 256,
        "heads": 4,
        "context": 256,
        "batch": 64,
        "steps": 1500,
        "multiples": [2, 4, 8, 16],
        "device": "cuda",
    },
}


def _apply_preset(args: argparse.Namespace, argv: Sequence[str]) -> None:
    """Fill every option of ``--preset`` that ``argv`` does not give."""
    given = {a.split("=", 1)[0].lstrip("-").replace("-", "_") for a in argv if a.startswith("--")}
    for key, value in PRESETS[args.preset].items():
        if key not in given:
            setattr(args, key, value)


def cmd_run(args: argparse.Namespace, argv: Sequence[str]) -> int:
    from . import run as run_mod
    from .report import verdict_table

    if args.preset:
        if args.quick:
            from mixing.engine.errors import ParameterError

            raise ParameterError("--preset: not used with --quick (the smoke test has its own size)")
        _apply_preset(args, argv)
    study = run_mod.quick() if args.quick else run_mod.Study()
    if not args.quick:
        study.model = {"layers": args.layers, "width": args.width, "heads": args.heads}
        study.train = _train_config(args)
    else:
        study.train.device = args.device
        study.train.passkey = args.passkey
        study.train.passkey_max = args.passkey_max
    if args.mechanisms is not None:
        study.mechanisms = tuple(m for m in args.mechanisms.split(",") if m.strip())
    if args.seeds:
        study.seeds = args.seeds
    if args.multiples:
        study.multiples = tuple(args.multiples)
    if args.windows:
        study.windows = args.windows
    _check_multiples(study.multiples)
    import os

    jobs = args.jobs or len(os.sched_getaffinity(0))
    run_mod.check_labels(study.mechanisms)  # bad settings first, before any note
    study.train.validate()
    corpus = _corpus(args)
    if not args.windows and not args.quick:
        from .data import long_files

        have = long_files(corpus, "test", study.length)
        if 8 <= have < study.windows:  # the default adapts to the corpus, with a note
            print(
                f"python -m mixing.lm run: {have} test files hold a window of {study.length + 1} bytes; "
                f"scoring {have} windows (--windows sets it)",
                file=sys.stderr,
            )
            study.windows = have
    run_mod.run(study, args.out, corpus=corpus, argv=["python", "-m", "mixing.lm", *argv], jobs=jobs)
    from .plots import draw_run

    print(f"figure: {draw_run(Path(args.out))[0]}")
    print(verdict_table(args.out))
    print(f"results: {Path(args.out) / 'results.csv'}")
    return 0


def cmd_train(args: argparse.Namespace, argv: Sequence[str]) -> int:
    from .model import Config, parse_mechanism
    from .train import train

    cfg = Config(
        **parse_mechanism(args.mechanism), layers=args.layers, width=args.width, heads=args.heads, seed=args.seed
    )
    cfg.validate()
    tc = _train_config(args).validate()
    from .train import check_size

    check_size(cfg, tc)
    corpus = _corpus(args)
    from .run import _bar

    previous = Path(args.out) / "checkpoint.pt"
    if previous.exists():
        from .train import read_checkpoint

        prev = read_checkpoint(previous)
        if prev.get("done"):
            print(f"{cfg.label()}: {args.out} holds a finished run ({prev['step']} steps); nothing to train")
        elif prev.get("config") == cfg.to_dict():
            print(f"{cfg.label()}: resuming from step {prev['step']} of {prev['train']['steps']}")
    ck = train(cfg, tc, corpus, args.out, progress=_bar(cfg.label(), print))
    print(
        f"{cfg.label()}: {ck['step']} steps in {ck['wall']:.0f} s, validation {ck['val_bpb']:.4f} "
        f"± {ck['val_bpb_se']:.4f} bits/byte at context {tc.context} -> {Path(args.out) / 'checkpoint.pt'}"
    )
    return 0


def cmd_eval(args: argparse.Namespace, argv: Sequence[str]) -> int:
    import numpy as np

    from mixing.engine.stats import t_interval

    from .evaluate import coherence, evaluate, multiples
    from .run import COLUMNS
    from .store import atomic_npz, write_csv
    from .train import check_device, load_model, read_checkpoint

    check_device(args.device)
    ck = read_checkpoint(args.checkpoint)
    model = load_model(args.checkpoint, args.device)
    context = ck["train"]["context"]
    length = context * args.multiple
    corpus = _corpus(args)
    from . import data

    data.check_length(corpus, "test", length, what="--multiple")
    out = Path(args.out)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        from mixing.engine.errors import ParameterError

        raise ParameterError(f"--out: cannot create {out}: {exc.strerror}") from None
    rows, arrays = evaluate(model, corpus, length, context, args.windows, device=args.device)
    rows += coherence(model, corpus, min(4 * context, 512))
    cfg = model.cfg
    common = {
        "mechanism": cfg.mechanism,
        "scale": cfg.scale,
        "gate": cfg.gate,
        "rope_base": cfg.rope_base,
        "seed": cfg.seed,
        "seeds": 1,
        "train_context": context,
        "layers": cfg.layers,
        "width": cfg.width,
        "heads": cfg.heads,
        "steps": ck["train"]["steps"],
        "batch": ck["train"]["batch"],
    }
    write_csv(out / "eval.csv", [{**common, **r} for r in rows], COLUMNS)
    atomic_npz(out / "bits.npz", arrays)
    edges = [tuple(e) for e in arrays["edges"]]
    print(f"{cfg.label()} (one model: intervals over the {args.windows} windows only)")
    print(f"{'multiple':>8} {'positions':>13} {'full bits':>9} {'sliding':>9}   excess [95%]")
    for k in multiples(length, context):
        j = edges.index((k * context // 2, k * context))
        iv = t_interval(arrays["full"][:, j] - arrays["sliding"][:, j])
        print(
            f"{k:>7}x {f'[{edges[j][0]}, {edges[j][1]})':>13} {np.mean(arrays['full'][:, j]):9.4f} "
            f"{np.mean(arrays['sliding'][:, j]):9.4f}   {iv.text(4)}"
        )
    print(f"rows: {out / 'eval.csv'}, bits: {out / 'bits.npz'}")
    return 0


def cmd_export(args: argparse.Namespace, argv: Sequence[str]) -> int:
    from .export import export
    from .train import load_model, read_checkpoint

    context = read_checkpoint(args.checkpoint)["train"]["context"]
    model = load_model(args.checkpoint)
    info = export(model, _corpus(args), args.layer, args.head, args.out, args.length, train_length=context)
    family = "so2" if info["family"] == "so2" else "householder"
    print(
        f"wrote {args.out}: {info['rows']} {family} generators of layer {args.layer}, head {args.head} "
        f"(d = {info['d']}); run: python -m mixing.sweep --mechanism {family} --param generators={args.out}"
    )
    return 0


def cmd_report(args: argparse.Namespace, argv: Sequence[str]) -> int:
    from .report import verdict_table

    print(verdict_table(args.dir))
    return 0


def cmd_forecast(args: argparse.Namespace, argv: Sequence[str]) -> int:
    import json

    import numpy as np

    from . import forecast as fo

    if not (args.checkpoint or args.study or args.generators):
        from mixing.engine.errors import ParameterError

        raise ParameterError("give --checkpoint DIR, --study DIR or --generators FILE.npz")
    if args.study and args.generators:
        from mixing.engine.errors import ParameterError

        raise ParameterError("--generators: not used with --study (give it alone, or with --checkpoint)")
    if args.generators:
        return _forecast_generators(args)
    if args.study:
        rows = fo.study_rows(args.study, _corpus(args), engine=args.engine)
        print(fo.table(rows))
        result = {
            "study": args.study,
            "rows": [
                {
                    "mechanism": r["mechanism"],
                    "ks": r["ks"],
                    "forecast": list(map(float, r["forecast"])),
                    "measured": list(map(float, r["measured"])),
                    "error": [[iv.value, iv.lo, iv.hi] for iv in r["error"]],
                    "L_stop_predicted": r["L_stop_predicted"],
                    "L_stop": r["L_stop"],
                    **(
                        {
                            "engine": {
                                "error": [[iv.value, iv.lo, iv.hi] for iv in r["engine"]["error"]],
                                "holds": r["engine"]["holds"],
                                "heads": r["engine"]["heads"],
                            }
                        }
                        if r.get("engine")
                        else {}
                    ),
                }
                for r in rows
            ],
        }
    else:
        from .train import load_model, read_checkpoint

        _check_multiples(args.multiples)
        ck = read_checkpoint(args.checkpoint)
        model = load_model(args.checkpoint)
        r = fo.one_model(model, _corpus(args), ck["train"]["context"], args.multiples, args.windows)
        ks = r["ks"]
        print(
            f"{model.cfg.label()}, trained at T = {r['context']}: forecast from {args.windows} test windows of "
            f"{2 * r['context']} bytes ({'biased heads: log-linear tail' if r['biased'] else 'stationary tail'})"
        )
        print("far mass by head (layer.head): " + ", ".join(f"{k}x" for k in ks))
        for li in range(r["far"].shape[0]):
            for h in range(r["far"].shape[1]):
                print(f"  {li}.{h}: " + " ".join(f"{v:.3f}" for v in r["far"][li, h, 1:]))
        print(
            "predicted excess (bits/byte, 95% over windows): "
            + ", ".join(f"{k}x {iv.text()}" for k, iv in zip(ks, r["predicted_excess"]))
        )
        stop = r["L_stop_predicted"]
        print(f"predicted L_stop: {f'{stop:g}x' if np.isfinite(stop) else f'> {max(ks)}x'}")
        result = {
            "checkpoint": args.checkpoint,
            "mechanism": model.cfg.label(),
            "context": r["context"],
            "ks": ks,
            "far": r["far"][:, :, 1:].tolist(),
            "far_k1": r["far"][:, :, 0].tolist(),
            "predicted_excess": [[iv.value, iv.lo, iv.hi] for iv in r["predicted_excess"]],
            "L_stop_predicted": stop,
        }
    if args.out:
        from mixing.engine.files import write_text

        out = Path(args.out)
        out.mkdir(parents=True, exist_ok=True)
        write_text(out / "forecast.json", json.dumps(result, indent=2, default=float) + "\n")
        from .plots import draw_one

        print(f"figure: {draw_one(result, out)[0]}")
        print(f"wrote {out / 'forecast.json'}")
    return 0


def _forecast_generators(args: argparse.Namespace) -> int:
    """``forecast --generators FILE [--checkpoint DIR]``: the engine forecast of one head's
    transport, checked against the engine; beside the model's forecast for that head."""
    import json

    from mixing.engine.errors import ParameterError
    from mixing.engine.forecast import from_file

    _check_multiples(args.multiples)
    context = None
    if args.checkpoint:
        from .train import read_checkpoint

        context = read_checkpoint(args.checkpoint)["train"]["context"]
    r = from_file(args.generators, context, args.multiples, args.trials, args.seed)
    src = r["source"]
    ks = r["ks"]
    print(
        f"{args.generators}: {r['rows']} {r['mechanism']} generators (d = {r['d']}"
        + (f", {src['mechanism']} layer {src['layer']} head {src['head']}" if "layer" in src else "")
        + f"), T = {r['context']}, far set past W = {r['window']}, task B = {r['B']:g}, {r['trials']} trials"
    )
    print(
        "engine far mass, forecast from T and 2T / measured; forecast - measured odds relative to measured "
        "(95% over trials):"
    )
    for k, ff, mf, e, v in zip(ks, r["forecast_far"], r["measured_far"], r["relative_error"], r["verdicts"]):
        print(f"  {k}x: {ff:.3f} / {mf:.3f}  {e.text()}  {v}")
    result = {
        "generators": args.generators,
        **{
            k: r[k]
            for k in ("mechanism", "d", "rows", "context", "ks", "window", "B", "trials", "seed", "verdicts", "source")
        },
        "engine_forecast_far": list(map(float, r["forecast_far"])),
        "engine_measured_far": list(map(float, r["measured_far"])),
        "engine_relative_error": [[iv.value, iv.lo, iv.hi] for iv in r["relative_error"]],
    }
    if args.checkpoint:
        from . import forecast as fo
        from .train import load_model

        if "layer" not in src:
            raise ParameterError(
                f"{args.generators}: names no layer and head; export it with python -m mixing.lm "
                "export to compare with the model"
            )
        model = load_model(args.checkpoint)
        mr = fo.one_model(model, _corpus(args), r["context"], args.multiples, args.windows)
        li, h = int(src["layer"]), int(src["head"])
        if li >= mr["far"].shape[0] or h >= mr["far"].shape[1]:
            raise ParameterError(f"{args.generators}: layer {li} head {h} is not a head of {args.checkpoint}")
        far = {k: mr["far"][li, h, 1 + mr["ks"].index(k)] for k in ks}
        print(
            f"the model's forecast for that head ({args.windows} test windows of {2 * r['context']} bytes): "
            + ", ".join(f"{k}x {far[k]:.3f}" for k in ks)
        )
        held = all(v == "holds" for v in r["verdicts"])
        print(
            "the stationary tail "
            + ("holds" if held else "fails")
            + " for this transport in the engine: "
            + (
                "a miss of the model's forecast lies in its scores (content, layers), not in the transport"
                if held
                else "the transport's own far terms still change with the lag past 2T"
            )
        )
        result["model_forecast_far"] = [float(far[k]) for k in ks]
        result["checkpoint"] = args.checkpoint
    if args.out:
        from mixing.engine.files import write_text

        out = Path(args.out)
        out.mkdir(parents=True, exist_ok=True)
        write_text(out / "forecast.json", json.dumps(result, indent=2, default=float) + "\n")
        print(f"wrote {out / 'forecast.json'}")
    return 0


def cmd_contexts(args: argparse.Namespace, argv: Sequence[str]) -> int:
    from mixing.engine.errors import ParameterError

    from .contexts import table

    if len(args.dirs) < 2:
        raise ParameterError("dirs: give two or more study folders, trained at different contexts")
    print(table(args.dirs))
    return 0


def cmd_scale(args: argparse.Namespace, argv: Sequence[str]) -> int:
    from .scale import table

    print(table(args.small, args.large))
    return 0


COMMANDS = {
    "run": cmd_run,
    "train": cmd_train,
    "eval": cmd_eval,
    "export": cmd_export,
    "report": cmd_report,
    "forecast": cmd_forecast,
    "contexts": cmd_contexts,
    "scale": cmd_scale,
}

if __name__ == "__main__":
    sys.exit(main())
