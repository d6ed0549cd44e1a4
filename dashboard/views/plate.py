"""This week's plate: the plate map, the recipes, the sheet to print, (re)generating the plate.

Everyone who sees the campaign downloads the sheet; proposing a plate needs the chemist role,
regenerating one the owner role (the store refuses what the role does not allow).
"""

from __future__ import annotations

import os
import time

import pandas as pd
import streamlit as st

from campaigns import auth
from campaigns.store import BatchInfo
from dashboard import figures, tables
from dashboard.common import (
    CampaignData,
    allowed,
    api,
    clear_caches,
    load,
    may,
    needs,
    render,
    require_campaign,
    simulated_banner,
    store,
)
from planner import progress
from planner.reports.progress import has_predictions, plate_frame
from planner.weekly import current_week, parse_week

CONFIRM = "confirm_regenerate"
PROPOSE_ROLE = "chemist"
REGENERATE_ROLE = "owner"
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def _propose(data: CampaignData, week: str, *, force: bool) -> None:
    # Refused before the (slow) planning, as the store would refuse it at the end.
    auth.require(store(), data.name, REGENERATE_ROLE if force else PROPOSE_ROLE,
                 what="regenerate plates" if force else "propose plates")
    n = data.snapshot.spec.sample_well_count
    how = "a space-filling design" if data.snapshot.observations.empty else "BoTorch"
    with st.status(f"Proposing {n} recipes for {week} with {how}…", expanded=True) as box:
        bar = st.progress(0.0, text="starting")
        started = time.monotonic()

        def show(step: progress.Step) -> None:
            # Wells dominate the time: the bar follows them; other stages show as text.
            fraction = step.fraction if step.stage == "wells" else None
            text = f"{step.label} ({time.monotonic() - started:.0f} s)"
            bar.progress(fraction if fraction is not None else 0.0, text=text)

        with progress.listening(show):
            b = api().campaign(data.name).suggest(week, force=force,
                                                  fast=os.environ.get("PLANNER_FAST") == "1")
        box.update(label=f"Plate for {week} ready in {time.monotonic() - started:.0f} s",
                   state="complete")
    clear_caches()
    if b.created:
        done = "Regenerated" if force else "Proposed"
        flash = f"{done} plate {b.id} for {b.week} ({b.generator})."
    else:
        flash = f"Plate {b.id} for {b.week} already existed; it is shown unchanged."
    st.session_state["plate_flash"] = flash
    st.session_state["plate_choice"] = b.id
    st.rerun()


def _has_furnace_runs(frame: pd.DataFrame) -> bool:
    return "furnace_run" in frame and bool(frame["furnace_run"].notna().any())


def _color_options(frame: pd.DataFrame, data: CampaignData) -> list[str]:
    spec = data.snapshot.spec
    preds = [c for c in frame.columns if c.startswith(("predicted_", "p_feasible_"))]
    measured = [c for c in spec.output_names if c in frame and frame[c].notna().any()]
    runs = ["furnace_run"] if _has_furnace_runs(frame) else []
    return [*preds, *measured, *runs, *spec.input_names, "role"]


def _color_label(name: str) -> str:
    return "Furnace run" if name == "furnace_run" else figures.label(name)


def _map_frame(frame: pd.DataFrame, color: str) -> pd.DataFrame:
    """Furnace runs are groups, not a scale: the map shows them as "Run 1", "Run 2", … (padded
    to one width, so that the legend, sorted as text, lists run 2 before run 10)."""
    if color != "furnace_run":
        return frame
    runs = frame["furnace_run"].astype(object)
    width = len(str(frame["furnace_run"].max()))
    return frame.assign(furnace_run=[None if pd.isna(r) else f"Run {r:>{width}}" for r in runs])


def _table(frame: pd.DataFrame, data: CampaignData) -> pd.DataFrame:
    spec = data.snapshot.spec
    runs = ["furnace_run"] if _has_furnace_runs(frame) else []
    out = frame[["well", "role", *runs, "replicate_of", *spec.input_names]].copy()
    for t in spec.targets:
        m = f"predicted_{t.name}"
        if m in frame:
            out[f"Predicted {figures.label(t.name)}"] = [
                figures.prediction_text(row, t.name) for _, row in frame.iterrows()]
    for name in spec.output_names:
        if name in frame and frame[name].notna().any():
            out[f"Measured {figures.label(name)}"] = frame[name]
    out["replicate_of"] = out["replicate_of"].fillna("")
    return tables.labelled(out).rename(columns={"furnace_run": "Furnace run"})


