"""Whatever file reaches the store, it is stored whole or not at all."""

from __future__ import annotations

import contextlib
import io

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from campaigns.errors import IngestError
from campaigns.plate import fill_layout
from campaigns.sheet import SheetWell, template_frame
from campaigns.store import Store
from campaigns.templates import load_template
from campaigns.uploads import ingest_bytes
from planner.design import space_filling_design


@pytest.fixture(scope="module")
def loaded(tmp_path_factory: pytest.TempPathFactory):  # noqa: ANN201
    store = Store.open(f"sqlite:///{tmp_path_factory.mktemp('prop') / 'p.db'}")
    spec = load_template("electrolyte", name="e")
    store.create_campaign(spec)
    recipes = space_filling_design(spec, spec.sample_well_count, seed=0).to_dict(orient="records")
    batch = store.save_batch("e", iso_week="2026-W48", wells=fill_layout(spec.plate, recipes),
                             generator="t", seed=0, data_revision=0)
    frame = template_frame(spec, batch_id=batch.id,
                           wells=[SheetWell(w.well, w.role, w.recipe) for w in batch.wells])
    rng = np.random.default_rng(0)
    frame["Ionic conductivity [mS/cm]"] = rng.uniform(1, 12, len(frame)).round(2)
    frame["Coulombic efficiency [%]"] = rng.uniform(85, 99, len(frame)).round(2)
    yield store, frame.astype(object)
    store.close()


garbage = st.one_of(st.just(""), st.just("nan"), st.just("inf"), st.just("-1e9"),
                    st.text(max_size=6), st.floats(allow_nan=True, allow_infinity=True).map(str))


@settings(max_examples=60, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_random_mutations_store_all_or_nothing(loaded, data) -> None:  # noqa: ANN001
    store, frame = loaded
    sheet = frame.copy()
    for _ in range(data.draw(st.integers(0, 4))):
        r = data.draw(st.integers(0, len(sheet) - 1))
        c = data.draw(st.sampled_from(list(sheet.columns)))
        sheet.iloc[r, sheet.columns.get_loc(c)] = data.draw(garbage)
    if data.draw(st.booleans()):
        sheet = pd.concat([sheet, sheet.iloc[[data.draw(st.integers(0, len(sheet) - 1))]]])
    if data.draw(st.booleans()):
        sheet = sheet.drop(columns=[data.draw(st.sampled_from(list(sheet.columns)))])
    buf = io.StringIO()
    sheet.to_csv(buf, index=False, sep=data.draw(st.sampled_from([",", ";"])))
    raw = buf.getvalue().encode(data.draw(st.sampled_from(["utf-8", "utf-8-sig", "latin-1"])),
                                errors="replace")
    before = store.measurements("e", include_superseded=True)
    try:
        outcome = ingest_bytes(store, "e", raw, filename="m.csv")
    except IngestError as exc:
        assert exc.problems
        after = store.measurements("e", include_superseded=True)
        assert len(after) == len(before)  # nothing half-written
        return
    after = store.measurements("e", include_superseded=True)
    r = outcome.result
    assert len(after) - len(before) == (0 if r.already_uploaded else r.n_new + r.n_superseding)


@settings(max_examples=40, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(raw=st.binary(max_size=400))
def test_random_bytes_never_crash_or_write(loaded, raw: bytes) -> None:  # noqa: ANN001
    store, _ = loaded
    before = len(store.measurements("e", include_superseded=True))
    with contextlib.suppress(IngestError):
        ingest_bytes(store, "e", raw, filename="junk.csv")
    assert len(store.measurements("e", include_superseded=True)) >= before
