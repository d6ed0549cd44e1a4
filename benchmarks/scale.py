"""Scale: a 96-well two-target plate from libraries of 10k to 10M rows; GP fits on big histories.

``--part proposal`` (default): a synthetic hard-carbon-like library (20 numeric descriptors, 2 %
of descriptor cells missing) with a hidden two-target function: ICE [%] (maximized, constraint
ICE >= 80 %) and reversible capacity [mAh/g] (maximized), which trade off like the real ones.
200 rows are "measured" (hidden function + noise); each tool proposes q = 96 rows:

* ``funnel``: the planner's pool core (:func:`planner.propose.propose_from_pool`): the GP, then
  the screening funnel (:mod:`planner.funnel`; stage 1 streams the library from Parquet in
  chunks), then qLogNEHVI with the ICE constraint over the shortlist. ``--engine dask`` runs
  stage 1 on a Dask ``LocalCluster``.
* ``botorch``: the same GP and acquisition, the whole library loaded as one tensor and BoTorch's
  ``optimize_acqf_discrete(acqf, q, choices, unique=True)`` (sequential greedy over every row).
* ``baybe``: BayBE's ``Campaign`` with the library as a discrete search space (``SearchSpace.
  from_dataframe``) and its default ``BotorchRecommender`` (as in
  ``planner/backtest/peers/baybe_peer.py``), or "not installed".

Each (tool, size) runs in a fresh child process pinned to one thread (torch, BLAS); the parent
kills it past ``--cap-s`` seconds or ``--cap-gb`` GB resident memory and records that. Measured:
wall and CPU seconds of the proposal (reading the library from disk included; making it not),
the child's peak RSS, and the true hypervolume gain of the plate on the hidden functions. At
``--quality-rows`` (default 100,000) the funnel's plate and the exhaustive greedy plate (no
screening) are both scored by one and the same qLogNEHVI, jointly, and the ratio
``exp(value_funnel - value_exhaustive)`` is printed (goal: >= 0.98).

``--part gp``: GP fit on 1k .. 50k history rows through ``benchmarks/scale_gp.py``
(``run_gp_sizes``).

Results: ``benchmarks/results/scale.md`` and ``scale.json`` (``--out`` to change). Run alone::

    .venv/bin/python benchmarks/scale.py --sizes 10000 100000 --cap-s 300
    .venv/bin/python benchmarks/scale.py --sizes 1000000 10000000 --tools funnel
    .venv/bin/python benchmarks/scale.py --part gp
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import math
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

TARGETS = ("ice_pct", "reversible_capacity_mah_per_g")
ICE_MIN = 80.0
REF_POINT = (ICE_MIN, 150.0)
NOISE = (1.0, 8.0)
N_MEASURED = 200
Q = 96
CHUNK = 500_000
#: The 20 descriptor columns (units in the names).
DESCRIPTORS = (
    "carbonization_temperature_c", "heating_rate_c_per_min", "dwell_h", "n_doping_at_pct",
    "s_doping_at_pct", "koh_ratio", "o_content_at_pct", "h_c_ratio", "ash_wt_pct",
    "aromaticity_frac", "d002_nm", "lc_nm", "la_nm", "bet_ssa_m2_per_g", "raman_id_ig",
    "pore_volume_cm3_per_g", "closed_pore_volume_cm3_per_g", "true_density_g_per_cm3",
    "particle_size_um", "defect_density_frac",
)


# ---------------------------------------------------------------------------- the library
def library_chunk(n: int, seed: int, start: int) -> pd.DataFrame:
    """``n`` library rows (the 20 descriptors), deterministic per ``(seed, start)``."""
    rng = np.random.default_rng([seed, start])
    T = rng.uniform(800, 1800, n)
    rate = rng.uniform(1, 20, n)
    dwell = rng.uniform(0.5, 10, n)
    n_dop = rng.uniform(0, 10, n) * rng.binomial(1, 0.5, n)
    s_dop = rng.uniform(0, 10, n) * rng.binomial(1, 0.3, n)
    koh = rng.uniform(0, 4, n) * rng.binomial(1, 0.4, n)
    o_c = rng.uniform(0, 15, n)
    hc = rng.uniform(0.05, 0.6, n)
    ash = rng.gamma(1.5, 1.5, n)
    arom = rng.beta(2, 2, n)
    g = (T - 800) / 1000
    d002 = 0.405 - 0.035 * g + 0.002 * n_dop / 10 + rng.normal(0, 0.003, n)
    lc = 0.9 + 1.3 * g + 0.3 * arom + rng.normal(0, 0.08, n)
    la = 2.5 + 4.0 * g + rng.normal(0, 0.3, n)
    ssa = np.exp(np.log(8) + 1.1 * koh - 0.9 * g + 0.05 * o_c + rng.normal(0, 0.4, n))
    idig = 1.0 + 1.2 * (1 - g) + 0.04 * n_dop + rng.normal(0, 0.08, n)
    pore = 0.002 * ssa + rng.gamma(2, 0.01, n)
    closed = 0.05 + 0.15 * np.exp(-((T - 1350) / 250) ** 2) + rng.normal(0, 0.01, n)
    dens = 2.05 - 0.35 * closed - 0.05 * g + rng.normal(0, 0.02, n)
    size = rng.lognormal(np.log(8), 0.4, n)
    defect = np.clip(0.6 - 0.4 * g + 0.02 * n_dop + rng.normal(0, 0.03, n), 0, 1)
    cols = [T, rate, dwell, n_dop, s_dop, koh, o_c, hc, ash, arom, d002, lc, la, ssa, idig,
            pore, closed, dens, size, defect]
    frame = pd.DataFrame(dict(zip(DESCRIPTORS, cols, strict=True)))
    missing = rng.random((n, 10)) < 0.02  # descriptor (characterization) cells only
    for j, name in enumerate(DESCRIPTORS[10:]):
        frame.loc[missing[:, j], name] = np.nan
    return frame


def truth(frame: pd.DataFrame) -> np.ndarray:
    """Noise-free ``n x 2`` (ICE [%], capacity [mAh/g]) from the recipe part of the descriptors."""
    T = frame["carbonization_temperature_c"].to_numpy(float)
    rate = frame["heating_rate_c_per_min"].to_numpy(float)
    dwell = frame["dwell_h"].to_numpy(float)
    n_dop = frame["n_doping_at_pct"].to_numpy(float)
    s_dop = frame["s_doping_at_pct"].to_numpy(float)
    koh = frame["koh_ratio"].to_numpy(float)
    o_c = frame["o_content_at_pct"].to_numpy(float)
    arom = frame["aromaticity_frac"].to_numpy(float)
    porosity = 0.35 * koh + 0.04 * o_c - 0.03 * dwell
    ice = (60.0 + 25.0 / (1.0 + np.exp(-(T - 1150.0) / 120.0)) - 4.0 * porosity - 0.45 * n_dop
           - 0.25 * s_dop - 0.08 * rate + 2.0 * arom)
    plateau = 120.0 * np.exp(-((T - 1400.0) / 260.0) ** 2) * (1.0 + 0.2 * arom)
    capacity = (150.0 + plateau + 6.0 * n_dop + 5.0 * s_dop + 18.0 * porosity
                - 0.01 * (T - 1300.0) ** 2 / 100.0)
    return np.column_stack([ice, capacity])


def write_source(path: Path, rows: int, seed: int) -> None:
    """The lab's library file: Parquet with ``candidate_id`` and the 20 descriptors, written
    chunk by chunk (never whole in memory)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    writer = None
    for start in range(0, rows, CHUNK):
        frame = library_chunk(min(CHUNK, rows - start), seed, start)
        frame.insert(0, "candidate_id", [f"HC{i:08d}" for i in range(start, start + len(frame))])
        table = pa.Table.from_pandas(frame, preserve_index=False)
        writer = writer or pq.ParquetWriter(path, table.schema)
        writer.write_table(table, row_group_size=100_000)
    assert writer is not None
    writer.close()


