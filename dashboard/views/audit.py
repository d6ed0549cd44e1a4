"""Audit log: who did what to which campaign or plate, when, with the values before and after;
filtered, exported, and checked for entries changed behind the planner's back.

A signed-in user sees the entries of the campaigns they hold a role in; an admin (and everyone,
on a database without accounts) sees every entry, site-wide ones (accounts, shared data) too.
"""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta

import pandas as pd
import streamlit as st

from campaigns.audit import audit_entries, audit_table, verify_audit
from dashboard import tables
from dashboard.common import identity, render, selected_campaign, store, visible_campaigns

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
ALL = ""  # the filters' "no filter" choice


def _chain() -> None:
    """The result of :func:`campaigns.audit.verify_audit`: intact, or the first broken entry."""
    check = verify_audit(store())
    if check.ok:
        st.success(f"**Audit chain intact:** {check.n_entries} entries, each linked to the one "
                   f"before; newest link `{check.head_sha256[:16]}…`.",
                   icon=":material/verified:")
        st.caption("Note the newest link's hash somewhere else (a lab notebook); `planner audit "
                   "verify --expect HASH` later proves the log was not rewritten since.")
        return
    first = check.first_broken
    st.error(f"**The audit log was changed outside the planner:** {len(check.problems)} "
             f"problem(s). The first entry that cannot be trusted: {first}",
             icon=":material/gpp_bad:")
    st.info("**Hint:** entries before it are intact. Restore the database from a backup "
            "(`planner db restore`) and ask who had write access to the database itself.")
    with st.expander(f"Every problem ({len(check.problems)})"):
        for problem in check.problems:
            st.markdown(f"- {problem}")


def _visible(frame: pd.DataFrame) -> pd.DataFrame:
    """Only the entries of campaigns the signed-in user holds a role in (admins: all)."""
    who, shown = identity(), visible_campaigns()
    if who is None or who.admin or shown is None:
        return frame
    return frame[frame["campaign"].isin(shown)]


def _dates(frame: pd.DataFrame) -> tuple[datetime | None, datetime | None]:
    """The date filter as ``[since, until)`` in UTC."""
    today = datetime.now(UTC).date()  # entries written after the page was opened stay in
    first = frame["at"].min().date() if not frame.empty else today
    last = max(frame["at"].max().date(), today) if not frame.empty else today
    picked = st.date_input("Dates (UTC)", value=(first, last), key="audit_dates",
                           format="YYYY-MM-DD")
    days = list(picked) if isinstance(picked, tuple | list) else [picked]
    if not days:
        return None, None
    since = datetime.combine(days[0], time.min, tzinfo=UTC)
    until = datetime.combine(days[-1] + timedelta(days=1), time.min, tzinfo=UTC)
    return since, until


def _filters(everything: pd.DataFrame) -> dict:
    c1, c2, c3, c4 = st.columns([1, 1, 1, 1.3])
    campaigns = sorted(everything["campaign"].dropna().unique())
    current = selected_campaign()
    campaign = c1.selectbox("Campaign", [ALL, *campaigns], key="audit_campaign",
                            index=1 + campaigns.index(current) if current in campaigns else 0,
                            format_func=lambda c: c or "All campaigns")
    users = sorted(everything["actor"].dropna().unique())
    user = c2.selectbox("User", [ALL, *users], key="audit_user",
                        format_func=lambda u: u or "Everyone")
    actions = sorted(everything["action"].dropna().unique())
    families = sorted({a.split(".")[0] + "." for a in actions} - set(actions))
    action = c3.selectbox("Action", [ALL, *families, *actions], key="audit_action",
                          format_func=lambda a: a or "All actions")
    with c4:
        since, until = _dates(everything)
    return {"campaign": campaign or None, "user": user or None, "action": action or None,
            "since": since, "until": until}


def _entry(frame: pd.DataFrame) -> None:
    """One entry in full: the spec's changes for a spec edit, and everything recorded."""
    labels = {int(r.id): f"#{r.id} · {r.at:%Y-%m-%d %H:%M} · {r.actor} · {r.action}"
              for r in frame.iloc[::-1].itertuples()}
    chosen = st.selectbox("Entry", list(labels), format_func=labels.__getitem__,
                          key="audit_entry")
    row = frame.set_index("id").loc[chosen]
    st.markdown(f"**{row['action']}** by **{row['actor'] or '—'}** on "
                f"{row['at']:%Y-%m-%d %H:%M:%S} UTC"
                + (f", campaign **{row['campaign']}**" if isinstance(row["campaign"], str) else "")
                + (f": {row['summary']}" if row["summary"] else ""))
    if (diff := tables.spec_change(row["detail"])) is not None:
        st.markdown("Changes to the spec:")
        st.code(diff, language="diff")
    st.caption("Everything the planner recorded with the entry:")
    st.json(row["detail"], expanded=False)


def body() -> None:
    st.title("Audit log")
    st.caption("Every write, with who made it, when and what changed. Nothing is ever edited "
               "or deleted here; each entry is chained to the one before it by its hash.")
    _chain()
    everything = _visible(audit_entries(store()))
    if everything.empty:
        st.info("No entries yet: every upload, correction, plate, spec change and role change "
                "will be listed here.")
        return
    chosen = _filters(everything)
    frame = _visible(audit_entries(store(), **chosen))
    shown = tables.audit_view(frame)
    st.dataframe(shown, hide_index=True, width="stretch", height=420, column_config={
        "id": st.column_config.NumberColumn("#", width="small"),
        "at": st.column_config.DatetimeColumn("When (UTC)", format="YYYY-MM-DD HH:mm:ss"),
        "actor": "User", "action": "Action", "campaign": "Campaign",
        "summary": st.column_config.TextColumn("What", width="medium"),
        "before": "Before", "after": "After"})
    st.caption(f"{len(frame)} of {len(everything)} entries.")
    if frame.empty:
        return
    export = audit_table(frame)
    d1, d2, _ = st.columns([1, 1, 6])
    d1.download_button("CSV", lambda: tables.csv_bytes(export), file_name="audit-log.csv",
                       mime="text/csv", key="dl_audit_csv", icon=":material/download:")
    d2.download_button("XLSX", lambda: tables.xlsx_bytes(export, sheet="Audit log"),
                       file_name="audit-log.xlsx", mime=XLSX, key="dl_audit_xlsx",
                       icon=":material/download:")
    st.subheader("One entry in full")
    _entry(frame)


render(body)
