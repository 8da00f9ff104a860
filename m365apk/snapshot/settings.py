"""Per-tenant settings a school or its provider records once: which accounts are break-glass,
which conditional-access exclusions are approved (each with a reason), and who is who where
licences do not tell (population overrides).

    # tenant-instellingen.yaml
    break_glass:
      - user: bg-01@school.onmicrosoft.com      # UPN or object id
        reason: Noodaccount, wachtwoord in de kluis bij de directeur
    approved_exclusions:                        # each needs an owner and an end date
      - group: 4f0c...                          # object id (or user: UPN/id)
        reason: Examenlaptops, eigen beveiliging
        owner: J. de Boer (ICT-coördinator)
        expires: 2027-08-01                     # daarna telt de uitzondering niet
      - application: 0000000a-0000-0000-c000-000000000000   # app id uit excludeApplications
        reason: Intune-inschrijving, Microsoft-advies
        owner: M. Jansen (ICT Partner)
        expires: 2027-08-01
      - role: d29b2b05-8046-44ba-8758-1e26182fcf32  # rol-template-id uit excludeRoles
        reason: Directory Synchronization Accounts (Entra Connect)
        owner: M. Jansen (ICT Partner)
        expires: 2027-08-01
      - guests_or_external: b2bDirectConnectUser  # gast-/externe gebruikerstype(n), komma's
        reason: Teams-gedeelde kanalen met het samenwerkingsverband
        owner: J. de Boer (ICT-coördinator)
        expires: 2027-08-01
    populations:
      - user: conciërge@school.nl
        population: staff                       # staff | student | guest | other

The settings are stored in the snapshot, so re-evaluating a snapshot gives the same verdicts;
`m365apk evaluate --tenant-config` can replace them.

They are trusted only within bounds (design.md; checks/trust.py): an approval counts only with an
owner and an end date that has not passed, and never when it covers the population a check
judges; a break-glass entry counts only when the account looks like an emergency account. An
older file without `owner` or `expires` still reads: such an approval is ignored, and every
result it would have changed says so.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, ValidationError, model_validator

from m365apk.errors import ConfigError
from m365apk.snapshot.files import first_error, read_yaml

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
    """One approved exclusion from conditional access: a user, a group, an application, a role or
    guest/external user types, each with a reason, an owner (who answers for it) and an end
    date. Both are optional here so that older files still read; an approval without them does
    not count (checks/trust.py says why in the result)."""

    model_config = ConfigDict(extra="forbid")

    user: str | None = None  # UPN or object id
    group: str | None = None  # object id
    application: str | None = None  # app id as in excludeApplications (or Office365, ...)
    role: str | None = None  # role template id as in excludeRoles (e.g. Directory Sync Accounts)
    guests_or_external: str | None = None  # e.g. "b2bDirectConnectUser,serviceProvider"
    reason: str
    owner: str | None = None  # who answers for it (a name, a role): required for it to count
    expires: date | None = None  # after this date (compared with the scan date) it counts no more

    @property
    def target(self) -> str:
        """The approved target as written in the file (tenant data, never translated)."""
        return str(
            self.user or self.group or self.application or self.role or self.guests_or_external
        )

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
    if not path.exists():
        raise ConfigError(f"tenant-instellingen niet gevonden: {path}")
    data = read_yaml(path) or {}
    try:
        return TenantSettings.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(f"{path}: {first_error(exc)}") from None
