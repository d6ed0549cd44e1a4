"""Proposal speed, memory and quality: our planner vs Ax's ``Client`` on a hard-carbon-like space.

Space: ``precursor`` (6 levels) and 6 continuous recipe inputs; two maximized objectives (ICE and
reversible capacity) from smooth synthetic functions that trade off like the real ones (doping and
porosity raise capacity but cost ICE). ``n`` noisy observations (100 or 1,000) are given to both
tools; each proposes a batch of ``q`` (24 or 96) recipes.

* planner: :class:`surrogates.GPSurrogate` (one exact GP per target, mixed kernel) +
  :func:`planner.acquisition.build_acquisition` (qLogNEHVI, 64 MC samples, pruned baseline,
  cached Cholesky) + :func:`planner.optimize.optimize_mixed` (BoTorch's mixed alternating
  optimizer for the first wells, lazy greedy over a space-filling pool with spray for the rest),
  with the suggest engineer's ``DEFAULT`` settings; ``planner_fit50`` caps the GP fit at 50
  L-BFGS iterations.
* ax: ``Client`` with the same parameters (6 ranges, 1 unordered choice), the observations
  attached as completed trials, ``get_next_trials(max_trials=q)`` with Ax's default generation
  strategy; only that call is timed.

Measured per (tool, n, q), each in a fresh subprocess pinned to one thread (torch, OpenMP,
BLAS) and with the same :mod:`planner.runtime` settings for both tools: CPU seconds and wall
seconds of the proposal (planner: surrogate fit included; data loading excluded for both), the
machine's load average, the process's peak RSS, and the hypervolume gain of the batch on the
*true* functions (noise-free) over the observed designs,
with the fixed reference point (ICE 55 %, capacity 150 mAh/g). The speed ratio uses CPU seconds:
on a shared machine wall seconds depend on what else runs.

Run by hand::

    .venv/bin/python benchmarks/proposal_speed.py                  # full grid, writes results/
    .venv/bin/python benchmarks/proposal_speed.py --one planner --n 100 --q 24
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

PRECURSORS = ("cellulose", "lignin", "pitch", "starch", "coconut_shell", "phenolic_resin")
#: Continuous inputs and their bounds (lab units).
CONTINUOUS = {
    "carbonization_temperature_c": (800.0, 1800.0),
    "heating_rate_c_per_min": (1.0, 20.0),
    "dwell_h": (0.5, 10.0),
    "n_doping_at_pct": (0.0, 10.0),
    "s_doping_at_pct": (0.0, 10.0),
    "koh_ratio": (0.0, 4.0),
}
TARGETS = ("ice_pct", "reversible_capacity_mah_per_g")
REF_POINT = (55.0, 150.0)
NOISE = (1.0, 8.0)
_POROUS = dict(zip(PRECURSORS, (0.0, 0.3, -0.6, 0.1, 0.6, -0.2), strict=True))
_ICE_OFFSET = dict(zip(PRECURSORS, (0.0, -1.0, 2.0, -0.5, -2.0, 1.0), strict=True))
_CAP_OFFSET = dict(zip(PRECURSORS, (0.0, 10.0, -15.0, 5.0, 20.0, -5.0), strict=True))


def truth(df) -> np.ndarray:  # noqa: ANN001 - a DataFrame with the recipe columns
    """Noise-free ``n x 2`` (ICE [%], capacity [mAh/g]) of recipes."""
    T = df["carbonization_temperature_c"].to_numpy(float)
    rate = df["heating_rate_c_per_min"].to_numpy(float)
    dwell = df["dwell_h"].to_numpy(float)
    n_dop = df["n_doping_at_pct"].to_numpy(float)
    s_dop = df["s_doping_at_pct"].to_numpy(float)
    koh = df["koh_ratio"].to_numpy(float)
    prec = df["precursor"].astype(str)
    porosity = prec.map(_POROUS).to_numpy(float) + 0.35 * koh - 0.03 * dwell
    ice = (
        60.0
        + 25.0 / (1.0 + np.exp(-(T - 1150.0) / 120.0))
        - 4.0 * porosity
        - 0.45 * n_dop
        - 0.3 * s_dop
        - 0.15 * rate
        + 1.0 * np.log(dwell)
        + prec.map(_ICE_OFFSET).to_numpy(float)
    )
    cap = (
        180.0
        + 140.0 * np.exp(-(((T - 1400.0) / 280.0) ** 2))
        + 6.0 * n_dop
        - 0.35 * n_dop**2
        + 5.0 * s_dop
        - 0.3 * s_dop**2
        + 20.0 * porosity
        - 0.8 * rate
        + prec.map(_CAP_OFFSET).to_numpy(float)
    )
    return np.column_stack([ice, cap])


def observations(n: int, seed: int = 0):  # noqa: ANN201 - (X frame, Y frame)
    """``n`` random recipes with noisy outcomes."""
    import pandas as pd

    rng = np.random.default_rng(seed)
    X = pd.DataFrame({c: rng.uniform(lo, hi, n) for c, (lo, hi) in CONTINUOUS.items()})
    X.insert(0, "precursor", rng.choice(PRECURSORS, n))
    Y = truth(X) + rng.normal(0, NOISE, (n, 2))
    return X, pd.DataFrame(Y, columns=list(TARGETS))


def hv_gain(X_obs, X_new) -> tuple[float, float]:  # noqa: ANN001
    """(absolute, relative) hypervolume gain of ``X_new`` over ``X_obs`` on the true functions."""
    import torch
    from botorch.utils.multi_objective.hypervolume import Hypervolume
    from botorch.utils.multi_objective.pareto import is_non_dominated

    hv = Hypervolume(torch.tensor(REF_POINT, dtype=torch.double))

    def volume(Y: np.ndarray) -> float:
        Yt = torch.as_tensor(Y, dtype=torch.double)
        Yt = Yt[(Yt > hv.ref_point).all(dim=-1)]
        return float(hv.compute(Yt[is_non_dominated(Yt)])) if len(Yt) else 0.0

    base = volume(truth(X_obs))
    both = volume(np.vstack([truth(X_obs), truth(X_new)]))
    return both - base, (both - base) / base


# ---------------------------------------------------------------------------- the tools
def hard_carbon_spec():  # noqa: ANN201 - campaigns.spec.CampaignSpec
    """The benchmark's recipe space as a campaign spec (what the planner optimizes over)."""
    from campaigns.spec import CampaignSpec, CategoricalParameter, ContinuousParameter, Target

    return CampaignSpec(
        name="hard-carbon-speed",
        parameters=(
            CategoricalParameter(name="precursor", levels=list(PRECURSORS)),
            *(
                ContinuousParameter(name=c, lower=lo, upper=hi)
                for c, (lo, hi) in CONTINUOUS.items()
            ),
        ),
        targets=tuple(Target(name=t, direction="max") for t in TARGETS),
    )


