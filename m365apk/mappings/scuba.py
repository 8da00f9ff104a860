"""CISA SCuBA's Entra ID baseline as data: every policy and what in m365apk covers it."""

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

    @model_validator(mode="after")
    def _says_something(self) -> ScubaPolicy:
        if not (self.checks or self.manual or self.gap or self.out_of_scope):
            raise ValueError(f"{self.id}: geef checks, manual, gap of out_of_scope")
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

    def summary(self) -> dict[str, int]:
        return {
            "totaal": len(self.policies),
            "gedekt": sum(p.covered for p in self.policies),
            "als_controle": sum(bool(p.checks) for p in self.policies),
            "alleen_handmatig": sum(bool(p.manual) and not p.checks for p in self.policies),
            "buiten_scope": sum(p.out_of_scope is not None for p in self.policies),
            "nog_niet": sum(p.gap is not None for p in self.policies),
        }


@cache
def scuba_aad() -> ScubaBaseline:
    text = (resources.files("m365apk.mappings") / "scuba_aad.yaml").read_text("utf-8")
    return ScubaBaseline.model_validate(yaml.safe_load(text))
