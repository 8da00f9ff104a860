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
from datetime import UTC, date, datetime, timedelta
from functools import cache, cached_property
from importlib import resources
from typing import Any

from m365apk.demo import catalog
from m365apk.snapshot.licences import AAD_PREMIUM_P1, AAD_PREMIUM_P2, ENTRA_GOVERNANCE
from m365apk.snapshot.settings import TenantSettings

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
    # Data-only endpoints (policies, settings, logs): path -> {"value" | "object" | "error"}.
    static: dict[str, dict[str, Any]] = field(default_factory=dict)
    sign_in_activity: dict[str, dict[str, Any]] = field(default_factory=dict)
    sign_ins: list[dict[str, Any]] = field(default_factory=list)
    managed_devices: list[dict[str, Any]] = field(default_factory=list)
    app_role_assignments: list[dict[str, Any]] = field(default_factory=list)
    # The Exchange Online Admin API's data (demo/exchange.py); None: not available there.
    exchange: dict[str, Any] | None = None

    @cached_property
    def objects(self) -> dict[str, dict[str, Any]]:
        """Directory objects by id, typed (`@odata.type`), for expanded principals and group
        members. Built when first asked: a tenant copied with `dataclasses.replace` (the sector
        benchmark names each board so) is not indexed twice."""
        index: dict[str, dict[str, Any]] = {}
        for kind, items in (
            ("user", self.users),
            ("group", self.groups),
            ("servicePrincipal", self.service_principals),
        ):
            for item in items:
                index[item["id"]] = {"@odata.type": f"#microsoft.graph.{kind}", **item}
        return index

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
        p.name.removesuffix(".json")
        for p in folder.iterdir()
        if p.name.endswith(".json") and p.name.count(".") == 1
    )


@cache
def _profile_data(name: str) -> dict[str, Any]:
    """The profile file plus its overlays (`NAME.AREA.json`, one per check area), merged:
    objects merge by key, lists are concatenated."""
    if name not in available_profiles():
        raise ValueError(f"onbekend profiel {name!r}; kies uit {', '.join(available_profiles())}")
    folder = resources.files("m365apk.demo") / "profiles"
    data = json.loads((folder / f"{name}.json").read_text("utf-8"))
    overlays = sorted(
        p.name for p in folder.iterdir() if p.name.startswith(f"{name}.") and p.name.count(".") == 2
    )
    for overlay in overlays:
        data = _merge(data, json.loads((folder / overlay).read_text("utf-8")))
    return data


def _merge(base: Any, extra: Any) -> Any:
    if isinstance(base, dict) and isinstance(extra, dict):
        merged = dict(base)
        for key, value in extra.items():
            merged[key] = _merge(base[key], value) if key in base else value
        return merged
    if isinstance(base, list) and isinstance(extra, list):
        return base + extra
    return extra


def demo_settings(name: str) -> TenantSettings:
    """The tenant settings the demo school keeps (break-glass accounts, approved exclusions)."""
    return TenantSettings.model_validate(_profile_data(name).get("tenant_settings", {}))


def load_profile(
    name: str, users: int | None = None, seed: int = 1, today: date | None = None
) -> TenantData:
    """Build the tenant of profile `name`; `users` scales the populations to that many accounts
    in total (named accounts included). Dates in the profile are relative to `today`."""
    today = today or datetime.now(UTC).date()
    return _Builder(_profile_data(name), name, users, seed, today).build()


def uuid4_text(bits: int) -> str:
    """str(uuid.UUID(int=bits, version=4)), without building the UUID object (the simulator
    makes millions of ids for a sector's tenants)."""
    bits &= ~(0xC000 << 48)
    bits |= 0x8000 << 48
    bits &= ~(0xF000 << 64)
    bits |= 4 << 76
    h = f"{bits:032x}"
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