def propose_planner(X, Y, q: int, *, seed: int = 0, settings: str = "default"):  # noqa: ANN001, ANN201
    """GP surrogate + qLogNEHVI + :func:`planner.optimize.optimize_mixed`; returns a frame.

    ``optimize_mixed`` finds the first wells with BoTorch's mixed alternating optimizer and the
    rest by lazy greedy selection from a space-filling pool with spray around the optimized
    wells and the incumbents (see its module docstring).
    """
    from dataclasses import replace

    import torch

    from planner.acquisition import ObjectiveSpec, build_acquisition
    from planner.optimize import DEFAULT, optimize_mixed
    from planner.space import EncodedSpace
    from surrogates import GPSurrogate

    # "fit50": the same search with the GP's hyperparameter fit capped at 50 L-BFGS iterations
    # (at 1,000 observations: 40 s instead of 150 s of CPU, same test error on the true function).
    chosen = {"default": DEFAULT, "fit50": replace(DEFAULT, fit_max_iter=50)}[settings]
    fit_kw = {"max_iter": chosen.fit_max_iter} if chosen.fit_max_iter else {}
    gp = GPSurrogate(
        categorical=("precursor",), categories={"precursor": list(PRECURSORS)}, seed=seed, **fit_kw
    ).fit(X, Y)
    Xt = gp.encode(X)
    space = EncodedSpace.from_spec(
        hard_carbon_spec(), feature_names=list(gp.feature_names_in_), categories=gp.categories_
    )
    acqf = build_acquisition(
        gp.to_botorch(),
        X_baseline=Xt,
        Y_baseline=torch.tensor(Y.to_numpy(), dtype=torch.double),
        objectives=[ObjectiveSpec(0, "max"), ObjectiveSpec(1, "max")],
        mc_samples=64,
        seed=seed,
    )
    cands, _ = optimize_mixed(acqf, space, q, seed=seed, avoid=Xt, settings=chosen)
    return space.decode(cands)


