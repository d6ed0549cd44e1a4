from __future__ import annotations

import pytest

from campaigns.plate import fill_layout, layout, normalize_well, well_names, well_position
from campaigns.spec import ControlWell, PlateFormat


@pytest.mark.parametrize(("size", "last"), [(24, "D6"), (48, "F8"), (96, "H12")])
def test_well_names(size: int, last: str) -> None:
    names = well_names(size)
    assert len(names) == size == len(set(names))
    assert names[0] == "A1" and names[-1] == last


@pytest.mark.parametrize(("text", "well"), [(" a01 ", "A1"), ("h12", "H12"), ("B3", "B3")])
def test_normalize_well(text: str, well: str) -> None:
    assert normalize_well(text) == well


@pytest.mark.parametrize(
    "text", ["A²", "B٣", "A" + "9" * 5000, "A-1", "1A", "AA1"],
    ids=["superscript", "arabic-digit", "5000-digits", "negative", "digit-first", "two-letters"],
)
def test_normalize_well_leaves_what_is_not_a_well_as_it_is(text: str) -> None:
    assert normalize_well(f" {text.lower()} ") == text.upper()


def test_well_position() -> None:
    assert well_position("B3") == (1, 2)
    assert well_position("H12") == (7, 11)


def test_layout_roles_and_replicates() -> None:
    plate = PlateFormat(wells=24, controls=(ControlWell(well="A1"), ControlWell(well="D6")),
                        replicates=2)
    slots = layout(plate)
    roles = [s.role for s in slots]
    assert roles.count("control") == 2 and roles.count("replicate") == 2
    assert roles.count("sample") == plate.sample_wells == 20
    assert {s.well for s in slots if s.role == "control"} == {"A1", "D6"}
    reps = [s for s in slots if s.role == "replicate"]
    samples = [s.well for s in slots if s.role == "sample"]
    assert all(r.replicate_of in samples for r in reps)


def test_fill_layout_copies_replicate_recipes() -> None:
    plate = PlateFormat(wells=24, controls=(ControlWell(well="A1", recipe={"x": 1.0}),),
                        replicates=1)
    recipes = [{"x": float(i)} for i in range(plate.sample_wells)]
    wells = fill_layout(plate, recipes, [{"acquisition": i} for i in range(plate.sample_wells)])
    assert len(wells) == 24
    by_well = {w.well: w for w in wells}
    rep = next(w for w in wells if w.role == "replicate")
    assert rep.recipe == by_well[rep.replicate_of].recipe
    assert by_well["A1"].recipe == {"x": 1.0} and by_well["A1"].role == "control"


def test_fill_layout_rejects_wrong_count() -> None:
    with pytest.raises(ValueError, match="sample wells"):
        fill_layout(PlateFormat(wells=24), [{"x": 1}])
