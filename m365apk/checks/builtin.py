"""The built-in check catalogue, grouped by area."""

from . import admin_hygiene, audit, backup, devices, mfa_enforcement, password, surface
from .admin_roles import GA_COUNT
from .base import Check
from .mfa import REGISTRATION

BUILTIN_CHECKS: tuple[Check, ...] = (
    REGISTRATION,
    *mfa_enforcement.CHECKS,
    GA_COUNT,
    *admin_hygiene.CHECKS,
    *password.CHECKS,
    *audit.CHECKS,
    *backup.CHECKS,
    *surface.CHECKS,
    *devices.CHECKS,
)
