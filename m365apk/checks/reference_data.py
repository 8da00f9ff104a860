"""Reference data that ages: the privileged role list, the escalation permissions and the
supported OS versions.

Both live in mappings/*.yaml with their source and the date they were last checked (`as_of`).
Checks read them here; `m365apk doctor` and the report's technical appendix call
`stale_reference_data` so an outdated list is said out loud instead of rotting silently.
Read with importlib.resources (checks import only the snapshot contract, not mappings code).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from functools import cache
from importlib import resources
from typing import Any

import yaml

from m365apk.messages import Msg

FILES = ("privileged_roles.yaml", "os_support.yaml", "escalation_permissions.yaml")


@cache
def _load(name: str) -> dict[str, Any]:
    text = (resources.files("m365apk.mappings") / name).read_text("utf-8")
    return yaml.safe_load(text)


@cache
def privileged_roles() -> dict[str, str]:
    """Template id -> English role name."""
    return {str(r["id"]): str(r["name"]) for r in _load("privileged_roles.yaml")["roles"]}


@cache
def escalation_permissions() -> dict[str, dict[str, str]]:
    """Microsoft Graph permission name -> its entry (id, path, why, docs): the permissions that
    let an app make itself Global Administrator (mappings/escalation_permissions.yaml)."""
    return {
        str(p["name"]): {k: str(v) for k, v in p.items()}
        for p in _load("escalation_permissions.yaml")["permissions"]
    }


def os_support() -> dict[str, Any]:
    return _load("os_support.yaml")


@dataclass(frozen=True)
class StaleData:
    file: str
    as_of: date
    age_days: int
    max_age_days: int

    @property
    def message(self) -> Msg:
        return Msg(
            "reference_data.stale",
            file=self.file,
            age=self.age_days,
            as_of=self.as_of.isoformat(),
            max_age=self.max_age_days,
        )


def _as_date(value: Any) -> date:
    return value if isinstance(value, date) else date.fromisoformat(str(value))


def stale_reference_data(now: datetime | date) -> list[StaleData]:
    """The data files older than their own stated maximum age at `now` (a fixed clock in
    tests: the snapshot's collection time in reports, today in doctor)."""
    today = now.date() if isinstance(now, datetime) else now
    out = []
    for name in FILES:
        data = _load(name)
        as_of, limit = _as_date(data["as_of"]), int(data["max_age_days"])
        age = (today - as_of).days
        if age > limit:
            out.append(StaleData(name, as_of, age, limit))
    return out
