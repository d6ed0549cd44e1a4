"""Library code logs its fallbacks with levels and leaves logging's configuration to the
application (the ``planner`` command configures it; see planner/cli/__init__.py)."""

from __future__ import annotations

import ast
import logging
import os
import re
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from surrogates.errors import InputDataWarning
from surrogates.gp import GPSurrogate

ROOT = Path(__file__).resolve().parents[1]
LIBRARY = ("campaigns", "surrogates", "planner")
#: Calls that configure logging for the whole process: the application's business.
GLOBAL_SWITCHES = {"basicConfig", "disable", "captureWarnings", "setLevel", "dictConfig",
                   "fileConfig"}


def _library_files() -> list[Path]:
    files = [p for pkg in LIBRARY for p in (ROOT / pkg).rglob("*.py")]
    # The CLI is an application: it may configure logging for its console.
    return [p for p in files if "cli" not in p.relative_to(ROOT).parts[:2]]


def test_library_code_does_not_configure_logging() -> None:
    offenders = []
    for path in _library_files():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        offenders += [f"{path.relative_to(ROOT)}:{node.lineno} .{node.func.attr}()"
                      for node in ast.walk(tree)
                      if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                      and node.func.attr in GLOBAL_SWITCHES]
    assert offenders == [], "leave logging's set-up to the application: " + ", ".join(offenders)


def test_importing_the_library_adds_no_handler_to_the_root_logger() -> None:
    script = ("import logging, campaigns.store, surrogates, planner.propose, planner.backtest\n"
              "print(len(logging.getLogger().handlers), logging.getLogger().level)")
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                         cwd=ROOT, check=True)
    assert out.stdout.split() == ["0", str(logging.WARNING)]


def test_a_surrogate_fallback_is_logged_with_its_level(caplog: pytest.LogCaptureFixture) -> None:
    X = pd.DataFrame({"x": np.linspace(0.0, 1.0, 6)})
    Y = pd.DataFrame({"y": [1.0] * 6, "z": [1.0, 2.0, np.nan, 4.0, 5.0, 6.0]})
    # The logger's own level: the dashboard app, imported by other tests in this process, sets
    # the package loggers to WARNING for its server log.
    with caplog.at_level(logging.INFO, logger="surrogates"), \
            warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        GPSurrogate(max_iter=5, seed=0).fit(X, Y)
    # The warnings are unchanged ...
    texts = [str(w.message) for w in caught if w.category is InputDataWarning]
    assert any("'y' is constant" in t for t in texts)
    assert any("left out" in t for t in texts)
    # ... and the log has them too: the fallback as a warning, the routine note as info.
    records = {r.getMessage(): r for r in caplog.records if r.name.startswith("surrogates")}
    constant = next(r for m, r in records.items() if "'y' is constant" in m)
    left_out = next(r for m, r in records.items() if "left out" in m)
    assert constant.levelno == logging.WARNING and constant.name == "surrogates.base"
    assert left_out.levelno == logging.INFO


@pytest.mark.parametrize(("level", "shown"), [
    (None, ["WARNING a fallback"]),
    ("info", ["WARNING a fallback", "INFO a routine note"]),
    ("loud", ["WARNING PLANNER_LOG_LEVEL='LOUD' is not a log level", "WARNING a fallback"]),
])
def test_the_planner_command_logs_with_time_stamps_and_levels(level: str | None,
                                                              shown: list[str]) -> None:
    """``planner`` (planner.cli.main) shows the library's records on stderr: time stamp, level,
    module; ``$PLANNER_LOG_LEVEL`` sets the least severe one shown."""
    script = (
        "import logging, planner.cli as cli\n"
        "log = logging.getLogger('planner.propose')\n"
        "cli.app = lambda: (log.warning('a fallback'), log.info('a routine note'))\n"
        "cli.main()\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "PLANNER_LOG_LEVEL"}
    if level is not None:
        env["PLANNER_LOG_LEVEL"] = level
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                         cwd=ROOT, env=env, check=True, timeout=120)
    lines = [line for line in out.stderr.splitlines() if line.strip()]
    stamp = r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}"
    assert all(re.match(rf"{stamp} (WARNING|INFO) planner[.\w]*: ", line) for line in lines), lines
    assert len(lines) == len(shown)
    for line, expected in zip(lines, shown, strict=True):
        level_name, message = expected.split(" ", 1)
        assert line.split()[2] == level_name and message in line


def test_a_planning_fallback_is_logged_once_with_its_level(
        caplog: pytest.LogCaptureFixture) -> None:
    from planner.propose import Goal, PoolProblem, propose_from_pool

    pool = pd.DataFrame({"x": np.linspace(0.0, 1.0, 12)})
    measured = pool.iloc[:2]
    # Two measured rows without a single target value: no model can be fitted.
    problem = PoolProblem(pool=pool, X=measured, Y=pd.DataFrame({"y": [np.nan, np.nan]}),
                          goals=(Goal("y"),), exclude=np.arange(12) < 2)
    with caplog.at_level(logging.INFO, logger="planner"):
        plan = propose_from_pool(problem, q=3, seed=0)
    assert plan.generator == "space-filling (fallback)"
    logged = [r for r in caplog.records if r.name == "planner.propose"]
    fallback = [r for r in logged if "no usable model" in r.getMessage()]
    assert len(fallback) == 1 and fallback[0].levelno == logging.WARNING
    assert set(plan.fallbacks) <= {r.getMessage() for r in logged}
