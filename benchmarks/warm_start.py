"""Does another lab's data help a new campaign? Cold GP vs warm-start GP in a closed loop.

Real data: CALiSol-23 (cleaned; de Blasio et al., Scientific Data 2024, CC BY 4.0). Each
scenario is one paper's electrolyte series at room temperature (15–25 °C, molality rows): that
paper is "this campaign" (the pool the loop picks from), and the other papers are "other labs'
prior data": by default at every temperature (``--prior-temperatures all``: 7,900–8,400 rows,
the whole shared dataset that the registry's inputs describe), or at 15–25 °C only
(``room``: about 800 rows). Solvents outside the registry's seven are excluded so every row is
described by the same inputs: salt, salt molality, temperature, seven solvent fractions. The
target is ionic conductivity (maximize).

The loop is the planner's own: ``n_init`` random picks, then batches of ``q`` chosen by
:func:`planner.propose.propose_from_pool` (what a library campaign's ``suggest`` and
``planner backtest`` call; campaign-default acquisition, optimizer settings of
``planner.backtest.strategies.backtest_optimizer``) with a :class:`planner.propose.Prior`, up to
``budget`` experiments, for each strategy and seed:

* ``random``   – picks at random (reference);
* ``gp``       – the GP on this campaign's data only (cold start);
* ``ws-all``   – the warm-start GP (``--mode``, default ``multitask``: source = task) with every
  prior row (a campaign's default, ``warm_start.max_prior_rows: null``; above 2,000 rows the
  variational GP of :mod:`surrogates.scalable`);
* ``ws-300``   – the same with the old cap, a seeded random 300 prior rows per fit.

Reported per scenario and strategy: median (and IQR) number of experiments until the first pick
in the pool's top 5 % (runs that never get there count as budget + 1, and the hit rate is
given), and the median best-so-far conductivity after 5, 10, 20 and ``budget`` experiments.

Usage (from the repository root; each ``ws-all`` fit costs about 45 CPU s with the whole
prior, so the defaults cost several CPU hours: run it alone)::

    .venv/bin/python benchmarks/warm_start.py --seeds 10 --budget 25 --q 2 --workers 2
    .venv/bin/python benchmarks/warm_start.py --seeds 1 --budget 9 --scenarios 1   # a check

The same comparison through the product's CLI (``gp`` vs ``gp-prior``)::

    .venv/bin/python benchmarks/warm_start.py --export-split /tmp/ws
    planner backtest /tmp/ws/lipf6_pool.csv --categorical salt \
        --target ionic_conductivity_ms_per_cm:max --prior /tmp/ws/lipf6_prior.csv \
        --strategies random,gp --seeds 10 --budget 25 --init 5 --batch-size 2 --top 0.05
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import warnings
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from campaigns.shared_dataset.calisol23 import clean_csv_path  # noqa: E402

CSV = clean_csv_path()
TARGET = "ionic_conductivity_ms_per_cm"
SOLVENTS = ["ec_frac", "pc_frac", "dmc_frac", "emc_frac", "dec_frac", "dme_frac", "diglyme_frac"]
INPUTS = ["salt", "salt_molality_mol_per_kg", "temperature_c", *SOLVENTS]
SCENARIOS = {
    "LiPF6 EC/PC/DEC (10.1149/1.1566019)": "10.1149/1.1566019",
    "LiBF4 EC/PC/DEC (10.1149/1.1630593)": "10.1149/1.1630593",
    "LiBOB EC/PC/DEC (10.1149/1.1833611)": "10.1149/1.1833611",
}
STRATEGIES = ("random", "gp", "ws-all", "ws-300")
#: Prior temperature windows (°C) of ``--prior-temperatures``.
PRIOR_TEMPERATURES = {"all": (-100.0, 300.0), "room": (15.0, 25.0)}


@dataclass(frozen=True)
class Scenario:
    """One paper as the campaign pool, the other papers as prior data."""

    name: str
    pool: pd.DataFrame
    prior: pd.DataFrame


def calisol_rows(csv: Path = CSV, *, t_range: tuple[float, float]) -> pd.DataFrame:
    """CALiSol-23 (cleaned) rows with a molality, measured within ``t_range`` °C, using only the
    registry's seven solvents: the source DOI, :data:`INPUTS` and the conductivity."""
    d = pd.read_csv(csv)
    solvent_cols = list(d.columns[d.columns.get_loc("ec_frac"):d.columns.get_loc("flags")])
    others = [c for c in solvent_cols if c not in SOLVENTS]
    d = d[d["salt_molality_mol_per_kg"].notna() & d["temperature_c"].between(*t_range)
          & (d[others].fillna(0) == 0).all(axis=1)]
    return d[["doi", *INPUTS, TARGET]].reset_index(drop=True)


