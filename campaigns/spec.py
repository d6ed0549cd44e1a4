"""Campaign specs: the design space, targets, descriptors and plate format a lab keeps in git.

A spec is validated once, where it enters (YAML file, dashboard form, template), and is frozen
afterwards. Every validation message names the field and says how to fix it.

Example:
    >>> from campaigns.templates import load_template
    >>> spec = load_template("hard-carbon", name="demo")
    >>> spec.sample_well_count
    92
"""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from campaigns.columns import Column, column
from campaigns.errors import SpecError
from campaigns.frozen import FrozenDict
from campaigns.hints import closest
from campaigns.plate import PLATE_SHAPES, well_names

_NAME_RE = re.compile(r"^[a-z][a-z0-9_]*$")
_CAMPAIGN_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", str_strip_whitespace=True)


def _check_name(value: str) -> str:
    if not _NAME_RE.match(value):
        raise ValueError(
            f"{value!r} is not a valid column name. Hint: use lower_snake_case with the unit at "
            "the end, e.g. carbonization_temperature_c."
        )
    return value


class ContinuousParameter(_Frozen):
    """A real-valued recipe parameter with bounds."""

    kind: Literal["continuous"] = "continuous"
    name: str
    """Column name, unit included (``carbonization_temperature_c``)."""
    lower: float
    """Lower bound, in ``unit``."""
    upper: float
    """Upper bound, in ``unit``."""
    unit: str | None = None
    """Unit; defaults to the column registry's."""
    log_scale: bool = False
    """For a quantity spanning orders of magnitude (a dopant from 0.01 to 10 %): designs spread
    it log-uniformly, the optimizer searches its log10 and the surrogate models its log10;
    recipes stay in ``unit`` and are rounded to ``resolution`` there. Needs ``lower > 0``."""
    resolution: float | None = Field(default=None, gt=0)
    """Smallest step the lab can set (1 °C on a furnace); proposals are rounded to it."""

    _check = field_validator("name")(classmethod(lambda cls, v: _check_name(v)))

    @model_validator(mode="after")
    def _bounds(self) -> ContinuousParameter:
        if not (math.isfinite(self.lower) and math.isfinite(self.upper)):
            raise ValueError("bounds must be finite numbers. Hint: give both lower and upper.")
        if self.lower >= self.upper:
            raise ValueError(
                f"lower ({self.lower}) must be below upper ({self.upper}). Hint: swap them, or "
                "fix the value with a one-level categorical or a constant if it never changes."
            )
        if self.log_scale and self.lower <= 0:
            raise ValueError(
                f"log_scale needs lower > 0, got {self.lower}. "
                "Hint: raise lower or set log_scale: false."
            )
        return self

    @property
    def column(self) -> Column:
        return column(self.name, unit=self.unit)


class IntegerParameter(_Frozen):
    """An integer recipe parameter (number of washing steps, ball-milling passes ...)."""

    kind: Literal["integer"] = "integer"
    name: str
    """Column name."""
    lower: int
    """Smallest allowed value."""
    upper: int
    """Largest allowed value."""
    unit: str | None = None
    """Unit; defaults to the column registry's."""

    _check = field_validator("name")(classmethod(lambda cls, v: _check_name(v)))

    @model_validator(mode="after")
    def _bounds(self) -> IntegerParameter:
        if self.lower >= self.upper:
            raise ValueError(
                f"lower ({self.lower}) must be below upper ({self.upper}). Hint: swap them.")
        return self

    @property
    def column(self) -> Column:
        return column(self.name, unit=self.unit)


class CategoricalParameter(_Frozen):
    """A choice among named levels (the precursor, the salt)."""

    kind: Literal["categorical"] = "categorical"
    name: str
    """Column name."""
    levels: tuple[str, ...]
    """Allowed values, as they are written in plate files."""

    _check = field_validator("name")(classmethod(lambda cls, v: _check_name(v)))

    @field_validator("levels")
    @classmethod
    def _levels(cls, levels: tuple[str, ...]) -> tuple[str, ...]:
        if len(levels) < 1:
            raise ValueError("needs at least one level. Hint: list them, e.g. [cellulose, lignin].")
        dup = sorted({x for x in levels if levels.count(x) > 1})
        if dup:
            raise ValueError(f"levels repeat: {dup}. Hint: list each level once.")
        return levels

    @property
    def column(self) -> Column:
        return column(self.name)


