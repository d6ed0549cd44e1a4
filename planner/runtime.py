"""Process-wide settings that make planning runs fast on a small CPU machine.

Two things outside the planner's own code cost the weekly ``planner suggest`` more than its
acquisition search did (measured on the demo campaign, 384 wells, 96-well plate):

1. **BoTorch's JIT-compiled qLogEHVI kernel.** BoTorch 0.18 compiles a fused C++ kernel with
   ``torch.utils.cpp_extension`` the first time a ``qLogNoisyExpectedHypervolumeImprovement`` is
   built in a process, into ``~/.cache/torch_extensions``, and builds it again whenever another
   virtual environment (another path to torch) used that cache in between. Each build took
   35-140 s of a 2-core machine (ninja's log), so the first plate after an install, every CI
   run and the demo paid it. With the kernel the plate took 91.6 s, without it 91.4 s: the
   kernel speeds up a part of the acquisition that is not our bottleneck. It is therefore not
   loaded; set ``PLANNER_BOTORCH_FUSED=1`` to let BoTorch compile and use it.
2. **glibc returning memory to the system after every large tensor.** The acquisition builds
   and frees tens-of-megabyte kernel matrices thousands of times; with glibc's defaults each is
   a fresh ``mmap``/``munmap`` and the process spent 18-20 s of its 91 s in the kernel
   (6.2 million page faults). :func:`tune_allocator` keeps freed memory for reuse instead:
   2 s of system time instead of 20 s, 11 s less wall time, the same peak memory (2.1-2.2 GB
   then, before the acquisition was scored in chunks).
   It is called by the command-line entry points, the dashboard and the backtest workers, not
   on import: a library should not change its host process's allocator.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import os
import sys

FUSED_ENV = "PLANNER_BOTORCH_FUSED"
"""Environment variable: ``1`` lets BoTorch compile and use its fused qLogEHVI kernel."""

_M_TRIM_THRESHOLD = -1  # mallopt parameter numbers from glibc's <malloc.h>
_M_MMAP_THRESHOLD = -3
MMAP_THRESHOLD = 32 * 1024 * 1024
"""Allocations below this come from the heap (glibc's largest allowed value on 64-bit)."""
TRIM_THRESHOLD = 512 * 1024 * 1024
"""Free heap memory kept for reuse before glibc gives it back to the system."""


def skip_botorch_jit_kernel() -> bool:
    """Stop BoTorch from compiling its fused qLogEHVI kernel (see the module docstring).

    BoTorch has no setting for this; it tries once per process and remembers the attempt in
    ``botorch.acquisition.multi_objective.logei._load_attempted``. Marking the attempt as made
    leaves ``_C`` unset, which is BoTorch's own pure-PyTorch path (the one it takes when no
    compiler is present). A kernel already loaded is left alone.

    Returns:
        True when the kernel will not be compiled in this process.
    """
    if os.environ.get(FUSED_ENV, "").strip().lower() in ("1", "true", "yes"):
        return False
    from botorch.acquisition.multi_objective import logei

    if getattr(logei, "_C", None) is not None:
        return False
    logei._load_attempted = True
    return True


@functools.cache
def tune_allocator() -> bool:
    """Raise glibc's mmap and trim thresholds (see the module docstring); once per process
    (the dashboard's script runs again on every interaction).

    Returns:
        True when the settings were applied (Linux with glibc), False elsewhere.
    """
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):  # musl and other C libraries have no mallopt
        return False
    return bool(mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD)) and bool(
        mallopt(_M_TRIM_THRESHOLD, TRIM_THRESHOLD)
    )
