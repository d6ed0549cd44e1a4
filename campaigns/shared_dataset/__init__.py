"""The shared open dataset: publish campaigns as FAIR data packages, pull other labs' packages.

* :func:`publish_campaign` writes a campaign as a Frictionless Data Package (validated);
* :func:`read_package` validates another lab's package and maps it to registry units;
* :class:`SharedDataset` stores pulled packages in the campaign database, de-duplicated;
* :func:`seed_calisol23` loads the cleaned CALiSol-23 electrolyte data set as the first source.

Example::

    store = Store.open(url)
    publish_campaign(store, "hc-2026", Path("out/hc-2026"))
    SharedDataset(store.engine).pull(Path("other-lab/"), name="lab-b")
"""

from __future__ import annotations

from campaigns.shared_dataset.dataset import PriorRows, PullResult, SharedDataset, SourceInfo
from campaigns.shared_dataset.errors import (
    LicenceError,
    PackageError,
    SourceConflictError,
    UnitError,
)
from campaigns.shared_dataset.package import validate_package
from campaigns.shared_dataset.publish import PublishResult, parse_contributor, publish_campaign
from campaigns.shared_dataset.reader import PackageContents, read_package

__all__ = [
    "LicenceError",
    "PackageContents",
    "PackageError",
    "PriorRows",
    "PublishResult",
    "PullResult",
    "SharedDataset",
    "SourceConflictError",
    "SourceInfo",
    "UnitError",
    "parse_contributor",
    "publish_campaign",
    "read_package",
    "validate_package",
]