def load_scenarios(csv: Path = CSV, *,
                   t_range: tuple[float, float] = (15.0, 25.0),
                   prior_t_range: tuple[float, float] | None = None) -> list[Scenario]:
    """Split CALiSol-23 (cleaned) into the benchmark's scenarios: the pool within ``t_range``,
    the prior (other papers) within ``prior_t_range`` (default ``t_range``)."""
    d = calisol_rows(csv, t_range=t_range)
    p = d if prior_t_range is None else calisol_rows(csv, t_range=prior_t_range)
    return [Scenario(name, d[d["doi"] == doi].reset_index(drop=True),
                     p[p["doi"] != doi].reset_index(drop=True))
            for name, doi in SCENARIOS.items()]


def export_split(scenarios: list[Scenario], folder: Path) -> None:
    """Write ``<salt>_pool.csv`` and ``<salt>_prior.csv`` (``source`` = the paper's DOI)."""
    folder.mkdir(parents=True, exist_ok=True)
    for sc in scenarios:
        stem = sc.name.split()[0].lower()
        sc.pool[[*INPUTS, TARGET]].to_csv(folder / f"{stem}_pool.csv", index=False)
        prior = sc.prior[[*INPUTS, TARGET]].assign(source=sc.prior["doi"])
        prior.to_csv(folder / f"{stem}_prior.csv", index=False)
        print(f"{sc.name}: {len(sc.pool)} pool rows -> {folder / (stem + '_pool.csv')}, "
              f"{len(prior)} prior rows ({prior['source'].nunique()} papers) -> "
              f"{folder / (stem + '_prior.csv')}")


def run_loop(sc: Scenario, strategy: str, seed: int, *, n_init: int, q: int, budget: int,
             mode: str = "multitask") -> list[float]:
    """Values of the pool rows picked, in the order they were picked (``budget`` of them)."""
    import torch

    from planner.backtest.strategies import backtest_optimizer
    from planner.propose import Goal, PoolProblem, Prior, propose_from_pool

    torch.set_num_threads(1)
    rng = np.random.default_rng(seed)
    pool_X, pool_y = sc.pool[INPUTS], sc.pool[[TARGET]]
    chosen = [int(i) for i in rng.choice(len(sc.pool), n_init, replace=False)]
    if strategy == "random":
        rest = [int(i) for i in rng.permutation(len(sc.pool)) if i not in chosen]
        chosen += rest[: budget - n_init]
        return [float(pool_y.iloc[i, 0]) for i in chosen]
    if strategy not in STRATEGIES:
        raise ValueError(f"unknown strategy {strategy!r}; use one of {', '.join(STRATEGIES)}")
    prior = None if strategy == "gp" else Prior(
        sc.prior[INPUTS], sc.prior[[TARGET]], sc.prior["doi"], mode,
        None if strategy == "ws-all" else 300)
    step = 0
    while len(chosen) < budget:
        exclude = np.zeros(len(sc.pool), dtype=bool)
        exclude[chosen] = True
        problem = PoolProblem(pool=pool_X, X=pool_X.iloc[chosen].reset_index(drop=True),
                              Y=pool_y.iloc[chosen].reset_index(drop=True),
                              goals=(Goal(TARGET, "max"),), categorical=("salt",),
                              exclude=exclude, prior=prior)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # fallbacks are recorded on the plan
            plan = propose_from_pool(problem, q=min(q, budget - len(chosen)),
                                     seed=seed * 1000 + step, surrogate="gp",
                                     optimizer=backtest_optimizer())
        if prior is not None and not plan.model_info.get("warm_start"):
            raise RuntimeError(f"{strategy}: the warm-start GP was not used: {plan.notes}")
        chosen += [int(i) for i in plan.rows]
        step += 1
    return [float(pool_y.iloc[i, 0]) for i in chosen]