Parameter = Annotated[
    ContinuousParameter | IntegerParameter | CategoricalParameter, Field(discriminator="kind")
]


class MixtureGroup(_Frozen):
    """Components whose fractions sum to 1 (solvent blends)."""

    name: str
    """Group name (``solvent``)."""
    components: tuple[str, ...]
    """Column names of the fractions (``ec_frac``, ``dmc_frac`` ...)."""
    basis: Literal["weight", "volume", "mole"] = "weight"
    """What the fractions are fractions of."""
    tolerance: float = 1e-3
    """Accepted deviation of the sum from 1 in uploaded files."""
    lower: FrozenDict[str, float] = Field(default_factory=FrozenDict)
    """Per-component minimum fraction (default 0)."""
    upper: FrozenDict[str, float] = Field(default_factory=FrozenDict)
    """Per-component maximum fraction (default 1)."""
    resolution: float | None = Field(default=None, gt=0, lt=0.5)
    """Step the fractions are dosed to (0.01); proposals are rounded, keeping the sum exactly 1."""

    @model_validator(mode="after")
    def _check(self) -> MixtureGroup:
        if len(self.components) < 2:
            raise ValueError("a mixture needs at least two components. "
                             "Hint: add one, or use a plain parameter.")
        for comp in self.components:
            _check_name(comp)
        unknown = sorted((set(self.lower) | set(self.upper)) - set(self.components))
        if unknown:
            raise ValueError(f"bounds name unknown components {unknown}. "
                             "Hint: use names from components.")
        lo = [self.bound(c)[0] for c in self.components]
        hi = [self.bound(c)[1] for c in self.components]
        if any(a < 0 or b > 1 or a > b for a, b in zip(lo, hi, strict=True)):
            raise ValueError("component bounds must satisfy 0 <= lower <= upper <= 1.")
        if sum(lo) > 1 + 1e-9 or sum(hi) < 1 - 1e-9:
            raise ValueError(
                f"no blend can sum to 1 with these bounds (sum of lowers {sum(lo):.3g}, sum of "
                f"uppers {sum(hi):.3g}). Hint: loosen the component bounds."
            )
        return self

    def bound(self, component: str) -> tuple[float, float]:
        return (self.lower.get(component, 0.0), self.upper.get(component, 1.0))


class LinearConstraint(_Frozen):
    """``sum(coefficients[name] * x[name]) <operator> rhs`` over numeric parameters."""

    coefficients: FrozenDict[str, float]
    """Parameter name → coefficient."""
    operator: Literal["<=", ">=", "=="]
    """Comparison."""
    rhs: float
    """Right-hand side."""
    description: str = ""
    """Why the constraint exists, for the people reading the spec."""


class CandidateLibrary(_Frozen):
    """Design space given as a table of already-made, characterized candidates."""

    path: str | None = None
    """CSV or Parquet file with one row per candidate (relative to the spec file); loaded at
    creation (a big one into the columnar store, :mod:`campaigns.library_store`)."""
    id_column: str = "candidate_id"
    """Column with the candidate's ID."""
    inputs: tuple[str, ...]
    """Descriptor columns the model sees (missing values allowed)."""
    categorical: tuple[str, ...] = ()
    """Which of ``inputs`` are categorical."""