def library_spec():  # noqa: ANN201 - campaigns.spec.CampaignSpec
    from campaigns.spec import CampaignSpec

    return CampaignSpec.from_dict({
        "name": "scale", "library": {"inputs": list(DESCRIPTORS)},
        "targets": [{"name": TARGETS[0], "direction": "max", "threshold": ICE_MIN},
                    {"name": TARGETS[1], "direction": "max"}]})


def import_store(source: Path, folder: Path) -> tuple[Path, float]:
    """Import the source into the planner's columnar store (campaigns.library_store), as a
    library campaign does; returns the stored file and the seconds it took."""
    from campaigns.library_store import import_library

    t0 = time.perf_counter()
    table = import_library(source, spec=library_spec(), dest_dir=folder)
    return Path(table.path), time.perf_counter() - t0


def open_table(path: Path):  # noqa: ANN201 - campaigns.library_table.LibraryTable
    from campaigns.library_table import LibraryTable

    return LibraryTable.from_file(path, full=False)


def measured_rows(rows: int, seed: int) -> np.ndarray:
    """Positions of the 200 measured rows (a seeded random draw)."""
    return np.sort(np.random.default_rng([seed, 11]).choice(rows, N_MEASURED, replace=False))


def observations(table: Any, seed: int) -> tuple[np.ndarray, pd.DataFrame, pd.DataFrame]:
    pos = measured_rows(table.n_rows, seed)
    X = table.take(pos, list(DESCRIPTORS)).reset_index(drop=True)
    Y = truth(X) + np.random.default_rng([seed, 12]).normal(0, NOISE, (len(X), 2))
    return pos, X, pd.DataFrame(Y, columns=list(TARGETS))


