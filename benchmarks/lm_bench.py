"""Speed and memory of the trained-transformer experiments (``mixing.lm``), measured in one run.

  python benchmarks/lm_bench.py [--steps N] [--skip-quick]

Prints (all on this machine, in this run):
1. seconds per AdamW step of the default model (4 layers, width 128, 4 heads, context 128,
   batch 16) per mechanism, and the projected time of the default 2000-step budget;
2. the wall time of ``python -m mixing.lm run --quick`` (every mechanism, a tiny model);
3. the PaTH scores of one head against length: the UT form (with gradients) and the scan
   (no gradients), time and the peak RSS of a fresh process computing them, beside the
   size of the T x T score matrix (memory: the growth of the process's peak resident set
   over its size before the computation, from /proc/self/status);
4. the peak RSS of evaluating the default model (untrained weights, same shapes) at 16x
   its context (one window of 2048 bytes), per mechanism family.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time

CHILD = r"""
import json, sys, time, torch


def status(key):  # kB -> MiB; VmHWM is this process's own peak (ru_maxrss survives exec on Linux)
    for line in open("/proc/self/status"):
        if line.startswith(key):
            return int(line.split()[1]) / 1024

from mixing.lm import transport as tr
from mixing.lm.model import LM, Config
spec = json.loads(sys.argv[1])
torch.manual_seed(0)
base = status("VmRSS")
if spec["what"] == "path":
    T, d, H = spec["T"], 32, 4
    q, k = torch.randn(1, H, T, d), torch.randn(1, H, T, d)
    w = torch.nn.functional.normalize(torch.randn(1, H, T, d), dim=-1)
    beta = 1.5 + 0.5 * torch.rand(1, H, T)
    t = time.perf_counter()
    if spec["form"] == "ut":
        q.requires_grad_()
        s = tr.path_logits(q, k, w, beta)
        s.sum().backward()
    else:
        s = tr.path_logits_scan(q, k, w, beta)
    dt = time.perf_counter() - t
else:
    model = LM(Config(mechanism=spec["mechanism"])).eval()
    x = torch.randint(0, 256, (1, spec["T"]))
    t = time.perf_counter()
    with torch.no_grad():
        model(x)
    dt = time.perf_counter() - t
print(json.dumps({"seconds": dt, "peak_rss_mib": status("VmHWM"), "added_mib": status("VmHWM") - base}))
"""


def child(spec):
    out = subprocess.run([sys.executable, "-c", CHILD, json.dumps(spec)], capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def step_times(steps):
    import torch

    from mixing.lm import data
    from mixing.lm.model import LM, MECHANISMS, Config
    from mixing.lm.train import TrainConfig, loss_bits, optimizer

    corpus = data.load()
    tc = TrainConfig()
    print(
        f"1. default model, seconds per step (mean of {steps} after 2 warm-up steps), "
        f"torch threads {torch.get_num_threads()}"
    )
    for mech in MECHANISMS:
        model = LM(Config(mechanism=mech))
        opt = optimizer(model, tc)
        times = []
        for s in range(steps + 2):
            x = torch.from_numpy(data.batch(corpus.train, tc.batch, tc.context, 0, s))
            t = time.perf_counter()
            loss = loss_bits(model, x).mean()
            opt.zero_grad()
            loss.backward()
            opt.step()
            times.append(time.perf_counter() - t)
        per = sum(times[2:]) / steps
        print(f"   {mech:20s} {per * 1e3:7.1f} ms/step   2000 steps: {per * 2000 / 60:5.1f} min")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=10, help="timed steps per mechanism (default 10)")
    ap.add_argument("--skip-quick", action="store_true", help="do not time run --quick")
    args = ap.parse_args(argv)
    step_times(args.steps)
    if not args.skip_quick:
        import tempfile

        with tempfile.TemporaryDirectory() as tmp:
            t = time.perf_counter()
            subprocess.run(
                [sys.executable, "-m", "mixing.lm", "run", "--quick", "--out", tmp], check=True, capture_output=True
            )
            print(f"2. python -m mixing.lm run --quick (10 models): {time.perf_counter() - t:.1f} s")
    print("3. PaTH scores of one batch element, 4 heads, d = 32 (fresh process each)")
    print(
        f"   {'T':>6} {'UT fwd+bwd s':>13} {'UT +MiB':>8} {'scan s':>8} {'scan +MiB':>10} {'T x T x 4 heads MiB':>20}"
    )
    for T in (128, 256, 512, 1024, 2048):
        ut = child({"what": "path", "form": "ut", "T": T}) if T <= 1024 else None
        sc = child({"what": "path", "form": "scan", "T": T})
        ut_s = f"{ut['seconds']:13.3f} {ut['added_mib']:8.0f}" if ut else f"{'-':>13} {'-':>8}"
        print(f"   {T:>6} {ut_s} {sc['seconds']:8.3f} {sc['added_mib']:10.0f} {T * T * 4 * 4 / 2**20:20.1f}")
    print("4. peak RSS of a forward pass of the default model, one window, fresh process")
    for mech in ("rope", "so2-learned-v", "path"):
        a = child({"what": "model", "mechanism": mech, "T": 128})
        b = child({"what": "model", "mechanism": mech, "T": 2048})
        print(
            f"   {mech:14s} L = 128: peak {a['peak_rss_mib']:.0f} MiB (+{a['added_mib']:.0f} over the loaded model); "
            f"L = 2048 (16x): peak {b['peak_rss_mib']:.0f} MiB (+{b['added_mib']:.0f})"
        )


if __name__ == "__main__":
    main()
