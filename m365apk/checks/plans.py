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
    return {k: frozenset(data[k]) for k in ("mailbox", "onedrive")}


def _skus(snapshot: Snapshot) -> dict[str, dict[str, Any]]:
    return {s["skuId"]: s for s in snapshot.dataset("subscribedSkus").data or []}


def plan_names(user: dict[str, Any], skus: dict[str, dict[str, Any]]) -> set[str]:
    """The service plans a user really has: in an assigned licence and not disabled."""
    names = set()
    for lic in user.get("assignedLicenses") or []:
        disabled = set(lic.get("disabledPlans") or [])
        for plan in (skus.get(lic["skuId"]) or {}).get("servicePlans") or []:
            if plan.get("servicePlanId") not in disabled:
                names.add(plan.get("servicePlanName") or "")
    return names


def has_mailbox(user: dict[str, Any], skus: dict[str, dict[str, Any]]) -> bool:
    return bool(plan_names(user, skus) & _plans()["mailbox"])


def _licence_key(user: dict[str, Any]) -> tuple[tuple[str, tuple[str, ...]], ...]:
    return tuple(
        (lic["skuId"], tuple(lic.get("disabledPlans") or ()))
        for lic in user.get("assignedLicenses") or []
    )


def licensed_members(snapshot: Snapshot, kind: str) -> tuple[dict[str, Any], ...]:
    """Enabled member accounts with a mailbox (kind='mailbox') or OneDrive ('onedrive')."""
    return _licensed(snapshot)["mailbox" if kind == "mailbox" else "onedrive"]


@per_snapshot("users", "subscribedSkus")
def _licensed(snapshot: Snapshot) -> Mapping[str, tuple[dict[str, Any], ...]]:
    """Both kinds in one pass. Thousands of pupils share one licence assignment: each
    distinct one is looked up once."""
    skus = _skus(snapshot)
    plans = _plans()
    known: dict[tuple[tuple[str, tuple[str, ...]], ...], set[str]] = {}
    mailbox: list[dict[str, Any]] = []
    onedrive: list[dict[str, Any]] = []
    for u in snapshot.dataset("users").data or []:
        if not u.get("accountEnabled") or (u.get("userType") or "Member") != "Member":
            continue
        key = _licence_key(u)
        names = known.get(key)
        if names is None:
            names = known[key] = plan_names(u, skus)
        if names & plans["mailbox"]:
            mailbox.append(u)
        if names & plans["onedrive"]:
            onedrive.append(u)
    return MappingProxyType({"mailbox": tuple(mailbox), "onedrive": tuple(onedrive)})
