"""Publish a campaign's results as a FAIR data package.

The package holds two resources: ``measurements`` (one row per measured well: recipe,
descriptors, targets, status and provenance) and ``failed_syntheses`` (wells whose synthesis
failed: the recipe and provenance; negative results are data). Row IDs are a hash of campaign,
batch and well, so re-publishing gives every well the same ID; re-publishing unchanged data gives
byte-identical files.

Example::

    result = publish_campaign(store, "hc-2026", Path("out/hc-2026"),
                              contributors=[parse_contributor("Ana Lima <ana@lab.org>")])
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from campaigns.audit import record
from campaigns.auth import require
from campaigns.errors import CampaignError
from campaigns.shared_dataset.package import ResourceData, write_package
from campaigns.shared_dataset.schema import (
    CITATION_KEY,
    DOMAIN_KEY,
    FAILED_SYNTHESES,
    MEASUREMENTS,
    PROVENANCE,
    ROW_ID,
    FieldSpec,
    infer_domain,
    licence_descriptor,
    package_name,
    provenance_field,
    row_id,
    science_field,
)

if TYPE_CHECKING:
    from campaigns.store import Store

#: Provenance columns of a published campaign, in file order.
CAMPAIGN_PROVENANCE = ("campaign", "batch_id", "iso_week", "well", "role", "candidate_id",
                       "status", "operator", "instrument", "measured_at", "generator", "seed",
                       "data_revision", "model", "acquisition", "model_info", "source_file",
                       "source_file_sha256")
_EMAIL = re.compile(r"^(?P<name>[^<]*?)\s*<(?P<email>[^>]+)>\s*$")


@dataclass(frozen=True)
class PublishResult:
    """What :func:`publish_campaign` wrote."""

    path: Path
    """The ``datapackage.json``."""
    n_measurements: int
    """Rows of the ``measurements`` resource."""
    n_failed: int
    """Rows of the ``failed_syntheses`` resource."""
    licence: str
    """SPDX identifier of the licence."""
    contributors: tuple[dict[str, Any], ...]
    """Contributors written into the package."""


def parse_contributor(text: str, role: str = "author") -> dict[str, Any]:
    """A Data Package contributor from ``"Name <email>"`` or ``"Name"``.

    >>> parse_contributor("Ana Lima <ana@lab.org>")
    {'title': 'Ana Lima', 'roles': ['author'], 'email': 'ana@lab.org'}
    """
    m = _EMAIL.match(text.strip())
    if m:
        return {"title": m["name"] or m["email"], "roles": [role], "email": m["email"].strip()}
    if not text.strip():
        raise CampaignError("a contributor needs a name.", hint='Write "Name <email>".')
    return {"title": text.strip(), "roles": [role]}


def campaign_frames(store: Store, campaign: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The two tables of a campaign's package: measured wells and failed syntheses.

    Both have ``row_id``, the provenance columns of :data:`CAMPAIGN_PROVENANCE` and the
    campaign's inputs; ``measurements`` also has every descriptor and target.
    """
    spec = store.spec(campaign)
    frame = store.export_frame(campaign)
    if frame.empty:
        raise CampaignError(f"campaign {campaign!r} has no measured wells to publish.",
                            hint="Upload results first: planner ingest FILE --campaign "
                            f"{campaign}.")
    frame = frame.copy()
    info = {b.id: b.model_info for b in store.batches(campaign, include_discarded=True)}
    frame["campaign"] = campaign
    frame["row_id"] = [row_id(campaign, b, w) for b, w in zip(frame["batch_id"], frame["well"],
                                                               strict=True)]
    frame["model_info"] = [dict(info.get(int(b)) or {}) for b in frame["batch_id"]]
    frame["model"] = [_pick(i, "surrogate", "model") for i in frame["model_info"]]
    frame["acquisition"] = [_pick(i, "acquisition", "acqf") for i in frame["model_info"]]
    outputs = [n for n in spec.output_names if n not in spec.input_names]
    cols = ["row_id", *CAMPAIGN_PROVENANCE, *spec.input_names, *outputs]
    frame = frame.reindex(columns=cols)
    failed = frame["status"] == "failed_synthesis"
    keep = ["row_id", *CAMPAIGN_PROVENANCE, *spec.input_names]
    return (frame[~failed].reset_index(drop=True),
            frame.loc[failed, keep].reset_index(drop=True))


def _pick(info: dict[str, Any], *keys: str) -> str | None:
    for k in keys:
        if info.get(k):
            return str(info[k])
    return None


