"""Simulated school tenants: profiles kept as data files, expanded into Graph-shaped objects.

A profile (demo/profiles/*.json) describes a school declaratively: its licences, its named
accounts (admins, break-glass, service accounts), its populations (staff, students, guests)
with MFA rates, groups, role assignments, security defaults and conditional access. The
generator turns it into the objects Microsoft Graph would return, with Graph's field names,
deterministically (same profile + seed + size = same tenant).
"""

from __future__ import annotations

import json
import random
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from functools import cache
from importlib import resources
from typing import Any

from m365apk.scanner.licences import AAD_PREMIUM_P1, AAD_PREMIUM_P2, ENTRA_GOVERNANCE

from . import catalog

FIRST_NAMES = (
    "Sanne",
    "Daan",
    "Emma",
    "Noah",
    "Lotte",
    "Sem",
    "Julia",
    "Lucas",
    "Fleur",
    "Finn",
    "Anouk",
    "Levi",
    "Sara",
    "Bram",
    "Eva",
    "Jesse",
    "Iris",
    "Thijs",
    "Lisa",
    "Ruben",
    "Femke",
    "Lars",
    "Roos",
    "Milan",
    "Noor",
    "Jasper",
    "Maud",
    "Tim",
    "Yara",
    "Mohammed",
    "Fatima",
    "Ayoub",
    "Imane",
    "Koen",
    "Esther",
    "Wouter",
    "Marloes",
    "Joost",
    "Ingrid",
    "Hanneke",
    "Pieter",
    "Annelies",
    "Gerrit",
)
LAST_NAMES = (
    "de Vries",
    "Jansen",
    "van den Berg",
    "Bakker",
    "Visser",
    "Smit",
    "Meijer",
    "de Boer",
    "Mulder",
    "de Groot",
    "Bos",
    "Vos",
    "Peters",
    "Hendriks",
    "van Leeuwen",
    "Dekker",
    "Brouwer",
    "de Wit",
    "Dijkstra",
    "Smits",
    "de Graaf",
    "van der Meer",
    "Kok",
    "Jacobs",
    "El Amrani",
    "Yilmaz",
    "Kaya",
    "Bouzid",
    "van Dijk",
    "Koster",
    "Prins",
    "Huisman",
)

# How registered methods show up in the registration report and in /authentication/methods.
METHOD_REPORT_NAMES = {
    "authenticator": ["microsoftAuthenticatorPush", "softwareOneTimePasscode"],
    "sms": ["mobilePhone"],
    "fido2": ["fido2"],
    "whfb": ["windowsHelloForBusiness"],
    "email": ["email"],
}
STRONG_METHODS = {"authenticator", "sms", "fido2", "whfb"}


@dataclass(frozen=True)
class TenantData:
    """Everything the simulated Graph serves for one tenant."""

    name: str
    tenant_id: str
    display_name: str
    default_domain: str
    client_id: str
    client_secret: str
    granted_permissions: frozenset[str]
    organization: dict[str, Any]
    subscribed_skus: list[dict[str, Any]]
    users: list[dict[str, Any]]
    registration_details: list[dict[str, Any]]
    user_methods: dict[str, tuple[str, ...]]  # user id -> method kinds (authenticator, sms, ...)
    role_definitions: list[dict[str, Any]]
    role_assignments: list[dict[str, Any]]  # without principal; the server expands it
    groups: list[dict[str, Any]]
    group_members: dict[str, list[str]]
    service_principals: list[dict[str, Any]]
    security_defaults: dict[str, Any]
    conditional_access_policies: list[dict[str, Any]]
    collected_now: str = "2026-11-20T08:00:00Z"
    objects: dict[str, dict[str, Any]] = field(default_factory=dict, compare=False, repr=False)

    def __post_init__(self) -> None:
        index: dict[str, dict[str, Any]] = {}
        for kind, items in (
            ("user", self.users),
            ("group", self.groups),
            ("servicePrincipal", self.service_principals),
        ):
            for item in items:
                index[item["id"]] = {"@odata.type": f"#microsoft.graph.{kind}", **item}
        object.__setattr__(self, "objects", index)

    @property
    def has_entra_p1(self) -> bool:
        plans = {
            p["servicePlanId"]
            for s in self.subscribed_skus
            if s.get("capabilityStatus") == "Enabled"
            for p in s["servicePlans"]
        }
        return bool(plans & {AAD_PREMIUM_P1, AAD_PREMIUM_P2, ENTRA_GOVERNANCE})

    def auth_methods(self, user_id: str) -> list[dict[str, Any]]:
        """A user's /authentication/methods, built on request (a 100k tenant stays small)."""
        return _method_objects(user_id, self.user_methods.get(user_id, ()))


