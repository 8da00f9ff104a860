"""The one conditional-access (CA) engine. Every check that judges MFA enforcement, blocking or
legacy authentication asks this module; no other check module reads CA policy fields.

It implements Microsoft Graph v1.0 `conditionalAccessPolicy` semantics (graph-reference §1.2-1.5;
Maester Test-MtCaMfaForAllUsers / Test-MtCaMfaForAdmin; ScubaGear IsGeneralMFA and
AADConfig.rego MS.AAD.1.1v1 / 3.2v2):

* Security defaults come first: when on, they require MFA of everyone and block legacy
  authentication, whatever the CA endpoint answers.
* Only `state == "enabled"` enforces; `enabledForReportingButNotEnforced` enforces nothing.
* Grant: `block` blocks (and so also covers an MFA requirement: a blocked sign-in cannot skip
  MFA). MFA is required when the grant asks `mfa` (or an authentication strength whose every
  allowed combination is multifactor) and, with operator OR, no other control can be chosen
  instead (compliant device, terms of use, a non-MFA strength, a custom control). A grant with
  `passwordChange` or `riskRemediation` is risk remediation, not general MFA.
* A policy covers a sign-in region: users x applications x client app types x platforms x
  locations x user risk x sign-in risk x device filter x authentication flows (x times,
  device states, insider risk). A requirement ("MFA everywhere", "legacy clients blocked") is
  met when one enabled policy covers the whole required region, or when policies that are
  narrowed in one and the same condition together cover it (CA001 leaves out Exchange Online,
  CA004 requires MFA for Exchange Online). Anything else is at best partial, naming the policy
  and the gap ("CA001 sluit Exchange Online uit"; the words are in messages/<lang>/checks/
  conditional_access.yaml, keys `engine.`).
* Users: include/exclude by user id, group (expanded from the group members the scan read,
  transitively where Graph gave that), directory role, and guest/external user types.
  Tenant settings count only within bounds (checks/trust.py): an approved exclusion with an
  owner and an end date not passed, not covering most of the population the check judges (nor
  the staff, nor the admins), makes a verdict `approved` (the check then says `accepted`,
  naming the approval), never `covered`; a break-glass account counts only when it looks like
  one by Microsoft's guidance. The others are ignored, and `ignored()` says why.
  When a decision needs a group membership that was not read, the answer is unknown.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import dataclass, field
from typing import Any

from m365apk.checks import trust
from m365apk.checks.base import _problem
from m365apk.checks.common import (
    PRIVILEGED_ROLES,
    group_members,
)
from m365apk.checks.people import Person, role_reading
from m365apk.messages import Msg
from m365apk.snapshot import DatasetStatus, Snapshot
from m365apk.snapshot.settings import GUEST_TYPES

CA = "conditionalAccessPolicies"
# The properties the engine's verdicts rest on (a check's `reads`). Conditions whose null means
# "no condition" (platforms, locations, devices, ...) widen a policy when nulled: a narrowing
# question for the engine's metamorphic tests, not missing data.
PROPERTIES: dict[str, tuple[str, ...]] = {
    CA: ("state", "conditions.users", "conditions.applications", "grantControls"),
    "securityDefaults": ("isEnabled",),
}
NOBODY = "00000000-0000-0000-0000-000000000000"

# Well-known first-party apps, so a gap reads "sluit Exchange Online uit". Product names are
# not translated; the apps with a descriptive name have it in the catalogue (engine.app.<id>).
APP_NAMES = {
    "00000002-0000-0ff1-ce00-000000000000": "Exchange Online",
    "00000003-0000-0ff1-ce00-000000000000": "SharePoint Online",
    "00000003-0000-0000-c000-000000000000": "Microsoft Graph",
    "cc15fd57-2c6c-4117-a88c-83b1d56b4bbe": "Microsoft Teams Services",
    "0000000a-0000-0000-c000-000000000000": "Microsoft Intune",
    "d4ebce55-015a-49b5-a083-c84d1797ae8c": "Microsoft Intune Enrollment",
    "Office365": "Office 365",
}
APP_KEYS = {
    "797f4846-ba00-4fd7-ba43-dac1f8f63013": "azure_management",
    "MicrosoftAdminPortals": "admin_portals",
}
# Client app types; all but Exchange ActiveSync (a product name) are described in the catalogue
# (engine.client.<type>).
CLIENTS = frozenset({"browser", "mobileAppsAndDesktopClients", "exchangeActiveSync", "other"})
LEGACY_CLIENTS = frozenset({"exchangeActiveSync", "other"})
RISK_LEVELS = frozenset({"none", "low", "medium", "high"})
# Grant controls that are an alternative to MFA, described in the catalogue (engine.control.<id>).
CONTROLS = frozenset(
    {"compliantDevice", "domainJoinedDevice", "approvedApplication", "compliantApplication"}
)
# Single methods that are multifactor on their own (passwordless); any other combination needs
# two parts ("password,microsoftAuthenticatorPush") to be multifactor. Graph
# authenticationMethodModes; Microsoft's built-in "Multifactor authentication" strength.
MULTIFACTOR_ALONE = frozenset(
    {
        "fido2",
        "windowsHelloForBusiness",
        "x509CertificateMultiFactor",
        "deviceBasedPush",
        "temporaryAccessPassOneTime",
        "temporaryAccessPassMultiUse",
        "federatedMultiFactor",
    }
)
# A Graph guest account (userType Guest) is an internal or a B2B collaboration guest.
GUEST_ACCOUNT_TYPES = frozenset({"internalGuest", "b2bCollaborationGuest"})

MFA = "mfa"
LEGACY = "legacy"
# Further requirements (CISA SCuBA MS.AAD.2.1, 2.3, 3.1/3.6, 3.7, 3.9): what a grant must give
# on every path through it, or which sign-ins a block must reach.
PHISHING_RESISTANT = "phishing_resistant"
MANAGED_DEVICE = "managed_device"
DEVICE_CODE = "device_code"  # block the device code flow
HIGH_USER_RISK = "high_user_risk"  # block users at high risk
HIGH_SIGNIN_RISK = "high_signin_risk"  # block sign-ins at high risk
# Registering security information (MFA methods) only from a managed device, or blocked outside
# trusted locations (SCuBA MS.AAD.3.8): a user action, judged through the same region.
REGISTRATION = "registration"
BLOCK_WANTS = frozenset({LEGACY, DEVICE_CODE, HIGH_USER_RISK, HIGH_SIGNIN_RISK})
# Security defaults require MFA and block legacy authentication; nothing else on this list.
SECURITY_DEFAULTS_GIVE = frozenset({MFA, LEGACY})
REGISTER_SECURITY_INFO = "urn:user:registersecurityinfo"
# Microsoft's built-in "Phishing-resistant MFA" strength allows exactly these methods.
PHISHING_RESISTANT_ALONE = frozenset(
    {"windowsHelloForBusiness", "fido2", "x509CertificateMultiFactor"}
)

# Per-person and per-requirement outcomes.
COVERED = "covered"
APPROVED = "approved"
PARTIAL = "partial"
NONE = "none"
UNKNOWN = "unknown"


# --- one condition as a set ------------------------------------------------------------------


@dataclass(frozen=True)
class Cover:
    """The part of one condition a policy applies to: everything except `items` (cofinite) or
    only `items` (finite). The universe is open (new apps, locations, platforms), so a finite
    set never covers everything."""

    cofinite: bool
    items: frozenset[str] = frozenset()

    def __or__(self, other: Cover) -> Cover:
        if self.cofinite and other.cofinite:
            return Cover(True, self.items & other.items)
        if self.cofinite:
            return Cover(True, self.items - other.items)
        if other.cofinite:
            return Cover(True, other.items - self.items)
        return Cover(False, self.items | other.items)

    def __and__(self, other: Cover) -> Cover:
        if self.cofinite and other.cofinite:
            return Cover(True, self.items | other.items)
        if self.cofinite:
            return Cover(False, other.items - self.items)
        if other.cofinite:
            return Cover(False, self.items - other.items)
        return Cover(False, self.items & other.items)

    def covers(self, required: Cover) -> bool:
        if self.cofinite:
            return (
                self.items <= required.items
                if required.cofinite
                else not (self.items & required.items)
            )
        return not required.cofinite and required.items <= self.items


FULL = Cover(True)
EMPTY = Cover(False)

DIMS = (
    "users",
    "apps",
    "clients",
    "platforms",
    "locations",
    "userRisk",
    "signInRisk",
    "devices",
    "flows",
    "other",
)


@dataclass
class Narrowing:
    dim: str
    cover: Cover
    text: Msg  # names the policy: "CA001 sluit Exchange Online uit"


@dataclass
class Policy:
    id: str
    name: str
    state: str
    control: str | None  # "mfa" | "block" | None
    weak: Msg | None  # why a grant that mentions MFA does not enforce it, else None
    signins: bool  # False: user actions / auth context only, or workload identities
    dims: dict[str, Cover]
    narrowings: list[Narrowing]
    include_users: set[str]
    exclude_users: set[str]
    include_groups: set[str]
    exclude_groups: set[str]
    include_roles: set[str]
    exclude_roles: set[str]
    include_guest_types: set[str]  # only when every external tenant is meant
    exclude_guest_types: set[str]
    user_exclusions: list[tuple[str, str, str]] = field(default_factory=list)  # token, kind, id
    # What each path through the grant gives (OR: one set per control; AND: one set).
    offers: tuple[frozenset[str], ...] = ()
    user_actions: set[str] = field(default_factory=set)
    # Why the policy cannot be judged (who or what it applies to, or what it grants, was not
    # in Graph's answer), else None. Such a policy covers nothing for certain, and where it
    # might have covered, the verdict is unknown.
    unread: Msg | None = None

    def satisfies(self, want: str) -> bool:
        if want == REGISTRATION:
            return self.protects_registration()
        if self.state != "enabled" or not self.signins:
            return False
        if self.control == "block" or (want == MFA and self.control == MFA):
            return True
        if want in BLOCK_WANTS or want == MFA:
            return False
        return bool(self.offers) and all(want in path for path in self.offers)

    def protects_registration(self) -> bool:
        """An enabled policy on the user action 'register security information' that blocks
        or asks a managed device on every path through its grant. Where it does so (platforms,
        client types, locations, risk, devices) is its region, judged like any requirement."""
        if self.state != "enabled" or REGISTER_SECURITY_INFO not in self.user_actions:
            return False
        if self.control == "block":
            return True
        return bool(self.offers) and all(MANAGED_DEVICE in path for path in self.offers)


@dataclass
class Verdict:
    state: str  # covered | approved | partial | none | unknown
    gaps: list[str] = field(default_factory=list)  # Msgs, each naming the policy
    by: list[str] = field(default_factory=list)  # names of the policies that cover
    # For `approved`: the approved exclusions (tenant settings) the verdict rests on; a check
    # turns them into `accepted`. Empty when only break-glass accounts are left out, which
    # Microsoft recommends: that counts as covered.
    accepted: list[trust.Grant] = field(default_factory=list)


# --- reading one policy ----------------------------------------------------------------------


def _list(value: Any) -> list[str]:
    return [str(v) for v in value or []]


def _types(value: Any) -> set[str]:
    """guestOrExternalUserTypes is a comma-separated string in Graph."""
    if isinstance(value, list):
        value = ",".join(value)
    return {t.strip() for t in str(value or "").split(",") if t.strip()} & GUEST_TYPES


def _app(app: str) -> str:
    if app in APP_KEYS:
        return Msg(f"engine.app.{APP_KEYS[app]}")
    return APP_NAMES.get(app, app)


def _client(client: str) -> str:
    if client in CLIENTS - {"exchangeActiveSync"}:
        return Msg(f"engine.client.{client}")
    return "Exchange ActiveSync" if client == "exchangeActiveSync" else client


def _control(control: str) -> str:
    return Msg(f"engine.control.{control}") if control in CONTROLS else control


# --- sentences -------------------------------------------------------------------------------


def _listed(items: Iterable[str | None], closed: bool) -> Msg | None:
    unique = list(dict.fromkeys(i for i in items if i))
    if not unique:
        return None
    *first, last = unique
    end = Msg("engine.last_item", item=last) if closed else Msg("engine.phrase", item=last)
    return Msg.join([*(Msg("engine.item", item=i) for i in first), end])


def phrases(items: Iterable[str | None]) -> Msg | None:
    """Phrases separated by semicolons ("a; b"), each once; None when there are none."""
    return _listed(items, closed=False)


def sentence(items: Iterable[str | None]) -> Msg | None:
    """Phrases separated by semicolons and closed by a full stop ("a; b."), each once; None
    when there are none. The one way the CA checks list the gaps behind a verdict."""
    return _listed(items, closed=True)


def as_is(text: str | None) -> Msg | None:
    """Tenant data (role names, a UPN) as a finding of its own: shown as it is in every
    language, and a Msg given here (a translated phrase) keeps its translation."""
    return Msg("engine.phrase", item=text) if text else None


def who_gaps(who: str | None, gaps: Iterable[str | None]) -> Msg | None:
    """An affected object's detail, "<who>: <gap>; <gap>", or just one of the two."""
    listed = phrases(gaps)
    if who and listed:
        return Msg("engine.who_gaps", who=who, gaps=listed)
    return listed or as_is(who)


