"""The provider's tenants file: every school it scans, and how to sign in to each.

    # tenants.yaml
    output: ./apk                    # one folder per tenant below this
    history: ./apk/history.sqlite
    concurrency: 16                  # tenants scanned at the same time
    processes: 2                     # worker processes sharing them (default: one per core)
    deadline_seconds: 1800           # per tenant; what is unread by then: niet vastgesteld
    mail_rules: false                # true: read every mailbox's inbox rules (MailboxSettings.Read)
    defaults:
      client_id: 11111111-2222-3333-4444-555555555555
      credential: {certificate: /secrets/m365apk.pem}
    tenants:
      - name: OBS De Regenboog
        tenant_id: 6f1c2b9e-3d4a-4e5f-8a7b-1c2d3e4f5a6b
        school_type: po               # po | vo | so | mbo | bestuur
        contact: ict@obsderegenboog.nl
        credential: {client_secret_env: REGENBOOG_SECRET}   # optional, overrides defaults
        tenant_config: instellingen/regenboog.yaml           # optional, see --tenant-config
        action_plan: actieplannen/regenboog.xlsx             # optional, last year's filled-in plan
        mail_rules: true                                     # optional, overrides the file's

Secrets never live here: a credential names a certificate file or an environment variable.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from m365apk.errors import ConfigError
from m365apk.scanner.graph import DEFAULT_DEADLINE_SECONDS
from m365apk.snapshot.files import first_error, read_yaml

GUID = re.compile(r"^[0-9a-fA-F]{8}-([0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}$")


class Credential(BaseModel):
    model_config = ConfigDict(extra="forbid")

    certificate: Path | None = None
    certificate_password_env: str | None = None
    client_secret_env: str | None = None
    managed_identity: bool = False

    @model_validator(mode="after")
    def _exactly_one(self) -> Credential:
        chosen = [bool(self.certificate), bool(self.client_secret_env), self.managed_identity]
        if sum(chosen) != 1:
            raise ValueError(
                "kies precies één van certificate, client_secret_env, managed_identity"
            )
        return self


class Defaults(BaseModel):
    model_config = ConfigDict(extra="forbid")

    client_id: str | None = None
    credential: Credential | None = None


class TenantEntry(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1)
    tenant_id: str
    school_type: Literal["po", "vo", "so", "mbo", "bestuur"] | None = None
    contact: str | None = None
    client_id: str | None = None
    credential: Credential | None = None
    tenant_config: Path | None = None
    exceptions: Path | None = None
    attestations: Path | None = None
    # Last year's filled-in actieplan (.csv or .xlsx): the report shows what was planned and
    # what is now resolved, as `scan --action-plan` does.
    action_plan: Path | None = None
    # Read this school's inbox rules (forwarding outside the school); unset: the file's
    # `mail_rules`.
    mail_rules: bool | None = None

    @field_validator("tenant_id")
    @classmethod
    def _guid(cls, value: str) -> str:
        if not GUID.match(value):
            raise ValueError(f"geen GUID: {value!r}")
        return value.lower()

    @property
    def folder_name(self) -> str:
        """A safe, stable folder name: readable school name plus the tenant id's start."""
        slug = re.sub(r"[^a-z0-9]+", "-", self.name.lower()).strip("-")[:40] or "tenant"
        return f"{slug}-{self.tenant_id[:8]}"


class TenantsFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    output: Path = Path("apk")
    history: Path | None = None
    # Tenants in flight: most of a tenant's scan waits on Graph's pacing (benchmarks/
    # sector_benchmark.py: at 16 on 2 cores the machine is busy; 32 was slower, 4,150 boards
    # an hour against 5,400).
    concurrency: int = Field(default=16, ge=1, le=64)
    # Worker processes sharing `concurrency` (runs/workers.py); unset: one per usable core
    # when there are enough tenants.
    processes: int | None = Field(default=None, ge=1, le=64)
    # Per tenant: what is still unread after this many seconds is "niet vastgesteld".
    deadline_seconds: float = Field(default=DEFAULT_DEADLINE_SECONDS, gt=0)
    # Opt-in: read every mailbox's inbox rules (`--mail-rules`; MailboxSettings.Read), per
    # tenant overridable. Off: the inbox-rules check says it was not asked.
    mail_rules: bool = False
    defaults: Defaults = Field(default_factory=Defaults)
    tenants: list[TenantEntry] = Field(min_length=1)
    # For the simulator and tests only: where Graph and the token endpoint are (loopback).
    graph_url: str | None = None
    login_url: str | None = None  # http: the demo's stand-in; https: azure-identity's own
    login_ca: Path | None = None  # the CA of an https login_url (the simulator's throwaway CA)

    @model_validator(mode="after")
    def _unique_and_complete(self) -> TenantsFile:
        seen: set[str] = set()
        for i, t in enumerate(self.tenants):
            if t.tenant_id in seen:
                raise ValueError(f"tenants[{i}] ({t.name}): tenant_id komt dubbel voor")
            seen.add(t.tenant_id)
            if not (t.client_id or self.defaults.client_id):
                raise ValueError(f"tenants[{i}] ({t.name}): geen client_id (ook niet in defaults)")
            if not (t.credential or self.defaults.credential):
                raise ValueError(f"tenants[{i}] ({t.name}): geen credential (ook niet in defaults)")
        return self

    @property
    def history_path(self) -> Path:
        return self.history or self.output / "history.sqlite"

    def client_id(self, tenant: TenantEntry) -> str:
        return tenant.client_id or self.defaults.client_id or ""

    def mail_rules_for(self, tenant: TenantEntry) -> bool:
        return self.mail_rules if tenant.mail_rules is None else tenant.mail_rules

    def credential(self, tenant: TenantEntry) -> Credential:
        found = tenant.credential or self.defaults.credential
        assert found is not None  # guaranteed by validation
        return found


def load_tenants(path: Path) -> TenantsFile:
    if not path.exists():
        raise ConfigError(f"tenantsbestand niet gevonden: {path}")
    data = read_yaml(path)
    if data is not None and not isinstance(data, dict):
        raise ConfigError(f"{path}: verwacht een YAML-mapping met onder meer tenants:")
    try:
        parsed = TenantsFile.model_validate(data or {})
    except ValidationError as exc:
        raise ConfigError(f"{path}: {first_error(exc)}") from None
    base = path.parent
    # Relative paths are relative to the tenants file, not to where the command runs.
    updates = {"output": base / parsed.output}
    if parsed.history:
        updates["history"] = base / parsed.history
    parsed = parsed.model_copy(update=updates)
    for tenant in parsed.tenants:
        for field in ("tenant_config", "exceptions", "attestations", "action_plan"):
            value = getattr(tenant, field)
            if value is not None and not value.is_absolute():
                setattr(tenant, field, base / value)
    return parsed
