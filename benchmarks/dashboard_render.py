"""How long each dashboard page takes to render on a demo-sized campaign (Streamlit AppTest).

Builds a hard-carbon campaign of ``--weeks`` measured 96-well plates (results from the
SIMULATED virtual lab) plus a pending plate with stored predictions, then runs every page in
``AppTest`` three ways:

* **cold**: caches cleared, so the page loads the snapshot and computes everything itself (the
  first visit after new data arrived);
* **warm**: the same page again (every later visit until the data change);
* on-demand work behind a button (the cross-validation on the progress page), timed separately.

Module imports (torch, BoTorch, Streamlit) are paid once by a warm-up run and not counted.

Usage::

    .venv/bin/python benchmarks/dashboard_render.py                  # 5 weeks x 96 wells
    .venv/bin/python benchmarks/dashboard_render.py --db sqlite:///demo.db \
        --campaign demo-hard-carbon
    .venv/bin/python benchmarks/dashboard_render.py --json benchmarks/results/dashboard_render.json
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
APP = ROOT / "dashboard" / "app.py"
PAGES = ("plate", "upload", "progress", "insight", "data", "campaigns")
BUDGET_S = 3.0


def build(url: str, weeks: int) -> str:
    """Campaign ``bench``: ``weeks`` measured plates and one pending plate with predictions."""
    from campaigns.plate import fill_layout
    from campaigns.store import Store
    from campaigns.templates import load_template
    from campaigns.uploads import ingest_bytes
    from planner.design import space_filling_design
    from planner.simulation.hard_carbon import true_response
    from planner.simulation.virtual_lab import run_plate, sheet_bytes
    from planner.weekly import suggest_plate

    name = "bench"
    with Store.open(url) as store:
        store.create_campaign(load_template("hard-carbon", name=name), actor="benchmark")
        spec = store.spec(name)
        plates = [suggest_plate(store, name, week=f"2026-W{10 + i:02d}").batch
                  for i in range(weeks)]
        for i, batch in enumerate(plates):
            ingest_bytes(store, name, sheet_bytes(run_plate(spec, batch, seed=1, plate_index=i)),
                         filename=f"plate{batch.id}.csv", batch_id=batch.id)
        recipes = space_filling_design(spec, spec.plate.sample_wells, seed=99)
        truth = true_response(recipes)
        preds = [{"targets": {t.name: {"mean": float(truth[t.name].iloc[i]), "std": 2.0}
                              for t in spec.targets}} for i in range(len(recipes))]
        store.save_batch(name, iso_week=f"2026-W{10 + weeks:02d}", seed=99, generator="benchmark",
                         wells=fill_layout(spec.plate, recipes.to_dict(orient="records"), preds),
                         data_revision=store.snapshot(name).revision)
    return name


def _clear() -> None:
    import streamlit as st

    st.cache_data.clear()
    st.cache_resource.clear()


def _run(at, page: str, action=None) -> tuple[float, float]:
    """(wall, CPU) seconds of one run of ``page`` (or of ``action`` on it)."""
    wall, cpu = time.perf_counter(), time.process_time()
    if action is None:
        at.switch_page(f"views/{page}.py").run()
    else:
        action()
    elapsed = time.perf_counter() - wall, time.process_time() - cpu
    if at.exception or at.error:
        raise RuntimeError(f"{page}: " + "; ".join(e.value for e in [*at.exception, *at.error]))
    return elapsed


def measure(url: str, campaign: str, repeats: int) -> dict[str, dict[str, float]]:
    """Cold and warm render time of every page (median over ``repeats``), seconds."""
    from streamlit.testing.v1 import AppTest

    os.environ["PLANNER_DB_URL"] = url
    at = AppTest.from_file(str(APP), default_timeout=900)
    at.query_params["campaign"] = campaign
    at.run()  # warm-up: imports and the first connection
    out: dict[str, dict[str, float]] = {}
    for page in PAGES:
        cold, warm = [], []
        for _ in range(repeats):
            _clear()
            at.switch_page(f"views/{PAGES[-1] if page != PAGES[-1] else PAGES[0]}.py").run()
            _clear()
            cold.append(_run(at, page))
            warm.append(_run(at, page))
        out[page] = {"cold_s": statistics.median(c[0] for c in cold),
                     "cold_cpu_s": statistics.median(c[1] for c in cold),
                     "warm_s": statistics.median(w[0] for w in warm)}
    _clear()
    _run(at, "progress")
    cv = _run(at, "progress", lambda: at.button(key="run_cv").click().run())
    out["progress: cross-validation (button)"] = {"cold_s": cv[0], "cold_cpu_s": cv[1],
                                                  "warm_s": _run(at, "progress")[0]}
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--db", help="Measure this database instead of building one.")
    parser.add_argument("--campaign", help="Campaign to show (with --db).")
    parser.add_argument("--weeks", type=int, default=5,
                        help="Measured plates to build (default 5).")
    parser.add_argument("--repeats", type=int, default=1, help="Repeats per page (median).")
    parser.add_argument("--json", type=Path, help="Also write the results here.")
    args = parser.parse_args(argv)
    os.environ.setdefault("PLANNER_FAST", "1")
    with tempfile.TemporaryDirectory() as tmp:
        if args.db:
            url, campaign = args.db, args.campaign or "demo-hard-carbon"
        else:
            url = f"sqlite:///{Path(tmp) / 'bench.db'}"
            t0 = time.perf_counter()
            campaign = build(url, args.weeks)
            print(f"built {args.weeks} measured plates x 96 wells + 1 pending plate in "
                  f"{time.perf_counter() - t0:.1f} s")
        results = measure(url, campaign, args.repeats)
    load = os.getloadavg() if hasattr(os, "getloadavg") else (float("nan"),) * 3
    print(f"\n{'page':<38} {'cold [s]':>9} {'cold CPU [s]':>13} {'warm [s]':>9}   "
          f"(budget {BUDGET_S:g} s)")
    for page, r in results.items():
        flag = "" if r["cold_s"] <= BUDGET_S or "button" in page else "  > budget when cold"
        print(f"{page:<38} {r['cold_s']:>9.2f} {r['cold_cpu_s']:>13.2f} {r['warm_s']:>9.2f}{flag}")
    print("cold: caches empty (first visit after new data); warm: every later visit. CPU time "
          "is this process's, close to the wall time of an idle machine.")
    print(f"\nmachine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, "
          f"load average {load[0]:.1f} / {load[1]:.1f} / {load[2]:.1f}; "
          f"Python {sys.version.split()[0]}")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"weeks": args.weeks, "db": args.db, "results": results,
                                         "cpus": os.cpu_count(), "load_average": load}, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