class Target(_Frozen):
    """A measured outcome to optimize, constrain or merely record."""

    name: str
    """Column name, unit included (``ice_pct``)."""
    direction: Literal["max", "min"] = "max"
    """Whether larger or smaller is better."""
    threshold: float | None = None
    """If set, the target is a constraint: ``>= threshold`` (max) or ``<= threshold`` (min)."""
    optimize: bool = True
    """``False`` records the target without optimizing it (e.g. plateau capacity)."""
    unit: str | None = None
    """Unit; defaults to the column registry's."""
    bounds: tuple[float | None, float | None] | None = None
    """Physical bounds ``[low, high]`` (``null`` for an open end) that predictions, intervals and
    the acquisition respect: ``[0, 100]`` for an efficiency in %, ``[0, null]`` for a capacity.
    Default (unset): the column registry's; ``[null, null]`` turns them off."""

    _check = field_validator("name")(classmethod(lambda cls, v: _check_name(v)))

    @model_validator(mode="after")
    def _check_bounds(self) -> Target:
        for end in self.bounds or ():
            if end is not None and not math.isfinite(end):
                raise ValueError(f"bounds of {self.name} must be numbers or null, got {end}. "
                                 "Hint: write null for an open end, e.g. [0, null].")
        low, high = self.model_bounds or (None, None)
        if low is not None and high is not None and low >= high:
            raise ValueError(f"bounds of {self.name}: low ({low}) must be below high ({high}). "
                             "Hint: swap them.")
        t = self.threshold
        if t is not None and ((low is not None and t < low) or (high is not None and t > high)):
            raise ValueError(f"threshold {t} of {self.name} lies outside its bounds "
                             f"[{low}, {high}]. Hint: fix the threshold or set bounds.")
        return self

    @property
    def column(self) -> Column:
        return column(self.name, unit=self.unit)

    @property
    def model_bounds(self) -> tuple[float | None, float | None] | None:
        """The bounds the model respects: ``bounds``, else the column registry's; ``None`` when
        the target has none."""
        pair = self.bounds if self.bounds is not None else self.column.bounds
        if pair is None or (pair[0] is None and pair[1] is None):
            return None
        return pair

    def meets(self, value: float) -> bool:
        """Whether ``value`` satisfies the threshold (always true without one)."""
        if self.threshold is None:
            return True
        return value >= self.threshold if self.direction == "max" else value <= self.threshold


class Descriptor(_Frozen):
    """A measured characterization quantity (d002, SSA ...), recorded and usable as model input."""

    name: str
    """Column name, unit included."""
    unit: str | None = None
    """Unit; defaults to the column registry's."""

    _check = field_validator("name")(classmethod(lambda cls, v: _check_name(v)))

    @property
    def column(self) -> Column:
        return column(self.name, unit=self.unit)


class ControlWell(_Frozen):
    """A well reserved for a reference material measured on every plate."""

    well: str
    """Well ID (``A1``)."""
    material: str = "reference"
    """What goes in it."""
    recipe: FrozenDict[str, float | str] = Field(default_factory=FrozenDict)
    """Its recipe, if it is made like the samples."""


class PlateFormat(_Frozen):
    """Plate size and reserved wells."""

    wells: Literal[24, 48, 96] = 96
    """Plate size."""
    controls: tuple[ControlWell, ...] = ()
    """Control wells."""
    replicates: int = Field(default=0, ge=0)
    """Wells that repeat another well's recipe on the same plate (to measure noise)."""
    shared_parameters: tuple[str, ...] = ()
    """Parameters that take one value for the whole plate (one furnace run)."""
    furnace_runs: int | None = Field(default=None, ge=1)
    """Furnace runs per plate: the wells share at most this many programs (values of
    ``furnace_parameters``), chosen jointly by the planner; ``None``: every well its own."""
    furnace_parameters: tuple[str, ...] = ()
    """Parameters that make up a furnace program (temperature, heating rate, dwell). One that is
    also in ``shared_parameters`` takes one value for the whole plate; the others vary between
    the runs."""

    @model_validator(mode="after")
    def _check(self) -> PlateFormat:
        names = set(well_names(self.wells))
        bad = [c.well for c in self.controls if c.well not in names]
        if bad:
            rows, cols = PLATE_SHAPES[self.wells]
            raise ValueError(
                f"control wells {bad} are not on a {self.wells}-well plate. Hint: use A1…"
                f"{rows[-1]}{cols} naming."
            )
        seen = [c.well for c in self.controls]
        dup = sorted({w for w in seen if seen.count(w) > 1})
        if dup:
            raise ValueError(f"control wells repeat: {dup}. Hint: give each control its own well.")
        if self.sample_wells < 1:
            raise ValueError(
                f"{len(self.controls)} controls and {self.replicates} replicates leave no sample "
                f"wells on a {self.wells}-well plate. Hint: reserve fewer wells."
            )
        if self.replicates > self.sample_wells:
            raise ValueError("more replicates than sample wells. Hint: reduce replicates.")
        if self.furnace_runs is not None and not self.furnace_parameters:
            raise ValueError("furnace_runs needs furnace_parameters. Hint: list the parameters "
                             "of a furnace program, e.g. [carbonization_temperature_c].")
        if self.furnace_runs is not None and self.furnace_runs > self.sample_wells:
            raise ValueError(f"furnace_runs ({self.furnace_runs}) exceeds the "
                             f"{self.sample_wells} sample wells. Hint: use fewer runs.")
        return self

    @property
    def sample_wells(self) -> int:
        """Number of wells the planner fills with new recipes."""
        return self.wells - len(self.controls) - self.replicates