def undetermined(why: str | None) -> Msg:
    """A reason that says the verdict could not be determined: "Niet vastgesteld: <why>"."""
    return Msg.join([Msg("engine.undetermined"), why])


def strength_is_mfa(strength: dict[str, Any]) -> bool:
    """An authentication strength counts as MFA only when every allowed combination is
    multifactor; without the combinations, Graph's own `requirementsSatisfied` decides."""
    combos = _list(strength.get("allowedCombinations"))
    if not combos:
        return strength.get("requirementsSatisfied") == "mfa"
    for combo in combos:
        parts = {p.strip() for p in combo.split(",") if p.strip()}
        if len(parts) < 2 and not parts <= MULTIFACTOR_ALONE:
            return False
    return True


def strength_is_phishing_resistant(strength: dict[str, Any]) -> bool:
    """Every allowed combination is a phishing-resistant method (FIDO2, Windows Hello,
    certificate); without the combinations, Microsoft's built-in strength's id decides."""
    combos = _list(strength.get("allowedCombinations"))
    if not combos:
        return strength.get("id") == "00000000-0000-0000-0000-000000000004"
    return all(
        {p.strip() for p in c.split(",") if p.strip()} <= PHISHING_RESISTANT_ALONE for c in combos
    )


def _offers(grant: dict[str, Any] | None) -> tuple[frozenset[str], ...]:
    """The capabilities each way through the grant gives; a control that gives none of them
    (terms of use, a custom control, password change alone) is an empty path."""
    if not grant:
        return ()
    paths: list[frozenset[str]] = []
    for control in _list(grant.get("builtInControls")):
        caps = {
            "mfa": {MFA},
            "compliantDevice": {MANAGED_DEVICE},
            "domainJoinedDevice": {MANAGED_DEVICE},
        }.get(control, set())
        paths.append(frozenset(caps))
    strength = grant.get("authenticationStrength") or None
    if strength:
        caps = {MFA} if strength_is_mfa(strength) else set()
        if strength_is_phishing_resistant(strength):
            caps.add(PHISHING_RESISTANT)
        paths.append(frozenset(caps))
    if grant.get("termsOfUse"):
        paths.append(frozenset())
    if grant.get("customAuthenticationFactors"):
        paths.append(frozenset())
    if not paths:
        return ()
    if str(grant.get("operator") or "OR").upper() == "AND":
        return (frozenset().union(*paths),)
    return tuple(paths)