def hv_gain(X_obs: pd.DataFrame, X_new: pd.DataFrame) -> float:
    """True (noise-free) hypervolume gain of the plate over the measured rows (feasible only)."""
    import torch
    from botorch.utils.multi_objective.hypervolume import Hypervolume

    def volume(Y: np.ndarray) -> float:
        Y = Y[Y[:, 0] >= ICE_MIN]
        if not len(Y):
            return 0.0
        hv = Hypervolume(torch.tensor(REF_POINT, dtype=torch.double))
        return float(hv.compute(torch.tensor(Y, dtype=torch.double)))

    before = truth(X_obs)
    return volume(np.vstack([before, truth(X_new)])) - volume(before)


# ---------------------------------------------------------------------------- the tools
def _goals():  # noqa: ANN202
    from planner.propose import Goal

    return (Goal(TARGETS[0], "max", ICE_MIN), Goal(TARGETS[1], "max"))


def run_funnel(table: Any, seed: int, *, engine: str = "local", screened: bool = True,
               min_rows: int = 10_000) -> dict[str, Any]:
    from planner.engine import make_engine, use_engine
    from planner.funnel import ScreeningSettings
    from planner.propose import PoolProblem, propose_from_pool

    pos, X, Y = observations(table, seed)
    problem = PoolProblem(pool=table, X=X, Y=Y, goals=_goals(), exclude=pos)
    screening = ScreeningSettings(min_rows=min_rows if screened else 10**12)
    eng = make_engine(engine, processes=True) if engine == "dask" else make_engine("local")
    try:
        with use_engine(eng):
            plan = propose_from_pool(problem, q=Q, seed=seed, screening=screening)
    finally:
        eng.close()
    return {"picked": plan.rows.tolist(), "generator": plan.generator,
            "stages": plan.model_info.get("stages"), "notes": plan.notes}


