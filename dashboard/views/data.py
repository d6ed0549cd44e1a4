"""Data: browse and filter every measurement with its provenance; export; publish a package.

The long view names who stored each value (the uploader, or who corrected or withdrew it).
Publishing needs the owner role in the campaign.
"""

from __future__ import annotations

import pandas as pd
import streamlit as st

from campaigns.audit import audit_entries
from dashboard import figures, tables
from dashboard.common import (
    CampaignData,
    allowed,
    cached,
    load,
    render,
    require_campaign,
    simulated_banner,
    store,
)
from planner.reports.progress import well_table

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
LONG = "One row per measurement (with provenance)"
PUBLISH_ROLE = "owner"


@cached
def _wide(key: tuple, _data: CampaignData) -> pd.DataFrame:
    return well_table(_data.snapshot, _data.measurements(include_superseded=True))


@cached
def _long(key: tuple, _data: CampaignData) -> pd.DataFrame:
    """Every stored value with who stored it (from the uploads and the audit log)."""
    audit = audit_entries(store(), campaign=_data.name, action="measurement.")
    undo = audit_entries(store(), campaign=_data.name, action="upload.retract")
    return tables.with_recorded_by(_data.measurements(include_superseded=True),
                                   pd.concat([audit, undo], ignore_index=True))


def _quantity(name: str) -> str:
    return "status only (failed)" if name == "status" else figures.label(name)


def _filters(frame: pd.DataFrame, long: bool) -> pd.DataFrame:
    cols = st.columns(4 if long else 3)
    weeks = cols[0].multiselect("Weeks", sorted(frame["iso_week"].dropna().unique()),
                                key="f_weeks")
    statuses = cols[1].multiselect("Status", sorted(frame["status"].dropna().unique()),
                                   key="f_status")
    quantities = (cols[2].multiselect("Quantity", sorted(frame["quantity"].unique()),
                                      key="f_quantity", format_func=_quantity) if long else [])
    wells = cols[-1].text_input("Wells or rows", placeholder="A1, B", key="f_wells")
    return tables.filter_frame(frame, weeks=weeks, statuses=statuses, quantities=quantities,
                               wells=wells)


def _publish(name: str) -> None:
    """Publish the campaign as a validated Frictionless data package (a ZIP to download)."""
    from campaigns.shared_dataset.schema import LICENCES

    st.subheader("Publish")
    st.caption("A FAIR data package of the measured wells and the failed syntheses, with units, "
               "licence and provenance; validated with frictionless before you get it. Another "
               "lab loads it with `planner dataset pull`.")
    if not allowed(name, PUBLISH_ROLE, what="Publishing the data"):
        return
    with st.form("publish"):
        c1, c2 = st.columns(2)
        licence = c1.selectbox("Licence", list(LICENCES),
                               format_func=lambda k: f"{k} ({LICENCES[k][0]})")
        title = c2.text_input("Title (optional)")
        people = st.text_area("Contributors, one per line", placeholder="Ana Lima <ana@lab.org>",
                              help="The campaign owner and every operator in the data are added.")
        citation = st.text_input("How to cite the data (optional)", placeholder="a paper or a DOI")
        build = st.form_submit_button("Build the data package")
    if build:
        with st.spinner("Writing and validating the package…"):
            result, data = tables.publish_zip(store(), name, licence=licence, title=title,
                                              contributors=people.splitlines(), citation=citation)
        st.session_state["published"] = (name, result.n_measurements, result.n_failed,
                                         result.licence, data)
    done = st.session_state.get("published")
    if done and done[0] == name:
        st.success(f"Package ready: {done[1]} measured well(s), {done[2]} failed synthesis/es, "
                   f"licence {done[3]}; frictionless validation passed.")
        st.download_button("Data package (ZIP)", done[4], file_name=f"{name}-package.zip",
                           mime="application/zip", icon=":material/download:", key="dl_package")


def body() -> None:
    name = require_campaign()
    data = load(name)
    st.title("Data")
    simulated_banner(data)
    view = st.radio("View", ["One row per well", LONG], horizontal=True, key="data_view")
    long = view == LONG
    frame = _long(data.key, data) if long else _wide(data.key, data)
    if frame.empty:
        st.info("No measurements yet: upload a plate's results on **Upload results**.")
        return
    shown = _filters(frame, long)
    if long:
        gone = set(frame["supersedes_id"].dropna().astype(int))
        shown = shown.assign(superseded=shown["measurement_id"].isin(gone).to_numpy())
        st.caption("Every stored value with its source file (SHA-256), row, operator, instrument "
                   "and time, and who stored it (the uploader, or who corrected or withdrew "
                   "it). A correction supersedes an earlier value, which is kept "
                   "(superseded = true); a retraction is a row with status retracted.")
    table = tables.labelled(shown)
    floats = {c: st.column_config.NumberColumn(format="%.4g")  # 4 significant digits on screen
              for c in table.columns if pd.api.types.is_float_dtype(table[c])}
    st.dataframe(table, hide_index=True, width="stretch", height=520, column_config=floats)
    st.caption(f"{len(shown)} of {len(frame)} rows.")
    stem = f"{name}-{'measurements' if long else 'wells'}"
    d1, d2, _ = st.columns([1, 1, 6])
    d1.download_button("CSV", lambda: tables.csv_bytes(shown), file_name=f"{stem}.csv",
                       mime="text/csv", key="dl_data_csv", icon=":material/download:")
    d2.download_button("XLSX", lambda: tables.xlsx_bytes(shown), file_name=f"{stem}.xlsx",
                       mime=XLSX, key="dl_data_xlsx", icon=":material/download:")
    st.page_link("views/audit.py", label="Who changed what, and when: the audit log",
                 icon=":material/history:")
    _publish(name)


render(body)
