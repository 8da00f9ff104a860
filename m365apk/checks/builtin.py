"""The built-in check catalogue, grouped by area."""

from dataclasses import replace

from m365apk.checks import (
    admin_hygiene,
    app_credentials,
    audit,
    audit_probe,
    backup,
    ca_baseline,
    devices,
    directory,
    email,
    inbox_rules,
    mail,
    methods_policy,
    mfa_enforcement,
    password,
    pim,
    sharepoint,
    surface,
)
from m365apk.checks.admin_roles import GA_COUNT
from m365apk.checks.base import Check
from m365apk.checks.methods_migration import MIGRATION
from m365apk.checks.mfa import REGISTRATION

_EFFORT = {
    "klein": (
        "mfa.weak_methods_disabled",
        "mfa.authenticator_context",
        "password.admin_sspr_disabled",
        "apps.user_app_registration",
        "apps.user_consent",
        "apps.admin_consent_workflow",
        "password.expiry",
        "surface.guest_invites",
        "surface.guest_access",
        "surface.self_service_signup",
        "surface.external_sharing",
        "password.banned_list",
        "admin.service_principals_privileged",
        "apps.user_consented_risky",
    ),
    "groot": (
        "mfa.registration_coverage",
        "backup.coverage",
        "devices.outdated_os",
        "admin.separate_admin_accounts",
        "admin.standing_access",
        "devices.encryption",
        "devices.compliance",
        "surface.stale_accounts",
    ),
}


def _with_effort(check: Check) -> Check:
    for effort, ids in _EFFORT.items():
        if check.id in ids:
            return replace(check, effort=effort)
    return check


BUILTIN_CHECKS: tuple[Check, ...] = tuple(
    _with_effort(c)
    for c in (
        REGISTRATION,
        *mfa_enforcement.CHECKS,
        MIGRATION,
        *methods_policy.CHECKS,
        GA_COUNT,
        *admin_hygiene.CHECKS,
        *password.CHECKS,
        *audit.CHECKS,
        *backup.CHECKS,
        *surface.CHECKS,
        *sharepoint.CHECKS,
        *devices.CHECKS,
        *email.CHECKS,
        *mail.CHECKS,
        *inbox_rules.CHECKS,
        *directory.CHECKS,
        *pim.CHECKS,
        *app_credentials.CHECKS,
        *audit_probe.CHECKS,
        *ca_baseline.CHECKS,
    )
)