def without_permission(tenant: TenantData, permission: str) -> TenantData:
    """The same tenant where admin consent lacks one application permission."""
    return replace(tenant, granted_permissions=tenant.granted_permissions - {permission})


def available_profiles() -> list[str]:
    folder = resources.files("m365apk.demo") / "profiles"
    return sorted(
        p.name.removesuffix(".json") for p in folder.iterdir() if p.name.endswith(".json")
    )


@cache
def _profile_data(name: str) -> dict[str, Any]:
    if name not in available_profiles():
        raise ValueError(f"onbekend profiel {name!r}; kies uit {', '.join(available_profiles())}")
    text = (resources.files("m365apk.demo") / "profiles" / f"{name}.json").read_text("utf-8")
    return json.loads(text)


def load_profile(name: str, users: int | None = None, seed: int = 1) -> TenantData:
    """Build the tenant of profile `name`; `users` scales the populations to that many accounts
    in total (named accounts included)."""
    return _Builder(_profile_data(name), name, users, seed).build()


class _Builder:
    def __init__(self, spec: dict[str, Any], name: str, users: int | None, seed: int) -> None:
        self.spec = spec
        self.name = name
        self.size = users
        self.rng = random.Random(f"{name}:{seed}")
        self.domain = spec["default_domain"]
        self.keys: dict[str, str] = {}  # profile key (named account, group, app) -> object id
        self.users: list[dict[str, Any]] = []
        self.methods: dict[str, tuple[str, ...]] = {}
        self.kind: dict[str, str] = {}  # user id -> staff | student | guest | other
        self.upns: set[str] = set()

    def uid(self) -> str:
        return str(uuid.UUID(int=self.rng.getrandbits(128), version=4))

    def build(self) -> TenantData:
        spec = self.spec
        skus = [catalog.sku(s) for s in spec["skus"]]
        self.sku_ids = {s["skuPartNumber"]: s["skuId"] for s in skus}
        for account in spec.get("accounts", []):
            self.named_account(account)
        for population, count in self.population_counts():
            self.population(population, count)
        for sku in skus:  # consumed units follow the accounts that hold the licence
            sku["consumedUnits"] = sum(
                any(a["skuId"] == sku["skuId"] for a in u["assignedLicenses"]) for u in self.users
            )
        groups, members = self.groups()
        sps = [self.service_principal(sp) for sp in spec.get("service_principals", [])]
        roles = catalog.role_definitions()
        assignments = self.role_assignments(roles)
        admins = {a["principalId"] for a in assignments}
        for a in assignments:
            admins.update(members.get(a["principalId"], []))
        registration = [self.registration(u, u["id"] in admins) for u in self.users]
        return TenantData(
            name=self.name,
            tenant_id=spec["tenant_id"],
            display_name=spec["display_name"],
            default_domain=self.domain,
            client_id=spec["client_id"],
            client_secret=spec["client_secret"],
            granted_permissions=frozenset(spec["permissions"]),
            organization=self.organization(),
            subscribed_skus=skus,
            users=self.users,
            registration_details=registration,
            user_methods=self.methods,
            role_definitions=roles,
            role_assignments=assignments,
            groups=groups,
            group_members=members,
            service_principals=sps,
            security_defaults=catalog.security_defaults(spec["security_defaults"]),
            conditional_access_policies=[
                self.resolve(p) for p in spec.get("conditional_access", [])
            ],
        )

    # --- accounts ---------------------------------------------------------------------------

    def population_counts(self) -> Iterator[tuple[dict[str, Any], int]]:
        populations = self.spec["populations"]
        named = len(self.spec.get("accounts", []))
        if self.size is None:
            yield from ((p, p["count"]) for p in populations)
            return
        if self.size < named:
            raise ValueError(f"profiel {self.name!r} heeft minstens {named} gebruikers nodig")
        total = sum(p["count"] for p in populations)
        target = self.size - named
        counts = [p["count"] * target // total for p in populations]
        # Hand the rounding remainder to the largest population (students, in a school).
        largest = max(range(len(populations)), key=lambda i: populations[i]["count"])
        counts[largest] += target - sum(counts)
        yield from zip(populations, counts, strict=True)

    def add_user(
        self,
        *,
        display_name: str,
        upn: str,
        kind: str,
        licences: list[str],
        enabled: bool = True,
        methods: tuple[str, ...] = (),
        synced: bool = False,
        job_title: str | None = None,
        key: str | None = None,
    ) -> dict[str, Any]:
        user_id = self.uid()
        guest = kind == "guest"
        given, _, surname = display_name.partition(" ")
        user = {
            "id": user_id,
            "displayName": display_name,
            "givenName": given or None,
            "surname": surname or None,
            "userPrincipalName": upn,
            "mail": _mail(upn, kind, licences),
            "jobTitle": job_title,
            "accountEnabled": enabled,
            "userType": "Guest" if guest else "Member",
            "onPremisesSyncEnabled": True if synced else None,
            "createdDateTime": self.created(),
            "assignedLicenses": [
                {"disabledPlans": [], "skuId": self.sku_ids[part]} for part in licences
            ],
        }
        self.users.append(user)
        self.kind[user_id] = kind
        if methods:
            self.methods[user_id] = methods
        if key:
            self.keys[key] = user_id
        return user

    def created(self) -> str:
        day = self.rng.randrange(0, 3000)
        year, rest = 2017 + day // 365, day % 365
        return (
            f"{year}-{1 + rest // 31:02d}-{1 + rest % 28:02d}T{self.rng.randrange(7, 18):02d}:"
            f"{self.rng.randrange(60):02d}:{self.rng.randrange(60):02d}Z"
        )

    def named_account(self, a: dict[str, Any]) -> None:
        upn = a["upn"].replace("{domain}", self.domain)
        self.upns.add(upn.lower())
        self.add_user(
            display_name=a["displayName"],
            upn=upn,
            kind=a["kind"],
            licences=a.get("licences", []),
            enabled=a.get("enabled", True),
            methods=tuple(a.get("methods", [])),
            synced=a.get("synced", False),
            job_title=a.get("jobTitle"),
            key=a["key"],
        )

    def population(self, p: dict[str, Any], count: int) -> None:
        kind = p["kind"]
        with_mfa = set(self.rng.sample(range(count), round(p.get("mfa", 0.0) * count)))
        disabled = set(self.rng.sample(range(count), round(p.get("disabled", 0.0) * count)))
        mix = p.get("methods", {"authenticator": 1.0})
        for i in range(count):
            first = self.rng.choice(FIRST_NAMES)
            last = self.rng.choice(LAST_NAMES)
            if kind == "guest":
                org = self.rng.choice(p.get("guest_domains", ["gmail.com"]))
                mail = f"{first.lower()}.{last.replace(' ', '').lower()}{i}@{org}"
                upn = f"{mail.replace('@', '_')}#EXT#@{self.spec['initial_domain']}"
            elif kind == "student":
                upn = f"{p.get('upn_prefix', 'l')}{100000 + i}@{self.domain}"
            else:
                upn = self.unique_upn(f"{first[0]}.{last.replace(' ', '')}".lower())
            if i in with_mfa:
                methods = (self.rng.choices(list(mix), weights=list(mix.values()))[0],)
            else:
                methods = ("email",) if p.get("sspr_email") else ()
            self.add_user(
                display_name=f"{first} {last}",
                upn=upn,
                kind=kind,
                licences=p.get("licences", []),
                enabled=i not in disabled,
                methods=methods,
                job_title=p.get("jobTitle"),
            )

    def unique_upn(self, local: str) -> str:
        candidate, n = f"{local}@{self.domain}", 1
        while candidate in self.upns:
            n += 1
            candidate = f"{local}{n}@{self.domain}"
        self.upns.add(candidate)
        return candidate

    def registration(self, user: dict[str, Any], is_admin: bool) -> dict[str, Any]:
        kinds = self.methods.get(user["id"], ())
        names = [n for k in kinds for n in METHOD_REPORT_NAMES[k]]
        strong = bool(set(kinds) & STRONG_METHODS)
        preferred = "push" if "authenticator" in kinds else "sms" if "sms" in kinds else "none"
        return {
            "id": user["id"],
            "userPrincipalName": user["userPrincipalName"],
            "userDisplayName": user["displayName"],
            "userType": user["userType"].lower(),
            "isAdmin": is_admin,
            "isSsprRegistered": bool(kinds),
            "isSsprEnabled": user["userType"] == "Member",
            "isSsprCapable": bool(kinds) and user["userType"] == "Member",
            "isMfaRegistered": strong,
            "isMfaCapable": strong,
            "isPasswordlessCapable": bool(set(kinds) & {"fido2", "whfb"}),
            "methodsRegistered": names,
            "isSystemPreferredAuthenticationMethodEnabled": True,
            "systemPreferredAuthenticationMethods": [preferred] if strong else [],
            "userPreferredMethodForSecondaryAuthentication": preferred,
            "lastUpdatedDateTime": "2026-11-19T23:14:07.4512003Z",
        }

    # --- groups, apps, roles, policies ------------------------------------------------------

    def groups(self) -> tuple[list[dict[str, Any]], dict[str, list[str]]]:
        groups, members = [], {}
        for g in self.spec.get("groups", []):
            gid = self.uid()
            self.keys[g["key"]] = gid
            groups.append(
                {
                    "id": gid,
                    "displayName": g["displayName"],
                    "description": g.get("description"),
                    "isAssignableToRole": g.get("isAssignableToRole", False),
                    "securityEnabled": True,
                    "mailEnabled": False,
                    "groupTypes": [],
                    "createdDateTime": self.created(),
                }
            )
            members[gid] = [self.keys[m] for m in g.get("members", [])]
        return groups, members

    def service_principal(self, sp: dict[str, Any]) -> dict[str, Any]:
        sid = self.uid()
        self.keys[sp["key"]] = sid
        return {
            "id": sid,
            "appId": sp.get("appId") or self.uid(),
            "displayName": sp["displayName"],
            "accountEnabled": True,
            "servicePrincipalType": "Application",
            "appOwnerOrganizationId": sp.get("owner"),
        }

    def role_assignments(self, roles: list[dict[str, Any]]) -> list[dict[str, Any]]:
        by_name = {r["displayName"]: r["id"] for r in roles}
        out = []
        for holder in self.spec.get("role_assignments", []):
            principal = self.keys[holder["principal"]]
            for role in holder["roles"]:
                role_id = by_name[role]
                out.append(
                    {
                        # Graph's id is the role id, base64-ish, plus principal; opaque to us.
                        "id": f"{role_id[:8]}{principal.replace('-', '')[:24]}-1",
                        "principalId": principal,
                        "roleDefinitionId": role_id,
                        "directoryScopeId": "/",
                        "resourceScope": "/",
                        "appScopeId": None,
                    }
                )
        return out

    def resolve(self, value: Any) -> Any:
        """Replace `{key}` references in a policy with the object ids they name."""
        if isinstance(value, dict):
            return {k: self.resolve(v) for k, v in value.items()}
        if isinstance(value, list):
            return [self.resolve(v) for v in value]
        if isinstance(value, str) and value.startswith("{") and value.endswith("}"):
            return self.keys.get(value[1:-1], value)
        return value

    def organization(self) -> dict[str, Any]:
        spec = self.spec
        domains = [
            {
                "capabilities": "Email, OfficeCommunicationsOnlineService",
                "isDefault": True,
                "isInitial": False,
                "name": self.domain,
                "type": "Managed",
            },
            {
                "capabilities": "Email, OfficeCommunicationsOnlineService",
                "isDefault": False,
                "isInitial": True,
                "name": spec["initial_domain"],
                "type": "Managed",
            },
        ]
        return {
            "id": spec["tenant_id"],
            "displayName": spec["display_name"],
            "countryLetterCode": "NL",
            "preferredLanguage": "nl",
            "city": spec.get("city"),
            "createdDateTime": spec.get("created", "2015-09-01T10:00:00Z"),
            "tenantType": "AAD",
            "onPremisesSyncEnabled": spec.get("on_premises_sync"),
            "onPremisesLastSyncDateTime": None,
            "technicalNotificationMails": [spec.get("technical_contact", f"ict@{self.domain}")],
            "securityComplianceNotificationMails": [],
            "verifiedDomains": domains,
            "assignedPlans": [],
        }


def _mail(upn: str, kind: str, licences: list[str]) -> str | None:
    if kind == "guest":  # jan_ict-partner.nl#EXT#@school.onmicrosoft.com -> jan@ict-partner.nl
        local = upn.split("#EXT#")[0]
        head, _, tail = local.rpartition("_")
        return f"{head}@{tail}"
    return upn if licences else None  # no licence, no mailbox


def _method_objects(user_id: str, kinds: tuple[str, ...]) -> list[dict[str, Any]]:
    """Graph's authenticationMethod objects (v1.0 shapes) for one user."""
    seed = uuid.UUID(user_id).int
    out: list[dict[str, Any]] = [
        {
            # Graph gives every password method this fixed id.
            "@odata.type": "#microsoft.graph.passwordAuthenticationMethod",
            "id": "28c10230-6103-485e-b985-444c60001490",
            "password": None,
            "createdDateTime": "2023-08-14T09:31:12Z",
        }
    ]
    for kind in kinds:
        method_id = str(
            uuid.UUID(
                int=(seed + 7919 * (1 + sorted(METHOD_REPORT_NAMES).index(kind))) % 2**128,
                version=4,
            )
        )
        if kind == "authenticator":
            out.append(
                {
                    "@odata.type": "#microsoft.graph.microsoftAuthenticatorAuthenticationMethod",
                    "id": method_id,
                    "displayName": "iPhone",
                    "deviceTag": "SoftwareTokenActivated",
                    "phoneAppVersion": "6.8.17",
                    "createdDateTime": "2024-02-05T13:02:44Z",
                }
            )
        elif kind == "sms":
            out.append(
                {
                    "@odata.type": "#microsoft.graph.phoneAuthenticationMethod",
                    # Graph uses fixed ids per phone type; mobile is this one.
                    "id": "3179e48a-750b-4051-897c-87b9720928f7",
                    "phoneNumber": f"+31 6{seed % 10**8:08d}",
                    "phoneType": "mobile",
                    "smsSignInState": "notAllowedByPolicy",
                }
            )
        elif kind == "fido2":
            out.append(
                {
                    "@odata.type": "#microsoft.graph.fido2AuthenticationMethod",
                    "id": method_id,
                    "displayName": "YubiKey 5 NFC",
                    "aaGuid": "cb69481e-8ff7-4039-93ec-0a2729a154a8",
                    "model": "YubiKey 5 NFC",
                    "attestationLevel": "attested",
                    "createdDateTime": "2025-03-10T10:12:01Z",
                }
            )
        elif kind == "whfb":
            out.append(
                {
                    "@odata.type": "#microsoft.graph.windowsHelloForBusinessAuthenticationMethod",
                    "id": method_id,
                    "displayName": "LAPTOP-ICT",
                    "keyStrength": "normal",
                    "createdDateTime": "2025-01-20T08:45:00Z",
                }
            )
        elif kind == "email":
            out.append(
                {
                    "@odata.type": "#microsoft.graph.emailAuthenticationMethod",
                    # Graph uses this fixed id for the email method.
                    "id": "3ddfcfc8-9383-446f-83cc-3ab9be4be18f",
                    "emailAddress": "p***@gmail.com",
                }
            )
    return out
