"""Upload results: drop the filled sheet, see every problem in place, store after confirming.

Needs the chemist role in the campaign (a viewer sees a note instead of the upload box).
"""

from __future__ import annotations

import hashlib

import pandas as pd
import streamlit as st

from campaigns.errors import Problem
from dashboard import figures, tables
from dashboard.common import (
    CampaignData,
    allowed,
    api,
    cached,
    clear_caches,
    load,
    render,
    require_campaign,
    store,
)
from dashboard.views.instruments import instrument_upload
from planner.reports.progress import plate_frame

AUTO = 0  # plate choice meaning "from the file's Batch column"
UPLOAD_ROLE = "chemist"
CONFIRM_LABEL = "I confirm the flagged unusual values are correct"
TINT = {"error": "background-color: #ffe3e3", "warning": "background-color: #fff5d6"}


@cached
def _review(key: tuple, sha: str, filename: str, batch_id: int, confirm_unusual: bool,
            _raw: bytes) -> tables.UploadReview:
    return tables.review_upload(store(), key[1], _raw, filename=filename,
                                batch_id=None if batch_id == AUTO else batch_id,
                                confirm_unusual=confirm_unusual)


def _sheet(review: tables.UploadReview, only_flagged: bool) -> None:
    """The uploaded sheet, each problem's cell coloured, columns with problems first."""
    table = review.table
    if table is None:
        return
    order = tables.column_order(table, review.problems)
    shown = tables.display_sheet(table).iloc[:, order]
    styles = tables.problem_styles(table, review.problems).iloc[:, order]
    if only_flagged:
        rows = tables.flagged_rows(table, review.problems)
        shown, styles = shown.loc[rows], styles.loc[rows]
    st.dataframe(shown.style.apply(lambda _: styles, axis=None), width="stretch",
                 height=min(560, 38 + 35 * max(1, len(shown))))


def _problem_list(problems: list[Problem]) -> None:
    """Every problem with its row, column, value, message and hint; long texts wrap."""
    frame = tables.problems_frame(problems)
    frame.index = pd.RangeIndex(1, len(frame) + 1)
    if len(frame) <= 60:
        st.table(frame.style.apply(lambda r: [TINT[r.iloc[0]]] * len(r), axis=1))
    else:  # a very broken file: a scrollable table instead of a page of text
        st.dataframe(frame, width="stretch", height=480)


def _rejected(review: tables.UploadReview, confirm_key: str | None) -> None:
    errors, warnings_ = review.errors, review.warnings
    also = f" and {len(warnings_)} warning(s)" if warnings_ else ""
    st.error(f"**{review.filename} was rejected: {len(errors)} error(s){also}. "
             "Nothing was stored.**")
    if confirm_key is not None:
        st.info("**Hint:** every error is a value that looks like a wrong unit (the hints say "
                "which). Fix the cells marked red and upload the file again, or, if the values "
                "are correct as written, confirm them here and they are stored as written.")
        st.checkbox(CONFIRM_LABEL, key=confirm_key)
    else:
        st.info("**Hint:** fix every cell marked red (amber cells are only warnings) and upload "
                "the whole file again.")
    st.subheader("Problems")
    _problem_list(list(review.problems))
    if review.table is not None:
        st.subheader("The sheet, with each problem in place")
        flagged = tables.flagged_rows(review.table, review.problems)
        only = st.toggle("Only rows with problems", value=bool(flagged), key="only_flagged")
        _sheet(review, only and bool(flagged))


def _accepted(data: CampaignData, review: tables.UploadReview, raw: bytes, *,
              confirm_unusual: bool) -> None:
    parsed = review.parsed
    assert parsed is not None
    batch = next((b for b in data.batches if b.id == review.batch_id), None)
    wells = {r.well for r in parsed.records}
    where = f"plate {review.batch_id}" + (f" ({batch.iso_week})" if batch else "")
    st.success(f"**{review.filename} is valid:** {len(parsed.records)} value(s) for {len(wells)} "
               f"well(s) of {where}. Nothing is stored until you confirm.")
    if review.warnings:
        st.warning(f"{len(review.warnings)} warning(s): the file is accepted as it is; check them.")
        _problem_list(review.warnings)
    counts = pd.Series([r.quantity for r in parsed.records]).value_counts()
    names = ["status only (failed)" if q == "status" else figures.label(q) for q in counts.index]
    left, right = st.columns([1, 2])
    left.dataframe(pd.DataFrame({"Quantity": names, "Values": counts.to_numpy()}),
                   hide_index=True, width="stretch")
    if right.button("Store these results", type="primary", key="commit"):
        outcome = api().campaign(data.name).upload(raw, filename=review.filename,
                                                   batch=review.batch_id,
                                                   confirm_unusual=confirm_unusual)
        clear_caches()
        r = outcome.result
        st.session_state["upload_result"] = {
            "filename": review.filename, "batch_id": r.batch_id, "n_new": r.n_new,
            "n_superseding": r.n_superseding, "n_unchanged": r.n_unchanged,
            "already": r.already_uploaded, "status": r.batch_status,
            "wells": list(r.changed_wells)}
        st.session_state["upload_generation"] = st.session_state.get("upload_generation", 0) + 1
        st.rerun()
    with st.expander("The sheet as read"):
        _sheet(review, False)


