"""The built-in check catalogue."""

from .admin_roles import GA_COUNT
from .base import Check
from .mfa import REGISTRATION

BUILTIN_CHECKS: tuple[Check, ...] = (REGISTRATION, GA_COUNT)