def propose_ax(X, Y, q: int, *, seed: int = 0, attach_only: bool = False):  # noqa: ANN001, ANN201
    """Ax ``Client`` (default generation strategy) with the same data attached; returns a frame."""
    import logging

    import pandas as pd
    from ax import ChoiceParameterConfig, Client, RangeParameterConfig

    logging.getLogger("ax").setLevel(logging.WARNING)
    client = Client(random_seed=seed)
    params = [
        ChoiceParameterConfig(
            name="precursor", values=list(PRECURSORS), parameter_type="str", is_ordered=False
        )
    ]
    params += [
        RangeParameterConfig(name=c, bounds=b, parameter_type="float")
        for c, b in CONTINUOUS.items()
    ]
    client.configure_experiment(parameters=params, name="hard_carbon")
    client.configure_optimization(objective="ice_pct, reversible_capacity_mah_per_g")
    for (_, x), (_, y) in zip(X.iterrows(), Y.iterrows(), strict=True):
        trial = client.attach_trial(
            parameters={k: (v if k == "precursor" else float(v)) for k, v in x.items()}
        )
        client.complete_trial(trial, raw_data={k: float(v) for k, v in y.items()})
    if attach_only:
        return None
    t0, c0 = time.perf_counter(), time.process_time()
    trials = client.get_next_trials(max_trials=q)
    propose_ax.seconds = time.perf_counter() - t0  # type: ignore[attr-defined]
    propose_ax.cpu_seconds = time.process_time() - c0  # type: ignore[attr-defined]
    return pd.DataFrame(list(trials.values()))


def one(tool: str, n: int, q: int, seed: int) -> dict:
    """Measure one (tool, n, q) in this process and return the record."""
    import torch

    from planner.runtime import skip_botorch_jit_kernel, tune_allocator

    # One thread for both tools: the fair, reproducible setting on a shared 2-core machine.
    torch.set_num_threads(int(os.environ.get("BENCH_THREADS", "1")))
    # The same process settings for both (Ax builds BoTorch's qLogNEHVI too): no JIT compile
    # of BoTorch's fused kernel inside the timed call, glibc keeping freed memory for reuse.
    skip_botorch_jit_kernel()
    tune_allocator()
    X, Y = observations(n, seed)
    if tool == "ax":
        batch = propose_ax(X, Y, q, seed=seed)
        seconds = propose_ax.seconds  # type: ignore[attr-defined]
        cpu = propose_ax.cpu_seconds  # type: ignore[attr-defined]
    else:
        t0, c0 = time.perf_counter(), time.process_time()
        variant = tool.removeprefix("planner").lstrip("_") or "default"
        batch = propose_planner(X, Y, q, seed=seed, settings=variant)
        seconds, cpu = time.perf_counter() - t0, time.process_time() - c0
    gain, rel = hv_gain(X, batch)
    return {
        "tool": tool,
        "n": n,
        "q": q,
        "seed": seed,
        "seconds": seconds,
        "cpu_seconds": cpu,
        "load_average": os.getloadavg()[0],
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "hv_gain": gain,
        "hv_gain_relative": rel,
        "n_proposed": len(batch),
    }


