"""Graph v1.0's own schema for the types m365apk reads, and a checker for answers against it.

The schema file is a copy of shared/reference/graph-schema-v1.0.json (extracted from
microsoftgraph/msgraph-metadata, MIT). The simulator uses it to refuse a `$select`/`$filter` of a
property Graph does not define (Graph answers 400), and the conformance test uses `check` to prove
that every simulated answer is one v1.0 could give.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from datetime import date, datetime, time
from functools import cache
from importlib import resources
from typing import Any

NS = "microsoft.graph."
_GUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
# Edm.Duration is xs:dayTimeDuration: days and time only (no years, months or weeks).
_DURATION = re.compile(r"^-?P(?=\d|T\d)(\d+D)?(T(?=\d)(\d+H)?(\d+M)?(\d+(\.\d+)?S)?)?$")
_INTS = {"Edm.Int32": 2**31, "Edm.Int64": 2**63, "Edm.Int16": 2**15, "Edm.Byte": 256}


def _nullable(kind: str) -> dict[str, Any]:
    return {"nullable": True, "type": kind}


# v1.0 types we read that the extract lacks, from msgraph-sdk's generated v1.0 models (the
# same metadata; nullability is not in those models, so declared nullable: no false alarms).
SUPPLEMENT: dict[str, dict[str, Any]] = {
    "types": {
        NS + "groupSetting": {
            "abstract": False,
            "base": NS + "entity",
            "kind": "EntityType",
            "navigation": {},
            "properties": {
                "displayName": _nullable("Edm.String"),
                "templateId": _nullable("Edm.String"),
                "values": _nullable(f"Collection({NS}settingValue)"),
            },
        },
        # custom app management policies (appManagementPolicy, List appliesTo)
        NS + "appManagementPolicy": {
            "abstract": False,
            "base": NS + "policyBase",
            "kind": "EntityType",
            "navigation": {"appliesTo": f"Collection({NS}directoryObject)"},
            "properties": {
                "isEnabled": _nullable("Edm.Boolean"),
                "restrictions": _nullable(NS + "customAppManagementConfiguration"),
            },
        },
        NS + "customAppManagementConfiguration": {
            "abstract": False,
            "base": NS + "appManagementConfiguration",
            "kind": "ComplexType",
            "navigation": {},
            "properties": {
                "applicationRestrictions": _nullable(
                    NS + "customAppManagementApplicationConfiguration"
                ),
            },
        },
        NS + "customAppManagementApplicationConfiguration": {
            "abstract": False,
            "base": None,
            "kind": "ComplexType",
            "navigation": {},
            "properties": {"identifierUris": _nullable(NS + "identifierUriConfiguration")},
        },
        # inbox rules (List rules: mailFolder messageRules); predicates: the members the
        # simulator serves
        NS + "messageRule": {
            "abstract": False,
            "base": NS + "entity",
            "kind": "EntityType",
            "navigation": {},
            "properties": {
                "actions": _nullable(NS + "messageRuleActions"),
                "conditions": _nullable(NS + "messageRulePredicates"),
                "displayName": _nullable("Edm.String"),
                "exceptions": _nullable(NS + "messageRulePredicates"),
                "hasError": _nullable("Edm.Boolean"),
                "isEnabled": _nullable("Edm.Boolean"),
                "isReadOnly": _nullable("Edm.Boolean"),
                "sequence": _nullable("Edm.Int32"),
            },
        },
        NS + "messageRuleActions": {
            "abstract": False,
            "base": None,
            "kind": "ComplexType",
            "navigation": {},
            "properties": {
                "assignCategories": _nullable("Collection(Edm.String)"),
                "copyToFolder": _nullable("Edm.String"),
                "delete": _nullable("Edm.Boolean"),
                "forwardAsAttachmentTo": _nullable(f"Collection({NS}recipient)"),
                "forwardTo": _nullable(f"Collection({NS}recipient)"),
                "markAsRead": _nullable("Edm.Boolean"),
                "markImportance": _nullable(NS + "importance"),
                "moveToFolder": _nullable("Edm.String"),
                "permanentDelete": _nullable("Edm.Boolean"),
                "redirectTo": _nullable(f"Collection({NS}recipient)"),
                "stopProcessingRules": _nullable("Edm.Boolean"),
            },
        },
        NS + "messageRulePredicates": {
            "abstract": False,
            "base": None,
            "kind": "ComplexType",
            "navigation": {},
            "properties": {
                "bodyOrSubjectContains": _nullable("Collection(Edm.String)"),
                "fromAddresses": _nullable(f"Collection({NS}recipient)"),
                "hasAttachments": _nullable("Edm.Boolean"),
                "senderContains": _nullable("Collection(Edm.String)"),
                "sentToMe": _nullable("Edm.Boolean"),
                "subjectContains": _nullable("Collection(Edm.String)"),
            },
        },
        NS + "recipient": {
            "abstract": False,
            "base": None,
            "kind": "ComplexType",
            "navigation": {},
            "properties": {"emailAddress": _nullable(NS + "emailAddress")},
        },
        NS + "emailAddress": {
            "abstract": False,
            "base": None,
            "kind": "ComplexType",
            "navigation": {},
            "properties": {
                "address": _nullable("Edm.String"),
                "name": _nullable("Edm.String"),
            },
        },
        NS + "settingValue": {
            "abstract": False,
            "base": None,
            "kind": "ComplexType",
            "navigation": {},
            "properties": {"name": _nullable("Edm.String"), "value": _nullable("Edm.String")},
        },
        NS + "serviceApp": {
            "abstract": False,
            "base": NS + "entity",
            "kind": "EntityType",
            "navigation": {},
            "properties": {
                "application": _nullable(NS + "identity"),
                "effectiveDateTime": _nullable("Edm.DateTimeOffset"),
                "lastModifiedBy": _nullable(NS + "identitySet"),
                "lastModifiedDateTime": _nullable("Edm.DateTimeOffset"),
                "registrationDateTime": _nullable("Edm.DateTimeOffset"),
                "status": _nullable(NS + "serviceAppStatus"),
            },
        },
        # includeTargets of the authentication method configurations (navigation types)
        NS + "authenticationMethodTarget": {
            "abstract": False,
            "base": NS + "entity",
            "kind": "EntityType",
            "navigation": {},
            "properties": {
                "isRegistrationRequired": _nullable("Edm.Boolean"),
                "targetType": _nullable(NS + "authenticationMethodTargetType"),
            },
        },
        NS + "microsoftAuthenticatorAuthenticationMethodTarget": {
            "abstract": False,
            "base": NS + "authenticationMethodTarget",
            "kind": "EntityType",
            "navigation": {},
            "properties": {
                "authenticationMode": _nullable(NS + "microsoftAuthenticatorAuthenticationMode"),
            },
        },
        NS + "passkeyAuthenticationMethodTarget": {
            "abstract": False,
            "base": NS + "authenticationMethodTarget",
            "kind": "EntityType",
            "navigation": {},
            "properties": {"allowedPasskeyProfiles": _nullable("Collection(Edm.Guid)")},
        },
        NS + "smsAuthenticationMethodTarget": {
            "abstract": False,
            "base": NS + "authenticationMethodTarget",
            "kind": "EntityType",
            "navigation": {},
            "properties": {"isUsableForSignIn": _nullable("Edm.Boolean")},
        },
        # Intune assignments ($expand=assignments) and PIM role settings
        # ($expand=policy($expand=rules)), from msgraph-sdk's v1.0 models as well.
        NS + "deviceConfigurationAssignment": {
            "abstract": False,
            "base": NS + "entity",
            "kind": "EntityType",
            "navigation": {},
            "properties": {"target": _nullable(NS + "deviceAndAppManagementAssignmentTarget")},
        },
        NS + "deviceCompliancePolicyAssignment": {
            "abstract": False,
            "base": NS + "entity",
            "kind": "EntityType",
            "navigation": {},
            "properties": {"target": _nullable(NS + "deviceAndAppManagementAssignmentTarget")},
        },
        NS + "unifiedRoleManagementPolicyRule": {
            "abstract": False,
            "base": NS + "entity",
            "kind": "EntityType",
            "navigation": {},
            "properties": {"target": _nullable(NS + "unifiedRoleManagementPolicyRuleTarget")},
        },
        NS + "unifiedRoleManagementPolicyApprovalRule": {
            "abstract": False,
            "base": NS + "unifiedRoleManagementPolicyRule",
            "kind": "EntityType",
            "navigation": {},
            "properties": {"setting": _nullable(NS + "approvalSettings")},
        },
        NS + "unifiedRoleManagementPolicyNotificationRule": {
            "abstract": False,
            "base": NS + "unifiedRoleManagementPolicyRule",
            "kind": "EntityType",
            "navigation": {},
            "properties": {
                "isDefaultRecipientsEnabled": _nullable("Edm.Boolean"),
                "notificationLevel": _nullable("Edm.String"),
                "notificationRecipients": _nullable("Collection(Edm.String)"),
                "notificationType": _nullable("Edm.String"),
                "recipientType": _nullable("Edm.String"),
            },
        },
        NS + "unifiedRoleManagementPolicyRuleTarget": {
            "abstract": False,
            "base": None,
            "kind": "ComplexType",
            "navigation": {},
            "properties": {
                "caller": _nullable("Edm.String"),
                "enforcedSettings": _nullable("Collection(Edm.String)"),
                "inheritableSettings": _nullable("Collection(Edm.String)"),
                "level": _nullable("Edm.String"),
                "operations": _nullable("Collection(Edm.String)"),
            },
        },
        NS + "privilegedAccessScheduleInstance": {
            "abstract": True,
            "base": NS + "entity",
            "kind": "EntityType",
            "navigation": {},
            "properties": {
                "endDateTime": _nullable("Edm.DateTimeOffset"),
                "startDateTime": _nullable("Edm.DateTimeOffset"),
            },
        },
        # "Required" in the docs (privilegedAccessGroupEligibilityScheduleInstance resource type):
        # accessId, eligibilityScheduleId, groupId, principalId.
        NS + "privilegedAccessGroupEligibilityScheduleInstance": {
            "abstract": False,
            "base": NS + "privilegedAccessScheduleInstance",
            "kind": "EntityType",
            "navigation": {"group": NS + "group", "principal": NS + "directoryObject"},
            "properties": {
                "accessId": {"nullable": False, "type": NS + "privilegedAccessGroupRelationships"},
                "eligibilityScheduleId": _nullable("Edm.String"),
                "groupId": {"nullable": False, "type": "Edm.String"},
                "memberType": _nullable(NS + "privilegedAccessGroupMemberType"),
                "principalId": {"nullable": False, "type": "Edm.String"},
            },
        },
        NS + "approvalSettings": {
            "abstract": False,
            "base": None,
            "kind": "ComplexType",
            "navigation": {},
            "properties": {
                "approvalMode": _nullable("Edm.String"),
                "approvalStages": _nullable(f"Collection({NS}unifiedApprovalStage)"),
                "isApprovalRequired": _nullable("Edm.Boolean"),
                "isApprovalRequiredForExtension": _nullable("Edm.Boolean"),
                "isRequestorJustificationRequired": _nullable("Edm.Boolean"),
            },
        },
        NS + "unifiedApprovalStage": {
            "abstract": False,
            "base": None,
            "kind": "ComplexType",
            "navigation": {},
            "properties": {
                "approvalStageTimeOutInDays": _nullable("Edm.Int32"),
                "isApproverJustificationRequired": _nullable("Edm.Boolean"),
                "isEscalationEnabled": _nullable("Edm.Boolean"),
                "escalationTimeInMinutes": _nullable("Edm.Int32"),
            },
        },
    },
    "enums": {
        NS + "privilegedAccessGroupRelationships": {
            "flags": False,
            "members": ["owner", "member", "unknownFutureValue"],
        },
        NS + "privilegedAccessGroupMemberType": {
            "flags": False,
            "members": ["direct", "group", "unknownFutureValue"],
        },
        NS + "microsoftAuthenticatorAuthenticationMode": {
            "flags": False,
            "members": ["deviceBasedPush", "push", "any"],
        },
        NS + "importance": {"flags": False, "members": ["low", "normal", "high"]},
        NS + "serviceAppStatus": {
            "flags": False,
            "members": [
                "inactive",
                "active",
                "pendingActive",
                "pendingInactive",
                "unknownFutureValue",
            ],
        },
    },
}


@cache
def schema() -> dict[str, Any]:
    text = resources.files("m365apk.demo").joinpath("graph-schema-v1.0.json").read_text("utf-8")
    data = json.loads(text)
    for part in ("types", "enums"):
        data[part] = {**SUPPLEMENT[part], **data[part]}
    return data


def _qualified(name: str) -> str:
    name = name.lstrip("#")
    return name if "." in name else NS + name


def lineage(type_name: str) -> list[dict[str, Any]]:
    """The type and its bases, most derived first (empty when the schema lacks the type)."""
    types = schema()["types"]
    out: list[dict[str, Any]] = []
    name: str | None = _qualified(type_name)
    while name:
        t = types.get(name)
        if t is None:
            break
        out.append(t)
        name = t.get("base")
    return out


def properties(type_name: str) -> dict[str, dict[str, Any]]:
    """Structural properties of a type, inherited ones included."""
    out: dict[str, dict[str, Any]] = {}
    for t in reversed(lineage(type_name)):
        out.update(t["properties"])
    return out


def navigation(type_name: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for t in reversed(lineage(type_name)):
        out.update(t.get("navigation", {}))
    return out


def known(type_name: str) -> bool:
    return _qualified(type_name) in schema()["types"]


def is_derived(child: str, parent: str) -> bool:
    parent = _qualified(parent)
    name: str | None = _qualified(child)
    types = schema()["types"]
    while name:
        if name == parent:
            return True
        name = (types.get(name) or {}).get("base")
    return False


def unknown_property(type_name: str, name: str) -> bool:
    """Whether `$select`/`$filter` of `name` on `type_name` is one Graph refuses."""
    if not known(type_name):
        return False  # not in the extract: nothing to say
    return name not in properties(type_name) and name not in navigation(type_name)


def check(value: Any, type_name: str, where: str = "$") -> list[str]:
    """Every way `value` breaks Graph v1.0's declaration of `type_name` (empty when none)."""
    problems: list[str] = []
    _check(value, type_name, where, problems)
    return problems


