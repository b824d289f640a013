"""``cpu._interruptible``: Ctrl-C in the main thread while a kernel call is in the helper
thread. Pure-Python stand-ins for the kernel, so that no compilation is involved."""

import os
import signal
import threading
import time

import numpy as np
import pytest

from mixing.engine.kernels import cpu


def _sigint_after(seconds):
    timer = threading.Timer(seconds, os.kill, (os.getpid(), signal.SIGINT))
    timer.start()
    return timer


def test_ctrl_c_raises_the_stop_flag_and_waits_for_the_kernel():
    seen = {}

    def kernel(stop, out):  # polls its flag like a compiled trial loop
        while stop[0] == 0:
            time.sleep(0.001)
        out[0] = 7.0
        seen["stopped"] = True

    out = np.zeros(1)
    _sigint_after(0.2)
    with pytest.raises(KeyboardInterrupt):
        cpu._interruptible(kernel, (), out)
    assert seen.get("stopped") and out[0] == 7.0, "the kernel was not waited for"


def test_ctrl_c_does_not_wait_for_a_call_that_cannot_see_the_flag():
    """A compilation never looks at the stop flag: the main thread gives it GRACE seconds,
    then re-raises."""
    release = threading.Event()

    def compiling(stop, out):
        release.wait(30)

    _sigint_after(0.2)
    t0 = time.monotonic()
    with pytest.raises(KeyboardInterrupt):
        cpu._interruptible(compiling, (), np.zeros(1))
    took = time.monotonic() - t0
    release.set()
    assert took < 0.2 + cpu.GRACE + 1.0, f"waited {took:.1f} s"
    assert cpu._helper()._thread.daemon, "the interpreter would wait for the helper at exit"


def test_a_kernel_error_reaches_the_caller_and_the_helper_lives_on():
    def broken(stop, out):
        raise ValueError("bad argument")

    with pytest.raises(ValueError, match="bad argument"):
        cpu._interruptible(broken, (), np.zeros(1))
    out = np.zeros(1)

    def fine(stop, out):
        out[0] = 1.0

    cpu._interruptible(fine, (), out)
    assert out[0] == 1.0