def _grant(name: str, grant: dict[str, Any] | None) -> tuple[str | None, str | None]:
    if not grant:
        return None, None
    builtin = set(_list(grant.get("builtInControls")))
    if "block" in builtin:
        return "block", None
    if builtin & {"passwordChange", "riskRemediation"}:
        return None, Msg("engine.grant.risk_policy", policy=name)
    strength = grant.get("authenticationStrength") or None
    strength_mfa = bool(strength) and strength_is_mfa(strength)
    asks_mfa = "mfa" in builtin or strength_mfa
    alternatives = [_control(c) for c in sorted(builtin - {"mfa"})]
    if grant.get("termsOfUse"):
        alternatives.append(Msg("engine.control.terms_of_use"))
    if grant.get("customAuthenticationFactors"):
        alternatives.append(Msg("engine.control.custom"))
    if strength and not strength_mfa:
        alternatives.append(
            Msg(
                "engine.control.weak_strength",
                strength=str(strength.get("displayName") or strength.get("id")),
            )
        )
    operator = str(grant.get("operator") or "OR").upper()
    if asks_mfa and (operator == "AND" or not alternatives):
        return MFA, None
    if asks_mfa:
        return None, Msg("engine.grant.mfa_or", policy=name, alternatives=_either(alternatives))
    if strength and not strength_mfa:
        return None, Msg("engine.grant.weak_strength", policy=name)
    return None, None


def _either(alternatives: list[str]) -> str:
    """Alternatives, each enough on its own: "a óf b óf c"."""
    if len(alternatives) == 1:
        return alternatives[0]
    return Msg("engine.grant.or", first=alternatives[0], rest=_either(alternatives[1:]))


