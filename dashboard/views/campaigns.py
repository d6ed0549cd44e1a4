"""Campaigns: list them, create one from a template or a YAML spec, view and edit its spec.

Any signed-in user may create a campaign (and becomes its owner); editing a spec needs the owner
role, everyone else sees it read-only.

A library campaign is created from its spec and its candidate table (CSV or Parquet). A big
table (over 20,000 rows) is imported in a background thread (:class:`campaigns.library.
ImportJob`) kept for the whole dashboard process, so the page, a re-run or another browser tab
shows its progress until the campaign exists.
"""

from __future__ import annotations

import hashlib
import io
from typing import Any

import streamlit as st
from streamlit.delta_generator import DeltaGenerator

from campaigns.columns import COLUMNS
from campaigns.errors import CampaignError, SpecError
from campaigns.library import ImportJob, is_big_library
from campaigns.spec import CampaignSpec
from campaigns.templates import TEMPLATES, load_template
from dashboard import forms
from dashboard.common import (
    api,
    campaign_table,
    campaigns_shown,
    clear_caches,
    db_url,
    may,
    needs,
    render,
    select_campaign,
    selected_campaign,
    store,
)

SPEC_ROLE = "owner"


def _spec_problems(exc: SpecError, where: DeltaGenerator) -> None:
    """Every problem of a rejected spec, one per line, next to the form."""
    problems = exc.problems or [str(exc)]
    where.error(f"**{len(problems)} problem(s); nothing was saved.**\n\n"
                + "\n".join(f"- {p}" for p in problems))
    if exc.hint:
        where.info(f"**Hint:** {exc.hint}")


def _create(spec: CampaignSpec, where: DeltaGenerator) -> None:
    if spec.is_library:
        where.error("A library campaign needs its candidate table: create it in the "
                    "**Library campaign** tab, with the spec and the table.")
        return
    api().create_campaign(spec)
    clear_caches()
    select_campaign(spec.name)
    st.session_state["flash"] = f"Created campaign **{spec.name}**. Next: propose its first plate."
    st.rerun()


@st.cache_resource(show_spinner=False)
def _imports(url: str) -> dict[str, ImportJob]:
    """Library imports of this dashboard process, by campaign name (one dict per database)."""
    return {}


def _library_spec(spec_file: Any, rename: str) -> CampaignSpec:
    text = spec_file.getvalue().decode("utf-8", errors="replace")
    spec = CampaignSpec.from_yaml(text, source=spec_file.name)
    if rename.strip():
        spec = CampaignSpec.from_dict({**spec.to_dict(), "name": rename.strip()},
                                      source=spec_file.name)
    if not spec.is_library:
        raise CampaignError(f"{spec_file.name} is not a library spec.",
                            hint="Give a spec with a `library:` block (ID column and inputs), "
                            "or use the other tabs for a recipe campaign.")
    return spec


def _start_library(spec: CampaignSpec, table: Any, where: DeltaGenerator) -> None:
    """Create the campaign now (small table) or start its import in the background (big)."""
    data = io.BytesIO(table.getvalue())
    data.name = table.name  # type: ignore[attr-defined]  # names the file in messages
    planner = api()
    if spec.name in planner.campaigns():
        raise CampaignError(f"a campaign named {spec.name!r} already exists.",
                            hint="Give another name in the field above.")
    if not is_big_library(data):
        planner.create_campaign(spec, library_file=data)
        clear_caches()
        select_campaign(spec.name)
        st.session_state["flash"] = (f"Created library campaign **{spec.name}**. Next: propose "
                                     "its first plate.")
        st.rerun()
    jobs = _imports(db_url())
    running = jobs.get(spec.name)
    if running is not None and not running.done:
        where.info(f"The table of **{spec.name}** is already being imported.")
        return
    jobs[spec.name] = ImportJob(
        lambda progress: planner.create_campaign(spec, library_file=data, progress=progress),
        label=f"{spec.name} ({table.name})").start()
    st.rerun()


def _import_status(name: str, job: ImportJob) -> None:
    """One line and a bar per import; a finished one says how it ended, once."""
    if not job.done:
        total = f"~{job.rows_total:,}" if job.rows_total else "?"
        st.progress(job.fraction or 0.0,
                    text=f"Importing the candidate table of **{name}**: {job.rows_done:,} of "
                         f"{total} rows checked and stored ({job.seconds:.0f} s).")
        return
    _imports(db_url()).pop(name, None)
    if job.error is None:
        clear_caches()
        select_campaign(name)
        st.session_state["flash"] = (f"Created library campaign **{name}** "
                                     f"({job.rows_done:,} candidates imported in "
                                     f"{job.seconds:.0f} s). Next: propose its first plate.")
        st.rerun()
    st.session_state["import_error"] = (name, job.error)


