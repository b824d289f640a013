"""``python -m mixing.lm``: small byte-level transformers, one per position mechanism.

  run     train every mechanism at several seeds, evaluate to 16x the context, tabulate, draw
  train   train one model (resumes a killed run in the same folder)
  eval    evaluate a trained model at several lengths (bits per byte, far mass, coherence)
  export  write one head's generators along held-out text as an engine generators file
  report  the E1-E4 verdict table of a finished run (Markdown)

Data: byte-level text, by default the source of this Python's standard library, split by
file into train/val/test; --corpus PATH for a text file or a directory of text files.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

MISSING_TORCH = 'mixing.lm needs PyTorch: pip install -e ".[lm]"'


class _Parser(argparse.ArgumentParser):
    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message}\n")


def _positive_int(text):
    try:
        v = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if v < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return v


def _int_list(text):
    try:
        vals = [int(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated positive integers, got {text!r}") from None
    if not vals or min(vals) < 1:
        raise argparse.ArgumentTypeError(f"expected comma-separated positive integers, got {text!r}")
    return sorted(set(vals))


def _model_args(ap):
    ap.add_argument("--layers", type=_positive_int, default=4, help="transformer blocks (default 4)")
    ap.add_argument("--width", type=_positive_int, default=128, help="model width (default 128)")
    ap.add_argument("--heads", type=_positive_int, default=4, help="attention heads (default 4)")


def _train_args(ap, steps=2000):
    ap.add_argument("--context", type=_positive_int, default=128, help="training context in bytes (default 128)")
    ap.add_argument("--steps", type=_positive_int, default=steps, help=f"optimiser steps (default {steps})")
    ap.add_argument("--batch", type=_positive_int, default=16, help="windows per step (default 16)")
    ap.add_argument("--lr", type=float, default=1e-3, help="peak AdamW learning rate (default 1e-3)")
    ap.add_argument("--angle-lr", type=float, default=1.0,
                    help="learning-rate factor of learned angle tables (default 1)")
    ap.add_argument("--corpus", metavar="PATH", help="text file or folder of text files (default: the stdlib source)")
    ap.add_argument("--device", default="cpu", help="cpu or cuda (default cpu)")


def _train_config(args):
    from .train import TrainConfig

    return TrainConfig(context=args.context, steps=args.steps, batch=args.batch, lr=args.lr,
                       min_lr=args.lr / 10, angle_lr=args.angle_lr, device=args.device,
                       warmup=min(100, max(1, args.steps // 20)), checkpoint_every=max(1, min(250, args.steps // 4)))


def parser():
    ap = _Parser(prog="python -m mixing.lm", description=__doc__.strip().splitlines()[0].split(": ", 1)[-1],
                 epilog="\n".join(__doc__.strip().splitlines()[2:]), formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    from . import MECHANISM_HELP

    r = sub.add_parser("run", help="train and evaluate every mechanism, write results.csv and the figure",
                       description="Train every mechanism at several seeds, evaluate at 1x..16x the context, "
                                   "write DIR/results.csv, DIR/manifest.json and DIR/lm.png. Rerunning resumes.",
                       epilog=MECHANISM_HELP, formatter_class=argparse.RawDescriptionHelpFormatter)
    r.add_argument("--quick", action="store_true", help="every mechanism, one seed, a tiny model (1 layer, width 32, context 32) for 60 steps: the smoke test (about 10 s on 2 cores; the size and training options are ignored)")
    r.add_argument("--mechanisms", metavar="LIST", help="comma-separated (default: all, with so2-random at abs=0.3 and rel=0.5)")
    r.add_argument("--seeds", type=_positive_int, help="seeds per mechanism (default 3; 1 with --quick)")
    r.add_argument("--multiples", type=_int_list, help="evaluation lengths as multiples of the context (default 1,2,4,8,16)")
    r.add_argument("--windows", type=_positive_int, help="held-out windows per length (default 8)")
    r.add_argument("--out", required=True, help="run folder")
    _model_args(r)
    _train_args(r)

    t = sub.add_parser("train", help="train one model", epilog=MECHANISM_HELP,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    t.add_argument("--mechanism", required=True, help="one of the mechanisms below (SO(2) ones take :abs=S or :rel=S)")
    t.add_argument("--seed", type=int, default=0, help="model seed (default 0)")
    t.add_argument("--out", required=True, help="run folder (a killed run resumes here)")
    _model_args(t)
    _train_args(t)

    e = sub.add_parser("eval", help="evaluate a trained model")
    e.add_argument("--checkpoint", required=True, help="run folder of a trained model")
    e.add_argument("--lengths", type=_int_list, help="evaluation lengths (default 1x..16x the training context)")
    e.add_argument("--windows", type=_positive_int, default=8, help="held-out windows per length (default 8)")
    e.add_argument("--corpus", metavar="PATH", help="the corpus it was trained on (default: the stdlib source)")
    e.add_argument("--out", required=True, help="folder for eval.csv")
    e.add_argument("--device", default="cpu", help="cpu or cuda (default cpu)")

    x = sub.add_parser("export", help="export a head's generators as a generators file")
    x.add_argument("--checkpoint", required=True, help="run folder of a trained so2-* or path* model")
    x.add_argument("--layer", type=int, default=0, help="layer (default 0)")
    x.add_argument("--head", type=int, default=0, help="head (default 0)")
    x.add_argument("--length", type=_positive_int, default=4096, help="positions of held-out text (default 4096)")
    x.add_argument("--corpus", metavar="PATH", help="corpus (default: the stdlib source)")
    x.add_argument("--out", required=True, help="FILE.npz")

    p = sub.add_parser("report", help="the E1-E4 verdict table of a finished run")
    p.add_argument("dir", help="run folder (holding results.csv)")
    return ap


def main(argv=None) -> int:
    args_list = sys.argv[1:] if argv is None else argv
    try:
        import torch  # noqa: F401
    except ImportError:
        print(f"python -m mixing.lm: error: {MISSING_TORCH}", file=sys.stderr)
        return 2
    from ..errors import ParameterError

    ap = parser()
    try:
        args = ap.parse_args(args_list)
    except SystemExit as exc:            # argparse: --help (0) or one line of usage error (2)
        return int(exc.code or 0)
    if args.command is None:
        ap.print_help()
        return 2
    try:
        return COMMANDS[args.command](args, args_list)
    except ParameterError as exc:
        print(f"python -m mixing.lm {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except FloatingPointError as exc:
        print(f"python -m mixing.lm {args.command}: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"python -m mixing.lm {args.command}: interrupted; rerun the same command to resume", file=sys.stderr)
        return 130


def _corpus(args):
    from . import data

    return data.load(args.corpus)


def cmd_run(args, argv):
    from . import run as run_mod
    from .report import verdict_table

    study = run_mod.quick() if args.quick else run_mod.Study()
    if not args.quick:
        study.model = {"layers": args.layers, "width": args.width, "heads": args.heads}
        study.train = _train_config(args)
    else:
        study.train.device = args.device
    if args.mechanisms is not None:
        study.mechanisms = tuple(m for m in args.mechanisms.split(",") if m.strip())
    if args.seeds:
        study.seeds = args.seeds
    if args.multiples:
        study.multiples = tuple(args.multiples)
    if args.windows:
        study.windows = args.windows
    rows = run_mod.run(study, args.out, corpus=_corpus(args), argv=["python", "-m", "mixing.lm", *argv])
    try:
        from figures import lm as fig

        paths = fig.draw_run(Path(args.out))
        print(f"figure: {paths[0]}")
    except ImportError:
        pass
    print(verdict_table(rows))
    print(f"results: {Path(args.out) / 'results.csv'}")
    return 0


def cmd_train(args, argv):
    from .model import Config, parse_mechanism
    from .train import train

    name, scale = parse_mechanism(args.mechanism)
    cfg = Config(mechanism=name, scale=scale, layers=args.layers, width=args.width, heads=args.heads, seed=args.seed)
    cfg.validate()
    tc = _train_config(args).validate()
    corpus = _corpus(args)
    from .run import _bar

    ck = train(cfg, tc, corpus, args.out, progress=_bar(cfg.label(), print))
    print(f"{cfg.label()}: {ck['step']} steps in {ck['wall']:.0f} s, validation {ck['val_bpb']:.4f} "
          f"± {ck['val_bpb_se']:.4f} bits/byte at context {tc.context} -> {Path(args.out) / 'checkpoint.pt'}")
    return 0


def cmd_eval(args, argv):
    from .evaluate import coherence, evaluate
    from .run import _write_csv
    from .train import check_device, load_model, read_checkpoint

    check_device(args.device)
    ck = read_checkpoint(args.checkpoint)
    model = load_model(args.checkpoint, args.device)
    context = ck["train"]["context"]
    lengths = args.lengths or [context * k for k in (1, 2, 4, 8, 16)]
    corpus = _corpus(args)
    from . import data

    data.check_length(corpus, "test", max(lengths), what="--lengths")
    out = Path(args.out)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        from ..errors import ParameterError

        raise ParameterError(f"--out: cannot create {out}: {exc.strerror}") from None
    rows = evaluate(model, corpus, lengths, context, args.windows, device=args.device)
    rows += coherence(model, corpus, min(4 * context, 512))
    common = {"mechanism": model.cfg.mechanism, "scale": model.cfg.scale, "seed": model.cfg.seed, "seeds": 1,
              "train_context": context, "layers": model.cfg.layers, "width": model.cfg.width,
              "heads": model.cfg.heads, "steps": ck["train"]["steps"], "batch": ck["train"]["batch"]}
    rows = [{**common, **r} for r in rows]
    _write_csv(out / "eval.csv", rows)
    print(f"{'length':>8} {'bpb (all)':>18} {'bpb (beyond ctx)':>18}")
    for L in lengths:
        a = next(r for r in rows if r["eval_length"] == L and r["metric"] == "bpb_all")
        b = next((r for r in rows if r["eval_length"] == L and r["metric"] == "bpb_beyond"), None)
        beyond = f"{b['value']:.4f} ± {b['stderr']:.4f}" if b else "-"
        print(f"{L:>8} {a['value']:.4f} ± {a['stderr']:.4f} {beyond:>18}")
    print(f"rows: {out / 'eval.csv'}")
    return 0


def cmd_export(args, argv):
    from .export import export
    from .train import load_model, read_checkpoint

    context = read_checkpoint(args.checkpoint)["train"]["context"]
    model = load_model(args.checkpoint)
    info = export(model, _corpus(args), args.layer, args.head, args.out, args.length, train_length=context)
    family = "so2" if info["family"] == "so2" else "householder"
    print(f"wrote {args.out}: {info['rows']} {family} generators of layer {args.layer}, head {args.head} "
          f"(d = {info['d']}); run: python -m mixing.sweep --mechanism {family} --param generators={args.out}")
    return 0


def cmd_report(args, argv):
    from .report import verdict_table
    from .run import read_csv

    path = Path(args.dir) / "results.csv"
    if not path.exists():
        from ..errors import ParameterError

        raise ParameterError(f"dir: no results.csv in {args.dir}")
    print(verdict_table(read_csv(path)))
    return 0


COMMANDS = {"run": cmd_run, "train": cmd_train, "eval": cmd_eval, "export": cmd_export, "report": cmd_report}

if __name__ == "__main__":
    sys.exit(main())
