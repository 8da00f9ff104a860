"""CISA SCuBA's baselines as data (Entra ID, SharePoint and OneDrive): every policy and what in
m365apk covers it."""

from __future__ import annotations

from functools import cache
from importlib import resources

import yaml
from pydantic import BaseModel, ConfigDict, model_validator


class ScubaPolicy(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str
    requirement: str
    checks: tuple[str, ...] = ()
    manual: tuple[str, ...] = ()
    gap: str | None = None  # not covered yet, and why
    out_of_scope: str | None = None
    # The Graph v1.0 properties a check reads for it, or why Graph does not hold what the
    # policy needs (the setting it names, where else it is read).
    graph: str | None = None
    # Taken out of the baseline (removedpolicies.md): when and why; not counted.
    removed: str | None = None

    @model_validator(mode="after")
    def _says_something(self) -> ScubaPolicy:
        if not (self.checks or self.manual or self.gap or self.out_of_scope or self.removed):
            raise ValueError(f"{self.id}: geef checks, manual, gap, out_of_scope of removed")
        return self

    @property
    def covered(self) -> bool:
        return bool(self.checks or self.manual)


class ScubaBaseline(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    source: str
    policies: tuple[ScubaPolicy, ...]

    def for_check(self, check_id: str) -> list[str]:
        return [p.id for p in self.policies if check_id in p.checks]

    @property
    def current(self) -> tuple[ScubaPolicy, ...]:
        """The policies in the baseline today (not removed)."""
        return tuple(p for p in self.policies if p.removed is None)

    def summary(self) -> dict[str, int]:
        """The coverage of the current policies; removed ones are counted apart."""
        current = self.current
        return {
            "totaal": len(current),
            "gedekt": sum(p.covered for p in current),
            "als_controle": sum(bool(p.checks) for p in current),
            "alleen_handmatig": sum(bool(p.manual) and not p.checks for p in current),
            "buiten_scope": sum(p.out_of_scope is not None for p in current),
            "nog_niet": sum(p.gap is not None for p in current),
            "vervallen": len(self.policies) - len(current),
        }


def _baseline(name: str) -> ScubaBaseline:
    text = (resources.files("m365apk.mappings") / name).read_text("utf-8")
    return ScubaBaseline.model_validate(yaml.safe_load(text))


@cache
def scuba_aad() -> ScubaBaseline:
    return _baseline("scuba_aad.yaml")


@cache
def scuba_sharepoint() -> ScubaBaseline:
    return _baseline("scuba_sharepoint.yaml")


def scuba_ids(check_id: str) -> list[str]:
    """The SCuBA policies (every baseline) a check covers."""
    return scuba_aad().for_check(check_id) + scuba_sharepoint().for_check(check_id)
