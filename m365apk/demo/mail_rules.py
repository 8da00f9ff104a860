"""The simulated inbox rules: GET /users/{id}/mailFolders/inbox/messageRules (Graph v1.0 "List
rules", MailboxSettings.Read), for `--mail-rules`.

An account has an Exchange Online mailbox when one of its licences carries an Exchange plan
(EXCHANGE_S_STANDARD, EXCHANGE_S_ENTERPRISE) that is not disabled for it; any other account is
answered as Graph answers a user without a mailbox: 404 MailboxNotEnabledForRESTAPI. The rules
come from the profile (`inbox_rules`: UPN, with `{domain}` for the school's domain, -> the rules
as Graph returns them: name, conditions and all), so the collector's trimming is exercised on
whole answers.
"""

from __future__ import annotations

from functools import cached_property
from typing import TYPE_CHECKING, Any

from m365apk.demo.catalog import PLANS

if TYPE_CHECKING:
    from m365apk.demo.tenant import TenantData

EXCHANGE_PLANS = frozenset({PLANS["EXCHANGE_S_STANDARD"], PLANS["EXCHANGE_S_ENTERPRISE"]})
NO_MAILBOX = (
    404,
    "MailboxNotEnabledForRESTAPI",
    "The mailbox is either inactive, soft-deleted, or is hosted on-premise.",
)


def profile_inbox_rules(tenant: TenantData) -> dict[str, list[dict[str, Any]]]:
    """UPN (lower case) -> the mailbox's inbox rules, from the tenant's profile."""
    from m365apk.demo.tenant import _profile_data

    try:
        spec = _profile_data(tenant.name).get("inbox_rules", {})
    except ValueError:  # a tenant not built from a profile
        return {}
    return {
        upn.replace("{domain}", tenant.default_domain).lower(): [dict(r) for r in rules]
        for upn, rules in spec.items()
    }


class MailRules:
    """One tenant's mailboxes and their inbox rules."""

    def __init__(self, tenant: TenantData) -> None:
        self.tenant = tenant

    @cached_property
    def _exchange_skus(self) -> dict[str, set[str]]:
        """SKU id -> its Exchange plan ids."""
        return {
            s["skuId"]: {p["servicePlanId"] for p in s["servicePlans"]} & EXCHANGE_PLANS
            for s in self.tenant.subscribed_skus
        }

    @cached_property
    def _rules(self) -> dict[str, list[dict[str, Any]]]:
        by_upn = profile_inbox_rules(self.tenant)
        return {
            u["id"]: by_upn[u["userPrincipalName"].lower()]
            for u in self.tenant.users
            if (u.get("userPrincipalName") or "").lower() in by_upn
        }

    def has_mailbox(self, user: dict[str, Any]) -> bool:
        if user["id"] in self._rules:
            return True
        for licence in user.get("assignedLicenses") or []:
            plans = self._exchange_skus.get(licence.get("skuId"), set())
            if plans - set(licence.get("disabledPlans") or []):
                return True
        return False

    def rules(self, user_id: str) -> list[dict[str, Any]]:
        return self._rules.get(user_id, [])