def _fitted_acquisition(table: Any, seed: int):  # noqa: ANN202
    """The GP and qLogNEHVI (ICE >= 80 %) the planner builds, for the peers and the judge."""
    import torch

    from planner.acquisition import ConstraintSpec, ObjectiveSpec, build_acquisition
    from surrogates import make_surrogate

    pos, X, Y = observations(table, seed)
    model = make_surrogate("gp", input_bounds=table.bounds(), seed=seed).fit(X, Y)
    acqf = build_acquisition(
        model.to_botorch(), X_baseline=model.encode(X),
        objectives=[ObjectiveSpec(0, "max"), ObjectiveSpec(1, "max")],
        constraints=[ConstraintSpec(0, "max", ICE_MIN)],
        Y_baseline=torch.tensor(Y.to_numpy(float)), mc_samples=64, seed=seed)
    return pos, X, model, acqf


def run_botorch(table: Any, seed: int) -> dict[str, Any]:
    from botorch.optim.optimize import optimize_acqf_discrete

    pos, X, model, acqf = _fitted_acquisition(table, seed)
    frame = pd.concat([f for f in table.iter_batches(list(DESCRIPTORS), CHUNK)])
    keep = np.ones(len(frame), bool)
    keep[pos] = False
    choices = model.encode(frame[keep])
    del frame
    cand, _ = optimize_acqf_discrete(acqf, q=Q, choices=choices, max_batch_size=256,
                                     unique=True)
    index = {tuple(r): i for i, r in enumerate(choices.tolist())}
    rows = np.flatnonzero(keep)[[index[tuple(r)] for r in cand.tolist()]]
    return {"picked": rows.tolist(), "generator": "optimize_acqf_discrete/qLogNEHVI"}


def run_baybe(table: Any, seed: int) -> dict[str, Any]:
    from baybe import Campaign
    from baybe.objectives import ParetoObjective
    from baybe.parameters import NumericalDiscreteParameter
    from baybe.recommenders import BotorchRecommender
    from baybe.searchspace import SearchSpace
    from baybe.targets import NumericalTarget
    from baybe.utils.random import set_random_seed

    pos, X, Y = observations(table, seed)
    frame = pd.concat([f for f in table.iter_batches(list(DESCRIPTORS), CHUNK)])
    frame = frame.fillna(frame.median())
    names = {c: f"x{i}" for i, c in enumerate(DESCRIPTORS)}
    df = frame.rename(columns=names).reset_index(drop=True)
    params = [NumericalDiscreteParameter(name=n, values=sorted(set(df[n].round(6))))
              for n in names.values()]
    campaign = Campaign(
        searchspace=SearchSpace.from_dataframe(df.round(6), parameters=params),
        objective=ParetoObjective([NumericalTarget(name="y0"), NumericalTarget(name="y1")]),
        recommender=BotorchRecommender(), allow_recommending_already_measured=False)
    meas = df.round(6).iloc[pos].reset_index(drop=True)
    meas["y0"], meas["y1"] = Y[TARGETS[0]].to_numpy(), Y[TARGETS[1]].to_numpy()
    campaign.add_measurements(meas)
    set_random_seed(seed)
    rec = campaign.recommend(batch_size=Q)
    lookup = {tuple(r): i for i, r in enumerate(df.round(6).itertuples(index=False, name=None))}
    rows = [lookup[tuple(r)] for r in rec[list(names.values())].itertuples(index=False,
                                                                          name=None)]
    return {"picked": rows, "generator": "BayBE BotorchRecommender (ParetoObjective)",
            "notes": ["BayBE has no outcome constraints: the ICE >= 80 % constraint is not "
                      "given to it"]}


def plate_value(acqf: Any, X: Any) -> float:
    """The batch value of a plate under ``acqf``, well by well in plate order: each well's value
    given the wells before it as pending points, summed on the natural scale. For qLogNEHVI
    with fixed base samples the hypervolume gains telescope to the joint gain of the plate
    (BoTorch's joint q-point form enumerates all 2^q subsets: impossible at q = 96)."""
    import copy

    import torch

    from planner.pool import set_pending_points

    acqf = copy.deepcopy(acqf)
    base = acqf.X_pending
    total = 0.0
    with torch.no_grad():
        for k in range(len(X)):
            total += math.exp(float(acqf(X[k:k + 1][None])))
            set_pending_points(acqf, base, list(X[:k + 1]))
    return total