class _Builder:
    def __init__(
        self, spec: dict[str, Any], name: str, users: int | None, seed: int, today: date
    ) -> None:
        self.spec = spec
        self.today = today
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
        return uuid4_text(self.rng.getrandbits(128))

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
        sps = [self.service_principal(sp) for sp in catalog.RESOURCE_APPS]
        sps += [self.service_principal(sp) for sp in spec.get("service_principals", [])]
        roles = catalog.role_definitions()
        assignments = self.role_assignments(roles)
        admins = {a["principalId"] for a in assignments}
        for a in assignments:
            admins.update(members.get(a["principalId"], []))
        registration = [self.registration(u, u["id"] in admins) for u in self.users]
        organization = self.organization()
        static = self.static(assignments, roles)
        activity = self.sign_in_activity()
        sign_ins = self.sign_ins()
        devices = self.devices()
        app_roles = self.app_role_assignments(sps)
        # Exchange last, on a random stream of its own: the accounts of shared mailboxes join
        # the users without changing a single id or value the rest of the profile was given.
        exchange = self.exchange(registration, activity)
        return TenantData(
            name=self.name,
            tenant_id=spec["tenant_id"],
            display_name=spec["display_name"],
            default_domain=self.domain,
            client_id=spec["client_id"],
            client_secret=spec["client_secret"],
            granted_permissions=frozenset(spec["permissions"]),
            organization=organization,
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
            static=static,
            sign_in_activity=activity,
            sign_ins=sign_ins,
            managed_devices=devices,
            app_role_assignments=app_roles,
            exchange=exchange,
        )

    # --- Exchange Online (demo/exchange.py serves it) -----------------------------------------

    def exchange(
        self, registration: list[dict[str, Any]], activity: dict[str, dict[str, Any]]
    ) -> dict[str, Any] | None:
        """The profile's `exchange` section (NAME.exchange.json) as the Admin API serves it:
        organisation settings, accepted domains and a mailbox per licensed account plus the
        shared mailboxes, whose Entra accounts are added to the users here. None: the profile
        has no Exchange data, and the simulated Admin API is not available for the tenant."""
        section = self.spec.get("exchange")
        if section is None:
            return None
        main_rng, self.rng = self.rng, random.Random(f"{self.name}:exchange")
        try:
            return self._exchange(section, registration, activity)
        finally:
            self.rng = main_rng

    def _exchange(
        self,
        section: dict[str, Any],
        registration: list[dict[str, Any]],
        activity: dict[str, dict[str, Any]],
    ) -> dict[str, Any]:
        def fill(value: Any) -> Any:
            if isinstance(value, str):
                return value.replace("{domain}", self.domain).replace(
                    "{initial_domain}", self.spec["initial_domain"]
                )
            if isinstance(value, dict):
                return {k: fill(v) for k, v in value.items()}
            if isinstance(value, list):
                return [fill(v) for v in value]
            return value

        section = fill(section)
        overrides: dict[str, dict[str, Any]] = dict(section.get("mailboxes", {}))
        shared: list[tuple[dict[str, Any], dict[str, Any]]] = []
        for box in section.get("shared_mailboxes", []):
            user = self.add_user(
                display_name=box["displayName"],
                upn=box["upn"],
                kind="other",
                licences=[],
                enabled=box.get("enabled", True),
                key=box["key"],
            )
            user["mail"] = box["upn"]
            registration.append(self.registration(user, False))
            activity[user["id"]] = {
                k: None
                for k in (
                    "lastSignInDateTime",
                    "lastSignInRequestId",
                    "lastNonInteractiveSignInDateTime",
                    "lastNonInteractiveSignInRequestId",
                    "lastSuccessfulSignInDateTime",
                    "lastSuccessfulSignInRequestId",
                )
            }
            shared.append((user, box))
        defaults = dict(section.get("mailbox_defaults", {}))
        mailboxes = []
        for user in self.users:
            box = next((b for u, b in shared if u is user), None)
            if box is None and (user["userType"] != "Member" or not user.get("mail")):
                continue  # no licence, no mailbox; guests have none in this tenant
            key = next((k for k, v in self.keys.items() if v == user["id"]), None)
            alias = (user.get("mail") or user["userPrincipalName"]).split("@")[0]
            mailbox = {
                "Guid": str(uuid.uuid5(uuid.UUID(user["id"]), "mailbox")),
                "ExternalDirectoryObjectId": user["id"],
                "UserPrincipalName": user["userPrincipalName"],
                "PrimarySmtpAddress": user.get("mail") or user["userPrincipalName"],
                "DisplayName": user["displayName"],
                # Exchange Online names a cloud mailbox after its alias (Name, Identity).
                "Name": alias,
                "Alias": alias,
                "Identity": alias,
                "RecipientTypeDetails": "SharedMailbox" if box else "UserMailbox",
                "ForwardingSmtpAddress": None,
                "ForwardingAddress": None,
                "DeliverToMailboxAndForward": False,
                "AuditEnabled": True,
                **defaults,
                **(box.get("mailbox", {}) if box else {}),
                **(overrides.get(key, {}) if key else {}),
            }
            mailboxes.append(mailbox)
        return {
            "available": section.get("available", True),
            "rbac": section.get("rbac", True),
            "page_size": section.get("page_size", 1000),
            "organization_config": section.get("organization_config", {}),
            "accepted_domains": section.get("accepted_domains", []),
            "mailboxes": mailboxes,
        }

    # --- accounts ---------------------------------------------------------------------------

    def population_counts(self) -> Iterator[tuple[dict[str, Any], int]]:
        populations = self.spec["populations"]
        # Shared mailboxes' accounts (the exchange section) are named accounts too: `users` is
        # the total.
        shared = (self.spec.get("exchange") or {}).get("shared_mailboxes", [])
        named = len(self.spec.get("accounts", [])) + len(shared)
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
                    "groupTypes": g.get("groupTypes", []),
                    "createdDateTime": self.created(),
                }
            )
            members[gid] = [self.keys[m] for m in g.get("members", [])]
        return groups, members

    def service_principal(self, sp: dict[str, Any]) -> dict[str, Any]:
        sid = self.uid()
        self.keys[sp["key"]] = sid
        first_party = sp["key"].startswith("ms-")
        verified = sp.get("verifiedPublisher")
        return {
            "id": sid,
            "appId": sp.get("appId") or self.uid(),
            "displayName": sp["displayName"],
            "appDisplayName": sp["displayName"],
            "accountEnabled": sp.get("accountEnabled", True),
            "servicePrincipalType": "Application",
            "appOwnerOrganizationId": catalog.MICROSOFT_SERVICES_TENANT
            if first_party
            else sp.get("owner") or self.uid(),
            "verifiedPublisher": {
                "displayName": verified,
                "verifiedPublisherId": str(self.rng.randrange(10**6, 10**7)) if verified else None,
                "addedDateTime": "2022-03-01T10:00:00Z" if verified else None,
            },
            "tags": sp.get("tags", ["WindowsAzureActiveDirectoryIntegratedApp"]),
            "passwordCredentials": [
                self.credential(c, f"{sid}/s{n}", False)
                for n, c in enumerate(sp.get("secrets", []))
            ],
            "keyCredentials": [
                self.credential(c, f"{sid}/c{n}", True)
                for n, c in enumerate(sp.get("certificates", []))
            ],
            "appRoles": [
                {
                    "id": role_id,
                    "value": value,
                    "displayName": value,
                    "allowedMemberTypes": ["Application"],
                    "isEnabled": True,
                    "origin": "Application",
                }
                for value, role_id in sorted((sp.get("appRoles") or {}).items())
            ],
        }

    def credential(self, spec: dict[str, Any], name: str, key: bool) -> dict[str, Any]:
        """A secret or certificate on an enterprise app, as Graph lists it (never the secret
        itself: secretText is null, the hint is three characters, a key's value is null)."""
        out: dict[str, Any] = {
            "customKeyIdentifier": spec.get("customKeyIdentifier"),
            "displayName": spec.get("displayName"),
            "endDateTime": self.days_ago(spec["end_days_ago"]),
            # not from the tenant's random stream: adding a credential moves no other id
            "keyId": str(uuid.uuid5(uuid.NAMESPACE_URL, name)),
            "startDateTime": self.days_ago(spec["start_days_ago"]),
        }
        if key:
            out |= {"key": None, "type": "AsymmetricX509Cert", "usage": spec.get("usage", "Verify")}
        else:
            out |= {"hint": "q7~", "secretText": None}
        return out

    def app_role_assignments(self, sps: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Application permissions granted to apps, as appRoleAssignedTo on the resource."""
        by_id = {sp["id"]: sp for sp in sps}
        out = []
        for grant in self.spec.get("app_permissions", []):
            client = by_id[self.keys[grant["app"]]]
            resource = by_id[self.keys[grant["resource"]]]
            roles = {r["value"]: r["id"] for r in resource["appRoles"]}
            for value in grant["roles"]:
                out.append(
                    {
                        "id": _b64id(self.rng),
                        "appRoleId": roles[value],
                        "createdDateTime": self.days_ago(grant.get("days_ago", 400)),
                        "deletedDateTime": None,
                        "principalDisplayName": client["displayName"],
                        "principalId": client["id"],
                        "principalType": "ServicePrincipal",
                        "resourceDisplayName": resource["displayName"],
                        "resourceId": resource["id"],
                    }
                )
        return out

    # --- activity: sign-ins, devices ---------------------------------------------------------

    def days_ago(self, days: float, hour: int = 8) -> str:
        memo = self.__dict__.setdefault("_days_ago", {})
        found = memo.get((days, hour))
        if found is None:  # a sector's tenants ask for the same few thousand moments
            midnight = datetime.combine(self.today, datetime.min.time(), UTC)
            moment = midnight - timedelta(days=days) + timedelta(hours=hour)
            found = memo[(days, hour)] = moment.strftime("%Y-%m-%dT%H:%M:%SZ")
        return found

    def sign_in_activity(self) -> dict[str, dict[str, Any]]:
        """Last sign-in per account: most recent, some stale (> 90 days), some never."""
        rules = self.spec.get("sign_in_activity", {})
        stale, never = rules.get("stale", 0.0), rules.get("never", 0.0)
        named = {self.keys[k]: v for k, v in rules.get("named", {}).items()}
        out = {}
        for user in self.users:
            roll = self.rng.random()
            if user["id"] in named:
                days = named[user["id"]]
            elif roll < never:
                days = None
            elif roll < never + stale:
                days = self.rng.randrange(91, 700)
            else:
                days = self.rng.randrange(0, 30)
            when = None if days is None else self.days_ago(days, self.rng.randrange(7, 18))
            request = None if when is None else self.uid()
            out[user["id"]] = {
                "lastSignInDateTime": when,
                "lastSignInRequestId": request,
                "lastNonInteractiveSignInDateTime": when,
                "lastNonInteractiveSignInRequestId": request,
                "lastSuccessfulSignInDateTime": when,
                "lastSuccessfulSignInRequestId": request,
            }
        return out

    def sign_ins(self) -> list[dict[str, Any]]:
        """Recent interactive sign-ins, newest first (what /auditLogs/signIns returns)."""
        rules = self.spec.get("sign_ins", {})
        clients = rules.get("clients", {"Browser": 0.7, "Mobile Apps and Desktop clients": 0.3})
        active = [u for u in self.users if u["accountEnabled"]] or self.users
        apps = ["Office 365 SharePoint Online", "Microsoft Teams", "Office365 Shell WCSS-Client"]
        enforced = "success" if self.spec.get("conditional_access") else "notApplied"
        out = []
        for i in range(rules.get("count", 0)):
            user = active[self.rng.randrange(len(active))]
            client = self.rng.choices(list(clients), weights=list(clients.values()))[0]
            failed = self.rng.random() < 0.04
            ip = ".".join(str(self.rng.randrange(1, 255)) for _ in range(3))
            out.append(
                {
                    "id": self.uid(),
                    "createdDateTime": self.days_ago(i * 0.01, 7),
                    "userDisplayName": user["displayName"],
                    "userPrincipalName": user["userPrincipalName"],
                    "userId": user["id"],
                    "appId": "00000003-0000-0ff1-ce00-000000000000",
                    "appDisplayName": self.rng.choice(apps),
                    "ipAddress": f"145.{ip}",
                    "clientAppUsed": client,
                    "conditionalAccessStatus": enforced,
                    "isInteractive": True,
                    "riskDetail": "none",
                    "riskLevelAggregated": "none",
                    "riskLevelDuringSignIn": "none",
                    "riskState": "none",
                    "status": {
                        "errorCode": 50126 if failed else 0,
                        "failureReason": "Invalid username or password." if failed else None,
                        "additionalDetails": None,
                    },
                    "location": {"city": "Utrecht", "state": "Utrecht", "countryOrRegion": "NL"},
                }
            )
        return out

    def devices(self) -> list[dict[str, Any]]:
        """Intune-managed devices, scaled with the staff population."""
        rules = self.spec.get("devices")
        if not rules:
            return []
        staff = [u for u in self.users if self.kind[u["id"]] == "staff" and u["accountEnabled"]]
        count = round(len(staff) * rules.get("per_staff", 1.0)) + rules.get("shared", 0)
        mix = rules["os"]  # [[operatingSystem, osVersion, weight], ...]
        out = []
        for i in range(count):
            os_name, version, _ = self.rng.choices(mix, weights=[m[2] for m in mix])[0]
            owner = staff[i] if i < len(staff) else None
            out.append(
                {
                    "id": self.uid(),
                    "deviceName": f"{'LT' if os_name == 'Windows' else 'TAB'}-{10000 + i}",
                    "operatingSystem": os_name,
                    "osVersion": version,
                    "complianceState": "compliant"
                    if self.rng.random() < rules.get("compliant", 0.9)
                    else "noncompliant",
                    "isEncrypted": self.rng.random() < rules.get("encrypted", 0.9),
                    "lastSyncDateTime": self.days_ago(self.rng.randrange(0, 20)),
                    "managedDeviceOwnerType": "company",
                    "userPrincipalName": owner["userPrincipalName"] if owner else None,
                    "enrolledDateTime": self.days_ago(self.rng.randrange(30, 900)),
                    "managementAgent": "mdm",
                }
            )
        return out

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
                        "appScopeId": None,
                    }
                )
        return out

    def static(
        self, assignments: list[dict[str, Any]], roles: list[dict[str, Any]]
    ) -> dict[str, dict[str, Any]]:
        """Data-only endpoints from the profile, plus the PIM schedule views derived from the
        role assignments (every active assignment is standing unless the profile says)."""
        out = {path: self.resolve(body) for path, body in self.spec.get("graph", {}).items()}
        by_name = {r["displayName"]: r["id"] for r in roles}
        active = [
            {
                "id": f"{a['id']}-sched",
                "principalId": a["principalId"],
                "roleDefinitionId": a["roleDefinitionId"],
                "directoryScopeId": "/",
                "appScopeId": None,
                "startDateTime": self.days_ago(400),
                "endDateTime": None,
                "assignmentType": "Assigned",
                "memberType": "Direct",
                "roleAssignmentOriginId": a["id"],
                "roleAssignmentScheduleId": f"{a['id']}-sched",
            }
            for a in assignments
        ]
        eligible = [
            {
                "id": self.uid(),
                "principalId": self.keys[e["principal"]],
                "roleDefinitionId": by_name[role],
                "directoryScopeId": "/",
                "appScopeId": None,
                "startDateTime": self.days_ago(200),
                "endDateTime": self.days_ago(-165) if e.get("expires", True) else None,
                "memberType": "Direct",
                "roleEligibilityScheduleId": self.uid(),
            }
            for e in self.spec.get("eligible_roles", [])
            for role in e["roles"]
        ]
        path = "/roleManagement/directory/roleAssignmentScheduleInstances"
        out.setdefault(path, {"value": active})
        path = "/roleManagement/directory/roleEligibilityScheduleInstances"
        out.setdefault(path, {"value": eligible})
        self.pim_for_groups(out)
        return out

    def pim_for_groups(self, out: dict[str, dict[str, Any]]) -> None:
        """PIM for Groups: every role-assignable group answers its member and owner policies
        (Microsoft's defaults unless the profile's group says `pim`: approval, recipients), and
        the profile's `eligible_group_members` are eligible for membership (or ownership).
        Ids are derived from the group's id, so the rest of the tenant stays as it was."""
        policies = out.setdefault("/policies/roleManagementPolicyAssignments", {"value": []})
        eligibility: list[dict[str, Any]] = []
        for g in self.spec.get("groups", []):
            if not g.get("isAssignableToRole"):
                continue
            gid = self.keys[g["key"]]
            pim = g.get("pim", {})
            for access in ("member", "owner"):
                settings = pim if access == "member" else {}
                policy_id = f"Group_{gid}_{uuid.uuid5(uuid.UUID(gid), access)}"
                policies["value"].append(
                    {
                        "id": f"{policy_id}_{access}",
                        "policyId": policy_id,
                        "scopeId": gid,
                        "scopeType": "Group",
                        "roleDefinitionId": access,
                        "policy": {
                            "id": policy_id,
                            "displayName": "Group",
                            "description": "Group",
                            "isOrganizationDefault": False,
                            "scopeId": gid,
                            "scopeType": "Group",
                            "lastModifiedDateTime": None,
                            "lastModifiedBy": None,
                            "rules": pim_rules(
                                approval=settings.get("approval", False),
                                recipients=[
                                    self.resolve(r) for r in settings.get("recipients", [])
                                ],
                                defaults=settings.get("default_recipients", True),
                            ),
                        },
                    }
                )
        for e in self.spec.get("eligible_group_members", []):
            gid, principal = self.keys[e["group"]], self.keys[e["principal"]]
            access = e.get("access", "member")
            schedule = str(uuid.uuid5(uuid.UUID(gid), f"{principal}-{access}"))
            eligibility.append(
                {
                    "id": schedule,
                    "groupId": gid,
                    "principalId": principal,
                    "accessId": access,
                    "memberType": "direct",
                    "startDateTime": self.days_ago(120),
                    "endDateTime": self.days_ago(-245),
                    "eligibilityScheduleId": schedule,
                }
            )
        path = "/identityGovernance/privilegedAccess/group/eligibilityScheduleInstances"
        out.setdefault(path, {"value": eligibility})

    def resolve(self, value: Any) -> Any:
        """Replace `{key}` references in a policy with the object ids they name."""
        if isinstance(value, dict):
            return {k: self.resolve(v) for k, v in value.items()}
        if isinstance(value, list):
            return [self.resolve(v) for v in value]
        if isinstance(value, str) and value.startswith("{") and value.endswith("}"):
            inner = value[1:-1]
            if inner.startswith("days_ago:"):  # "{days_ago:12}": a timestamp 12 days back
                return self.days_ago(float(inner.split(":", 1)[1]))
            if inner == "tenant_id":  # e.g. secureScore.azureTenantId (non-nullable in v1.0)
                return self.spec["tenant_id"]
            return self.keys.get(inner, value)
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


def _b64id(rng: random.Random) -> str:
    """Graph's appRoleAssignment ids are base64-like strings, not GUIDs."""
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    return "".join(rng.choice(alphabet) for _ in range(43))


def profile_dns(name: str) -> dict[str, dict[str, list[str]]]:
    """The public DNS records of a profile's mail domains (its `dns` section), for the
    simulated DNS server."""
    return _profile_data(name).get("dns", {}) if name in available_profiles() else {}


def profile_audit_records(name: str) -> int:
    """Records per week in the profile's Microsoft 365 audit log (0: the log is switched off)."""
    if name not in available_profiles():
        return 1000
    return int(_profile_data(name).get("unified_audit_log", {}).get("records_per_week", 1000))


def _pim_target(caller: str, level: str) -> dict[str, Any]:
    return {
        "caller": caller,
        "operations": ["all"],
        "level": level,
        "inheritableSettings": [],
        "enforcedSettings": [],
    }


def pim_rules(
    approval: bool = False, recipients: list[str] | None = None, defaults: bool = True
) -> list[dict[str, Any]]:
    """The approval and admin notification rules of a PIM policy, as Graph returns them with
    $expand=policy($expand=rules) ("List roleManagementPolicyAssignments", example 2).
    Microsoft's defaults: no approval, alerts to the default recipients only."""
    approval_rule = {
        "@odata.type": "#microsoft.graph.unifiedRoleManagementPolicyApprovalRule",
        "id": "Approval_EndUser_Assignment",
        "setting": {
            "isApprovalRequired": approval,
            "isApprovalRequiredForExtension": False,
            "isRequestorJustificationRequired": True,
            "approvalMode": "SingleStage",
            "approvalStages": [],
        },
        "target": _pim_target("EndUser", "Assignment"),
    }
    notifications = [
        {
            "@odata.type": "#microsoft.graph.unifiedRoleManagementPolicyNotificationRule",
            "id": rule_id,
            "notificationType": "Email",
            "recipientType": "Admin",
            "notificationLevel": "All",
            "isDefaultRecipientsEnabled": defaults,
            "notificationRecipients": list(recipients or []),
            "target": _pim_target(caller, level),
        }
        for rule_id, caller, level in (
            ("Notification_Admin_Admin_Eligibility", "Admin", "Eligibility"),
            ("Notification_Admin_Admin_Assignment", "Admin", "Assignment"),
            ("Notification_Admin_EndUser_Assignment", "EndUser", "Assignment"),
        )
    ]
    return [approval_rule, *notifications]
