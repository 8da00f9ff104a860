"""Builders for Graph-shaped fixture snapshots (field names exactly as Graph returns them)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from m365apk.snapshot import Dataset, DatasetStatus, Snapshot, TenantInfo, ToolInfo

GA = "62e90394-69f5-4237-9190-012177145e10"
USER_ADMIN = "fe930be7-5e62-47db-91af-98c3a49a38b1"
FACULTY = "94763226-9b3c-4e75-a931-5c89701abe66"
STUDENT = "314c4481-f395-4525-be8b-2ec4bb1e9d91"

SKUS = [
    {
        "skuId": FACULTY,
        "skuPartNumber": "STANDARDWOFFPACK_FACULTY",
        "capabilityStatus": "Enabled",
        "servicePlans": [],
    },
    {
        "skuId": STUDENT,
        "skuPartNumber": "STANDARDWOFFPACK_STUDENT",
        "capabilityStatus": "Enabled",
        "servicePlans": [],
    },
]


def ok(data: Any) -> Dataset:
    return Dataset(status=DatasetStatus.OK, endpoint="GET /v1.0/x", permission="X", data=data)


def failed(status: DatasetStatus, code: str = "Authorization_RequestDenied") -> Dataset:
    return Dataset(
        status=status,
        endpoint="GET /v1.0/x",
        permission="X.Read.All",
        http_status=403,
        error_code=code,
        error_message="nope",
    )


def user(uid: str, kind: str = "staff", enabled: bool = True, guest: bool = False) -> dict:
    sku = {"staff": FACULTY, "student": STUDENT}.get(kind)
    return {
        "id": uid,
        "displayName": f"Naam {uid}",
        "userPrincipalName": f"{uid}@school.nl",
        "accountEnabled": enabled,
        "userType": "Guest" if guest else "Member",
        "assignedLicenses": [{"skuId": sku}] if sku else [],
        "onPremisesSyncEnabled": None,  # Graph: null for a cloud-only account
    }


def assignment(uid: str, role: str = GA, kind: str = "user") -> dict:
    return {
        "id": f"a-{uid}-{role[:4]}",
        "principalId": uid,
        "roleDefinitionId": role,
        "directoryScopeId": "/",
        "principal": {
            "@odata.type": f"#microsoft.graph.{kind}",
            "id": uid,
            "displayName": f"Naam {uid}",
            "userPrincipalName": f"{uid}@school.nl",
            "accountEnabled": True,
            "userType": "Member",
        },
    }


def registration(uid: str, capable: bool) -> dict:
    return {
        "id": uid,
        "userPrincipalName": f"{uid}@school.nl",
        "isMfaCapable": capable,
        "isMfaRegistered": capable,
        "userType": "member",
        "methodsRegistered": ["microsoftAuthenticatorPush"] if capable else [],
    }


def snapshot(**datasets: Dataset) -> Snapshot:
    base = {"subscribedSkus": ok(SKUS), "roleGroupMembers": ok({})}
    base.update(datasets)
    return Snapshot(
        tool=ToolInfo(version="test"),
        tenant=TenantInfo(tenant_id="00000000-0000-0000-0000-000000000001", display_name="School"),
        collected_at=datetime(2026, 11, 1, tzinfo=UTC),
        source="test",
        graph_base_url="https://graph.microsoft.com",
        datasets=base,
    )


def exactly(tenant_id: str, collected_at: datetime, **datasets: Any) -> Snapshot:
    """A snapshot of these datasets and no others (`snapshot` adds licences and role groups):
    raw data becomes an ok dataset, a Dataset stays as given."""
    return Snapshot(
        tool=ToolInfo(version="test"),
        tenant=TenantInfo(tenant_id=tenant_id),
        collected_at=collected_at,
        source="test",
        graph_base_url="http://127.0.0.1",
        datasets={
            name: data
            if isinstance(data, Dataset)
            else Dataset(status=DatasetStatus.OK, endpoint=name, permission="x", data=data)
            for name, data in datasets.items()
        },
    )