def grid(args: argparse.Namespace) -> None:
    """Every (tool, n, q) in a fresh subprocess; JSON and markdown under ``--out``."""
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    path = out / "proposal_speed.json"
    records = json.loads(path.read_text()) if path.exists() and args.resume else []
    done = {(r["tool"], r["n"], r["q"], r["seed"]) for r in records}
    for n in map(int, args.n.split(",")):
        for q in map(int, args.q.split(",")):
            for tool in args.tools.split(","):
                for seed in range(args.seeds):
                    if (tool, n, q, seed) in done:
                        continue
                    cmd = [
                        sys.executable,
                        __file__,
                        "--one",
                        tool,
                        "--n",
                        str(n),
                        "--q",
                        str(q),
                        "--seed",
                        str(seed),
                    ]
                    t0 = time.time()
                    # One thread everywhere (torch, OpenMP, BLAS) for both tools, so that CPU
                    # seconds equal wall seconds on an idle core and nobody oversubscribes.
                    env = {
                        **os.environ,
                        "OMP_NUM_THREADS": "1",
                        "OPENBLAS_NUM_THREADS": "1",
                        "MKL_NUM_THREADS": "1",
                        "BENCH_THREADS": "1",
                    }
                    try:
                        proc = subprocess.run(
                            cmd, capture_output=True, text=True, timeout=args.timeout, env=env
                        )
                        lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("{")]
                        rec = (
                            json.loads(lines[-1])
                            if lines
                            else {
                                "tool": tool,
                                "n": n,
                                "q": q,
                                "seed": seed,
                                "error": proc.stderr[-500:],
                            }
                        )
                    except subprocess.TimeoutExpired:
                        rec = {
                            "tool": tool,
                            "n": n,
                            "q": q,
                            "seed": seed,
                            "error": f"timeout {args.timeout} s",
                        }
                    rec["wall_with_startup"] = time.time() - t0
                    records.append(rec)
                    path.write_text(json.dumps(records, indent=1))
                    print(json.dumps(rec), flush=True)
    write_table(records, out / "proposal_speed.md")


def write_table(records: list[dict], path: Path) -> None:
    """Median over seeds per (n, q, tool) and each planner variant's CPU-time speed-up vs Ax.

    Speed is compared in CPU seconds (every run is single-threaded, so on an idle core CPU and
    wall seconds agree); wall seconds are listed too, with the machine's load average, because
    a shared machine inflates them unevenly.
    """
    from collections import defaultdict

    groups: dict[tuple, list[dict]] = defaultdict(list)
    for r in records:
        groups[(r["n"], r["q"], r["tool"])].append(r)

    def med(rs: list[dict], key: str) -> float:
        vals = [r[key] for r in rs if r.get(key) is not None]
        return float(np.median(vals)) if vals else float("nan")

    lines = [
        "| n obs | q | tool | runs | CPU s | wall s (load) | peak RSS MB | HV gain | HV gain % "
        "| CPU speed-up vs Ax | HV gain vs Ax |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for (n, q, tool), rs in sorted(groups.items()):
        ok = [r for r in rs if "error" not in r]
        ax = [r for r in groups.get((n, q, "ax"), []) if "error" not in r]
        speed = med(ax, "cpu_seconds") / med(ok, "cpu_seconds") if ok and ax else float("nan")
        hv = med(ok, "hv_gain") / med(ax, "hv_gain") if ok and ax else float("nan")
        err = "; ".join(sorted({r["error"][:60] for r in rs if "error" in r}))
        lines.append(
            f"| {n} | {q} | {tool} | {len(ok)}{' (' + err + ')' if err else ''} | "
            f"{med(ok, 'cpu_seconds'):.1f} | {med(ok, 'seconds'):.0f} "
            f"({med(ok, 'load_average'):.0f}) | "
            f"{med(ok, 'peak_rss_mb'):.0f} | {med(ok, 'hv_gain'):.0f} | "
            f"{100 * med(ok, 'hv_gain_relative'):.1f} | "
            f"{'' if tool == 'ax' or speed != speed else f'{speed:.1f}x'} | "
            f"{'' if tool == 'ax' or hv != hv else f'{hv:.2f}'} |"
        )
    path.write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


def main() -> None:
    """Command-line entry point."""
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--one", choices=["planner", "planner_fit50", "ax"])
    p.add_argument("--tools", default="planner,ax")
    p.add_argument("--n", default="100,1000")
    p.add_argument("--q", default="24,96")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--seeds", type=int, default=1)
    p.add_argument("--timeout", type=int, default=1800)
    p.add_argument("--out", default=str(ROOT / "benchmarks" / "results"))
    p.add_argument("--resume", action="store_true")
    args = p.parse_args()
    if args.one:
        print(json.dumps(one(args.one, int(args.n), int(args.q), args.seed)), flush=True)
    else:
        grid(args)


if __name__ == "__main__":
    main()