def quality(table: Any, seed: int, funnel_rows: list[int],
            exhaustive_rows: list[int]) -> dict[str, Any]:
    """Both plates scored by one and the same qLogNEHVI (ICE >= 80 %): the funnel's share."""
    _, X, model, acqf = _fitted_acquisition(table, seed)
    values = [plate_value(acqf, model.encode(table.take(np.asarray(r), list(DESCRIPTORS))))
              for r in (funnel_rows, exhaustive_rows)]
    return {"acq_funnel": values[0], "acq_exhaustive": values[1],
            "ratio": values[0] / values[1] if values[1] > 0 else math.nan,
            "shared_rows": len(set(funnel_rows) & set(exhaustive_rows))}


# ---------------------------------------------------------------------------- child process
def child(args: argparse.Namespace) -> None:
    """One (tool, size) case in this fresh process; prints one JSON line."""
    import resource

    global Q
    Q = args.q

    import torch
    from threadpoolctl import threadpool_limits

    from planner.runtime import skip_botorch_jit_kernel, tune_allocator

    torch.set_num_threads(1)
    threadpool_limits(1)
    tune_allocator()
    skip_botorch_jit_kernel()
    table = open_table(Path(args.library))
    t0, c0 = time.perf_counter(), time.process_time()
    if args.one == "funnel":
        out = run_funnel(table, args.seed, engine=args.engine, min_rows=args.min_rows)
    elif args.one == "exhaustive":
        out = run_funnel(table, args.seed, screened=False)
    elif args.one == "botorch":
        out = run_botorch(table, args.seed)
    elif args.one == "baybe":
        out = run_baybe(table, args.seed)
    else:
        raise SystemExit(f"unknown tool {args.one}")
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    _, X, _ = observations(table, args.seed)
    out.update(wall_s=wall, cpu_s=cpu,
               peak_rss_mb=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
               hv_gain=hv_gain(X, table.take(np.asarray(out["picked"]), list(DESCRIPTORS))))
    print("RESULT " + json.dumps(out))


def run_case(tool: str, library: Path, seed: int, cap_s: float, cap_gb: float,
             engine: str = "local", min_rows: int = 10_000) -> dict[str, Any]:
    """Run one case in a child; kill it past the caps."""
    import psutil

    cmd = [sys.executable, __file__, "--one", tool, "--library", str(library), "--seed",
           str(seed), "--engine", engine, "--min-rows", str(min_rows), "--q", str(Q)]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=env)
    peak, status = 0, "ok"
    t0 = time.perf_counter()
    stop = threading.Event()

    def watch() -> None:
        nonlocal peak, status
        ps = psutil.Process(proc.pid)
        while not stop.wait(0.2):
            try:
                rss = sum(p.memory_info().rss for p in [ps, *ps.children(recursive=True)])
            except psutil.Error:
                return
            peak = max(peak, rss)
            if rss > cap_gb * 2**30:
                status = f"exceeded {cap_gb:g} GB"
            elif time.perf_counter() - t0 > cap_s:
                status = f"exceeded {cap_s:g} s"
            else:
                continue
            for p in [*ps.children(recursive=True), ps]:
                p.kill()
            return

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    out, err = proc.communicate()
    stop.set()
    watcher.join()
    line = next((x for x in out.splitlines() if x.startswith("RESULT ")), None)
    if status == "ok" and (proc.returncode != 0 or line is None):
        tail = (err.strip().splitlines() or ["no output"])[-1][:300]
        status = f"failed: {tail}"
    result: dict[str, Any] = {"tool": tool, "status": status,
                              "watched_peak_rss_mb": peak / 2**20,
                              "elapsed_s": time.perf_counter() - t0}
    if line and status == "ok":
        result.update(json.loads(line[len("RESULT "):]))
    return result


# ---------------------------------------------------------------------------- report
def _fmt(x: Any, nd: int = 1) -> str:
    return "–" if x is None or (isinstance(x, float) and not math.isfinite(x)) else (
        f"{x:,.{nd}f}" if isinstance(x, float) else str(x))


