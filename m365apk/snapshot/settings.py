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
      - application: 0000000a-0000-0000-c000-000000000000   # app id uit excludeApplications
        reason: Intune-inschrijving, Microsoft-advies
        expires: 2027-08-01                     # optioneel; daarna telt de uitzondering niet
      - role: d29b2b05-8046-44ba-8758-1e26182fcf32  # rol-template-id uit excludeRoles
        reason: Directory Synchronization Accounts (Entra Connect)
      - guests_or_external: b2bDirectConnectUser  # gast-/externe gebruikerstype(n), komma's
        reason: Teams-gedeelde kanalen met het samenwerkingsverband
    populations:
      - user: conciërge@school.nl
        population: staff                       # staff | student | guest | other

The settings are stored in the snapshot, so re-evaluating a snapshot gives the same verdicts;
`m365apk evaluate --tenant-config` can replace them.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError, model_validator

from m365apk.errors import ConfigError

# Graph's guest-or-external-user types (conditionalAccessGuestsOrExternalUsers).
GUEST_TYPES = frozenset(
    {
        "internalGuest",
        "b2bCollaborationGuest",
        "b2bCollaborationMember",
        "b2bDirectConnectUser",
        "otherExternalUser",
        "serviceProvider",
    }
)


class Approved(BaseModel):
    """One approved exclusion from conditional access: a user, a group, an application or
    guest/external user types, each with a reason and optionally an end date."""

    model_config = ConfigDict(extra="forbid")

    user: str | None = None  # UPN or object id
    group: str | None = None  # object id
    application: str | None = None  # app id as in excludeApplications (or Office365, ...)
    role: str | None = None  # role template id as in excludeRoles (e.g. Directory Sync Accounts)
    guests_or_external: str | None = None  # e.g. "b2bDirectConnectUser,serviceProvider"
    reason: str
    expires: date | None = None  # after this date (compared with the scan date) it counts no more

    @model_validator(mode="after")
    def _one_target(self) -> Approved:
        given = [self.user, self.group, self.application, self.role, self.guests_or_external]
        if sum(bool(v) for v in given) != 1:
            raise ValueError(
                "geef precies één van user, group, application, role of guests_or_external"
            )
        if self.guests_or_external:
            unknown = set(self.types) - GUEST_TYPES
            if unknown:
                raise ValueError(
                    f"onbekend gast-/extern gebruikerstype {', '.join(sorted(unknown))}; "
                    f"geldig: {', '.join(sorted(GUEST_TYPES))}"
                )
        return self

    @property
    def types(self) -> list[str]:
        return [t.strip() for t in (self.guests_or_external or "").split(",") if t.strip()]


class BreakGlass(BaseModel):
    """A break-glass (emergency access) account, or a group holding them. A group takes effect:
    its exclusion from conditional access is approved, and its members (when the scan could
    read them) count as break-glass accounts."""

    model_config = ConfigDict(extra="forbid")

    user: str | None = None  # UPN or object id
    group: str | None = None  # object id
    reason: str

    @model_validator(mode="after")
    def _one_target(self) -> BreakGlass:
        if bool(self.user) == bool(self.group):
            raise ValueError(
                "geef precies één van user (UPN of object-id van het noodaccount) of group "
                "(object-id van de groep met noodaccounts)"
            )
        return self


class PopulationOverride(BaseModel):
    model_config = ConfigDict(extra="forbid")

    user: str  # UPN or object id
    population: Literal["staff", "student", "guest", "other"]


class TenantSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    break_glass: list[BreakGlass] = []
    approved_exclusions: list[Approved] = []
    populations: list[PopulationOverride] = []


def load_settings(path: Path) -> TenantSettings:
    if not path.is_file():
        raise ConfigError(f"tenant-instellingen niet gevonden: {path}")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        return TenantSettings.model_validate(data)
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: geen geldige YAML ({str(exc).splitlines()[0]})") from None
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise ConfigError(f"{path}: {where}: {first['msg']}") from None
