"""A frozen view of a campaign's data at one revision: what the planner and dashboard read."""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd

from campaigns.library_store import CandidateTable, FrameTable, LibraryTable
from campaigns.spec import CampaignSpec

MEASURED_STATUSES = ("ok", "failed_synthesis", "failed_cell", "outlier")


@dataclass(frozen=True)
class CampaignSnapshot:
    """Everything known about a campaign at data revision ``revision``.

    Attributes:
        spec: The campaign's spec.
        revision: Highest measurement id included (0 when nothing is measured yet); stored with
            every proposal so it can be reproduced.
        observations: One row per measured well: ``batch_id``, ``iso_week``, ``well``, ``role``,
            the input columns (``spec.input_names``), descriptor and target columns (latest
            non-superseded value, NaN if not measured), and ``status``: ``ok``,
            ``failed_synthesis`` (nothing was made: the recipe region may be infeasible),
            ``failed_cell`` (the material exists, the cell failed: no lesson about the recipe)
            or ``outlier`` (flagged by the lab). Control wells are included with role
            ``control``.
        pending: Proposed wells without any result yet: ``batch_id``, ``well``, ``role``, inputs.
        library: Candidate table in library mode (``candidate_id`` + inputs) when it is small
            enough to be database rows, else ``None``.
        library_table: A big library's columnar table (:class:`~campaigns.library_store.
            LibraryTable`, never read whole), else ``None``. :meth:`candidate_table` gives
            either one behind the same streaming interface.
    """

    spec: CampaignSpec
    revision: int
    observations: pd.DataFrame
    pending: pd.DataFrame
    library: pd.DataFrame | None = None
    batches: pd.DataFrame = field(default_factory=pd.DataFrame)
    """One row per batch: ``batch_id``, ``iso_week``, ``status``, ``generator``, ``created_at``."""
    library_table: LibraryTable | None = None
    """A big library's stored Parquet table (see :mod:`campaigns.library_store`)."""

    def candidate_table(self) -> CandidateTable | None:
        """The library, small or big, as a :class:`~campaigns.library_store.CandidateTable`
        (``None`` for a recipe campaign)."""
        if self.library_table is not None:
            return self.library_table
        if self.library is not None:
            return FrameTable.of(self.library, self.spec)
        return None

    def training_data(self, *, include_controls: bool = True) -> tuple[pd.DataFrame, pd.DataFrame]:
        """Inputs and targets of wells the models learn from.

        Only status ``ok`` rows; ``failed_cell`` and ``outlier`` rows are dropped without a
        lesson, ``failed_synthesis`` rows are used by the feasibility model instead
        (:meth:`synthesis_outcomes`).

        Returns:
            ``(X, Y)``: ``n x d`` inputs (``spec.input_names``) and ``n x t`` targets
            (``spec.targets`` names), same index.
        """
        obs = self.observations
        if obs.empty:
            return (pd.DataFrame(columns=self.spec.input_names),
                    pd.DataFrame(columns=[t.name for t in self.spec.targets]))
        mask = obs["status"] == "ok"
        if not include_controls:
            mask &= obs["role"] != "control"
        rows = obs[mask]
        return rows[self.spec.input_names], rows[[t.name for t in self.spec.targets]]

    def synthesis_outcomes(self) -> tuple[pd.DataFrame, pd.Series]:
        """Inputs and a success flag (1 = made, 0 = failed synthesis) for the feasibility model."""
        obs = self.observations
        keep = obs[obs["status"].isin(["ok", "failed_cell", "outlier", "failed_synthesis"])]
        return keep[self.spec.input_names], (keep["status"] != "failed_synthesis").astype(float)