@st.fragment(run_every=1.0)
def _imports_panel() -> None:
    """Progress of the library imports running in this dashboard, refreshed every second."""
    jobs = _imports(db_url())
    for name, job in list(jobs.items()):
        _import_status(name, job)
    failed = st.session_state.pop("import_error", None)
    if failed is not None:
        name, exc = failed
        st.error(f"The import of **{name}**'s table failed; no campaign was created.\n\n{exc}")
        hint = getattr(exc, "hint", None)
        if hint:
            st.info(f"**Hint:** {hint}")


def _library_tab() -> None:
    left, right = st.columns([2, 3])
    spec_file = left.file_uploader("Library spec (.yaml)", type=["yaml", "yml"],
                                   key="library_spec_upload")
    table = left.file_uploader("Candidate table (.csv or .parquet), one row per candidate",
                               type=["csv", "parquet", "txt", "tsv"], key="library_table_upload",
                               help="Up to 10 million rows; over 20,000 rows the table is "
                               "imported in the background into the columnar store.")
    rename = left.text_input("Name (optional, overrides the spec's)", key="library_rename")
    create = left.button("Create library campaign", type="primary",
                         disabled=spec_file is None or table is None, key="create_library")
    if create and spec_file is not None and table is not None:
        try:
            _start_library(_library_spec(spec_file, rename), table, right)
        except SpecError as exc:
            _spec_problems(exc, right)
        except CampaignError as exc:
            right.error(str(exc))
            if exc.hint:
                right.info(f"**Hint:** {exc.hint}")


def _new_campaign() -> None:
    tab_template, tab_yaml, tab_library = st.tabs(["From a template", "From a YAML spec",
                                                   "Library campaign"])
    with tab_library:
        _library_tab()
    with tab_template:
        left, right = st.columns([2, 3])
        with left.form("create_from_template"):
            name = st.text_input("Campaign name", placeholder="hc-2026-spring", key="new_name",
                                 help="Letters, digits, '_', '.', '-'.")
            template = st.selectbox("Template", TEMPLATES, key="new_template")
            submitted = st.form_submit_button("Create campaign", type="primary",
                                              key="create_template")
        if submitted:
            try:
                _create(load_template(template, name=name.strip() or "?"), right)
            except SpecError as exc:
                _spec_problems(exc, right)
    with tab_yaml:
        left, right = st.columns([2, 3])
        upload = left.file_uploader("Campaign spec (.yaml)", type=["yaml", "yml"],
                                    key="spec_upload")
        rename = left.text_input("Name (optional, overrides the file's)", key="spec_rename")
        create = left.button("Create from spec", type="primary", disabled=upload is None,
                             key="create_yaml")
        if create and upload is not None:
            try:
                text = upload.getvalue().decode("utf-8", errors="replace")
                spec = CampaignSpec.from_yaml(text, source=upload.name)
                if rename.strip():
                    spec = CampaignSpec.from_dict({**spec.to_dict(), "name": rename.strip()},
                                                  source=upload.name)
                _create(spec, right)
            except SpecError as exc:
                _spec_problems(exc, right)


def _save(data: dict[str, Any], where: DeltaGenerator) -> None:
    try:
        spec = CampaignSpec.from_dict(data, source="the edited spec")
    except SpecError as exc:
        _spec_problems(exc, where)
        return
    api().campaign(spec.name).update_spec(spec)
    clear_caches()
    st.session_state["flash"] = f"Saved the spec of **{spec.name}**."
    st.rerun()


def _library_summary(name: str) -> str:
    """Where a library's candidates live, in one sentence (a missing file says so)."""
    try:
        table = store().library_table(name)
    except CampaignError as exc:
        return f"Its stored table cannot be used: {exc} {exc.hint or ''}"
    if table is not None:
        return (f"{table.n_rows:,} candidates in {table.path.name} (columnar store, SHA-256 "
                f"{table.sha256[:12]}…); replace it with `planner library import {name} FILE`.")
    small = store().library(name)
    return f"{0 if small is None else len(small):,} candidates stored in the database."


