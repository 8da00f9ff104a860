"""Licence facts from /subscribedSkus, decided by service-plan id (not SKU name), as Maester does.

Service-plan ids: Microsoft Entra licensing service-plan reference
(https://learn.microsoft.com/entra/identity/users/licensing-service-plan-reference).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from m365apk.snapshot import LicenceSummary

AAD_PREMIUM_P2 = "eec0eb4f-6444-4f95-aba0-50c24d67f998"
ENTRA_GOVERNANCE = "e866a266-3cff-43a3-acca-0c90a7e00c8b"
AAD_PREMIUM_P1 = "41781fb2-bc02-4b7c-bd55-b576c07bb09d"
INTUNE_A = "c1ec4a95-1f05-45b3-a911-aa3fa01094f5"
INTUNE_EDU = "da24caf9-af8e-485c-b7c8-e73336da2693"


def _enabled(skus: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    # Maester counts only SKUs whose capabilityStatus is Enabled; suspended or warning SKUs
    # no longer grant features reliably.
    return [s for s in skus if s.get("capabilityStatus") == "Enabled"]


def summarise(skus: list[dict[str, Any]] | None) -> LicenceSummary:
    if skus is None:
        return LicenceSummary(known=False)
    enabled = _enabled(skus)
    plans = {p["servicePlanId"] for s in enabled for p in s.get("servicePlans") or []}
    if AAD_PREMIUM_P2 in plans or ENTRA_GOVERNANCE in plans:
        entra = "p2"
    elif AAD_PREMIUM_P1 in plans:
        entra = "p1"
    else:
        entra = "free"
    return LicenceSummary(
        known=True,
        entra_plan=entra,
        intune=bool(plans & {INTUNE_A, INTUNE_EDU}),
        skus=sorted({s.get("skuPartNumber") or s["skuId"] for s in enabled}),
    )


def audience_by_sku(skus: list[dict[str, Any]]) -> dict[str, str]:
    """skuId -> 'staff' | 'student' for education SKUs (part number names the audience)."""
    audience: dict[str, str] = {}
    for sku in skus:
        part = (sku.get("skuPartNumber") or "").upper()
        if "STUDENT" in part or "STUUSEBNFT" in part:
            audience[sku["skuId"]] = "student"
        elif "FACULTY" in part or "_FAC" in part:
            audience[sku["skuId"]] = "staff"
    return audience