class WarmStart(_Frozen):
    """Use matching rows of the shared dataset as prior knowledge (a warm-started GP).

    Shared rows (``planner dataset pull`` / ``seed``) that hold at least one of the campaign's
    targets are passed to :class:`surrogates.warm_start.WarmStartGP` with the GP model; input
    columns a source lacks are imputed. Switch it off by removing the block (or
    ``planner campaign warm-start NAME --off``).
    """

    sources: tuple[str, ...] = ()
    """Shared-dataset sources to learn from; empty means every source."""
    mode: Literal["multitask", "prior_mean"] = "multitask"
    """``multitask``: each source is a task of a multi-task GP (learns how far to trust it);
    ``prior_mean``: a GP on the shared rows is the mean function of the campaign's GP."""
    max_prior_rows: int | None = Field(default=None, ge=10)
    """Most shared rows per target in one fit (a seeded random subset above that); ``None``
    (default): every row, through a variational GP above 2,000 rows (``surrogates.scalable``)."""


#: Acquisition functions a campaign can name (see :mod:`planner.acquisition`).
ACQUISITIONS = ("auto", "qLogNEI", "qLogNEHVI", "qLogNParEGO")


class Screening(_Frozen):
    """The screening funnel of a big library (``planning.screening``): above ``min_rows``
    selectable candidates, a cheap screen from the fitted model scores every row in chunks and
    only a diverse shortlist gets the full acquisition."""

    min_rows: int = Field(default=10_000, ge=1)
    """Libraries with more unused candidates than this are screened first."""
    shortlist: int | None = Field(default=None, ge=1)
    """Candidates kept for the full acquisition; ``None``: ``max(per_well x wells, floor)``."""
    per_well: int = Field(default=20, ge=1)
    """Shortlist candidates per well of the plate (when ``shortlist`` is not set)."""
    floor: int = Field(default=2000, ge=1)
    """Smallest default shortlist."""
    batch_rows: int = Field(default=50_000, ge=1_000, le=5_000_000)
    """Candidates scored per chunk (bounds the memory of the screen)."""
    paths: int = Field(default=16, ge=2, le=256)
    """Screening columns, each with its own trade-off between the objectives (diversity)."""


class Planning(_Frozen):
    """How the planner proposes plates for this campaign: the same settings drive ``planner
    suggest`` and ``planner backtest``."""

    model: Literal["auto", "gp", "ensemble", "rf", "boosted"] = "auto"
    """The surrogate once the campaign has data. ``auto`` chooses one per target by
    cross-validation on the campaign's own plates (each plate held out in turn), among the GP,
    the neural-network ensemble, the random forest and gradient boosting, and says which and why
    on the plate; the choice is refreshed when new results arrive."""
    acquisition: Literal["auto", "qLogNEI", "qLogNEHVI", "qLogNParEGO"] = "auto"
    """``auto``: noisy log-EI for one objective, log-NEHVI for several. ``qLogNEI`` needs one
    objective; ``qLogNEHVI`` and ``qLogNParEGO`` (random scalarizations, cheaper for many
    objectives) need two or more."""
    mc_samples: int = Field(default=64, ge=8, le=4096)
    """Quasi-MC posterior samples of the acquisition."""
    log_targets: Literal["auto", "on", "off"] = "auto"
    """Model ``log10`` of a target: ``auto`` does it for a *minimized* target whose measured
    values are all positive and span more than a factor of 10 (a loss, an instability index);
    ``on`` for every target with positive values; ``off`` never."""
    two_stage: Literal["auto", "on", "off"] = "off"
    """Recipe campaigns that measure descriptors: model recipe -> descriptors -> targets (a GP
    per descriptor, then the surrogate on descriptors and recipe). ``auto`` once a descriptor is
    measured on 12 or more wells; ``on`` as soon as any is measured; ``off`` (default) never.
    Off by default although it predicts held-out plates better (``benchmarks/results/
    two_stage.md``): a plate planned with it costs about 2.6 times the CPU of the one-stage
    model today."""
    screening: Screening = Screening()
    """How a big candidate library is screened before the full acquisition."""


