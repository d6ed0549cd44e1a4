"""Hypothesis strategies, one per domain type, building valid campaign specs."""

from __future__ import annotations

from hypothesis import strategies as st

from campaigns.plate import well_names
from campaigns.spec import (
    CampaignSpec,
    CategoricalParameter,
    ContinuousParameter,
    ControlWell,
    IntegerParameter,
    LinearConstraint,
    MixtureGroup,
    PlateFormat,
    Target,
    WarmStart,
)

names = st.from_regex(r"[a-z][a-z0-9_]{0,14}", fullmatch=True)
finite = st.floats(min_value=-1e6, max_value=1e6, allow_nan=False, allow_infinity=False)


@st.composite
def continuous(draw, name: str) -> ContinuousParameter:  # noqa: ANN001
    lo = draw(finite)
    width = draw(st.floats(min_value=1e-3, max_value=1e6))
    log = draw(st.booleans()) and lo > 0
    return ContinuousParameter(name=name, lower=lo, upper=lo + width, log_scale=log,
                               unit=draw(st.sampled_from([None, "°C", "h", "mol/kg"])))


@st.composite
def integer(draw, name: str) -> IntegerParameter:  # noqa: ANN001
    lo = draw(st.integers(-100, 100))
    return IntegerParameter(name=name, lower=lo, upper=lo + draw(st.integers(1, 50)))


@st.composite
def categorical(draw, name: str) -> CategoricalParameter:  # noqa: ANN001
    levels = draw(st.lists(st.text("abcdefghij_ -", min_size=1, max_size=8).map(str.strip)
                           .filter(bool), min_size=1, max_size=6, unique=True))
    return CategoricalParameter(name=name, levels=tuple(levels))


@st.composite
def mixture(draw, components: list[str]) -> MixtureGroup:  # noqa: ANN001
    return MixtureGroup(name="solvent", components=tuple(components),
                        basis=draw(st.sampled_from(["weight", "volume", "mole"])))


@st.composite
def plate_format(draw) -> PlateFormat:  # noqa: ANN001
    size = draw(st.sampled_from([24, 48, 96]))
    wells = draw(st.lists(st.sampled_from(well_names(size)), max_size=3, unique=True))
    reps = draw(st.integers(0, 3))
    return PlateFormat(wells=size, controls=tuple(ControlWell(well=w) for w in wells),
                       replicates=reps)


@st.composite
def campaign_specs(draw) -> CampaignSpec:  # noqa: ANN001
    all_names = draw(st.lists(names, min_size=2, max_size=9, unique=True))
    n_params = draw(st.integers(1, len(all_names) - 1))
    params = []
    for nm in all_names[:n_params]:
        kind = draw(st.sampled_from([continuous, integer, categorical]))
        params.append(draw(kind(nm)))
    rest = all_names[n_params:]
    mixtures = []
    if len(rest) >= 2 and draw(st.booleans()):
        mixtures.append(draw(mixture(rest[:2])))
        rest = rest[2:]
    numeric = [p.name for p in params if p.kind != "categorical"]
    constraints = []
    if numeric and draw(st.booleans()):
        constraints.append(LinearConstraint(
            coefficients={numeric[0]: draw(st.floats(-10, 10, allow_nan=False))},
            operator=draw(st.sampled_from(["<=", ">=", "=="])), rhs=draw(finite)))
    targets = [Target(name="target_" + (rest[0] if rest else "y"),
                      direction=draw(st.sampled_from(["max", "min"])),
                      threshold=draw(st.none() | finite))]
    return CampaignSpec(
        name=draw(st.from_regex(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,20}", fullmatch=True)),
        description=draw(st.text(max_size=40)), owner=draw(st.text(max_size=10)),
        parameters=tuple(params), mixtures=tuple(mixtures),
        linear_constraints=tuple(constraints), targets=tuple(targets),
        plate=draw(plate_format()),
        warm_start=draw(st.none() | st.builds(
            WarmStart,
            sources=st.lists(st.from_regex(r"[a-z][a-z0-9-]{0,8}", fullmatch=True),
                             max_size=3).map(tuple),
            mode=st.sampled_from(["multitask", "prior_mean"]),
            max_prior_rows=st.integers(10, 5000))),
    )
