"""Per-tenant settings a school or its provider records once: which accounts are break-glass,
which conditional-access exclusions are approved (each with a reason), and who is who where
licences do not tell (population overrides).

    # tenant-instellingen.yaml
    break_glass:
      - user: bg-01@school.onmicrosoft.com      # UPN or object id
        reason: Noodaccount, wachtwoord in de kluis bij de directeur
    approved_exclusions:
      - group: 4f0c...                          # object id (or user: UPN/id)
        reason: Examenlaptops, eigen beveiliging
    populations:
      - user: conciërge@school.nl
        population: staff                       # staff | student | guest | other

The settings are stored in the snapshot, so re-evaluating a snapshot gives the same verdicts;
`m365apk evaluate --tenant-config` can replace them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, ValidationError, model_validator

from m365apk.errors import ConfigError
from m365apk.snapshot.files import first_error, read_yaml


class Approved(BaseModel):
    model_config = ConfigDict(extra="forbid")

    user: str | None = None  # UPN or object id
    group: str | None = None  # object id
    reason: str

    @model_validator(mode="after")
    def _one_target(self) -> Approved:
        if bool(self.user) == bool(self.group):
            raise ValueError("geef precies één van user of group")
        return self


class PopulationOverride(BaseModel):
    model_config = ConfigDict(extra="forbid")

    user: str  # UPN or object id
    population: Literal["staff", "student", "guest", "other"]


class TenantSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    break_glass: list[Approved] = []
    approved_exclusions: list[Approved] = []
    populations: list[PopulationOverride] = []


def load_settings(path: Path) -> TenantSettings:
    if not path.exists():
        raise ConfigError(f"tenant-instellingen niet gevonden: {path}")
    data = read_yaml(path) or {}
    try:
        return TenantSettings.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(f"{path}: {first_error(exc)}") from None