def report_md(results: dict[str, Any]) -> str:
    lines = ["# Scale: a 96-well two-target plate from big libraries", "",
             f"Measured {results['when']} on {results['machine']}; "
             f"caps {results['cap_s']:g} s and {results['cap_gb']:g} GB per case; q = {Q}; "
             f"command `{results['command']}`.", "",
             "Synthetic hard-carbon-like library, 20 descriptors (2 % of descriptor cells "
             "missing), 200 measured rows, objectives ICE and capacity (max), constraint "
             "ICE >= 80 %. Each case is a fresh child process on one thread; times "
             "include reading the library from Parquet.", "",
             "| rows | tool | status | wall s | CPU s | peak RSS MB | stage 1 s | shortlist "
             "| stage 2 s | true HV gain |",
             "|---:|---|---|---:|---:|---:|---:|---:|---:|---:|"]
    for case in results["cases"]:
        st = case.get("stages") or {}
        s1, s2 = st.get("stage1") or {}, st.get("stage2") or {}
        rss = case.get("peak_rss_mb") or case.get("watched_peak_rss_mb")
        lines.append(
            f"| {case['rows']:,} | {case['tool']} | {case['status']} | "
            f"{_fmt(case.get('wall_s'))} | {_fmt(case.get('cpu_s'))} | {_fmt(rss, 0)} | "
            f"{_fmt(s1.get('seconds'))} | {_fmt(s1.get('shortlist'))} | "
            f"{_fmt(s2.get('seconds'))} | {_fmt(case.get('hv_gain'), 0)} |")
    for rows, seconds in (results.get("import_seconds") or {}).items():
        lines.append(f"\nImport of the {int(rows):,}-row source into the columnar store "
                     f"(campaigns.library_store, chunked, validated): {seconds:.1f} s.")
    for q in results.get("quality", []):
        lines += ["", f"Quality at {q['rows']:,} rows: funnel plate / exhaustive greedy plate, "
                      f"both scored by the same qLogNEHVI (well by well, summed): "
                      f"**{q['ratio']:.3f}** (values {q['acq_funnel']:.4g} vs "
                      f"{q['acq_exhaustive']:.4g}; "
                      f"{q['shared_rows']} of {Q} rows in common; goal >= 0.98)."]
    return "\n".join(lines) + "\n"


def proposal_part(args: argparse.Namespace, save: Any) -> dict[str, Any]:
    from rich.progress import Progress

    tools = list(args.tools)
    cases: list[dict[str, Any]] = []
    quality_rows: list[dict[str, Any]] = []
    workdir = Path(args.workdir or tempfile.mkdtemp(prefix="scale-"))
    workdir.mkdir(parents=True, exist_ok=True)
    with Progress() as bar:
        task = bar.add_task("cases", total=len(args.sizes) * len(tools))
        imports: dict[int, float] = {}
        for rows in args.sizes:
            source = workdir / f"source_{rows}_{args.seed}.parquet"
            store = workdir / f"store_{rows}_{args.seed}"
            found = sorted(store.glob("*.parquet")) if store.exists() else []
            if found:
                path = found[0]
            else:
                if not source.exists():
                    bar.console.log(f"writing a {rows:,}-row library to {source}")
                    write_source(source, rows, args.seed)
                path, imports[rows] = import_store(source, store)
                bar.console.log(f"imported into the columnar store in {imports[rows]:.1f} s")
                if not args.keep:
                    source.unlink(missing_ok=True)
            for tool in tools:
                bar.update(task, description=f"{tool} @ {rows:,}")
                if tool == "baybe" and importlib.util.find_spec("baybe") is None:
                    case: dict[str, Any] = {"tool": tool, "status": "not installed"}
                else:
                    case = run_case(tool, path, args.seed, args.cap_s, args.cap_gb, args.engine,
                                    args.min_rows)
                case["rows"] = rows
                cases.append(case)
                save({"cases": cases, "quality": quality_rows, "import_seconds": imports})
                bar.console.log(f"{tool} @ {rows:,}: {case['status']} "
                                f"wall {_fmt(case.get('wall_s'))} s, "
                                f"peak {_fmt(case.get('peak_rss_mb'), 0)} MB")
                bar.advance(task)
            if rows == args.quality_rows and "funnel" in tools:
                bar.update(task, description=f"exhaustive @ {rows:,}")
                full = run_case("exhaustive", path, args.seed,
                                args.quality_cap_s or args.cap_s, args.cap_gb)
                full["rows"] = rows
                cases.append(full)
                funnel = next(c for c in cases if c["tool"] == "funnel" and c["rows"] == rows)
                if full["status"] == "ok" and funnel["status"] == "ok":
                    q = quality(open_table(path), args.seed, funnel["picked"],
                                full["picked"])
                    q["rows"] = rows
                    quality_rows.append(q)
                    save({"cases": cases, "quality": quality_rows, "import_seconds": imports})
                    bar.console.log(f"quality at {rows:,} rows: ratio {q['ratio']:.3f}")
            if not args.keep:
                path.unlink(missing_ok=True)
    return {"cases": cases, "quality": quality_rows, "import_seconds": imports}