def _check(value: Any, type_name: str, where: str, problems: list[str]) -> None:
    if type_name.startswith("Collection("):
        if not isinstance(value, list):
            problems.append(f"type: {where} is not a list ({type_name})")
            return
        inner = type_name[len("Collection(") : -1]
        for i, item in enumerate(value):
            if item is None:
                problems.append(f"null: {where}[{i}] is null in a {type_name}")
                continue
            _check(item, inner, f"{where}[{i}]", problems)
        return
    if type_name.startswith("Edm."):
        if not _edm_ok(value, type_name):
            problems.append(f"type: {where} = {value!r:.60} is not {type_name}")
        return
    enum = schema()["enums"].get(type_name)
    if enum is not None:
        members = value.split(",") if isinstance(value, str) and enum["flags"] else [value]
        for member in members:
            if not isinstance(member, str) or member.strip() not in enum["members"]:
                problems.append(f"enum: {where} = {value!r} is not a member of {type_name}")
        return
    if not isinstance(value, dict):
        problems.append(f"type: {where} is not an object ({type_name})")
        return
    actual = type_name
    declared = value.get("@odata.type")
    if declared:
        actual = _qualified(declared)
        if not known(actual):
            problems.append(f"type: {where} @odata.type {declared} is not in the v1.0 schema")
            return
        if not is_derived(actual, type_name):
            problems.append(f"type: {where} @odata.type {declared} is not a {type_name}")
            return
    if not known(actual):
        problems.append(f"type: {where}: {actual} is not in the v1.0 schema")
        return
    if lineage(actual)[0].get("abstract") and not declared:
        problems.append(f"type: {where} is abstract {actual} without @odata.type")
    props, nav = properties(actual), navigation(actual)
    for name, item in value.items():
        if name.startswith("@") or "@odata." in name:
            continue  # control information: @odata.type, members@odata.context, ...
        path = f"{where}.{name}"
        if name in props:
            spec = props[name]
            if item is None:
                if not spec["nullable"]:
                    problems.append(f"null: {path} is null but {actual} declares it non-nullable")
                continue
            _check(item, spec["type"], path, problems)
        elif name in nav:
            if item is not None:
                _check(item, nav[name], path, problems)
        else:
            problems.append(f"unknown: {path} is not a property of {actual}")


def _edm_ok(value: Any, edm: str) -> bool:  # noqa: PLR0911 (one answer per Edm type)
    if edm in _INTS:
        bound = _INTS[edm]
        return isinstance(value, int) and not isinstance(value, bool) and -bound <= value < bound
    if edm in ("Edm.Double", "Edm.Single", "Edm.Decimal"):
        return (isinstance(value, (int, float)) and not isinstance(value, bool)) or value in (
            "INF",
            "-INF",
            "NaN",
        )
    if edm == "Edm.Boolean":
        return isinstance(value, bool)
    if not isinstance(value, str):
        return False
    if edm == "Edm.Guid":
        return bool(_GUID.match(value))
    if edm == "Edm.Duration":
        return bool(_DURATION.match(value))
    try:
        if edm == "Edm.DateTimeOffset":
            return "T" in value and datetime.fromisoformat(value.replace("Z", "+00:00")) is not None
        if edm == "Edm.Date":
            return date.fromisoformat(value) is not None
        if edm == "Edm.TimeOfDay":
            return time.fromisoformat(value) is not None
        if edm == "Edm.Binary":
            return base64.b64decode(value, validate=True) is not None
    except (ValueError, binascii.Error):
        return False
    return True  # Edm.String, Edm.Stream