class PhysicalLimits(_Frozen):
    """Physical limits every proposed recipe must respect (see :mod:`campaigns.physchem`).

    They apply to a campaign whose inputs hold solvent fractions (``ec_frac`` …) or a salt and its
    molality; other campaigns are unaffected.
    """

    liquid_solvent: bool = True
    """The solvent blend must be liquid at the test temperature (no blend that freezes, such as
    pure EC at 25 °C)."""
    salt_solubility: bool = True
    """The salt molality must stay below the salt's declared solubility."""
    margin_c: float = Field(default=0.0, ge=-30.0, le=50.0)
    """The blend's estimated liquidus must lie this many °C below the test temperature; a
    negative margin accepts blends that far below it (supercooled, or where the ideal-solution
    estimate is known to be pessimistic for your salt)."""
    test_temperature_c: float = Field(default=25.0, ge=-100.0, le=200.0)
    """Test temperature when the campaign has no ``temperature_c`` input."""
    max_molality_mol_per_kg: FrozenDict[str, float] = Field(default_factory=FrozenDict)
    """Salt level → solubility limit [mol/kg], overriding the declared defaults."""


# YAML folds NEL, LINE/PARAGRAPH SEPARATOR and other control characters inside plain or
# single-quoted scalars, so such text would come back changed.  Double quotes escape them.
_YAML_UNSAFE = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029\ufeff]")


class _SpecDumper(yaml.SafeDumper):
    """Safe dumper that double-quotes text YAML would otherwise not give back verbatim."""


def _represent_str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    style = '"' if _YAML_UNSAFE.search(value) else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_SpecDumper.add_representer(str, _represent_str)


