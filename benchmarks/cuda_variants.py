"""Launch-shape variants of the table-driven Householder retrieval kernel (d = 64, V = 1024,
4096 trials x L = 2^15), timed against the CPU kernel in the same process. Set
MIXING_CUDA_WPB (warps per block) and MIXING_CUDA_MAXREG (register cap) before running."""

import os

from cuda_bench import same_work

from mixing.engine.kernels import cuda as K

t_cpu, t_gpu, steps = same_work(4096, 2**15)
kern = K.kernels(64, False)["retrieval"]
regs = list(kern.get_regs_per_thread().values())
print(
    f"WPB={K.WPB} MAXREG={os.environ.get('MIXING_CUDA_MAXREG', '-')} regs={regs}: CUDA {steps / t_gpu:.3g} steps/s, "
    f"CPU {steps / t_cpu:.3g} steps/s, ratio {t_cpu / t_gpu:.1f}x"
)