def _form_editor(spec: CampaignSpec, version: str) -> None:
    left, right = st.columns([5, 2])
    with left.form("edit_spec"):
        description = st.text_area("Description", spec.description, height=80)
        owner = st.text_input("Owner", spec.owner)
        params = None
        if spec.is_library:
            st.info("Library campaign: the design space is its candidate table. "
                    + _library_summary(spec.name))
        else:
            st.markdown("**Design space** (add or delete rows; levels comma-separated)")
            params = st.data_editor(
                forms.parameters_table(spec), num_rows="dynamic", hide_index=True,
                key=f"ed_params_{version}", width="stretch", column_config={
                    "name": st.column_config.TextColumn(width="medium"),
                    "kind": st.column_config.SelectboxColumn(options=forms.PARAMETER_KINDS,
                                                             required=True),
                    "levels": st.column_config.TextColumn(width="large"),
                    "log_scale": st.column_config.CheckboxColumn("log scale")})
            if spec.mixtures or spec.linear_constraints:
                st.caption("Mixtures and linear constraints are edited in the YAML tab.")
        st.markdown("**Targets** (a threshold makes the target a constraint)")
        targets = st.data_editor(
            forms.targets_table(spec), num_rows="dynamic", hide_index=True,
            key=f"ed_targets_{version}", width="stretch", column_config={
                "name": st.column_config.TextColumn(width="medium"),
                "direction": st.column_config.SelectboxColumn(options=["max", "min"],
                                                              required=True),
                "optimize": st.column_config.CheckboxColumn("optimized")})
        taken = {*spec.input_names, *[t.name for t in spec.targets]}
        known = sorted({*[d.name for d in spec.descriptors],
                        *[c for c in COLUMNS if c not in taken]})
        descriptors = st.multiselect("Descriptors (measured, recorded)", known,
                                     default=[d.name for d in spec.descriptors])
        st.markdown("**Plate format**")
        c1, c2 = st.columns(2)
        wells = c1.selectbox("Wells", [24, 48, 96], index=[24, 48, 96].index(spec.plate.wells),
                             key=f"form_wells_{version}")
        replicates = c2.number_input("Replicate wells", 0, 48, spec.plate.replicates,
                                     key=f"form_replicates_{version}")
        controls = st.data_editor(forms.controls_table(spec), num_rows="dynamic",
                                  hide_index=True, key=f"ed_controls_{version}", width="stretch")
        shared = st.multiselect("Shared by the whole plate (one furnace run)",
                                [p.name for p in spec.parameters],
                                default=list(spec.plate.shared_parameters))
        save = st.form_submit_button("Validate and save", type="primary", key="save_form")
    if save:
        _save(forms.edited_spec(spec, description=description, owner=owner, parameters=params,
                                targets=targets, descriptors=descriptors, wells=int(wells),
                                replicates=int(replicates), controls=controls,
                                shared_parameters=shared), right)
    else:
        right.markdown("**Validation**")
        right.caption("Problems with the edited spec appear here, one per field, when you save.")


def _yaml_editor(spec: CampaignSpec, version: str) -> None:
    left, right = st.columns([3, 2])
    text = left.text_area("Spec (YAML)", spec.to_yaml(), height=520,
                          key=f"yaml_{spec.name}_{version}")
    b1, b2 = left.columns(2)
    save = b1.button("Validate and save YAML", type="primary", key="save_yaml")
    b2.download_button("Download YAML", spec.to_yaml(), file_name=f"{spec.name}.yaml",
                       mime="application/x-yaml", icon=":material/download:")
    if not save:
        return
    try:
        parsed = CampaignSpec.from_yaml(text, source="the YAML")
    except SpecError as exc:
        _spec_problems(exc, right)
        return
    if parsed.name != spec.name:
        right.error(f"The name must stay {spec.name!r} (found {parsed.name!r}).")
        right.info("**Hint:** create a new campaign to use another name.")
        return
    _save(parsed.to_dict(), right)


def _editor(name: str) -> None:
    spec = store().spec(name)
    version = hashlib.sha256(spec.to_yaml().encode()).hexdigest()[:10]  # fresh editors on save
    st.subheader(f"Spec of {name}")
    n_meas = campaign_table(db_url()).set_index("campaign")["measurements"].get(name, 0)
    if n_meas:
        st.caption(f"This campaign has {n_meas} measurements: edits apply to future plates; "
                   "stored plates and results stay as they are (the old spec is kept in the "
                   "audit log).")
    if not may(name, SPEC_ROLE):
        st.info(needs(name, SPEC_ROLE, what="Editing the spec"), icon=":material/lock:")
        st.code(spec.to_yaml(), language="yaml", height=480)
        st.download_button("Download YAML", spec.to_yaml(), file_name=f"{spec.name}.yaml",
                           mime="application/x-yaml", icon=":material/download:",
                           key="dl_spec_readonly")
        return
    form_tab, yaml_tab = st.tabs(["Form", "YAML"])
    with form_tab:
        _form_editor(spec, version)
    with yaml_tab:
        _yaml_editor(spec, version)


def body() -> None:
    st.title("Campaigns")
    if flash := st.session_state.pop("flash", None):
        st.success(flash)
    if _imports(db_url()) or "import_error" in st.session_state:
        _imports_panel()
    table = campaigns_shown()
    if table.empty:
        st.info("No campaign yet. Create the first one below: the hard-carbon template is a good "
                "start.")
        st.subheader("New campaign")
        _new_campaign()
        return
    st.dataframe(table, hide_index=True, width="stretch", column_config={
        "created": st.column_config.DatetimeColumn(format="YYYY-MM-DD"),
        "description": st.column_config.TextColumn(width="large")})
    with st.expander("New campaign", icon=":material/add:"):
        _new_campaign()
    if name := selected_campaign():
        _editor(name)


render(body)
