"""Process settings of planner.runtime: no BoTorch JIT compile, glibc allocator thresholds."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from planner import runtime

ROOT = Path(__file__).resolve().parents[2]


def test_building_qlognehvi_compiles_nothing(tmp_path: Path) -> None:
    """A fresh process plans with qLogNEHVI without BoTorch building its C++ kernel.

    BoTorch 0.18 would compile ``logei_fused_ext`` into ``$TORCH_EXTENSIONS_DIR`` on the first
    qLogNEHVI (35-140 s per environment on the 2-core machine). Importing the planner changes
    nothing in BoTorch; ``build_acquisition``, which suggest, the dashboard, backtests and
    notebooks all plan through, keeps the kernel off.
    """
    script = textwrap.dedent("""
        import torch
        from botorch.acquisition.multi_objective import logei
        from botorch.models import ModelListGP, SingleTaskGP
        import planner.backtest, planner.cli, planner.propose, planner.weekly
        from planner.acquisition import ObjectiveSpec, build_acquisition

        print(logei._load_attempted)  # no patch of BoTorch on import

        X = torch.rand(8, 2, dtype=torch.double)
        Y = torch.stack([X.sum(-1), -X.prod(-1)], dim=-1)
        model = ModelListGP(*[SingleTaskGP(X, Y[:, j:j + 1]) for j in range(2)]).eval()
        acqf = build_acquisition(model, X_baseline=X, Y_baseline=Y, mc_samples=8,
                                 objectives=[ObjectiveSpec(0, "max"), ObjectiveSpec(1, "max")])
        assert type(acqf).__name__ == "qLogNoisyExpectedHypervolumeImprovement"
        with torch.no_grad():
            value = acqf(torch.rand(3, 1, 2, dtype=torch.double))
        assert torch.isfinite(value).all()
        print(logei._load_attempted, logei._C is None)
    """)
    env = {**os.environ, "TORCH_EXTENSIONS_DIR": str(tmp_path / "ext"), "PYTHONPATH": str(ROOT)}
    env.pop(runtime.FUSED_ENV, None)
    out = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True,
                         timeout=300, check=False)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["False", "True", "True"]
    assert not (tmp_path / "ext").exists()  # nothing was built


def test_fused_kernel_can_be_asked_for(monkeypatch: pytest.MonkeyPatch) -> None:
    from botorch.acquisition.multi_objective import logei

    monkeypatch.setattr(logei, "_load_attempted", False)
    monkeypatch.setenv(runtime.FUSED_ENV, "1")
    assert runtime.skip_botorch_jit_kernel() is False
    assert logei._load_attempted is False  # left for BoTorch to try
    monkeypatch.delenv(runtime.FUSED_ENV)
    assert runtime.skip_botorch_jit_kernel() is True
    assert logei._load_attempted is True


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's mallopt")
def test_allocator_thresholds_are_accepted() -> None:
    # mallopt returns 0 for an unknown parameter or a value out of range (e.g. an mmap
    # threshold above glibc's 32 MB maximum), so a wrong constant fails here.
    assert runtime.tune_allocator() is True