def _narrowings(name: str, cond: dict[str, Any]) -> tuple[dict[str, Cover], list[Narrowing]]:
    """The policy's region per condition. A policy on user actions (registering security
    information) targets no application: the action is what it applies to, so it has no
    applications condition; its other conditions narrow it like any policy's."""
    dims: dict[str, Cover] = {}
    out: list[Narrowing] = []

    def add(dim: str, cover: Cover, text: Msg) -> None:
        dims[dim] = dims.get(dim, FULL) & cover  # conditions on one dimension all apply
        out.append(Narrowing(dim, cover, text))

    apps = cond.get("applications") or {}
    include = _list(apps.get("includeApplications"))
    exclude = _list(apps.get("excludeApplications"))
    user_action = bool(_list(apps.get("includeUserActions"))) and not any(
        a != "None" for a in include
    )
    if user_action:
        pass
    elif "All" in include:
        if exclude:
            add(
                "apps", Cover(True, frozenset(exclude)), _excludes(name, [_app(a) for a in exclude])
            )
    else:
        targets = [a for a in include if a != "None"]
        add(
            "apps",
            Cover(False, frozenset(targets) - frozenset(exclude)),
            Msg("engine.narrow.only_for", policy=name, what=[_app(a) for a in targets])
            if targets
            else Msg("engine.narrow.no_apps", policy=name),
        )
    if apps.get("applicationFilter"):
        add("apps", EMPTY, Msg("engine.narrow.app_filter", policy=name))

    clients = {
        "exchangeActiveSync" if c == "easSupported" else c for c in cond.get("clientAppTypes") or []
    }
    if clients and "all" not in clients and not clients >= CLIENTS:
        add(
            "clients",
            Cover(True, CLIENTS - clients),
            Msg(
                "engine.narrow.only_for",
                policy=name,
                what=[_client(c) for c in sorted(clients & CLIENTS)],
            ),
        )

    platforms = cond.get("platforms") or None
    if platforms:
        inc, exc = (
            _list(platforms.get("includePlatforms")),
            _list(platforms.get("excludePlatforms")),
        )
        if "all" in inc:
            if exc:
                add(
                    "platforms",
                    Cover(True, frozenset(exc)),
                    Msg("engine.narrow.excludes_platforms", policy=name, platforms=", ".join(exc)),
                )
        else:
            add(
                "platforms",
                Cover(False, frozenset(inc) - frozenset(exc)),
                Msg("engine.narrow.only_platforms", policy=name, platforms=", ".join(inc))
                if inc
                else Msg("engine.narrow.no_platforms", policy=name),
            )

    locations = cond.get("locations") or None
    if locations:
        inc, exc = (
            _list(locations.get("includeLocations")),
            _list(locations.get("excludeLocations")),
        )
        if "All" in inc:
            if exc:
                text = (
                    Msg("engine.narrow.outside_trusted", policy=name)
                    if exc == ["AllTrusted"]
                    else Msg(
                        "engine.narrow.excludes_locations",
                        policy=name,
                        locations=[_loc(x) for x in exc],
                    )
                )
                add("locations", Cover(True, frozenset(exc)), text)
        else:
            text = (
                Msg("engine.narrow.only_trusted", policy=name)
                if inc == ["AllTrusted"]
                else Msg(
                    "engine.narrow.only_locations", policy=name, locations=[_loc(x) for x in inc]
                )
            )
            add("locations", Cover(False, frozenset(inc) - frozenset(exc)), text)

    for key, dim in (("userRiskLevels", "userRisk"), ("signInRiskLevels", "signInRisk")):
        levels = set(_list(cond.get(key)))
        if levels and not levels >= RISK_LEVELS:
            add(
                dim,
                Cover(False, frozenset(levels)),
                Msg(
                    "engine.narrow.only_when",
                    policy=name,
                    condition=Msg(f"engine.condition.{dim}", levels=", ".join(sorted(levels))),
                ),
            )

    devices = cond.get("devices") or None
    if devices and (
        devices.get("deviceFilter")
        or devices.get("includeDevices")
        or devices.get("excludeDevices")
    ):
        rule = (devices.get("deviceFilter") or {}).get("rule")
        mode = (devices.get("deviceFilter") or {}).get("mode")
        shown = str(rule) if rule else Msg("engine.device_filter")
        add(
            "devices",
            Cover(False, frozenset({rule or "deviceFilter"})),
            Msg("engine.narrow.excludes_devices", policy=name, rule=shown)
            if mode == "exclude"
            else Msg("engine.narrow.only_devices", policy=name, rule=shown),
        )

    flows = cond.get("authenticationFlows") or None
    if flows and flows.get("transferMethods"):
        methods = str(flows["transferMethods"])
        add(
            "flows",
            Cover(False, frozenset(m.strip() for m in methods.split(",") if m.strip())),
            Msg("engine.narrow.only_flows", policy=name, methods=methods),
        )

    for key in ("times", "deviceStates", "insiderRiskLevels"):
        if cond.get(key):
            add(
                "other",
                EMPTY,
                Msg(
                    "engine.narrow.only_when", policy=name, condition=Msg(f"engine.condition.{key}")
                ),
            )
    return dims, out


def _excludes(name: str, what: list[Any]) -> Msg:
    """A policy that leaves things out: "<policy> sluit a, b en c uit"."""
    return Msg("engine.narrow.excludes", policy=name, what=what)


def _loc(location: str) -> str:
    if location in ("AllTrusted", "All"):
        return Msg(f"engine.location.{location}")
    return location


def parse_policy(raw: dict[str, Any]) -> Policy:
    name = raw.get("displayName") or raw.get("id") or Msg("engine.unnamed_policy")
    cond = raw.get("conditions") or {}
    users = cond.get("users") or {}
    control, weak = _grant(name, raw.get("grantControls"))
    apps = cond.get("applications") or {}
    include_apps = _list(apps.get("includeApplications"))
    workload = bool(
        (cond.get("clientApplications") or {}).get("includeServicePrincipals")
        or (cond.get("clientApplications") or {}).get("servicePrincipalFilter")
    )
    signins = not workload and any(a != "None" for a in include_apps)
    dims, narrowings = _narrowings(name, cond)

    def guest_types(key: str, all_tenants_only: bool) -> set[str]:
        value = users.get(key) or None
        if not value:
            return set()
        tenants = value.get("externalTenants") or {}
        kind = str(tenants.get("membershipKind") or "all")
        if all_tenants_only and kind != "all":
            return set()  # only some partner tenants: we cannot tell which guest is from where
        return _types(value.get("guestOrExternalUserTypes"))

    # Graph always gives a policy's users and applications and its grant (null for a policy
    # with session controls only); absent, they were not read, and nothing is assumed.
    missing = [
        key
        for key, there in (
            ("conditions.users", isinstance(cond.get("users"), dict)),
            ("conditions.applications", isinstance(cond.get("applications"), dict)),
            ("grantControls", "grantControls" in raw),
        )
        if not there
    ]
    policy = Policy(
        id=str(raw.get("id", "")),
        name=name,
        state=str(raw.get("state", "")),
        control=control,
        weak=weak,
        signins=signins,
        dims=dims,
        narrowings=narrowings,
        include_users=set(_list(users.get("includeUsers"))),
        exclude_users=set(_list(users.get("excludeUsers"))),
        include_groups=set(_list(users.get("includeGroups"))),
        exclude_groups=set(_list(users.get("excludeGroups"))),
        include_roles=set(_list(users.get("includeRoles"))),
        exclude_roles=set(_list(users.get("excludeRoles"))),
        include_guest_types=guest_types("includeGuestsOrExternalUsers", True),
        exclude_guest_types=guest_types("excludeGuestsOrExternalUsers", False),
        offers=_offers(raw.get("grantControls")),
        user_actions=set(_list(apps.get("includeUserActions"))),
        unread=Msg("engine.policy_unread", policy=name, what=", ".join(missing))
        if missing
        else None,
    )
    # The legacy special value in includeUsers/excludeUsers means every guest type.
    if "GuestsOrExternalUsers" in policy.include_users:
        policy.include_guest_types |= set(GUEST_TYPES)
    if "GuestsOrExternalUsers" in policy.exclude_users:
        policy.exclude_guest_types |= set(GUEST_TYPES)
    for uid in sorted(policy.exclude_users - {"GuestsOrExternalUsers"}):
        policy.user_exclusions.append((f"user:{uid}", "user", uid))
    for gid in sorted(policy.exclude_groups):
        policy.user_exclusions.append((f"group:{gid}", "group", gid))
    for rid in sorted(policy.exclude_roles):
        policy.user_exclusions.append((f"role:{rid}", "role", rid))
    for t in sorted(policy.exclude_guest_types):
        policy.user_exclusions.append((f"guests:{t}", "guests", t))
    return policy


