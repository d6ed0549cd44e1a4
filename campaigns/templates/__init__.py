"""Campaign templates shipped with the planner: ``hard-carbon`` and ``electrolyte``."""

from __future__ import annotations

from importlib import resources

from campaigns.errors import SpecError
from campaigns.hints import did_you_mean
from campaigns.spec import CampaignSpec

TEMPLATES = ("hard-carbon", "electrolyte")


def template_text(template: str) -> str:
    """The YAML text of a shipped template."""
    if template not in TEMPLATES:
        mean = did_you_mean(template, TEMPLATES)
        raise SpecError(
            f"unknown template {template!r}.",
            hint=(f"{mean} " if mean else "") + f"Templates: {', '.join(TEMPLATES)}.",
        )
    return resources.files(__package__).joinpath(f"{template}.yaml").read_text(encoding="utf-8")


def load_template(template: str, *, name: str | None = None) -> CampaignSpec:
    """A template's spec, renamed to ``name`` if given."""
    spec = CampaignSpec.from_yaml(template_text(template), source=f"template {template}")
    if name is not None:
        spec = CampaignSpec.from_dict({**spec.to_dict(), "name": name}, source="campaign name")
    return spec
