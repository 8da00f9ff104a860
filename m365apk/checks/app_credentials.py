"""App secrets and certificates (basismaatregel 5): the tenant's rules for app credentials and the
school's own app registrations (CISA SCuBA MS.AAD.5.5–5.7, Maester MT.1002).

A leaked app secret is a password that no MFA protects. SCuBA asks that no new secrets can be
added (5.5), that secrets live at most 180 days (5.6) and certificates at most 365 days (5.7).
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import Any

from m365apk.checks.base import (
    AffectedObject,
    Area,
    CheckResult,
    Severity,
    Status,
    check_family,
    reads,
)
from m365apk.checks.common import MICROSOFT_TENANTS, SCUBA_AAD, make, parse_time, src
from m365apk.messages import Msg
from m365apk.snapshot import Snapshot

POLICY_DOCS = (
    "https://learn.microsoft.com/entra/identity/enterprise-apps/tutorial-enforce-secret-standards"
)
SECRET_MAX = timedelta(days=180)
CERT_MAX = timedelta(days=365)

_check = check_family(area=Area.APPLICATIONS, bm=(5,), norms=("SM.01", "SM.10"))

_DURATION = re.compile(
    r"^P(?:(?P<d>\d+)D)?(?:T(?:(?P<h>\d+)H)?(?:(?P<m>\d+)M)?(?:(?P<s>\d+(?:\.\d+)?)S)?)?$"
)


def parse_duration(value: str | None) -> timedelta | None:
    """Edm.Duration as Graph writes it (days and time only, e.g. P180D, P1DT12H)."""
    match = _DURATION.match(value or "")
    if not value or not match:
        return None
    parts = {k: float(v) for k, v in match.groupdict().items() if v}
    return timedelta(
        days=parts.get("d", 0),
        hours=parts.get("h", 0),
        minutes=parts.get("m", 0),
        seconds=parts.get("s", 0),
    )


# The two kinds of object the tenant default restricts, each under its own key; a custom policy
# (appManagementPolicy) holds one `restrictions` for the apps it applies to.
SIDES = ("applicationRestrictions", "servicePrincipalRestrictions")
SIDE_TEXT = {
    "applicationRestrictions": "apps.credential_policy.side.applications",
    "servicePrincipalRestrictions": "apps.credential_policy.side.service_principals",
}
RULES = ("secrets", "certificates")


def _in_force(r: dict[str, Any], created: datetime | None, tenant: datetime | None) -> bool | None:
    """Whether restriction `r` binds an object created at `created`: enabled, and the object
    created on or after `restrictForAppsCreatedAfterDateTime` (null: every object). None when
    the object's creation date is unknown and the date is after the tenant's own creation."""
    if r.get("state") != "enabled":  # disabled, absent or unknownFutureValue: not in force
        return False
    after = parse_time(r.get("restrictForAppsCreatedAfterDateTime"))
    if after is None:
        return True
    if created is not None:
        return created >= after
    if tenant is not None and after <= tenant:
        return True
    return None


def _binds(
    items: list[dict[str, Any]],
    rtype: str,
    limit: timedelta | None,
    created: datetime | None,
    tenant: datetime | None,
) -> bool | None:
    found: bool | None = False
    for r in items:
        if r.get("restrictionType") != rtype:
            continue
        if limit is not None:
            life = parse_duration(r.get("maxLifetime"))
            if not (life and life <= limit):
                continue
        binds = _in_force(r, created, tenant)
        if binds:
            return True
        if binds is None:
            found = None
    return found


def _rules(
    config: dict[str, Any] | None, created: datetime | None, tenant: datetime | None
) -> dict[str, str]:
    """For an object created at `created` under `config`: per rule, "ok", "allowed" (secrets:
    new ones allowed but at most 180 days), "open" (no bound) or "unknown" (the object's date
    decides, and it is not known)."""
    config = config or {}
    pw = list(config.get("passwordCredentials") or [])
    keys = list(config.get("keyCredentials") or [])
    block = _binds(pw, "passwordAddition", None, created, tenant)
    short = _binds(pw, "passwordLifetime", SECRET_MAX, created, tenant)
    cert = _binds(keys, "asymmetricKeyLifetime", CERT_MAX, created, tenant)
    if block:
        secrets = "ok"
    elif short:
        secrets = "allowed" if block is False else "unknown"
    elif block is None or short is None:
        secrets = "unknown"
    else:
        secrets = "open"
    certificates = "ok" if cert else "unknown" if cert is None else "open"
    return {"secrets": secrets, "certificates": certificates}


_RANK = {"ok": 3, "allowed": 2, "unknown": 1, "open": 0}


def _weaker(rules: dict[str, str], than: dict[str, str]) -> bool:
    return any(_RANK[rules[k]] < _RANK[than[k]] for k in RULES)


def _for_new(config: dict[str, Any] | None, rtype: str, now: datetime) -> dict[str, Any] | None:
    """The enabled restriction of this type that binds an app created now, if any."""
    for kind in ("passwordCredentials", "keyCredentials"):
        for r in (config or {}).get(kind) or []:
            if r.get("restrictionType") == rtype and _in_force(r, now, None):
                return r
    return None


def _gap_texts(rules: dict[str, str]) -> list[Msg]:
    gaps = []
    if rules["secrets"] in ("open", "unknown"):
        gaps.append(Msg("apps.credential_policy.secrets_unlimited"))
    elif rules["secrets"] == "allowed":
        gaps.append(Msg("apps.credential_policy.secrets_allowed"))
    if rules["certificates"] != "ok":
        gaps.append(Msg("apps.credential_policy.certificates_unlimited"))
    return gaps


def _exempt_actors(config: dict[str, Any] | None) -> bool:
    """Whether an enabled restriction lets some callers past it (excludeActors)."""
    for kind in ("passwordCredentials", "keyCredentials"):
        for r in (config or {}).get(kind) or []:
            exempt = (r.get("excludeActors") or {}).get("customSecurityAttributes")
            if r.get("state") == "enabled" and exempt:
                return True
    return False


def _dates_of(config: dict[str, Any] | None) -> list[str]:
    return sorted(
        {
            str(r["restrictForAppsCreatedAfterDateTime"])[:10]
            for kind in ("passwordCredentials", "keyCredentials")
            for r in (config or {}).get(kind) or []
            if r.get("state") == "enabled" and r.get("restrictForAppsCreatedAfterDateTime")
        }
    )


def _tenant_created(snapshot: Snapshot) -> datetime | None:
    orgs = snapshot.dataset("organization").data or []
    org = orgs[0] if isinstance(orgs, list) and orgs else orgs if isinstance(orgs, dict) else {}
    return parse_time((org or {}).get("createdDateTime"))


def evaluate_policy(snapshot: Snapshot) -> CheckResult:
    cid = POLICY.id
    threshold = (
        "Standaardbeleid aan voor app-registraties en bedrijfsapps, voor alle apps: geen nieuwe "
        "geheimen, certificaten hoogstens 365 dagen; geen aangepast beleid dat apps ontziet"
    )
    policy = snapshot.dataset("appManagementPolicy").data or {}
    if "isEnabled" not in policy:
        return make(
            cid,
            Status.UNKNOWN,
            Msg("apps.credential_policy.not_read"),
            threshold=threshold,
        )
    now = snapshot.collected_at
    tenant = _tenant_created(snapshot)
    new = {side: _rules(policy.get(side), now, tenant) for side in SIDES}
    measured: dict[str, Any] = {"isEnabled": policy["isEnabled"]}
    for side, prefix in (
        ("applicationRestrictions", ""),
        ("servicePrincipalRestrictions", "bedrijfsapps_"),
    ):
        config = policy.get(side)
        measured |= {
            f"{prefix}geheimen_geblokkeerd": _for_new(config, "passwordAddition", now) is not None,
            f"{prefix}max_levensduur_geheim": (_for_new(config, "passwordLifetime", now) or {}).get(
                "maxLifetime"
            ),
            f"{prefix}max_levensduur_certificaat": (
                _for_new(config, "asymmetricKeyLifetime", now) or {}
            ).get("maxLifetime"),
        }
    if not policy["isEnabled"]:
        return make(
            cid,
            Status.FAIL,
            Msg("apps.credential_policy.off"),
            threshold=threshold,
            measured=measured,
        )
    # Graph always gives both restriction objects (empty lists when nothing is restricted): a
    # null or absent one says nothing of the rules for that kind of object, not "no rules".
    unread = [side for side in SIDES if not isinstance(policy.get(side), dict)]
    if unread:
        return make(
            cid,
            Status.UNKNOWN,
            Msg(
                "apps.credential_policy.side_unread",
                properties=", ".join(unread),
                sides=_one_after_another([Msg(SIDE_TEXT[side]) for side in unread]),
            ),
            threshold=threshold,
        )
    # A restriction whose state is neither enabled nor disabled (unknownFutureValue, a value
    # Graph added since, or none) may or may not bind: not judged as off.
    undecided = sorted(
        {
            f"{side}.{kind}: {r.get('restrictionType')} state={r.get('state')}"
            for side in SIDES
            for kind in ("passwordCredentials", "keyCredentials")
            for r in policy[side].get(kind) or []
            if r.get("state") not in ("enabled", "disabled")
        }
    )
    if undecided:
        return make(
            cid,
            Status.UNKNOWN,
            Msg("apps.credential_policy.state_unknown", rules="; ".join(undecided)),
            threshold=threshold,
        )
    gaps: list[Msg] = []
    objects: list[AffectedObject] = []
    for side in SIDES:
        side_gaps = _gap_texts(new[side])
        if side_gaps:
            gaps.append(
                Msg(
                    "apps.credential_policy.side_gaps",
                    side=Msg(SIDE_TEXT[side]),
                    gaps=_one_after_another(side_gaps),
                )
            )
        if _exempt_actors(policy.get(side)):
            gaps.append(Msg("apps.credential_policy.actor_exemptions", side=Msg(SIDE_TEXT[side])))
    # Custom policies: the apps they apply to follow them instead of the default.
    custom = {p["id"]: p for p in snapshot.dataset("appManagementPolicies").data or []}
    targets: dict[str, list[dict[str, Any]]] = (
        snapshot.dataset("appManagementPolicyAppliesTo").data or {}
    )
    under_custom: set[str] = set()
    for pid, members in sorted(targets.items()):
        p = custom.get(pid, {"id": pid})
        under_custom.update(m["id"] for m in members)
        if not members:
            continue
        config = p.get("restrictions") if p.get("isEnabled") else None
        weaker = []
        for m in members:
            side = (
                "applicationRestrictions"
                if m.get("@odata.type") == "#microsoft.graph.application"
                else "servicePrincipalRestrictions"
            )
            rules = _rules(config, parse_time(m.get("createdDateTime")), tenant)
            if _weaker(rules, new[side]):
                weaker.append(m)
                objects.append(
                    AffectedObject(
                        id=m["id"],
                        display_name=m.get("displayName"),
                        detail=Msg("apps.credential_policy.custom_detail", policy=_name(p)),
                    )
                )
        if weaker:
            key = "custom_off" if not p.get("isEnabled") else "custom_weaker"
            gaps.append(Msg(f"apps.credential_policy.{key}", policy=_name(p), count=len(weaker)))
        if p.get("isEnabled") and _exempt_actors(config):
            gaps.append(Msg("apps.credential_policy.actor_exemptions_custom", policy=_name(p)))
    # Restrictions that bind only objects created on or after a date leave older ones open.
    missed_apps = []
    if snapshot.dataset("applications").ok:
        for app in snapshot.dataset("applications").data or []:
            if app.get("id") in under_custom:
                continue
            created = parse_time(app.get("createdDateTime"))
            rules = _rules(policy.get("applicationRestrictions"), created, tenant)
            if _weaker(rules, new["applicationRestrictions"]):
                missed_apps.append(app)
                objects.append(
                    AffectedObject(
                        id=app.get("id", ""),
                        display_name=app.get("displayName"),
                        detail=Msg(
                            "apps.credential_policy.older_detail",
                            dates=", ".join(_dates_of(policy.get("applicationRestrictions"))),
                        ),
                    )
                )
        if missed_apps:
            gaps.append(
                Msg(
                    "apps.credential_policy.older_apps",
                    count=len(missed_apps),
                    dates=", ".join(_dates_of(policy.get("applicationRestrictions"))),
                )
            )
    elif _weaker(_rules(policy.get("applicationRestrictions"), None, tenant), new[SIDES[0]]):
        gaps.append(
            Msg(
                "apps.credential_policy.older_unknown",
                side=Msg(SIDE_TEXT[SIDES[0]]),
                dates=", ".join(_dates_of(policy.get("applicationRestrictions"))),
            )
        )
    # Graph v1.0 gives service principals no creation date: a date-bound restriction after the
    # tenant's own creation leaves an unknown number of older ones outside it.
    sp_config = policy.get("servicePrincipalRestrictions")
    if _weaker(_rules(sp_config, None, tenant), new["servicePrincipalRestrictions"]):
        gaps.append(
            Msg(
                "apps.credential_policy.older_unknown",
                side=Msg(SIDE_TEXT["servicePrincipalRestrictions"]),
                dates=", ".join(_dates_of(sp_config)),
            )
        )
    counts = {
        "aangepast_beleid": len(custom),
        "apps_onder_aangepast_beleid": len(under_custom),
        "app_registraties_van_voor_de_datum": len(missed_apps),
    }
    if not gaps:
        return make(cid, Status.PASS, threshold=threshold, measured=measured, counts=counts)
    return make(
        cid,
        Status.PARTIAL,
        Msg("apps.credential_policy.gaps", gaps=_one_after_another(gaps)),
        threshold=threshold,
        measured=measured,
        counts=counts,
        objects=objects,
    )


def _name(policy: dict[str, Any]) -> str:
    return str(policy.get("displayName") or policy.get("id") or "")


def _one_after_another(phrases: list[Msg]) -> Msg:
    """Phrases separated by semicolons: "a; b; c"."""
    out = phrases[0]
    for phrase in phrases[1:]:
        out = Msg("app_credentials.then", first=out, next=phrase)
    return out


def _saml_signing(sp: dict[str, Any]) -> set[str]:
    """customKeyIdentifiers of the SAML token-signing sets Entra creates on an enterprise app
    (a Sign key, its Verify key and a password holding the private key's passphrase, all with
    the same identifier). Entra keeps the private key; they do not let anyone sign in as the
    app, so they are not judged as app credentials."""
    return {
        str(k["customKeyIdentifier"])
        for k in sp.get("keyCredentials") or []
        if k.get("usage") == "Sign" and k.get("customKeyIdentifier")
    }


def _problems(
    app: dict[str, Any],
    now: datetime,
    skip: set[str] = frozenset(),  # type: ignore[assignment]
) -> list[tuple[bool, Msg]]:
    """What is wrong with each credential of an app, and whether it is only expired."""
    found = []
    for kind, limit, label in (
        ("passwordCredentials", SECRET_MAX, Msg("app_credentials.secret")),
        ("keyCredentials", CERT_MAX, Msg("app_credentials.certificate")),
    ):
        for cred in app.get(kind) or []:
            if cred.get("customKeyIdentifier") and str(cred["customKeyIdentifier"]) in skip:
                continue
            start, end = parse_time(cred.get("startDateTime")), parse_time(cred.get("endDateTime"))
            name = cred.get("displayName") or cred.get("keyId") or Msg("app_credentials.unnamed")
            if end is not None and end < now:
                found.append((True, Msg("app_credentials.expired", kind=label, name=name)))
            elif start is None or end is None:
                found.append((False, Msg("app_credentials.no_dates", kind=label, name=name)))
            elif end - start > limit:
                days = (end - start).days
                found.append(
                    (False, Msg("app_credentials.valid_for", kind=label, name=name, days=days))
                )
    return found


def evaluate_existing(snapshot: Snapshot) -> CheckResult:
    cid = EXISTING.id
    threshold = "Geen geldige app-geheimen langer dan 180 dagen of certificaten langer dan 365"
    now = snapshot.collected_at
    long_lived: list[AffectedObject] = []
    expired: list[AffectedObject] = []
    unread: list[AffectedObject] = []
    apps = snapshot.dataset("applications").data or []
    # Enterprise apps (service principals) carry credentials of their own: a secret added to a
    # third party's app in this tenant signs in as that app just the same. Microsoft's own are
    # not the school's to manage.
    sps = [
        sp
        for sp in snapshot.dataset("servicePrincipals").data or []
        if sp.get("appOwnerOrganizationId") not in MICROSOFT_TENANTS
    ]
    saml = 0
    for owner, label in [(a, None) for a in apps] + [
        (sp, Msg("app_credentials.enterprise_app")) for sp in sps
    ]:
        skip: set[str] = set()
        # Graph always returns both collections; without them nothing can be said of the app.
        if owner.get("passwordCredentials") is None or owner.get("keyCredentials") is None:
            unread.append(
                AffectedObject(
                    id=owner.get("id", ""),
                    display_name=owner.get("displayName"),
                    detail=Msg("app_credentials.not_read"),
                )
            )
            continue
        if label is not None:
            skip = _saml_signing(owner)
            saml += bool(skip)
        problems = _problems(owner, now, skip)
        if not problems:
            continue
        detail = _one_after_another([text for _, text in problems])
        item = AffectedObject(
            id=owner.get("id", ""),
            display_name=owner.get("displayName"),
            detail=detail if label is None else Msg("app_credentials.of", kind=label, what=detail),
        )
        live = [text for expired, text in problems if not expired]
        (long_lived if live else expired).append(item)
    counts = {
        "app_registraties": len(apps),
        "bedrijfsapps": len(sps),
        "te_lang_geldig": len(long_lived),
        "alleen_verlopen": len(expired),
        "saml_ondertekening_niet_beoordeeld": saml,
        "referenties_niet_gelezen": len(unread),
    }
    if long_lived:
        return make(
            cid,
            Status.FAIL,
            Msg("apps.long_lived_credentials.too_long", count=len(long_lived)),
            threshold=threshold,
            counts=counts,
            objects=long_lived + expired + unread,
        )
    if unread:
        return make(
            cid,
            Status.UNKNOWN,
            Msg("apps.long_lived_credentials.not_read", count=len(unread)),
            threshold=threshold,
            counts=counts,
            objects=unread + expired,
        )
    if expired:
        return make(
            cid,
            Status.PARTIAL,
            Msg("apps.long_lived_credentials.only_expired"),
            threshold=threshold,
            counts=counts,
            objects=expired,
        )
    return make(cid, Status.PASS, threshold=threshold, counts=counts)


POLICY = _check(
    id="apps.credential_policy",
    severity=Severity.LOW,
    datasets=("appManagementPolicy", "appManagementPolicies", "appManagementPolicyAppliesTo"),
    # Application creation dates show how many older registrations a dated restriction misses;
    # without them the check says that number is unknown.
    optional=("applications", "organization"),
    sources=(
        src("CISA SCuBA MS.AAD.5.5v1, 5.6v1, 5.7v1", SCUBA_AAD),
        src("Maester MT.1002", "https://maester.dev/docs/tests/MT.1002"),
        src("Microsoft: enforce app credential policies", POLICY_DOCS),
    ),
    evaluate=evaluate_policy,
    # It judges the rules for credentials (the tenant default and custom policies, and which
    # apps each binds), not the credentials that exist: an existing long-lived secret may predate
    # the rules (Graph enforces them when a credential is added) and is apps.long_lived_credentials'
    # finding. So it does not judge "credentials".
    reads=reads(
        properties={
            "appManagementPolicy": (
                "isEnabled",
                "applicationRestrictions",
                "servicePrincipalRestrictions",
            ),
            "appManagementPolicies": ("isEnabled", "restrictions"),
            "appManagementPolicyAppliesTo": ("id", "@odata.type", "createdDateTime"),
            "applications": ("createdDateTime",),
            "organization": ("createdDateTime",),
        },
    ),
)

EXISTING = _check(
    id="apps.long_lived_credentials",
    severity=Severity.MEDIUM,
    datasets=("applications", "servicePrincipals"),
    sources=(
        src("CISA SCuBA MS.AAD.5.6v1, 5.7v1", SCUBA_AAD),
        src("Maester MT.1002", "https://maester.dev/docs/tests/MT.1002"),
    ),
    evaluate=evaluate_existing,
    reads=reads(
        properties={
            "applications": ("passwordCredentials", "keyCredentials"),
            "servicePrincipals": (
                "passwordCredentials",
                "keyCredentials",
                "appOwnerOrganizationId",
            ),
        },
        judges=("credentials",),
    ),
)

CHECKS = [POLICY, EXISTING]
