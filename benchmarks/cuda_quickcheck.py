"""A short GPU check of the table-driven Householder kernel (about two minutes on an H100):
CUDA vs CPU on the same seeds (fixed and per-token beta), the d = 64 rate against the CPU
kernel, and the d = 128 sweep to L = 2^24 with 4096 trials."""

import numpy as np
from cuda_bench import same_work, sweep

from mixing.engine import measures as ms
from mixing.engine import mechanisms as M
from mixing.engine.generators import save
from mixing.engine.task import Task

rng = np.random.default_rng(0)
w = rng.standard_normal((256, 64))
w /= np.linalg.norm(w, axis=1, keepdims=True)
save("/tmp/perbeta.npz", "table", "householder", {"directions": w, "betas": rng.uniform(0.5, 2.0, 256)})
for mech in (
    M.make("householder", 64, vocab=1024),
    M.make("householder", 64, generators="/tmp/perbeta.npz", rotate_values=1),
):
    a = ms.per_trial_retrieval(mech, Task(p=0.05), [64, 4096], 3, 64)
    b = ms.per_trial_retrieval(mech, Task(p=0.05), [64, 4096], 3, 64, device="cuda")
    print(f"{dict(mech.params).get('generators', 'vocab=1024')}: max|diff| {np.abs(a - b).max():.1e}", flush=True)
t_cpu, t_gpu, steps = same_work(4096, 2**15)
print(
    f"d=64 V=1024 4096 x 2^15: CUDA {steps / t_gpu:.3g} steps/s, CPU {steps / t_cpu:.3g}, ratio {t_cpu / t_gpu:.1f}x",
    flush=True,
)
t_short, est, t_full = sweep(100.0)
print(
    f"sweep d=128 4096 trials: to 2^20 {t_short:.2f} s, to 2^24 {t_full if t_full is None else round(t_full, 1)} s "
    f"(estimate {est:.0f} s)"
)