def _job(args: tuple) -> tuple[str, str, int, list[float], float]:
    sc, strategy, seed, kw = args
    start = time.process_time()  # CPU time: comparable on a shared, busy machine
    values = run_loop(sc, strategy, seed, **kw)
    return sc.name, strategy, seed, values, time.process_time() - start


def summarize(sc: Scenario, runs: dict[str, dict[int, list[float]]], budget: int) -> pd.DataFrame:
    """One row per strategy: experiments to a top-5 % pick and best-so-far checkpoints.

    Args:
        sc: The scenario (its pool defines the top 5 %).
        runs: strategy → seed → values picked in order.
        budget: Experiments per run (a run without a top-5 % pick counts as ``budget + 1``).
    """
    y = sc.pool[TARGET].to_numpy()
    threshold = np.quantile(y, 0.95)

    def first_hit(values: list[float]) -> int:
        idx = np.flatnonzero(np.asarray(values) >= threshold)
        return int(idx[0]) + 1 if len(idx) else budget + 1

    hits = {st: {seed: first_hit(v) for seed, v in by_seed.items()} for st, by_seed in runs.items()}
    rows = []
    for strategy, by_seed in runs.items():
        hits_a = np.asarray(list(hits[strategy].values()))
        best_a = np.vstack([np.maximum.accumulate(v) for v in by_seed.values()])
        row: dict[str, object] = {
            "strategy": strategy, "runs": len(hits_a),
            "median exp. to top-5%": float(np.median(hits_a)),
            "IQR": f"{np.percentile(hits_a, 25):g}–{np.percentile(hits_a, 75):g}",
            "mean": float(np.mean(hits_a)), "hit rate": f"{np.mean(hits_a <= budget):.0%}"}
        if "gp" in hits and strategy != "gp":  # paired by seed: same random start
            d = [hits[strategy][k] - hits["gp"][k] for k in hits[strategy] if k in hits["gp"]]
            row["vs gp faster/same/slower"] = (f"{sum(x < 0 for x in d)}/{sum(x == 0 for x in d)}"
                                               f"/{sum(x > 0 for x in d)}")
        if strategy == "ws-all" and "ws-300" in hits:  # whole prior vs the old cap, by seed
            d = [hits[strategy][k] - hits["ws-300"][k] for k in hits[strategy]
                 if k in hits["ws-300"]]
            row["vs ws-300 faster/same/slower"] = (
                f"{sum(x < 0 for x in d)}/{sum(x == 0 for x in d)}/{sum(x > 0 for x in d)}")
        for n in sorted({5, 10, 20, budget}):
            if n <= best_a.shape[1]:
                row[f"best@{n}"] = float(np.median(best_a[:, n - 1]))
        rows.append(row)
    frame = pd.DataFrame(rows)
    for col in ("vs gp faster/same/slower", "vs ws-300 faster/same/slower"):
        if col in frame:
            frame[col] = frame[col].fillna("")
    return frame


