"""App secrets and certificates (basismaatregel 5): the tenant's rules for app credentials and the
school's own app registrations (CISA SCuBA MS.AAD.5.5–5.7, Maester MT.1002).

A leaked app secret is a password that no MFA protects. SCuBA asks that no new secrets can be
added (5.5), that secrets live at most 180 days (5.6) and certificates at most 365 days (5.7).
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import Any

from m365apk.checks.base import AffectedObject, Area, CheckResult, Severity, Status, check_family
from m365apk.checks.common import SCUBA_AAD, make, parse_time, src
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


def _restriction(
    policy: dict[str, Any], kind: str, rtype: str, now: datetime
) -> dict[str, Any] | None:
    """The enabled restriction of this type that applies to apps created from now on."""
    for r in ((policy.get("applicationRestrictions") or {}).get(kind)) or []:
        if r.get("restrictionType") != rtype or r.get("state") == "disabled":
            continue
        after = parse_time(r.get("restrictForAppsCreatedAfterDateTime"))
        if after is None or after <= now:
            return r
    return None


def evaluate_policy(snapshot: Snapshot) -> CheckResult:
    cid = POLICY.id
    threshold = "Standaardbeleid aan: geen nieuwe geheimen, certificaten hoogstens 365 dagen"
    policy = snapshot.dataset("appManagementPolicy").data or {}
    if "isEnabled" not in policy:
        return make(
            cid,
            Status.UNKNOWN,
            Msg("apps.credential_policy.not_read"),
            threshold=threshold,
        )
    now = snapshot.collected_at
    block = _restriction(policy, "passwordCredentials", "passwordAddition", now)
    secret = _restriction(policy, "passwordCredentials", "passwordLifetime", now)
    cert = _restriction(policy, "keyCredentials", "asymmetricKeyLifetime", now)
    secret_life = parse_duration((secret or {}).get("maxLifetime"))
    cert_life = parse_duration((cert or {}).get("maxLifetime"))
    measured = {
        "isEnabled": policy["isEnabled"],
        "geheimen_geblokkeerd": block is not None,
        "max_levensduur_geheim": (secret or {}).get("maxLifetime"),
        "max_levensduur_certificaat": (cert or {}).get("maxLifetime"),
    }
    if not policy["isEnabled"]:
        return make(
            cid,
            Status.FAIL,
            Msg("apps.credential_policy.off"),
            threshold=threshold,
            measured=measured,
        )
    gaps = []
    if block is None and not (secret_life and secret_life <= SECRET_MAX):
        gaps.append(Msg("apps.credential_policy.secrets_unlimited"))
    elif block is None:
        gaps.append(Msg("apps.credential_policy.secrets_allowed"))
    if not (cert_life and cert_life <= CERT_MAX):
        gaps.append(Msg("apps.credential_policy.certificates_unlimited"))
    if not gaps:
        return make(cid, Status.PASS, threshold=threshold, measured=measured)
    return make(
        cid,
        Status.PARTIAL,
        Msg("apps.credential_policy.gaps", gaps=_one_after_another(gaps)),
        threshold=threshold,
        measured=measured,
    )


def _one_after_another(phrases: list[Msg]) -> Msg:
    """Phrases separated by semicolons: "a; b; c"."""
    out = phrases[0]
    for phrase in phrases[1:]:
        out = Msg("app_credentials.then", first=out, next=phrase)
    return out


def _problems(app: dict[str, Any], now: datetime) -> list[tuple[bool, Msg]]:
    """What is wrong with each credential of an app, and whether it is only expired."""
    found = []
    for kind, limit, label in (
        ("passwordCredentials", SECRET_MAX, Msg("app_credentials.secret")),
        ("keyCredentials", CERT_MAX, Msg("app_credentials.certificate")),
    ):
        for cred in app.get(kind) or []:
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
    apps = snapshot.dataset("applications").data or []
    for app in apps:
        problems = _problems(app, now)
        if not problems:
            continue
        item = AffectedObject(
            id=app.get("id", ""),
            display_name=app.get("displayName"),
            detail=_one_after_another([text for _, text in problems]),
        )
        live = [text for expired, text in problems if not expired]
        (long_lived if live else expired).append(item)
    counts = {
        "app_registraties": len(apps),
        "te_lang_geldig": len(long_lived),
        "alleen_verlopen": len(expired),
    }
    if long_lived:
        return make(
            cid,
            Status.FAIL,
            Msg("apps.long_lived_credentials.too_long", count=len(long_lived)),
            threshold=threshold,
            counts=counts,
            objects=long_lived + expired,
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
    datasets=("appManagementPolicy",),
    sources=(
        src("CISA SCuBA MS.AAD.5.5v1, 5.6v1, 5.7v1", SCUBA_AAD),
        src("Maester MT.1002", "https://maester.dev/docs/tests/MT.1002"),
        src("Microsoft: enforce app credential policies", POLICY_DOCS),
    ),
    evaluate=evaluate_policy,
)

EXISTING = _check(
    id="apps.long_lived_credentials",
    severity=Severity.MEDIUM,
    datasets=("applications",),
    sources=(
        src("CISA SCuBA MS.AAD.5.6v1, 5.7v1", SCUBA_AAD),
        src("Maester MT.1002", "https://maester.dev/docs/tests/MT.1002"),
    ),
    evaluate=evaluate_existing,
)

CHECKS = [POLICY, EXISTING]
