"""Corrections: retract a wrong upload, correct or withdraw one value. Nothing is deleted: each
action is a new, audited record that supersedes the old value, which stays in the history.

Everyone who sees the campaign sees its uploads; correcting and retracting need the chemist role.
"""

from __future__ import annotations

import getpass

import pandas as pd
import streamlit as st

from campaigns.errors import CampaignError
from dashboard import figures
from dashboard.common import (
    allowed,
    clear_caches,
    load,
    may,
    render,
    require_campaign,
    show_error,
    store,
)

CORRECT_ROLE = "chemist"


def _actor() -> str:
    """The server's login name, recorded only on a database without accounts (otherwise the
    store records the signed-in user)."""
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return ""


def _done(message: str) -> None:
    clear_caches()
    st.session_state["corrections_done"] = message
    st.rerun()


def _retract_upload(name: str) -> None:
    st.subheader("Retract an upload")
    st.caption("For a sheet that went to the wrong plate or holds wrong values: every value it "
               "stored that is still current is withdrawn; the wells go back to pending unless "
               "another upload measured them. Upload the right file afterwards.")
    uploads = store().uploads(name)
    if uploads.empty:
        st.info("No uploads yet.")
        return
    shown = uploads.drop(columns=["sha256"]).rename(columns={
        "upload_id": "upload", "batch_id": "plate", "superseding": "corrections"})
    st.dataframe(shown, hide_index=True, width="stretch")
    open_ = uploads[~uploads["retracted"]]
    if open_.empty:
        st.info("Every upload has been retracted.")
        return
    if not may(name, CORRECT_ROLE):
        return  # the note is shown once, below
    labels = {int(r.upload_id): f"Upload {r.upload_id}: {r.filename} → plate {r.batch_id} "
              f"({r.uploaded_at:%Y-%m-%d %H:%M}, {r.uploaded_by or 'unknown'})"
              for r in open_.itertuples()}
    with st.form("retract_upload"):
        upload = st.selectbox("Upload", list(labels), format_func=labels.__getitem__,
                              index=len(labels) - 1, key="retract_upload")
        reason = st.text_input("Reason (stored in the audit log)",
                               placeholder="plate 10's sheet uploaded to plate 12",
                               key="retract_reason")
        sure = st.checkbox("I want to withdraw this upload's values", key="retract_sure")
        go = st.form_submit_button("Retract upload", type="primary", key="retract_go")
    if go:
        if not sure or not reason.strip():
            st.warning("Tick the box and give a reason to retract the upload.")
            return
        try:
            n = store().retract_upload(name, int(upload), reason=reason, actor=_actor())
        except CampaignError as exc:
            show_error(exc)
            return
        _done(f"Upload {upload} retracted: {n} value(s) withdrawn (kept in the history).")


def _correct_value(name: str) -> None:
    st.subheader("Correct or withdraw one value")
    data = load(name)
    spec = data.snapshot.spec
    plates = {b.id: f"Plate {b.id} · {b.iso_week} · {b.status}" for b in data.batches}
    if not plates:
        st.info("No plates yet.")
        return
    c1, c2, c3 = st.columns(3)
    batch_id = c1.selectbox("Plate", list(plates), format_func=plates.__getitem__,
                            index=len(plates) - 1, key="corr_plate")
    batch = next(b for b in data.batches if b.id == batch_id)
    well = c2.selectbox("Well", [w.well for w in batch.wells if w.role != "control"]
                        + [w.well for w in batch.wells if w.role == "control"], key="corr_well")
    quantity = c3.selectbox("Quantity", spec.output_names, format_func=figures.label,
                            key="corr_quantity")
    current = data.measurements()
    here = current[(current["batch_id"] == batch_id) & (current["well"] == well)
                   & (current["quantity"] == quantity)]
    if here.empty:
        st.caption("No current value for this well and quantity.")
        now = None
    else:
        row = here.iloc[-1]
        now = row["value"]
        st.caption(f"Current value: **{'—' if pd.isna(now) else f'{now:g}'}** ({row['status']}), "
                   f"from {row['source_file'] or 'a correction'}, by {row['operator'] or '—'}.")
    with st.form("correct_value"):
        f1, f2 = st.columns(2)
        value = f1.number_input(f"New value [{figures.label(quantity)}]", value=None,
                                format="%.6g", key="corr_value")
        status = f2.selectbox("Status", ["ok", "failed_synthesis", "failed_cell", "outlier"],
                              key="corr_status")
        reason = st.text_input("Reason (stored with the value and in the audit log)",
                               key="corr_reason")
        b1, b2 = st.columns(2)
        save = b1.form_submit_button("Store correction", type="primary", key="corr_save")
        withdraw = b2.form_submit_button("Withdraw the current value", disabled=here.empty,
                                         key="corr_withdraw")
    if not (save or withdraw):
        return
    if not reason.strip():
        st.warning("Give a reason: it is stored with the record.")
        return
    try:
        if withdraw:
            store().retract_value(name, batch_id=batch_id, well=well, quantity=quantity,
                                  reason=reason, actor=_actor())
            _done(f"{quantity} of well {well} on plate {batch_id} withdrawn.")
        else:
            store().correct_measurement(name, batch_id=batch_id, well=well, quantity=quantity,
                                        value=None if value is None else float(value),
                                        status=status, note=reason, actor=_actor())
            _done(f"{quantity} of well {well} on plate {batch_id} corrected "
                  f"({'—' if now is None or pd.isna(now) else f'{now:g}'} → "
                  f"{'—' if value is None else f'{value:g}'}).")
    except CampaignError as exc:
        show_error(exc)


def body() -> None:
    name = require_campaign()
    st.title("Corrections")
    st.caption("Nothing is ever deleted: a retraction or a correction is a new record that "
               "supersedes the old value, which stays in the Data page's long view and in the "
               "audit log, with who did it, when and why.")
    done = st.session_state.pop("corrections_done", None)
    if done:
        st.success(done)
    _retract_upload(name)
    if allowed(name, CORRECT_ROLE, what="Retracting an upload or correcting a value"):
        _correct_value(name)


render(body)
