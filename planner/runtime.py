"""Process-wide settings that make planning runs fast on a small CPU machine.

Two things outside the planner's own code cost the weekly ``planner suggest`` more than its
acquisition search (the measurements are in ``benchmarks/results/settings.md``):

1. **BoTorch's JIT-compiled qLogEHVI kernel.** BoTorch 0.18 compiles a fused C++ kernel with
   ``torch.utils.cpp_extension`` the first time a ``qLogNoisyExpectedHypervolumeImprovement`` is
   built in a process (into ``~/.cache/torch_extensions``, again for every other virtual
   environment), which takes minutes on a small machine and does not speed up our plates.
   :func:`skip_botorch_jit_kernel` keeps it from being loaded; set ``PLANNER_BOTORCH_FUSED=1`` to
   let BoTorch compile and use it. :func:`planner.acquisition.build_acquisition` and the
   backtest call it each time they plan, never on import.
2. **glibc returning memory to the system after every large tensor.** The acquisition builds
   and frees tens-of-megabyte kernel matrices thousands of times, each a fresh ``mmap``/``munmap``
   with glibc's defaults. :func:`tune_allocator` keeps freed memory for reuse instead. It is
   called by the command-line entry point, the dashboard and the backtest workers, not on import:
   a library should not change its host process's allocator.
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