def _result(data: CampaignData, r: dict) -> None:
    """What the last commit changed: counts, wells, and the plate coloured by the results."""
    if r["already"]:
        st.info(f"{r['filename']} was already uploaded (same file): nothing changed.")
        return
    if r["n_new"] + r["n_superseding"] == 0:
        st.info(f"Every value in {r['filename']} was already stored: nothing changed.")
        return
    st.success(f"Stored {r['filename']}: plate {r['batch_id']} is now **{r['status']}**.")
    m = st.columns(4)
    m[0].metric("New values", r["n_new"])
    m[1].metric("Corrections", r["n_superseding"],
                help="Values that supersede an earlier one (which is kept).")
    m[2].metric("Unchanged", r["n_unchanged"])
    m[3].metric("Wells changed", len(r["wells"]))
    st.caption("Changed wells: " + ", ".join(r["wells"]))
    batch = next((b for b in data.batches if b.id == r["batch_id"]), None)
    objectives = data.snapshot.spec.objectives
    if batch is not None and objectives:
        first = objectives[0].name
        frame = plate_frame(batch, data.snapshot.spec, data.snapshot.observations)
        title = f"Plate {batch.id}: measured {figures.label(first)}"
        st.plotly_chart(figures.plate_map(frame, data.snapshot.spec, color=first, title=title),
                        width="content", config=figures.CONFIG)
    st.page_link("views/progress.py", label="See the new points on the Progress page",
                 icon=":material/trending_up:")


def body() -> None:
    data = load(require_campaign())
    st.title("Upload results")
    if (done := st.session_state.pop("upload_result", None)) is not None:
        _result(data, done)
        st.divider()
    if not allowed(data.name, UPLOAD_ROLE, what="Uploading results"):
        return
    st.markdown("Drop the filled plate sheet below (CSV or XLSX, as downloaded from **This "
                "week's plate**). It is checked first, every problem at once; **nothing is stored "
                "until you confirm.**")
    by_id = {b.id: b for b in data.batches}

    def describe(i: int) -> str:
        if i == AUTO:
            return "from the file's Batch column"
        return f"{by_id[i].iso_week} · plate {i} · {by_id[i].status}"

    batch_id = st.selectbox("Plate", [AUTO, *reversed(by_id)], key="upload_batch",
                            format_func=describe)
    upload = st.file_uploader("Filled plate sheet", type=["csv", "xlsx"],
                              key=f"plate_upload_{st.session_state.get('upload_generation', 0)}")
    zipped = st.file_uploader(
        "Instrument files (optional): a zip of XRD patterns and Raman spectra named by well "
        "(A1.xy, B03_raman.txt) or by the sheet's 'XRD file' / 'Raman file' column; d002, Lc, "
        "La and ID/IG are fitted and stored with the sheet", type=["zip"],
        key=f"instrument_upload_{st.session_state.get('upload_generation', 0)}")
    if zipped is not None:
        instrument_upload(data, zipped, sheet=upload,
                          batch_id=None if batch_id == AUTO else int(batch_id))
        return
    if upload is None:
        return
    raw = upload.getvalue()
    sha = hashlib.sha256(raw).hexdigest()
    review = _review(data.key, sha, upload.name, int(batch_id), False, raw)
    # The checkbox is offered only when wrong-unit-looking values are the file's only errors;
    # its key follows the file, so a new file starts unconfirmed.
    confirm_key = f"confirm_unusual_{sha[:16]}" if review.needs_confirmation else None
    confirmed = confirm_key is not None and bool(st.session_state.get(confirm_key, False))
    if confirmed:
        review = _review(data.key, sha, upload.name, int(batch_id), True, raw)
    if review.accepted:
        if confirmed:
            st.checkbox(CONFIRM_LABEL, key=confirm_key)  # stays on screen, so it can be undone
        _accepted(data, review, raw, confirm_unusual=confirmed)
    else:
        _rejected(review, confirm_key)


render(body)