def campaign_fields(store: Store, campaign: str) -> tuple[FieldSpec, ...]:
    """Field descriptions of a campaign's ``measurements`` resource, units as stored."""
    spec = store.spec(campaign)
    meas = store.measurements(campaign)
    stored_units = (meas.dropna(subset=["value"]).groupby("quantity")["unit"].first().to_dict()
                    if not meas.empty else {})
    levels = {p.name: p.levels for p in spec.parameters if p.kind == "categorical"}
    units = {p.name: p.unit for p in spec.parameters if p.kind != "categorical" and p.unit}
    fields = [ROW_ID, *(provenance_field(n) for n in CAMPAIGN_PROVENANCE)]
    for name in spec.input_names:
        fields.append(science_field(name, "input", unit=units.get(name), levels=levels.get(name)))
    descriptors = {d.name for d in spec.descriptors}
    for name in [n for n in spec.output_names if n not in spec.input_names]:
        role = "descriptor" if name in descriptors else "target"
        fields.append(science_field(name, role, unit=stored_units.get(name) or None))
    return tuple(fields)


def publish_campaign(store: Store, campaign: str, out_dir: Path, *,
                     licence: str = "CC-BY-4.0", contributors: Sequence[dict[str, Any]] = (),
                     title: str | None = None, citation: str | None = None,
                     actor: str = "") -> PublishResult:
    """Write a campaign's measured wells and failed syntheses as a validated data package.

    Args:
        store: Open campaign store.
        campaign: Campaign name.
        out_dir: Folder for ``datapackage.json``, ``measurements.csv``, ``failed_syntheses.csv``.
        licence: SPDX identifier (``CC-BY-4.0``, ``CC0-1.0`` …).
        contributors: Data Package contributors (see :func:`parse_contributor`); the campaign
            owner and every operator in the data are added.
        title: Package title (default: from the campaign).
        citation: How to cite the data (a paper, a DOI).
        actor: Who publishes, for the audit log (when the database has user accounts, the
            store's signed-in user, who must be an owner of the campaign).

    Returns:
        Where the package is and what it holds.

    Raises:
        AccessDenied: the database has user accounts and the store's user is not an owner of
            the campaign; nothing was written.
    """
    require(store, campaign, "owner", what="publish the data")
    spec = store.spec(campaign)
    lic = licence_descriptor(licence)
    measured, failed = campaign_frames(store, campaign)
    fields = campaign_fields(store, campaign)
    failed_fields = tuple(f for f in fields if f.role in ("id", "provenance", "input"))
    people = _contributors(spec.owner, contributors,
                           pd.concat([measured["operator"], failed["operator"]]))
    meas = store.measurements(campaign)
    created = (pd.Timestamp(meas["ingested_at"].max()).to_pydatetime() if not meas.empty
               else datetime.now(UTC))
    revision = int(meas["measurement_id"].max()) if not meas.empty else 0
    domain = infer_domain([*spec.input_names, *spec.output_names])
    path = write_package(
        out_dir, name=package_name(campaign), title=title or f"Campaign {campaign}",
        description=(spec.description or f"Results of campaign {campaign}.") + (
            " Published with battery-bo-planner: one row per measured well, values in the "
            "units of each field's `unit` property; failed syntheses in their own resource."),
        resources=[
            ResourceData(MEASUREMENTS, measured, fields,
                         "One row per measured well: recipe, descriptors, targets, provenance."),
            ResourceData(FAILED_SYNTHESES, failed, failed_fields,
                         "Wells whose synthesis failed: the recipe and provenance."),
        ],
        licence=lic, contributors=people, created=created,
        custom={DOMAIN_KEY: domain, "planner:campaign": campaign,
                "planner:data_revision": revision, "planner:spec": spec.to_dict(),
                **({CITATION_KEY: citation} if citation else {}),
                "keywords": ["battery materials", domain, "Bayesian optimization"]},
    )
    record(store, "campaign.publish", campaign=campaign, role="owner", what="publish the data",
           actor=actor, detail={"path": str(path), "licence": lic["name"],
                                "measured": len(measured), "failed": len(failed),
                                "data_revision": revision})
    return PublishResult(path, len(measured), len(failed), lic["name"], tuple(people))


def _contributors(owner: str, given: Sequence[dict[str, Any]],
                  operators: pd.Series) -> list[dict[str, Any]]:
    people = [dict(c) for c in given]
    names = {c["title"] for c in people}
    if owner and owner not in names:
        people.append(parse_contributor(owner, "author"))
        names.add(people[-1]["title"])
    for op in sorted({str(o) for o in operators.dropna() if str(o).strip()}):
        if op not in names:
            people.append({"title": op, "roles": ["contributor"]})
            names.add(op)
    return people


__all__ = ["CAMPAIGN_PROVENANCE", "PROVENANCE", "PublishResult", "campaign_fields",
           "campaign_frames", "parse_contributor", "publish_campaign"]