def role_name(role_id: str) -> str:
    return (
        PRIVILEGED_ROLES.get(role_id)
        or ADMIN_ROLE_NAMES.get(role_id)
        or Msg("engine.role_id", id=role_id)
    )


ADMIN_ROLE_NAMES = {"b0f54661-2d74-4c50-afa3-1ec803f12efe": "Billing Administrator"}


# --- coverage --------------------------------------------------------------------------------


def _covers_alone(
    dims: dict[str, Cover], required: dict[str, Cover], skip: str | None = None
) -> bool:
    return all(dims.get(d, FULL).covers(required.get(d, FULL)) for d in DIMS if d != skip)


def covers(regions: list[dict[str, Cover]], required: dict[str, Cover]) -> bool:
    """Do these regions together cover the required region? Sound, not complete: one region
    covering it all, or regions narrowed in the same single condition whose union covers it."""
    if any(_covers_alone(r, required) for r in regions):
        return True
    for dim in DIMS:
        union = EMPTY
        for r in regions:
            if _covers_alone(r, required, skip=dim):
                union = union | r.get(dim, FULL)
        if union.covers(required.get(dim, FULL)):
            return True
    return False


_REQUIRED: dict[str, dict[str, Cover]] = {
    # Every registration outside trusted locations, from every platform, client and device.
    REGISTRATION: {"locations": Cover(True, frozenset({"AllTrusted"}))},
    LEGACY: {"clients": Cover(False, LEGACY_CLIENTS)},
    DEVICE_CODE: {"flows": Cover(False, frozenset({"deviceCodeFlow"}))},
    HIGH_USER_RISK: {"userRisk": Cover(False, frozenset({"high"}))},
    HIGH_SIGNIN_RISK: {"signInRisk": Cover(False, frozenset({"high"}))},
}


def required(want: str) -> dict[str, Cover]:
    """The region a requirement must cover (asked once per person: made once)."""
    return _REQUIRED.get(want) or {}


def _names_in_partial(p: Policy, want: str) -> bool:
    """Which policies a partial verdict may rest on. For MFA (and the other grant requirements)
    a block policy fills gaps but is no such policy; for a targeted block (device code, risk)
    only policies that target that condition; for legacy authentication every block policy."""
    if want in (LEGACY, REGISTRATION):
        return True
    if want in BLOCK_WANTS:
        need = required(want)
        return any(dim in p.dims and (p.dims[dim] & need[dim]) != EMPTY for dim in need)
    return p.control != "block"