class CampaignSpec(_Frozen):
    """Everything that defines a campaign, independent of its data."""

    name: str
    """Campaign name (letters, digits, ``_ . -``)."""
    description: str = ""
    """What the campaign is for."""
    owner: str = ""
    """Who runs it."""
    parameters: tuple[Parameter, ...] = ()
    """Recipe parameters (recipe mode)."""
    mixtures: tuple[MixtureGroup, ...] = ()
    """Fraction groups that sum to 1 (recipe mode)."""
    linear_constraints: tuple[LinearConstraint, ...] = ()
    """Linear constraints between numeric parameters."""
    library: CandidateLibrary | None = None
    """Candidate table (library mode) instead of recipe parameters."""
    descriptors: tuple[Descriptor, ...] = ()
    """Measured characterization quantities."""
    targets: tuple[Target, ...]
    """Outcomes to optimize or constrain."""
    plate: PlateFormat = PlateFormat()
    """Plate size and reserved wells."""
    warm_start: WarmStart | None = None
    """Learn from the shared dataset too (GP model only); ``None``: this campaign's data only."""
    planning: Planning = Planning()
    """Acquisition function and its settings (defaults suit most campaigns)."""
    physical_limits: PhysicalLimits = PhysicalLimits()
    """Declared physical limits on recipes (liquid solvent blends, dissolvable salt), applied
    wherever the campaign's inputs name the quantities they need (see
    :mod:`campaigns.physchem`)."""

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        if not _CAMPAIGN_RE.match(value):
            raise ValueError(
                f"{value!r} is not a valid campaign name. Hint: use letters, digits, '_', '.', '-' "
                "(at most 64), starting with a letter or digit."
            )
        return value

    @model_validator(mode="after")
    def _consistent(self) -> CampaignSpec:
        recipe = bool(self.parameters or self.mixtures)
        if recipe and self.library is not None:
            raise ValueError(
                "a campaign has either recipe parameters or a candidate library, not both. Hint: "
                "remove `library` or remove `parameters`/`mixtures`."
            )
        if not recipe and self.library is None:
            raise ValueError(
                "the design space is empty. Hint: add `parameters` (recipe mode) or `library`."
            )
        names = [p.name for p in self.parameters] + [c for m in self.mixtures for c in m.components]
        dup = sorted({n for n in names if names.count(n) > 1})
        if dup:
            raise ValueError(f"input names repeat: {dup}. Hint: each input appears once.")
        outputs = [d.name for d in self.descriptors] + [t.name for t in self.targets]
        dup = sorted({n for n in outputs if outputs.count(n) > 1})
        if dup:
            raise ValueError(f"descriptor/target names repeat: {dup}. "
                             "Hint: name each quantity once.")
        clash = sorted(set(outputs) & set(names))
        if clash and self.library is None:
            raise ValueError(f"{clash} are both inputs and measured outputs. Hint: rename one.")
        if not any(t.optimize for t in self.targets):
            raise ValueError("no target is optimized. "
                             "Hint: set `optimize: true` on at least one target.")
        n_objectives = sum(t.optimize for t in self.targets)
        acq = self.planning.acquisition
        if acq == "qLogNEI" and n_objectives > 1:
            raise ValueError(f"planning.acquisition qLogNEI optimizes one objective; this campaign "
                             f"has {n_objectives}. Hint: use auto, qLogNEHVI or qLogNParEGO.")
        if acq in ("qLogNEHVI", "qLogNParEGO") and n_objectives < 2:
            raise ValueError(f"planning.acquisition {acq} needs two or more objectives. Hint: use "
                             "auto or qLogNEI.")
        numeric = {p.name for p in self.parameters if p.kind != "categorical"}
        numeric |= {c for m in self.mixtures for c in m.components}
        for i, lc in enumerate(self.linear_constraints):
            unknown = sorted(set(lc.coefficients) - numeric)
            if unknown:
                raise ValueError(
                    f"linear_constraints[{i}] names {unknown}, which are not numeric parameters. "
                    f"Hint: use one of {sorted(numeric)}."
                )
        for name in self.plate.shared_parameters:
            if name not in {p.name for p in self.parameters}:
                raise ValueError(
                    f"plate.shared_parameters names {name!r}, which is not a parameter. Hint: use "
                    f"one of {[p.name for p in self.parameters]}."
                )
        numeric_params = {p.name for p in self.parameters if p.kind != "categorical"}
        for name in self.plate.furnace_parameters:
            if name not in numeric_params:
                raise ValueError(
                    f"plate.furnace_parameters names {name!r}, which is not a numeric parameter. "
                    f"Hint: use some of {sorted(numeric_params)}."
                )
        for ctrl in self.plate.controls:
            unknown = sorted(set(ctrl.recipe) - set(names))
            if unknown:
                raise ValueError(f"control {ctrl.well} recipe names unknown inputs {unknown}.")
        return self

    # --- derived views ----------------------------------------------------------------------
    @property
    def is_library(self) -> bool:
        return self.library is not None

    @property
    def input_names(self) -> list[str]:
        """Model inputs in order: parameters, then mixture components (or library inputs)."""
        if self.library is not None:
            return list(self.library.inputs)
        return [p.name for p in self.parameters] + [c for m in self.mixtures for c in m.components]

    @property
    def categorical_inputs(self) -> dict[str, tuple[str, ...]]:
        """Categorical input name → levels (library categoricals get levels from the data)."""
        if self.library is not None:
            return {name: () for name in self.library.categorical}
        return {p.name: p.levels for p in self.parameters if isinstance(p, CategoricalParameter)}

    @property
    def output_names(self) -> list[str]:
        """Descriptors then targets: every quantity a plate file may report."""
        return [d.name for d in self.descriptors] + [t.name for t in self.targets]

    @property
    def objectives(self) -> list[Target]:
        return [t for t in self.targets if t.optimize]

    @property
    def constraints(self) -> list[Target]:
        return [t for t in self.targets if t.threshold is not None]

    @property
    def numeric_bounds(self) -> dict[str, tuple[float, float]]:
        """``{input: (lower, upper)}`` of every numeric recipe input (parameters and mixture
        components), in the lab's units; categorical parameters are left out."""
        bounds = {p.name: (float(p.lower), float(p.upper))
                  for p in self.parameters if p.kind != "categorical"}
        for m in self.mixtures:
            bounds.update({c: m.bound(c) for c in m.components})
        return bounds

    @property
    def modelled_targets(self) -> list[str]:
        """Targets a model learns: objectives and constraint targets, in spec order."""
        return [t.name for t in self.targets if t.optimize or t.threshold is not None]

    @property
    def sample_well_count(self) -> int:
        return self.plate.sample_wells

    def input_columns(self) -> list[Column]:
        cols = {p.name: p.column for p in self.parameters}
        out = []
        for name in self.input_names:
            out.append(cols.get(name) or column(name))
        return out

    def output_columns(self) -> list[Column]:
        return [d.column for d in self.descriptors] + [t.column for t in self.targets]

    def furnace_run_numbers(self, recipes: list[dict[str, Any]]) -> list[int | None]:
        """Furnace run of each recipe: 1, 2, … in order of first appearance of its program
        (its values of ``plate.furnace_parameters``); ``None`` for a recipe without a full
        program, or for every recipe when the campaign declares no furnace runs.

        >>> from campaigns.templates import load_template
        >>> spec = load_template("hard-carbon")
        >>> program = {"carbonization_temperature_c": 1300, "heating_rate_c_per_min": 5,
        ...            "dwell_h": 2}
        >>> spec.furnace_run_numbers([program, {**program, "dwell_h": 4}, program])
        [1, 2, 1]
        """
        names = self.plate.furnace_parameters
        if self.plate.furnace_runs is None or not names:
            return [None] * len(recipes)
        runs: dict[tuple[float, ...], int] = {}
        out: list[int | None] = []
        for recipe in recipes:
            try:
                key = tuple(float(recipe[n]) for n in names)  # type: ignore[arg-type]
            except (KeyError, TypeError, ValueError):
                out.append(None)
                continue
            if any(math.isnan(v) for v in key):
                out.append(None)
                continue
            out.append(runs.setdefault(key, len(runs) + 1))
        return out

    def parameter(self, name: str) -> ContinuousParameter | IntegerParameter | CategoricalParameter:
        for p in self.parameters:
            if p.name == name:
                return p
        raise KeyError(name)

    # --- YAML -------------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        return self.model_dump(mode="json", exclude_defaults=False)

    def to_yaml(self) -> str:
        """Serialize to YAML a lab can keep in git (keys in declaration order)."""
        return yaml.dump(
            self.to_dict(), Dumper=_SpecDumper, sort_keys=False, allow_unicode=True
        )

    @classmethod
    def from_dict(cls, data: Any, *, source: str = "spec") -> CampaignSpec:
        """Validate a mapping; raise :class:`SpecError` naming every field at fault."""
        if not isinstance(data, dict):
            raise SpecError(
                f"{source}: expected a mapping of fields, got {type(data).__name__}.",
                hint="Start from `planner campaign create --template hard-carbon NAME` and edit "
                     "it.",
            )
        try:
            return cls.model_validate(data)
        except ValidationError as exc:
            problems = [_describe(err) for err in exc.errors()]
            raise SpecError(
                f"{source} has {len(problems)} problem(s):\n  - " + "\n  - ".join(problems),
                problems=problems,
                hint="Fix the fields named above; `planner campaign create --template ...` shows "
                     "a valid spec.",
            ) from None

    @classmethod
    def from_yaml(cls, text: str, *, source: str = "spec") -> CampaignSpec:
        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
            raise SpecError(
                f"{source} is not valid YAML{where}: {getattr(exc, 'problem', exc)}",
                hint="Check indentation and that lists use '- ' items.",
            ) from None
        return cls.from_dict(data, source=source)

    @classmethod
    def load(cls, path: str | Path) -> CampaignSpec:
        path = Path(path)
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise SpecError(f"cannot read spec file {path}: {exc.strerror}.",
                            hint="Check the path.") from None
        return cls.from_yaml(text, source=str(path))


