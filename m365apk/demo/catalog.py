"""Microsoft's fixed catalogue the simulator draws on: licence SKUs with their service plans,
built-in directory roles, and the security defaults policy object.

SKU ids, part numbers and the service plans that decide features (Entra ID P1/P2, Intune,
Purview Audit Premium) follow Microsoft's licensing service-plan reference
(https://learn.microsoft.com/entra/identity/users/licensing-service-plan-reference, see
shared/reference/graph-reference.md §0.1 and §6.2). Other plans are listed so responses look
like Graph's; they drive nothing.
"""

from __future__ import annotations

from typing import Any

PLANS = {
    "AAD_PREMIUM": "41781fb2-bc02-4b7c-bd55-b576c07bb09d",
    "AAD_PREMIUM_P2": "eec0eb4f-6444-4f95-aba0-50c24d67f998",
    "INTUNE_A": "c1ec4a95-1f05-45b3-a911-aa3fa01094f5",
    "INTUNE_EDU": "da24caf9-af8e-485c-b7c8-e73336da2693",
    "M365_ADVANCED_AUDITING": "2f442157-a11c-46b9-ae5b-6e39ff4e5849",
    "AAD_EDU": "3a3976ce-de18-4a87-a78e-5e9245e252df",
    "EXCHANGE_S_STANDARD": "9aaf7827-d63c-4b61-89c3-182f06f82e5c",
    "EXCHANGE_S_ENTERPRISE": "efb87545-963c-4e0d-99df-69c6916d9eb0",
    "SHAREPOINTSTANDARD_EDU": "0a4983bb-d3e5-4a09-95d8-b2d0127b3df5",
    "SHAREPOINTENTERPRISE_EDU": "63038b2c-28d0-45f6-bc36-33062963b498",
    "TEAMS1": "57ff2da0-773e-42df-b2af-ffb7a2317929",
}

SKUS: dict[str, tuple[str, str, list[str]]] = {
    # part number: (skuId, appliesTo, service plans)
    "M365EDU_A1": (
        "b17653a4-2443-4e8c-a550-18249dda78bb",
        "User",
        ["AAD_EDU", "INTUNE_EDU", "INTUNE_A"],
    ),
    "STANDARDWOFFPACK_FACULTY": (
        "94763226-9b3c-4e75-a931-5c89701abe66",
        "User",
        ["EXCHANGE_S_STANDARD", "SHAREPOINTSTANDARD_EDU", "TEAMS1"],
    ),
    "STANDARDWOFFPACK_STUDENT": (
        "314c4481-f395-4525-be8b-2ec4bb1e9d91",
        "User",
        ["EXCHANGE_S_STANDARD", "SHAREPOINTSTANDARD_EDU", "TEAMS1"],
    ),
    "M365EDU_A3_FACULTY": (
        "4b590615-0888-425a-a965-b3bf7789848d",
        "User",
        [
            "AAD_PREMIUM",
            "INTUNE_A",
            "INTUNE_EDU",
            "EXCHANGE_S_ENTERPRISE",
            "SHAREPOINTENTERPRISE_EDU",
            "TEAMS1",
        ],
    ),
    "M365EDU_A3_STUDENT": (
        "7cfd9a2b-e110-4c39-bf20-c6a3f36a3121",
        "User",
        [
            "AAD_PREMIUM",
            "INTUNE_A",
            "INTUNE_EDU",
            "EXCHANGE_S_ENTERPRISE",
            "SHAREPOINTENTERPRISE_EDU",
            "TEAMS1",
        ],
    ),
    "M365EDU_A3_STUUSEBNFT": (
        "18250162-5d87-4436-a834-d795c15c80f3",
        "User",
        ["AAD_PREMIUM", "INTUNE_A", "EXCHANGE_S_ENTERPRISE", "SHAREPOINTENTERPRISE_EDU", "TEAMS1"],
    ),
    "M365EDU_A5_FACULTY": (
        "e97c048c-37a4-45fb-ab50-922fbf07a370",
        "User",
        [
            "AAD_PREMIUM",
            "AAD_PREMIUM_P2",
            "INTUNE_A",
            "INTUNE_EDU",
            "M365_ADVANCED_AUDITING",
            "EXCHANGE_S_ENTERPRISE",
            "SHAREPOINTENTERPRISE_EDU",
            "TEAMS1",
        ],
    ),
}


def sku(spec: dict[str, Any]) -> dict[str, Any]:
    """A subscribedSku object as GET /subscribedSkus returns it."""
    part = spec["skuPartNumber"]
    sku_id, applies_to, plans = SKUS[part]
    return {
        "accountId": "00000000-0000-0000-0000-000000000000",
        "accountName": "school",
        "appliesTo": applies_to,
        "capabilityStatus": spec.get("capabilityStatus", "Enabled"),
        "consumedUnits": 0,
        "id": f"00000000-0000-0000-0000-000000000000_{sku_id}",
        "prepaidUnits": {"enabled": spec["units"], "suspended": 0, "warning": 0, "lockedOut": 0},
        "servicePlans": [
            {
                "servicePlanId": PLANS[name],
                "servicePlanName": name,
                "provisioningStatus": "Success",
                "appliesTo": applies_to,
            }
            for name in plans
        ],
        "skuId": sku_id,
        "skuPartNumber": part,
        "subscriptionIds": [f"5a3b{sku_id[4:]}"],
    }