def _actions(data: CampaignData, batch: BatchInfo, measured: bool) -> None:
    c1, c2, c3 = st.columns([1, 1, 2])
    stem = f"{data.name}-{batch.iso_week}-plate{batch.id}"
    spec = data.snapshot.spec
    # Deferred downloads: the sheet is written when the button is clicked, not on every run.
    c1.download_button("Plate sheet (XLSX)", lambda: tables.sheet_bytes(spec, batch, "xlsx"),
                       file_name=f"{stem}.xlsx", mime=XLSX, key="dl_xlsx",
                       icon=":material/download:")
    c2.download_button("Plate sheet (CSV)", lambda: tables.sheet_bytes(spec, batch, "csv"),
                       file_name=f"{stem}.csv", mime="text/csv", key="dl_csv",
                       icon=":material/download:")
    permitted = may(data.name, REGENERATE_ROLE)
    why = ("Only before any result of the plate is uploaded." if measured else
           "Propose a new plate for this week; the current one is kept as discarded.")
    if not permitted:
        why = needs(data.name, REGENERATE_ROLE, what="Regenerating a plate").replace("**", "")
    if c3.button("Regenerate this plate…", disabled=measured or not permitted, key="regenerate",
                 help=why):
        st.session_state[CONFIRM] = batch.id
    if not permitted and not measured:
        c3.caption(f":material/lock: Regenerating needs the {REGENERATE_ROLE} role.")
    if st.session_state.get(CONFIRM) == batch.id and not measured:
        st.warning(f"Replace plate {batch.id} for {batch.iso_week}? The current proposal is kept "
                   "in the record as *discarded*; throw away any printed sheet of it.")
        yes, no, _ = st.columns([1, 1, 4])
        if yes.button("Yes, regenerate", type="primary", key="confirm_yes"):
            st.session_state.pop(CONFIRM, None)
            _propose(data, batch.iso_week, force=True)
        if no.button("Cancel", key="confirm_no"):
            st.session_state.pop(CONFIRM, None)
            st.rerun()


def _choose_plate(data: CampaignData, this_week: BatchInfo | None) -> BatchInfo:
    by_id = {b.id: b for b in reversed(data.batches)}  # newest first
    wanted = st.session_state.pop("plate_choice", None)
    if wanted not in by_id and st.session_state.get("plate_select") not in by_id:
        wanted = this_week.id if this_week else next(iter(by_id))
    if wanted in by_id:
        st.session_state["plate_select"] = wanted

    def describe(i: int) -> str:
        b = by_id[i]
        return f"{b.iso_week} · plate {i} · {b.status} · {b.generator}"

    return by_id[st.selectbox("Plate", list(by_id), key="plate_select", format_func=describe)]


def _headline(batch: BatchInfo, frame: pd.DataFrame) -> None:
    roles = frame["role"].value_counts()
    m = st.columns(5)
    m[0].metric("Week", batch.iso_week)
    m[1].metric("Status", batch.status)
    m[2].metric("Samples", int(roles.get("sample", 0)))
    m[3].metric("Controls · replicates",
                f"{int(roles.get('control', 0))} · {int(roles.get('replicate', 0))}")
    m[4].metric("Measured wells", int(frame["status"].notna().sum()) if "status" in frame else 0)
    note = "" if has_predictions(frame) else " A space-filling plate carries no model predictions."
    st.caption(f"Generated by {batch.generator}, seed {batch.seed}, from data revision "
               f"{batch.data_revision}.{note}")
    for w in batch.warnings:
        st.warning(str(w))


def _plan_other_week(data: CampaignData) -> None:
    if not may(data.name, PROPOSE_ROLE):
        return
    with st.expander("Plan another week"):
        other = st.text_input("ISO week", placeholder="2026-W48", key="other_week")
        if st.button("Propose for that week", key="propose_other") and other.strip():
            _propose(data, parse_week(other), force=False)


def body() -> None:
    name = require_campaign()
    data = load(name)
    spec = data.snapshot.spec
    st.title("This week's plate")
    simulated_banner(data)
    if flash := st.session_state.pop("plate_flash", None):
        st.success(flash)
    week = current_week()
    this_week = next((b for b in data.batches if b.iso_week == week), None)
    if this_week is None:
        st.info(f"No plate for this week ({week}) yet.")
        label = "Propose the first plate" if not data.batches else f"Propose the plate for {week}"
        if allowed(name, PROPOSE_ROLE, what="Proposing a plate") and st.button(
                label, type="primary", key="propose"):
            _propose(data, week, force=False)
    if not data.batches:
        _plan_other_week(data)
        return
    batch = _choose_plate(data, this_week)
    frame = plate_frame(batch, spec, data.snapshot.observations)
    _headline(batch, frame)
    _actions(data, batch, measured="status" in frame and frame["status"].notna().any())
    options = _color_options(frame, data)
    if st.session_state.get("plate_color") not in options:
        st.session_state.pop("plate_color", None)
    color = st.columns([2, 3])[0].selectbox("Colour wells by", options, key="plate_color",
                                            format_func=_color_label)
    st.plotly_chart(figures.plate_map(_map_frame(frame, color), spec, color=color),
                    width="content", config=figures.CONFIG)
    st.subheader("Recipes")
    st.dataframe(_table(frame, data), hide_index=True, width="stretch", height=420)
    _plan_other_week(data)


render(body)