_FIXES = {
    "missing": "add this field",
    "extra_forbidden": "remove this field or check its spelling",
    "literal_error": "use one of the allowed values",
    "float_parsing": "give a number",
    "int_parsing": "give a whole number",
    "union_tag_invalid": "set kind to continuous, integer or categorical",
    "union_tag_not_found": "add `kind: continuous|integer|categorical`",
}


def _all_field_names() -> list[str]:
    models = (ContinuousParameter, IntegerParameter, CategoricalParameter, MixtureGroup,
              LinearConstraint, CandidateLibrary, Target, Descriptor, ControlWell, PlateFormat,
              PhysicalLimits, CampaignSpec)
    return sorted({f for m in models for f in m.model_fields})


def _describe(err: Any) -> str:
    loc = ""
    for part in err["loc"]:
        if isinstance(part, int):
            loc += f"[{part}]"
        elif part in ("continuous", "integer", "categorical"):
            continue
        else:
            loc += ("." if loc else "") + str(part)
    msg = err["msg"].removeprefix("Value error, ")
    fix = _FIXES.get(err["type"])
    if err["type"] == "extra_forbidden" and err["loc"]:
        close = closest(str(err["loc"][-1]), _all_field_names())
        if close:
            fix = f"did you mean {close[0]!r}? Otherwise remove this field"
    text = f"{loc or '(top level)'}: {msg}"
    if fix and "Hint:" not in msg:
        text += f". Hint: {fix}."
    return text