def main() -> None:
    global Q
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--part", choices=("proposal", "gp"), default="proposal")
    ap.add_argument("--sizes", type=int, nargs="+", default=[10_000, 20_000, 100_000, 1_000_000,
                                                             10_000_000])
    ap.add_argument("--tools", nargs="+", default=["funnel", "botorch", "baybe"],
                    choices=("funnel", "botorch", "baybe"))
    ap.add_argument("--engine", choices=("local", "dask"), default="local",
                    help="where the funnel's stage 1 runs")
    ap.add_argument("--cap-s", type=float, default=1800.0, help="time cap per case, seconds")
    ap.add_argument("--cap-gb", type=float, default=16.0, help="memory cap per case, GB")
    ap.add_argument("--quality-cap-s", type=float, default=None,
                    help="time cap of the exhaustive greedy reference (default --cap-s)")
    ap.add_argument("--quality-rows", type=int, default=100_000,
                    help="library size at which the funnel is compared with exhaustive greedy")
    ap.add_argument("--min-rows", type=int, default=10_000,
                    help="the funnel screens libraries above this many rows (planning.screening)")
    ap.add_argument("--q", type=int, default=96, help="wells per plate")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--workdir", default=None, help="where the Parquet libraries are written")
    ap.add_argument("--keep", action="store_true", help="keep the Parquet libraries")
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "scale"))
    ap.add_argument("--gp-sizes", type=int, nargs="+",
                    default=[1000, 2000, 5000, 10_000, 50_000])
    ap.add_argument("--one", help=argparse.SUPPRESS)
    ap.add_argument("--library", help=argparse.SUPPRESS)
    args = ap.parse_args()
    Q = args.q
    if args.one:
        child(args)
        return
    import platform

    results: dict[str, Any] = {
        "when": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores",
        "command": " ".join(["benchmarks/scale.py", *sys.argv[1:]]),
        "cap_s": args.cap_s, "cap_gb": args.cap_gb,
    }
    out = Path(args.out)
    if args.part == "gp":
        sys.path.insert(0, str(ROOT / "benchmarks"))
        from scale_gp import run_gp_sizes  # type: ignore[import-not-found]

        results["gp"] = run_gp_sizes(args.gp_sizes, args.seed)
        out = out.with_name(out.name + "_gp")
        out.with_suffix(".json").write_text(json.dumps(results, indent=2, default=str))
        print(json.dumps(results["gp"], indent=2, default=str))
        return
    def save(part: dict[str, Any]) -> None:  # after every case: a killed run keeps its figures
        results.update(part)
        out.with_suffix(".json").write_text(json.dumps(results, indent=2, default=str))
        out.with_suffix(".md").write_text(report_md(results))

    save(proposal_part(args, save))
    print(report_md(results))


if __name__ == "__main__":
    main()
