"""Cell projection: what a measured or proposed material would give in a full cell (PyBaMM).

A model projection, not a measurement. The cell's assumptions are shown and can be changed; a
projection is cached by its inputs (here with ``st.cache_data``, and on disk by
:mod:`planner.cell.projection`), so a page that was seen before loads in well under a second.
"""

from __future__ import annotations

import plotly.graph_objects as go
import streamlit as st

from dashboard import figures
from dashboard.common import load, render, require_campaign, simulated_banner
from planner.cell.projection import (
    DEFAULT_DESIGN,
    ELECTROLYTE_CONCENTRATION_MOL_PER_M3,
    POSITIVE_THICKNESS_UM,
    CellDesign,
    CellProjection,
)
from planner.cell.report import (
    inputs_for,
    project_material,
    projectable_materials,
    projection_kind,
    rate_table,
)

SOURCES = {"measured": "Measured wells", "proposed": "Proposed wells", "entered": "My numbers"}
HEADERS = {"c_rate_per_h": "C-rate [1/h]", "capacity_mah": "Capacity [mAh]",
           "energy_mwh": "Energy [mWh]", "capacity_mah_per_cm2": "Capacity [mAh/cm²]",
           "energy_wh_per_m2": "Energy [Wh/m²]",
           "specific_energy_wh_per_kg": "Specific energy [Wh/kg]",
           "capacity_retained_pct": "Capacity kept [%]"}
CELLS = {"hard_carbon": "Sodium-ion full cell with this hard-carbon anode",
         "electrolyte": "Lithium-ion cell with this electrolyte's conductivity"}


@st.cache_data(show_spinner=False, max_entries=64)
def _project(kind: str, values: tuple[tuple[str, float], ...],
             design: tuple[tuple[str, float | None], ...], fast: bool) -> CellProjection:
    return project_material(kind, dict(values), design=CellDesign(**dict(design)),  # type: ignore[arg-type]
                            fast=fast)


def _material(kind: str, data) -> dict[str, float] | None:
    materials = projectable_materials(data.snapshot, data.batches)
    c1, c2 = st.columns([2, 5])
    source = c1.radio("Material", list(SOURCES), format_func=SOURCES.get, key="cell_source")
    if source == "entered":
        values = {}
        cols = c2.columns(len(inputs_for(kind)))
        defaults = {"ice_pct": 85.0, "reversible_capacity_mah_per_g": 300.0,
                    "ionic_conductivity_ms_per_cm": 10.0}
        for col, name in zip(cols, inputs_for(kind), strict=True):
            values[name] = col.number_input(figures.label(name), value=defaults[name],
                                            key=f"cell_in_{name}")
        return values
    rows = materials[materials["source"] == source]
    if rows.empty:
        needed = ", ".join(map(figures.label, inputs_for(kind)))
        c2.info(f"No {SOURCES[source].lower()} with {needed} yet.")
        return None
    label = c2.selectbox("Which", list(rows["label"]), key="cell_pick",
                         help="Best primary objective first (predicted means for proposed wells).")
    row = rows[rows["label"] == label].iloc[0]
    return {name: float(row[name]) for name in inputs_for(kind)}


