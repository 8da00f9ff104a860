"""Which users have a mailbox or a OneDrive, from their licences' service plans.

A plan counts only when it is in the user's licence and not switched off for that user
(assignedLicenses[].disabledPlans). Plan names: mappings/service_plans.yaml.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import cache
from importlib import resources
from types import MappingProxyType
from typing import Any

import yaml

from m365apk.checks.derived import per_snapshot
from m365apk.snapshot import Snapshot


@cache
def _plans() -> dict[str, frozenset[str]]:
    text = (resources.files("m365apk.mappings") / "service_plans.yaml").read_text("utf-8")
    data = yaml.safe_load(text)
    out = {k: frozenset(data[k]) for k in ("mailbox", "onedrive", "not_mailbox", "not_onedrive")}
    out.update({f"family_{k}": frozenset(v) for k, v in data["families"].items()})
    return out


def _unrecognised(names: set[str] | None, kind: str) -> bool:
    """Whether a licence's plans leave `kind` (mailbox, onedrive) unknown: a licence whose plans
    could not be read (None), or a plan of the family that is neither known to give it nor known
    not to (a plan Microsoft added after mappings/service_plans.yaml)."""
    if names is None:
        return True
    plans = _plans()
    known = plans[kind] | plans[f"not_{kind}"]
    prefixes = tuple(plans[f"family_{kind}"])
    return any(n.startswith(prefixes) and n not in known for n in names)


def _skus(snapshot: Snapshot) -> dict[str, dict[str, Any]]:
    return {s["skuId"]: s for s in snapshot.dataset("subscribedSkus").data or []}


def plan_names(user: dict[str, Any], skus: dict[str, dict[str, Any]]) -> set[str]:
    """The service plans a user really has: in an assigned licence and not disabled."""
    return _plan_names(user, skus) or set()


def _plan_names(user: dict[str, Any], skus: dict[str, dict[str, Any]]) -> set[str] | None:
    """As plan_names, or None when the plans cannot be read: the record lacks its licences
    (assignedLicenses is a collection Graph always sends), or a licence's SKU is not among
    the tenant's subscribedSkus or comes without its servicePlans."""
    licences = user.get("assignedLicenses")
    if licences is None:
        return None
    names = set()
    for lic in licences:
        disabled = set(lic.get("disabledPlans") or [])
        sku = skus.get(lic["skuId"])
        if sku is None or sku.get("servicePlans") is None:
            return None
        for plan in sku["servicePlans"]:
            if plan.get("servicePlanId") not in disabled:
                names.add(plan.get("servicePlanName") or "")
    return names


def has_mailbox(user: dict[str, Any], skus: dict[str, dict[str, Any]]) -> bool:
    return bool(plan_names(user, skus) & _plans()["mailbox"])


def _licence_key(user: dict[str, Any]) -> tuple[tuple[str, tuple[str, ...]], ...]:
    licences = user.get("assignedLicenses")
    if licences is None:  # not the same as no licence: the plans are unknown
        return (("", ("unread",)),)
    return tuple((lic["skuId"], tuple(lic.get("disabledPlans") or ())) for lic in licences)


def licensed_members(snapshot: Snapshot, kind: str) -> tuple[dict[str, Any], ...]:
    """Member accounts that may sign in with a mailbox (kind='mailbox') or OneDrive
    ('onedrive')."""
    return _licensed(snapshot)["mailbox" if kind == "mailbox" else "onedrive"]


def unrecognised_members(snapshot: Snapshot, kind: str) -> tuple[dict[str, Any], ...]:
    """Member accounts that may sign in, not counted by licensed_members, whose licences leave
    it unknown whether they have a mailbox (or OneDrive): a plan not in
    mappings/service_plans.yaml, or a licence whose plans were not readable."""
    return _licensed(snapshot)["mailbox_unknown" if kind == "mailbox" else "onedrive_unknown"]


@per_snapshot("users", "subscribedSkus")
def _licensed(snapshot: Snapshot) -> Mapping[str, tuple[dict[str, Any], ...]]:
    """Both kinds in one pass. Thousands of pupils share one licence assignment: each
    distinct one is looked up once."""
    skus = _skus(snapshot)
    plans = _plans()
    # Per distinct licence assignment: for mailbox and OneDrive, "has", unknown (True) or not.
    known: dict[tuple[tuple[str, tuple[str, ...]], ...], tuple[str | bool, ...]] = {}
    mailbox: list[dict[str, Any]] = []
    onedrive: list[dict[str, Any]] = []
    unknown: dict[str, list[dict[str, Any]]] = {"mailbox": [], "onedrive": []}
    for u in snapshot.dataset("users").data or []:
        # Only a disabled account is left out: one without accountEnabled may sign in.
        if u.get("accountEnabled") is False or (u.get("userType") or "Member") != "Member":
            continue
        key = _licence_key(u)
        verdict = known.get(key)
        if verdict is None:
            names = _plan_names(u, skus)
            verdict = known[key] = tuple(
                "has" if names and names & plans[kind] else _unrecognised(names, kind)
                for kind in ("mailbox", "onedrive")
            )
        for kind, found, state in (
            ("mailbox", mailbox, verdict[0]),
            ("onedrive", onedrive, verdict[1]),
        ):
            if state == "has":
                found.append(u)
            elif state:
                unknown[kind].append(u)
    return MappingProxyType(
        {
            "mailbox": tuple(mailbox),
            "onedrive": tuple(onedrive),
            "mailbox_unknown": tuple(unknown["mailbox"]),
            "onedrive_unknown": tuple(unknown["onedrive"]),
        }
    )
