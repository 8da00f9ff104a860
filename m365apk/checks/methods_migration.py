"""Basismaatregel 9: is the authentication methods policy the only one that counts?

Until the migration from the legacy MFA and SSPR policies is complete (policyMigrationState
`migrationComplete`), Entra still honours the methods those legacy policies allow, next to the
authentication methods policy: switching SMS off in the new policy then does not switch it off.
Since 30 September 2025 the legacy policies can no longer be edited, but a tenant that never
completed the migration keeps its legacy settings (Microsoft: "Manage migration"; CISA SCuBA
MS.AAD.3.4v1; EIDSCA AG01, which like ScubaGear also accepts an unset value).
"""

from __future__ import annotations

from datetime import date
from typing import Any

from m365apk.checks.base import Area, Check, CheckResult, Severity, Status, reads
from m365apk.checks.common import EIDSCA, SCUBA_AAD, make, parse_time, src
from m365apk.messages import Msg
from m365apk.snapshot import Snapshot

MIGRATION_DOCS = (
    "https://learn.microsoft.com/entra/identity/authentication/how-to-authentication-methods-manage"
)
DONE = ("migrationComplete", None)


def migration_state(snapshot: Snapshot) -> Any:
    return (snapshot.dataset("authenticationMethodsPolicy").data or {}).get("policyMigrationState")


def legacy_still_counts(snapshot: Snapshot) -> bool:
    """True while legacy MFA/SSPR policies may still allow methods (SMS, voice)."""
    return migration_state(snapshot) not in DONE


# Microsoft retired the legacy MFA and SSPR policies on 30 September 2025: a tenant created
# since has only the methods policy, and Graph leaves its migration state null (Maester #647,
# ScubaGear #1778). For an older tenant null says nothing.
LEGACY_RETIRED = date(2025, 10, 1)


def _created(snapshot: Snapshot) -> date | None:
    ds = snapshot.dataset("organization")
    orgs = ds.data if ds.ok and isinstance(ds.data, list) else []
    found = [parse_time(o.get("createdDateTime")) for o in orgs]
    return found[0].date() if found and found[0] else None


def evaluate_migration(snapshot: Snapshot) -> CheckResult:
    cid = MIGRATION.id
    state = migration_state(snapshot)
    threshold = "policyMigrationState = migrationComplete"
    if state == "migrationComplete":
        return make(cid, Status.PASS, threshold=threshold, measured=state)
    if state is None:
        created = _created(snapshot)
        if created is not None and created >= LEGACY_RETIRED:
            return make(
                cid, Status.PASS, Msg("mfa.methods_migration.new_tenant", date=str(created))
            )
        return make(cid, Status.UNKNOWN, Msg("mfa.methods_migration.no_state"), threshold=threshold)
    return make(
        cid,
        Status.PARTIAL if state == "migrationInProgress" else Status.FAIL,
        Msg("mfa.methods_migration.not_complete", state=str(state)),
        threshold=threshold,
        measured=state,
    )


MIGRATION = Check(
    id="mfa.methods_migration",
    reads=reads(
        properties={
            "authenticationMethodsPolicy": ("policyMigrationState",),
            "organization": ("createdDateTime",),
        },
        judges=("methods_policy",),
    ),
    area=Area.MFA,
    severity=Severity.MEDIUM,
    datasets=("authenticationMethodsPolicy",),
    # The tenant's creation date says what a missing migration state means.
    optional=("organization",),
    basismaatregelen=(9,),
    norms=("SM.02",),
    sources=(
        src("CISA SCuBA MS.AAD.3.4v1", SCUBA_AAD),
        src("EIDSCA AG01", EIDSCA),
        src("Microsoft: migrate MFA and SSPR policies", MIGRATION_DOCS),
    ),
    evaluate=evaluate_migration,
    effort="klein",
)

CHECKS = [MIGRATION]