def _design(kind: str) -> tuple[CellDesign, bool]:
    with st.expander("Cell assumptions (editable)", expanded=True):
        c = st.columns(5 if kind == "hard_carbon" else 3)
        i = 0
        n_to_p, rho = DEFAULT_DESIGN.n_to_p_ratio, DEFAULT_DESIGN.carbon_density_kg_per_m3
        if kind == "hard_carbon":
            n_to_p = c[0].number_input("N/P capacity ratio", 0.8, 2.0, n_to_p, 0.05,
                                       key="cell_np", help="Sets the anode thickness.")
            rho = c[1].number_input("Hard-carbon density [kg/m³]", 800.0, 2300.0, rho, 50.0,
                                    key="cell_rho")
            i = 2
        thickness = c[i].number_input(
            "Positive electrode thickness [µm]", 5.0, 300.0, POSITIVE_THICKNESS_UM[kind], 1.0,
            key="cell_thick", help="The cathode loading"
            + (" (the anode is scaled with it)." if kind == "electrolyte" else "."))
        conc = c[i + 1].number_input(
            "Electrolyte salt [mol/m³]", 100.0, 4000.0, ELECTROLYTE_CONCENTRATION_MOL_PER_M3,
            50.0, key="cell_conc", help="The cell's initial electrolyte concentration.")
        temp = c[i + 2].number_input("Temperature [°C]", -20.0, 60.0, 25.0, 1.0, key="cell_t")
        full = st.toggle("Full accuracy (slower; default: PyBaMM's fast mesh, within ~5 %)",
                         key="cell_full")
    design = CellDesign(
        n_to_p_ratio=n_to_p, carbon_density_kg_per_m3=rho,
        positive_thickness_um=None if thickness == POSITIVE_THICKNESS_UM[kind] else thickness,
        electrolyte_concentration_mol_per_m3=(
            None if conc == ELECTROLYTE_CONCENTRATION_MOL_PER_M3 else conc),
        temperature_c=temp)
    return design, not full


def _figure(table) -> go.Figure:
    fig = go.Figure()
    y = ("specific_energy_wh_per_kg" if "specific_energy_wh_per_kg" in table
         else "energy_mwh")
    name = "Specific energy [Wh/kg of stack]" if y == "specific_energy_wh_per_kg" else \
        "Energy [mWh]"
    fig.add_trace(go.Bar(x=[f"{r:g}C" for r in table["c_rate_per_h"]], y=table[y], name=name,
                         text=[f"{v:.3g}" for v in table[y]], textposition="outside"))
    fig.update_layout(height=320, margin={"l": 40, "r": 10, "t": 40, "b": 40},
                      title="Rate capability", yaxis_title=name, xaxis_title="Discharge rate")
    return fig


def body() -> None:
    data = load(require_campaign())
    st.title("Cell projection")
    simulated_banner(data)
    try:
        kind = projection_kind(data.snapshot)
    except Exception as exc:  # a PlanningError with a hint: this campaign has no such targets
        st.info(f"{exc}")
        return
    st.caption(f"{CELLS[kind]}, simulated with PyBaMM: a **model projection, not a "
               "measurement**. Change the assumptions below to see how much they matter.")
    values = _material(kind, data)
    if values is None:
        return
    design, fast = _design(kind)
    with st.spinner("Running PyBaMM (a projection seen before returns at once)…"):
        projection = _project(kind, tuple(sorted(values.items())), design.key(), fast)
    table = rate_table(projection)
    m = st.columns(4)
    if projection.specific_energy_wh_per_kg:
        m[0].metric("Specific energy at 0.1C", f"{projection.specific_energy_wh_per_kg[0]:.1f} "
                    "Wh/kg", help="Per kg of electrode stack (coatings, electrolyte, separator).")
    else:
        m[0].metric("Energy at 0.1C", f"{projection.energy_wh[0]:.3g} Wh")
    m[1].metric("Capacity at 0.1C", f"{1e3 * projection.capacity_ah[0]:.4g} mAh")
    m[2].metric("Capacity kept at 2C", f"{projection.retention_2c_pct:.1f} %",
                help="Discharge capacity at 2C relative to 0.1C: the rate capability.")
    m[3].metric("Energy per area at 0.1C", f"{projection.energy_wh_per_m2[0]:.3g} Wh/m²")
    left, right = st.columns([3, 2])
    left.plotly_chart(_figure(table), width="stretch", config=figures.CONFIG)
    right.dataframe(table.rename(columns=HEADERS), hide_index=True, width="stretch")
    st.subheader("Assumptions used")
    derived = {k.replace("_", " "): f"{v:.4g}" for k, v in projection.design}
    used = {**design.describe(kind),
            **{figures.label(k): f"{v:.4g}" for k, v in values.items()},
            **derived, "Mesh": "fast" if fast else "full", "PyBaMM": projection.pybamm_version}
    st.table({"Assumption": list(used), "Value": list(used.values())})
    if projection.notes:
        with st.expander(f"Solver notes ({len(projection.notes)})"):
            for note in projection.notes:
                st.write(f"- {note}")


render(body)