class Engine:
    """What conditional access and security defaults enforce in one snapshot."""

    def __init__(self, snapshot: Snapshot, population: Collection[str] | None = None) -> None:
        """`population`: the ids of the people the asking check judges (None: every enabled
        account); an approval covering most of them does not count (checks/trust.py)."""
        self.snapshot = snapshot
        sd = snapshot.dataset("securityDefaults")
        self.security_defaults: bool | None = (
            bool((sd.data or {}).get("isEnabled")) if sd.ok else None
        )
        ds = snapshot.dataset(CA)
        self.ca_status = ds.status
        self.ca_read = ds.ok
        self.policies = [parse_policy(p) for p in ds.data or []] if ds.ok else []
        self.members = group_members(snapshot)
        self.role_reading = role_reading(snapshot)
        # Enabled policies that could not be judged: where they might cover, verdicts are unknown.
        self.unread = [p.unread for p in self.policies if p.state == "enabled" and p.unread]
        self.trust = trust.approvals(snapshot, population)
        # Break-glass accounts and groups that count: Microsoft recommends leaving them out.
        self.break_glass = {**trust.break_glass_accounts(snapshot)}
        self.break_glass.update(trust.break_glass_groups(snapshot))
        self.unverified = trust.unverified(snapshot)  # entries that could not be checked
        self.approved_ids = {**self.break_glass}
        self.approved_ids.update({k: g.reason for k, g in self.trust.people.items()})
        self.approved_apps = {k: g.reason for k, g in self.trust.apps.items()}
        self.approved_guest_types = {k: g.reason for k, g in self.trust.guest_types.items()}
        self.approved_roles = {k: g.reason for k, g in self.trust.roles.items()}
        # Each policy's region before approved app exclusions were dropped from it (a verdict
        # that needs them is `approved`, not `covered`), and the approvals dropped.
        self._strict = {id(p): dict(p.dims) for p in self.policies}
        self._app_grants: dict[int, list[trust.Grant]] = {}
        for policy in self.policies:
            self._approve_apps(policy)
        # covers() per (want, policies): the policies are this engine's and no longer change.
        self._covered: dict[tuple[Any, ...], Any] = {}
        self._enforcing: dict[str, tuple[Policy, ...]] = {}

    def _approve_apps(self, p: Policy) -> None:
        """Approved application exclusions are no gap: drop them from the policy's region."""
        kept, apps = [], FULL
        for n in p.narrowings:
            if n.dim == "apps" and n.cover.cofinite:
                left = n.cover.items - set(self.approved_apps)
                self._app_grants.setdefault(id(p), []).extend(
                    self.trust.apps[a] for a in sorted(n.cover.items - left)
                )
                if not left:
                    continue
                n = Narrowing(
                    "apps", Cover(True, left), _excludes(p.name, [_app(a) for a in sorted(left)])
                )
            if n.dim == "apps":
                apps = apps & n.cover
            kept.append(n)
        p.narrowings = kept
        if apps == FULL:
            p.dims.pop("apps", None)
        else:
            p.dims["apps"] = apps

    def _valid(self) -> list[trust.Grant]:
        """The approved exclusions that count for this engine's population."""
        return self.trust.all()

    def expired(self) -> list[str]:
        """Lines (Msgs) for the approvals and break-glass entries that do not count, each with
        the bound it is outside (no owner, no end date, expired, most of the population; not
        an emergency account). The name stays: it began with expired approvals."""
        return [*self.trust.ignored, *trust.ignored_break_glass(self.snapshot)]

    ignored = expired

    def accepted_by(self, p: Policy, person: Person) -> list[trust.Grant]:
        """The approved exclusions (not break-glass) that leave this person out of a policy."""
        found = list(self._app_grants.get(id(p), ()))
        grant = self.trust.people.get(person.id)
        if grant and person.id in p.exclude_users:
            found.append(grant)
        if person.guest:
            found += [
                self.trust.guest_types[t]
                for t in GUEST_ACCOUNT_TYPES & p.exclude_guest_types
                if t in self.trust.guest_types
            ]
        found += [
            self.trust.roles[r] for r in person.roles & p.exclude_roles if r in self.trust.roles
        ]
        for g in sorted(p.exclude_groups):
            if g in self.trust.people and self._in_group(person.id, g):
                found.append(self.trust.people[g])
        return list(dict.fromkeys(found))

    # -- what the tenant has ----------------------------------------------------------------

    @property
    def ca_unread_reason(self) -> Msg | None:
        """Why the CA policies are unknown, or None when read (or absent for lack of a licence:
        without Entra ID P1 a tenant has no conditional access)."""
        if self.ca_read or self.ca_status is DatasetStatus.NOT_LICENSED:
            return None
        return undetermined(_problem(self.snapshot, CA))

    @property
    def in_use(self) -> bool:
        """Any enabled CA policy: the tenant uses conditional access, so that is what counts
        (per-user MFA is legacy; CIS 5.1.2.1 wants it off once CA is used)."""
        return any(p.state == "enabled" for p in self.policies)

    def enforcing(self, want: str) -> tuple[Policy, ...]:
        """The policies that enforce `want`; asked once per person (thousands of staff), so
        found once per engine: the policies no longer change after __init__."""
        found = self._enforcing.get(want)
        if found is None:
            found = self._enforcing[want] = tuple(p for p in self.policies if p.satisfies(want))
        return found

    def near_misses(self, want: str) -> list[str]:
        """Notes (Msgs) on policies that look like they would help but enforce nothing."""
        notes = []
        for p in self.policies:
            if not p.signins:
                continue
            relevant = p.control == "block" or (want == MFA and (p.control == MFA or p.weak))
            if p.state == "enabledForReportingButNotEnforced" and relevant:
                notes.append(Msg("engine.report_only", policy=p.name))
            elif p.state == "disabled" and relevant:
                notes.append(Msg("engine.disabled", policy=p.name))
            elif p.state == "enabled" and want == MFA and p.weak:
                notes.append(p.weak)
        return notes

    # -- per person -------------------------------------------------------------------------

    def _in_group(self, uid: str, group: str) -> bool | None:
        members = self.members.get(group)
        return None if members is None else uid in members

    def _unread_roles(self, roles: set[str] | frozenset[str]) -> frozenset[str]:
        """Those of these roles whose holders the snapshot could not all read (a group holding
        it with unread members, eligibility that could not be read): whether a person holds
        one is then not known. Asked per policy and person: kept per set of roles."""
        key = ("unread", id(roles))
        found = self._covered.get(key)
        if found is None:
            found = frozenset(r for r in roles if self.role_reading.unknown(r))
            self._covered[key] = found
        return found

    def scope(self, p: Policy, person: Person) -> tuple[str, str | None]:
        """in | out (not targeted) | excluded | approved | unknown, with a reason (a Msg)."""
        guest_types = GUEST_ACCOUNT_TYPES if person.guest else set()
        # Exclusions first: they win over inclusions.
        if person.id in p.exclude_users:
            if person.id in self.approved_ids:
                return "approved", None
            return "excluded", Msg("engine.scope.excludes_account", policy=p.name)
        if guest_types & p.exclude_guest_types:
            if guest_types & p.exclude_guest_types <= set(self.approved_guest_types):
                return "approved", None
            return "excluded", Msg("engine.scope.excludes_guests", policy=p.name)
        hit = person.roles & p.exclude_roles
        if hit and hit <= set(self.approved_roles):
            return "approved", None
        if hit:
            roles = [role_name(r) for r in sorted(hit)]
            return "excluded", Msg("engine.scope.excludes_role", policy=p.name, roles=roles)
        unread_ex = []
        if p.exclude_roles and not person.roles_certain:
            unseen = self._unread_roles(p.exclude_roles) - person.roles
            if unseen:
                roles = [role_name(r) for r in sorted(unseen)]
                unread_ex.append(
                    Msg("engine.scope.unread_excluded_role", policy=p.name, roles=roles)
                )
        for g in sorted(p.exclude_groups):
            inside = self._in_group(person.id, g)
            if inside:
                if g in self.approved_ids:
                    return "approved", None
                return "excluded", Msg("engine.scope.excludes_group", policy=p.name, group=g)
            if inside is None:
                unread_ex.append(Msg("engine.scope.unread_excluded_group", policy=p.name, group=g))
        by_role = person.roles & p.include_roles
        if by_role and person.unsure_roles:
            by_role = by_role - person.unsure_roles
        included = (
            "All" in p.include_users
            or person.id in p.include_users
            or bool(by_role)
            or (bool(guest_types) and guest_types <= p.include_guest_types)
        )
        unread_inc = []
        if not included:
            for g in sorted(p.include_groups):
                inside = self._in_group(person.id, g)
                if inside:
                    included = True
                    break
                if inside is None:
                    unread_inc.append(Msg("engine.scope.unread_group", policy=p.name, group=g))
        if not included and p.include_roles and not person.roles_certain:
            unseen = (self._unread_roles(p.include_roles) - person.roles) | (
                p.include_roles & person.unsure_roles
            )
            if unseen:
                roles = [role_name(r) for r in sorted(unseen)]
                unread_inc.append(Msg("engine.scope.unread_role", policy=p.name, roles=roles))
        if included:
            return ("unknown", phrases(unread_ex)) if unread_ex else ("in", None)
        return ("unknown", phrases(unread_inc)) if unread_inc else ("out", None)

    def person(self, person: Person, want: str) -> Verdict:
        if self.security_defaults and want in SECURITY_DEFAULTS_GIVE:
            return Verdict(COVERED, by=[Msg("engine.security_defaults")])
        if person.id in self.break_glass:
            return Verdict(APPROVED, by=[self.break_glass[person.id]])
        verdict = self._person(person, want)
        grant = self.trust.people.get(person.id)
        if grant and verdict.state != COVERED:  # the approval names this account itself
            return Verdict(APPROVED, by=[grant.reason], accepted=[grant])
        if person.id in self.unverified and verdict.state in (PARTIAL, NONE):
            return Verdict(UNKNOWN, gaps=[self.unverified[person.id]])
        return verdict

    def ask(self, person: Person, want: str) -> Verdict:
        """The verdict from the policies alone, without the shortcuts for break-glass and
        approved accounts (what `ca.break_glass_excluded` asks of an emergency account)."""
        if self.security_defaults and want in SECURITY_DEFAULTS_GIVE:
            return Verdict(COVERED, by=[Msg("engine.security_defaults")])
        return self._person(person, want)

    def _person(self, person: Person, want: str) -> Verdict:
        need = required(want)
        sure, maybe, approved_by, excluded, unknown = [], [], [], [], []
        for p in self.enforcing(want):
            state, why = self.scope(p, person)
            if state == "in":
                sure.append(p)
            elif state == "unknown":
                maybe.append(p)
                unknown.append(why or "")
            elif state == "approved":
                approved_by.append(p)
            elif state == "excluded":
                excluded.append(why or "")
        if self._covers(want, sure, strict=True):
            return Verdict(COVERED, by=list(self._covering(want, sure)))
        if self._covers(want, sure):  # only with an approved app exclusion
            grants = [g for p in sure for g in self._app_grants.get(id(p), ())]
            return Verdict(APPROVED, by=list(self._covering(want, sure)), accepted=grants)
        if approved_by and self._covers(want, sure + approved_by):
            grants = [g for p in sure + approved_by for g in self.accepted_by(p, person)]
            return Verdict(
                APPROVED, by=[p.name for p in approved_by], accepted=list(dict.fromkeys(grants))
            )
        if maybe and self._covers(want, sure + maybe):
            return Verdict(UNKNOWN, gaps=unknown)
        if self.unread:
            return Verdict(UNKNOWN, gaps=[*self.unread, *excluded, *unknown])
        # A block policy fills gaps in MFA coverage, but on its own it is no MFA policy.
        sure = [p for p in sure if _names_in_partial(p, want)]
        gaps = [n.text for p in sure for n in self._open(p, need)]
        if sure:
            return Verdict(PARTIAL, gaps=excluded + gaps + unknown, by=[p.name for p in sure])
        return Verdict(NONE, gaps=excluded + unknown)

    def _covering(self, want: str, sure: list[Policy]) -> tuple[str, ...]:
        """Names of the policies that cover a person: those covering it alone, else all that
        apply. Found once per set of applying policies, like _covers."""
        key = ("by", want, *(id(p) for p in sure))
        found = self._covered.get(key)
        if found is None:
            need = required(want)
            alone = [p.name for p in sure if _covers_alone(p.dims, need)]
            found = self._covered[key] = tuple(alone or [p.name for p in sure])
        return found

    def _covers(self, want: str, policies: list[Policy], strict: bool = False) -> bool:
        """covers() of these policies' regions (`strict`: without approved app exclusions).
        Thousands of staff share the same few sets of policies that apply to them: each set
        is judged once per engine (#16)."""
        key = (want, strict, *(id(p) for p in policies))
        found = self._covered.get(key)
        if found is None:
            regions = [self._strict[id(p)] if strict else p.dims for p in policies]
            found = self._covered[key] = covers(regions, required(want))
        return found

    @staticmethod
    def _open(p: Policy, need: dict[str, Cover]) -> list[Narrowing]:
        return [
            n for n in p.narrowings if not p.dims.get(n.dim, FULL).covers(need.get(n.dim, FULL))
        ]

    # -- the whole tenant ("all users") -----------------------------------------------------

    def _user_cover(
        self, p: Policy, level: str = "approved"
    ) -> tuple[Cover, list[tuple[str, str, str]]]:
        """The users dimension as tokens. Dropped from it: break-glass exclusions that count
        (`level` "strict"), and approved exclusions too ("approved"), and unverified
        break-glass entries too ("unsure")."""
        open_ex = []
        for token, kind, ident in p.user_exclusions:
            if kind in ("user", "group") and ident in self.break_glass:
                continue
            if level != "strict":
                if kind in ("user", "group") and ident in self.approved_ids:
                    continue
                if kind == "guests" and ident in self.approved_guest_types:
                    continue
                if kind == "role" and ident in self.approved_roles:
                    continue
            if level == "unsure" and ident in self.unverified:
                continue
            open_ex.append((token, kind, ident))
        if "All" in p.include_users:
            return Cover(True, frozenset(t for t, _, _ in open_ex)), open_ex
        tokens = {
            f"user:{u}" for u in p.include_users if u not in ("None", "GuestsOrExternalUsers")
        }
        tokens |= {f"group:{g}" for g in p.include_groups}
        tokens |= {f"role:{r}" for r in p.include_roles}
        tokens |= {f"guests:{t}" for t in p.include_guest_types}
        excluded = {t for t, _, _ in p.user_exclusions}
        return Cover(False, frozenset(tokens - excluded)), open_ex

    def everyone(self, want: str) -> tuple[Verdict, list[tuple[Policy, str, str]]]:
        """Coverage of all users: the verdict and the unapproved exclusions (policy, kind, id)
        of the policies that apply, for evidence."""
        if self.security_defaults and want in SECURITY_DEFAULTS_GIVE:
            return Verdict(COVERED, by=[Msg("engine.security_defaults")]), []
        need = required(want)
        strict = []
        for p in self.enforcing(want):
            users_cover, _ = self._user_cover(p, "strict")
            if users_cover != EMPTY:
                strict.append((p, {**self._strict[id(p)], "users": users_cover}))
        if covers([r for _, r in strict], need):
            by = [p.name for p, r in strict if _covers_alone(r, need)]
            return Verdict(COVERED, by=by or [p.name for p, _ in strict]), []
        regions, applying, exclusions = [], [], []
        for p in self.enforcing(want):
            users_cover, open_ex = self._user_cover(p)
            if users_cover == EMPTY:
                continue
            region = {**p.dims, "users": users_cover}
            regions.append(region)
            applying.append((p, region, open_ex))
        if covers(regions, need):
            by = [p.name for p, r, _ in applying if _covers_alone(r, need)]
            return Verdict(
                APPROVED, by=by or [p.name for p, _, _ in applying], accepted=self._grants(applying)
            ), []
        if self.unread:
            return Verdict(UNKNOWN, gaps=list(self.unread)), []
        unsure = []
        for p in self.enforcing(want):
            users_cover, _ = self._user_cover(p, "unsure")
            if users_cover != EMPTY:
                unsure.append({**p.dims, "users": users_cover})
        if self.unverified and covers(unsure, need):
            gaps = [
                why
                for p, _, open_ex in applying
                for _, _, ident in open_ex
                if (why := self.unverified.get(ident))
            ]
            return Verdict(UNKNOWN, gaps=list(dict.fromkeys(gaps))), []
        # A block policy fills gaps in MFA coverage, but on its own it is no MFA policy.
        applying = [a for a in applying if _names_in_partial(a[0], want)]
        if not applying:
            return Verdict(NONE), []
        gaps = []
        for p, region, open_ex in applying:
            if not region["users"].covers(FULL) and "All" not in p.include_users:
                gaps.append(Msg("engine.not_all_users", policy=p.name))
            elif open_ex:
                gaps.append(_excludes(p.name, self._exclusion_text(open_ex)))
                exclusions += [(p, kind, ident) for _, kind, ident in open_ex]
            gaps += [n.text for n in self._open(p, need)]
        return Verdict(PARTIAL, gaps=gaps, by=[p.name for p, _, _ in applying]), exclusions

    def _grants(self, applying: list[tuple[Policy, Any, Any]]) -> list[trust.Grant]:
        """The approved exclusions (not break-glass) dropped from these policies' regions."""
        found: list[trust.Grant] = []
        by_kind = {
            "user": self.trust.people,
            "group": self.trust.people,
            "guests": self.trust.guest_types,
            "role": self.trust.roles,
        }
        for p, _, _ in applying:
            found += self._app_grants.get(id(p), ())
            for _, kind, ident in p.user_exclusions:
                if ident not in self.break_glass and ident in by_kind[kind]:
                    found.append(by_kind[kind][ident])
        return list(dict.fromkeys(found))

    def _exclusion_text(self, items: list[tuple[str, str, str]]) -> list[Msg]:
        kinds: dict[str, list[str]] = {}
        for _, kind, ident in items:
            kinds.setdefault(kind, []).append(ident)
        parts = []
        if "user" in kinds:
            parts.append(Msg("engine.exclusion.accounts", n=len(kinds["user"])))
        if "group" in kinds:
            parts.append(Msg("engine.exclusion.groups", n=len(kinds["group"])))
        if "role" in kinds:
            parts.append(Msg("engine.exclusion.roles", roles=[role_name(r) for r in kinds["role"]]))
        if "guests" in kinds:
            parts.append(Msg("engine.exclusion.guest_types", types=", ".join(kinds["guests"])))
        return parts

    # -- user actions and emergency accounts (CISA SCuBA MS.AAD.3.8, Maester MT.1005) ---------

    @staticmethod
    def protects_registration(p: Policy) -> bool:
        """Does this policy's grant protect registering security information (an enabled
        policy on that user action that blocks or asks a managed device)? Where it does so is
        its region: `registration` judges that like any requirement."""
        return p.protects_registration()

    def registration(self, person: Person) -> Verdict:
        """Can this person register MFA methods, outside trusted locations, only from a managed
        device (or not at all)? Every condition of the policies counts (platforms, client
        types, locations, risk, device filters); policies narrowed in one and the same
        condition may together cover it, like any other requirement of the engine."""
        return self.person(person, REGISTRATION)

    def registration_notes(self) -> list[str]:
        """Notes (Msgs) on policies on registering security information that protect nothing:
        report-only, off, or a grant that neither blocks nor asks a managed device (such as
        Microsoft's template that asks MFA)."""
        notes: list[str] = []
        for p in self.policies:
            if REGISTER_SECURITY_INFO not in p.user_actions:
                continue
            if p.state == "enabledForReportingButNotEnforced":
                notes.append(Msg("engine.report_only", policy=p.name))
            elif p.state == "disabled":
                notes.append(Msg("engine.disabled", policy=p.name))
            elif p.state == "enabled" and not p.protects_registration():
                notes.append(Msg("engine.registration_grant", policy=p.name))
        return notes

    def lockout_risks(self, person: Person) -> tuple[list[str], list[str]]:
        """(policies that could lock this emergency account out, reasons a policy could not
        be judged). Microsoft's guidance (security-emergency-access, 2025-02) gives emergency
        accounts a passwordless phishing-resistant method (FIDO2, certificate) and asks
        phishing-resistant MFA for them, so a policy that only asks MFA is no risk; a policy
        that blocks, or that offers no way through with MFA (a managed device, terms of use
        or a custom control only), can lock the school out when that device or control fails."""
        applies, unknown = [], []
        for p in self.policies:
            if p.state != "enabled" or not (p.control or p.offers or p.weak):
                continue
            if p.control != "block" and any({MFA, PHISHING_RESISTANT} & path for path in p.offers):
                continue  # passable with the emergency account's phishing-resistant method
            state, why = self.scope(p, person)
            if state == "in":
                applies.append(p.name)
            elif state == "unknown":
                unknown.append(why or p.name)
        for p in self.policies:
            if p.state == "enabled" and p.unread and p.name not in applies:
                unknown.append(p.unread)  # it may apply to this account: not known
        return applies, unknown