# Built-in role template ids (graph-reference §2.3, from Maester Get-MtRoleInfo.ps1). For
# built-in roles Graph's roleDefinition id equals the template id.
ROLES = {
    "Global Administrator": "62e90394-69f5-4237-9190-012177145e10",
    "Privileged Role Administrator": "e8611ab8-c189-46e8-94e1-60213ab1f814",
    "Privileged Authentication Administrator": "7be44c8a-adaf-4e2a-84d6-ab2649e08a13",
    "Security Administrator": "194ae4cb-b126-40b2-bd5b-6091b380977d",
    "Exchange Administrator": "29232cdf-9323-42fd-ade2-1d097af3e4de",
    "SharePoint Administrator": "f28a1f50-f6e7-4571-818b-6a12f2af6b6c",
    "User Administrator": "fe930be7-5e62-47db-91af-98c3a49a38b1",
    "Hybrid Identity Administrator": "8ac3fc64-6eca-42ea-9e69-59f4c7b60eb2",
    "Application Administrator": "9b895d92-2cd3-44c7-9d02-a6ac2d5ea5c3",
    "Cloud Application Administrator": "158c047a-c907-4556-b7ef-446551a6b5f7",
    "Conditional Access Administrator": "b1be1c3e-b65d-4f19-8427-f6fa0d97feb9",
    "Authentication Administrator": "c4e39bd9-1100-46d3-8c65-fb160da0071f",
    "Helpdesk Administrator": "729827e3-9c14-49f7-bb1b-9608f156bbb8",
    "Password Administrator": "966707d0-3269-4727-9be2-8c3a10f19b9d",
    "Billing Administrator": "b0f54661-2d74-4c50-afa3-1ec803f12efe",
    "Intune Administrator": "3a2c62db-5318-420d-8d74-23affee5d9d5",
    "Cloud Device Administrator": "7698a772-787b-4ac8-901f-60d6b08affd2",
    "Groups Administrator": "fdd7a751-b60b-444a-984c-02652fe8fa1c",
    "Teams Administrator": "69091246-20e8-4a56-aa4d-066075b2a7a8",
    "License Administrator": "4d6ac14f-3453-41d0-bef9-a3e0c569773a",
    "Global Reader": "f2ef992c-3afb-46b9-b7cf-a126ee74c451",
    "Security Reader": "5d6b6bb7-de71-4623-b4af-96380a352509",
    "Directory Readers": "88d8e3e3-8f55-4a1e-953a-9b9898b8876b",
    "Directory Synchronization Accounts": "d29b2b05-8046-44ba-8758-1e26182fcf32",
}


def role_definitions() -> list[dict[str, Any]]:
    return [
        {
            "id": template,
            "templateId": template,
            "displayName": name,
            "description": f"{name} (ingebouwde rol)",
            "isBuiltIn": True,
            "isEnabled": True,
            "resourceScopes": ["/"],
            "version": "1",
            "rolePermissions": [],
        }
        for name, template in sorted(ROLES.items())
    ]


def security_defaults(enabled: bool) -> dict[str, Any]:
    return {
        "@odata.context": "https://graph.microsoft.com/v1.0/$metadata#policies/"
        "identitySecurityDefaultsEnforcementPolicy/$entity",
        "description": "Security defaults is a set of basic identity security mechanisms "
        "recommended by Microsoft. When enabled, these recommendations will be automatically "
        "enforced in your organization. Administrators and users will be better protected "
        "from common identity related attacks.",
        "displayName": "Security Defaults",
        "id": "00000000-0000-0000-0000-000000000005",
        "isEnabled": enabled,
    }


MICROSOFT_SERVICES_TENANT = "f8cdef31-a31e-4b4a-93e4-5f571e91255a"

# Every tenant holds these first-party service principals. App role ids are Microsoft's
# (graph-reference §5.2, from ScubaGear RiskyAppPermissions.json); only a subset is listed.
RESOURCE_APPS: list[dict[str, Any]] = [
    {
        "key": "ms-graph",
        "displayName": "Microsoft Graph",
        "appId": "00000003-0000-0000-c000-000000000000",
        "appRoles": {
            "Files.Read.All": "01d4889c-1287-42c6-ac1f-5d1e02578ef6",
            "Files.ReadWrite.All": "75359482-378d-4052-8f01-80520e7db3cd",
            "Sites.Read.All": "332a536c-c7ef-4017-ab91-336970924f0d",
            "Sites.FullControl.All": "a82116e5-55eb-4c41-a434-62fe8a61c773",
            "Mail.Read": "810c84a8-4a9e-49e6-bf7d-12d183f40d01",
            "Mail.ReadWrite": "e2a3a72e-5f79-4c64-b1b1-878b674786c9",
            "User.Read.All": "df021288-bdef-4463-88db-98f22de89214",
            "Directory.Read.All": "7ab1d382-f21e-4acd-a863-ba3e13f7da61",
            "Group.Read.All": "5b567255-7703-4780-807c-7be8301ae99b",
            "BackupRestore-Control.ReadWrite.All": "fb240865-88f8-4a1d-923f-98dbc7920860",
            # escalation permissions (mappings/escalation_permissions.yaml)
            "RoleManagement.ReadWrite.Directory": "9e3f62cf-ca93-4989-b6ce-bf83c28f9fe8",
            "AppRoleAssignment.ReadWrite.All": "06b708a9-e830-4db3-a914-8e69da51d44f",
            "Application.ReadWrite.All": "1bfefb4e-e0b5-418b-a88f-73c46d2cc8e9",
        },
    },
    {
        "key": "ms-exchange",
        "displayName": "Office 365 Exchange Online",
        "appId": "00000002-0000-0ff1-ce00-000000000000",
        "appRoles": {"full_access_as_app": "dc890d15-9560-4a4c-9b7f-a736ec74ec40"},
    },
    {
        "key": "ms-sharepoint",
        "displayName": "Office 365 SharePoint Online",
        "appId": "00000003-0000-0ff1-ce00-000000000000",
        "appRoles": {"Sites.FullControl.All": "678536fe-1083-478a-9c59-b99265e6b0d3"},
    },
]
