from __future__ import annotations

import copy
import json
import pickle
from collections.abc import Mapping

import pytest
from hypothesis import HealthCheck, given, settings
from pydantic import BaseModel, ValidationError

from campaigns.errors import SpecError
from campaigns.frozen import FrozenDict
from campaigns.spec import CampaignSpec
from campaigns.templates import TEMPLATES, load_template, template_text
from tests.strategies import campaign_specs


@settings(max_examples=80, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(campaign_specs())
def test_spec_yaml_round_trip(spec: CampaignSpec) -> None:
    assert CampaignSpec.from_yaml(spec.to_yaml()) == spec


@settings(max_examples=40, deadline=None)
@given(campaign_specs())
def test_spec_dict_round_trip(spec: CampaignSpec) -> None:
    assert CampaignSpec.from_dict(spec.to_dict()) == spec


@pytest.mark.parametrize("template", TEMPLATES)
def test_templates_are_valid_and_round_trip(template: str) -> None:
    spec = load_template(template, name="t1")
    assert spec.name == "t1"
    assert CampaignSpec.from_yaml(spec.to_yaml()) == spec
    plate = spec.plate
    assert spec.sample_well_count == plate.wells - len(plate.controls) - plate.replicates


def test_hard_carbon_template_content() -> None:
    spec = load_template("hard-carbon")
    assert spec.input_names == ["precursor", "carbonization_temperature_c",
                                "heating_rate_c_per_min", "dwell_h", "n_doping_at_pct",
                                "s_doping_at_pct"]
    assert set(spec.categorical_inputs["precursor"]) >= {"cellulose", "lignin", "pitch", "starch"}
    assert spec.parameter("carbonization_temperature_c").lower == 800
    assert [t.name for t in spec.objectives] == ["ice_pct", "reversible_capacity_mah_per_g"]
    assert [t.name for t in spec.constraints] == ["ice_pct"]
    assert {d.name for d in spec.descriptors} == {"d002_nm", "la_nm", "lc_nm",
                                                  "bet_ssa_m2_per_g", "raman_id_ig"}


def test_electrolyte_template_has_mixture_summing_to_one() -> None:
    spec = load_template("electrolyte")
    (solvent,) = spec.mixtures
    assert solvent.components == ("ec_frac", "pc_frac", "dmc_frac", "emc_frac", "dec_frac",
                                  "dme_frac", "diglyme_frac")
    assert "salt" in spec.categorical_inputs


def _problems(text: str) -> list[str]:
    with pytest.raises(SpecError) as info:
        CampaignSpec.from_yaml(text)
    return info.value.problems


@pytest.mark.parametrize(
    ("yaml_text", "field", "fix"),
    [
        pytest.param("name: x\ntargets: [{name: y}]\n", "(top level)", "add `parameters`",
                     id="empty-space"),
        pytest.param("name: x\nparameters: [{kind: continuous, name: t_c, lower: 5, upper: 1}]\n"
                     "targets: [{name: y}]\n", "parameters[0]", "swap them", id="bounds-swapped"),
        pytest.param("name: x\nparameters: [{kind: cont, name: t_c, lower: 0, upper: 1}]\n"
                     "targets: [{name: y}]\n", "parameters[0]", "continuous", id="bad-kind"),
        pytest.param("name: x\nparameters: [{kind: continuous, name: t_c, lower: 0, upper: 1}]\n"
                     "targets: [{name: y}]\ncolour: red\n", "colour", "remove this field",
                     id="extra-field"),
        pytest.param("name: x\nparameters: [{kind: continuous, name: t_c, lower: 0, upper: 1}]\n"
                     "targets: [{name: y, direction: up}]\n", "targets[0].direction",
                     "allowed values", id="bad-direction"),
        pytest.param("name: x\nparameters: [{kind: continuous, name: t_c, lower: 0, upper: 1}]\n"
                     "targets: [{name: y}]\nplate: {wells: 96, controls: [{well: J13}]}\n",
                     "plate", "A1", id="control-off-plate"),
        pytest.param("name: x\nmixtures: [{name: s, components: [a_frac, b_frac], "
                     "lower: {a_frac: 0.7, b_frac: 0.5}}]\ntargets: [{name: y}]\n",
                     "mixtures[0]", "loosen",
                     id="infeasible-mixture"),
    ],
)
def test_validation_names_field_and_fix(yaml_text: str, field: str, fix: str) -> None:
    problems = _problems(yaml_text)
    assert any(p.startswith(field) and fix in p for p in problems), problems


def test_all_problems_reported_at_once() -> None:
    problems = _problems(
        "name: 'bad name'\nparameters: [{kind: continuous, name: T, lower: 0, upper: 1}]\n"
        "targets: [{name: y, direction: up}]\nextra: 1\n"
    )
    assert len(problems) == 4


def test_invalid_yaml_names_line() -> None:
    with pytest.raises(SpecError, match="line 2"):
        CampaignSpec.from_yaml("name: x\n  bad: [\n")


def test_template_text_is_commented_yaml() -> None:
    assert template_text("hard-carbon").startswith("#")


def test_unknown_field_gets_did_you_mean() -> None:
    problems = _problems("name: x\nparameters: [{kind: continuous, name: t_c, lower: 0, upper: 1, "
                         "resolutoin: 1}]\ntargets: [{name: y}]\n")
    assert any("did you mean 'resolution'" in p for p in problems), problems


@pytest.mark.parametrize(
    "text", ["0\x850", "a\u2028b", "tab\there", "bell\x07", "line\nbreak", "bom\ufeff"])
def test_yaml_keeps_line_separators_and_control_characters(text: str) -> None:
    # YAML folds NEL/LS/PS inside plain and single-quoted scalars; the spec must come back verbatim.
    spec = load_template("hard-carbon", name="t1").model_copy(
        update={"owner": text, "description": text})
    back = CampaignSpec.from_yaml(spec.to_yaml())
    assert back.owner == text
    assert back.description == text


def _walk(value: object, path: str = "spec"):
    """Every (path, value) inside a spec: models, tuples and mappings, recursively."""
    yield path, value
    if isinstance(value, BaseModel):
        for name in type(value).model_fields:
            yield from _walk(getattr(value, name), f"{path}.{name}")
    elif isinstance(value, Mapping):
        for key, item in value.items():
            yield from _walk(item, f"{path}[{key!r}]")
    elif isinstance(value, tuple):
        for i, item in enumerate(value):
            yield from _walk(item, f"{path}[{i}]")


@pytest.mark.parametrize("template", TEMPLATES)
def test_every_container_of_a_loaded_template_refuses_mutation(template: str) -> None:
    spec = load_template(template, name="t1")
    mappings = 0
    for path, value in _walk(spec):
        assert not isinstance(value, list | dict | set | bytearray), f"{path} is mutable"
        if isinstance(value, Mapping):
            mappings += 1
            key = next(iter(value), "ec_frac")
            with pytest.raises(TypeError):
                value[key] = 0.9  # type: ignore[index]
            with pytest.raises(TypeError):
                del value[key]  # type: ignore[attr-defined]
            assert not hasattr(value, "update") and not hasattr(value, "pop")
        elif isinstance(value, tuple):
            with pytest.raises(TypeError):
                value[0] = None  # type: ignore[index]
        elif isinstance(value, BaseModel):
            with pytest.raises(ValidationError):
                setattr(value, next(iter(type(value).model_fields)), None)
    assert mappings >= 1  # the walk reached the mixture bounds, coefficients and control recipes


def test_mixture_bounds_from_the_issue_cannot_be_changed_behind_validation() -> None:
    spec = load_template("electrolyte", name="t1")
    with pytest.raises(TypeError):
        spec.mixtures[0].lower["ec_frac"] = 0.9  # type: ignore[index]
    with pytest.raises(TypeError):
        spec.linear_constraints[0].coefficients["fec_wt_pct"] = -1.0  # type: ignore[index]
    assert not hasattr(spec.mixtures[0].lower, "__dict__")  # no instance dict to write through
    assert spec.mixtures[0].bound("ec_frac") == load_template("electrolyte").mixtures[0].bound(
        "ec_frac")


@pytest.mark.parametrize("template", TEMPLATES)
def test_frozen_specs_pickle_hash_copy_and_dump_plain_dicts(template: str) -> None:
    spec = load_template(template, name="t1")
    back = pickle.loads(pickle.dumps(spec))
    assert back == spec and hash(back) == hash(spec)
    assert copy.deepcopy(spec) == spec
    assert {spec: 1}[back] == 1  # usable as a cache key
    dumped = spec.model_dump()
    for group in dumped["mixtures"]:
        assert type(group["lower"]) is dict and type(group["upper"]) is dict
    for lc in dumped["linear_constraints"]:
        assert type(lc["coefficients"]) is dict
    for ctrl in dumped["plate"]["controls"]:
        assert type(ctrl["recipe"]) is dict
    assert json.loads(spec.model_dump_json()) == spec.to_dict()
    changed = spec.model_copy(update={"owner": "someone else"})
    assert changed != spec and changed.plate == spec.plate


def test_frozen_dict_behaves_like_a_read_only_dict() -> None:
    d = FrozenDict({"b": 2.0, "a": 1.0})
    assert list(d) == ["b", "a"] and d["a"] == 1.0 and d.get("c") is None and len(d) == 2
    assert d == {"a": 1.0, "b": 2.0} and d != {"a": 1.0}
    assert {**d, "c": 3.0} == {"a": 1.0, "b": 2.0, "c": 3.0} and d == {"a": 1.0, "b": 2.0}
    assert hash(d) == hash(FrozenDict({"a": 1.0, "b": 2.0}))
    assert pickle.loads(pickle.dumps(d)) == d
    with pytest.raises(TypeError):
        d._data = {}  # type: ignore[misc]