def _print_table(sc: Scenario, runs: dict[str, dict[int, list[float]]], budget: int) -> None:
    y = sc.pool[TARGET]
    print(f"\n## {sc.name}: pool {len(sc.pool)} rows (max {y.max():.3g} mS/cm, top-5% >= "
          f"{np.quantile(y, 0.95):.3g}); prior {len(sc.prior)} rows from "
          f"{sc.prior['doi'].nunique()} other papers")
    print(summarize(sc, runs, budget).to_string(index=False, float_format="%.3g"), flush=True)


def main(argv: list[str] | None = None) -> int:
    """Run every scenario x strategy x seed and print the tables."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seeds", type=int, default=10)
    p.add_argument("--budget", type=int, default=25, help="experiments per run")
    p.add_argument("--n-init", type=int, default=5, help="random experiments first")
    p.add_argument("--q", type=int, default=2, help="batch size after the random start")
    p.add_argument("--mode", default="multitask", choices=("multitask", "prior_mean"),
                   help="warm-start mode (a campaign's warm_start.mode)")
    p.add_argument("--prior-temperatures", default="all", choices=tuple(PRIOR_TEMPERATURES),
                   help="prior rows at every temperature (the whole shared dataset) or 15-25 °C")
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--strategies", default=",".join(STRATEGIES))
    p.add_argument("--scenarios", type=int, default=len(SCENARIOS), help="use the first N")
    p.add_argument("--json", type=Path, default=None, help="also write raw picks here")
    p.add_argument("--export-split", type=Path, default=None,
                   help="only write each scenario's pool and prior as CSV files into this folder "
                        "(for `planner backtest POOL.csv --prior PRIOR.csv`)")
    p.add_argument("--from-json", type=Path, default=None,
                   help="only print the tables of picks saved earlier with --json")
    args = p.parse_args(argv)
    pd.set_option("display.width", 250)
    scenarios = load_scenarios(
        prior_t_range=PRIOR_TEMPERATURES[args.prior_temperatures])[: args.scenarios]
    strategies = args.strategies.split(",")
    if args.export_split:
        export_split(scenarios, args.export_split)
        return 0
    if args.from_json:
        saved = json.loads(args.from_json.read_text())
        for sc in scenarios:
            if sc.name in saved:
                runs = {st: {int(k): v for k, v in by_seed.items()}
                        for st, by_seed in saved[sc.name].items()}
                _print_table(sc, runs, args.budget)
        return 0
    kw = {"n_init": args.n_init, "q": args.q, "budget": args.budget, "mode": args.mode}
    jobs = [(sc, st, seed, kw) for sc in scenarios for st in strategies
            for seed in range(args.seeds)]
    print(f"CALiSol-23 warm-start benchmark: {len(scenarios)} scenario(s) x {len(strategies)} "
          f"strategies x {args.seeds} seeds; budget {args.budget} (first {args.n_init} random, "
          f"then batches of {args.q}); warm start {args.mode}, prior at "
          f"{args.prior_temperatures} temperatures; planner.propose.propose_from_pool.",
          flush=True)
    start = time.perf_counter()
    results: dict[str, dict[str, dict[int, list[float]]]] = {sc.name: {} for sc in scenarios}
    seconds: dict[str, float] = {}
    left = {sc.name: len(strategies) * args.seeds for sc in scenarios}
    with ProcessPoolExecutor(max_workers=args.workers) as ex:
        futures = [ex.submit(_job, job) for job in jobs]
        for fut in as_completed(futures):
            name, strategy, seed, values, secs = fut.result()
            results[name].setdefault(strategy, {})[seed] = values
            seconds[strategy] = seconds.get(strategy, 0.0) + secs
            left[name] -= 1
            if left[name] == 0:  # print each scenario as soon as it is complete
                sc = next(s for s in scenarios if s.name == name)
                _print_table(sc, {k: dict(sorted(results[name][k].items()))
                                  for k in strategies}, args.budget)
    print("\nCPU seconds per strategy (all runs): "
          + ", ".join(f"{k} {v:.0f}" for k, v in seconds.items())
          + f"; wall {time.perf_counter() - start:.0f} s")
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
