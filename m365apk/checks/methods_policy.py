"""Basismaatregel 9: the authentication methods policy, method by method (issue 25).

Two things live here:

- `MethodsPolicy.usable`: may this person use this method, by the policy? A registered FIDO2
  key counts for a person only when the Fido2 configuration is enabled, the person is in its
  `includeTargets` ("all_users", or a group whose members were read) and not in its
  `excludeTargets`. A target group whose members were not read leaves the answer unknown, and
  the reason names the group (finding 7: "registered is not usable").
- The EIDSCA controls of the policy that Graph v1.0 carries and that apply to a cloud-only
  school (Maester's EIDSCA tests give the expected values, cited per check):
  FIDO2 (AF01, AF03-AF06; AF02 is shown, not judged: self-service registration switched off is
  not a weakness), Temporary Access Pass (AT01, AT02, and its lifetime against Microsoft's
  default maximum of eight hours), and the OTP code in Microsoft Authenticator (AM02). The
  Authenticator context settings (AM06/AM07, AM09/AM10) are judged by mfa.authenticator_context;
  number matching (AM03/AM04) is not in v1.0 and Microsoft enforces it for every tenant.

A null or absent setting is not a value: the check is unknown and says which property is
missing. `unknownFutureValue` (Graph's evolvable enums) is never judged as a known value.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from m365apk.checks.base import Area, CheckResult, Severity, Status, check_family, reads
from m365apk.checks.common import EIDSCA, group_members, make, src
from m365apk.checks.conditional_access import sentence, undetermined
from m365apk.messages import Msg
from m365apk.snapshot import Snapshot

POLICY = "authenticationMethodsPolicy"
TARGET_MEMBERS = "methodsPolicyGroupMembers"
ALL_USERS = "all_users"
FUTURE = "unknownFutureValue"
GROUP_TYPE = "#microsoft.graph.group"

FIDO2_DOCS = "https://learn.microsoft.com/entra/identity/authentication/how-to-enable-passkey-fido2"
TAP_DOCS = (
    "https://learn.microsoft.com/entra/identity/authentication/"
    "howto-authentication-temporary-access-pass"
)
AUTHENTICATOR_DOCS = (
    "https://learn.microsoft.com/entra/identity/authentication/"
    "concept-authentication-authenticator-app"
)

# Microsoft's defaults for a Temporary Access Pass: one hour by default, at most eight hours
# (TAP_DOCS, "Enable the Temporary Access Pass policy"). A longer maximum lets a pass that was
# handed out on paper stay valid for days.
TAP_MAX_MINUTES = 480


def config(snapshot: Snapshot, method_id: str) -> dict[str, Any] | None:
    """The configuration of one method (Graph's id: Fido2, TemporaryAccessPass, ...), or None
    when the policy was read without it (or not read)."""
    policy = snapshot.dataset(POLICY)
    if not policy.ok:
        return None
    for item in (policy.data or {}).get("authenticationMethodConfigurations") or []:
        if (item.get("id") or "").lower() == method_id.lower():
            return item
    return None


class MethodsPolicy:
    """Who may use which method, per the authentication methods policy, built once per call.

    `usable(uid, method)` -> (True | False | None, why): None when it cannot be said (policy
    unread, a setting absent, a target group's members unread), with the reason."""

    def __init__(self, snapshot: Snapshot) -> None:
        self.snapshot = snapshot
        self.dataset = snapshot.dataset(POLICY)
        # Groups read for conditional access or roles count too, but only to say who is in:
        # whether they hold nested groups is not kept, so not being listed proves nothing.
        self.members: dict[str, set[str]] = {k: set(v) for k, v in group_members(snapshot).items()}
        self.nested: set[str] = set(self.members)  # groups where "not listed" is not "not in"
        found = snapshot.dataset(TARGET_MEMBERS)
        if found.ok and isinstance(found.data, dict):
            for gid, items in found.data.items():
                self.members.setdefault(gid, set()).update(m["id"] for m in items)
                if any(m.get("@odata.type") == GROUP_TYPE for m in items):
                    self.nested.add(gid)
                else:
                    self.nested.discard(gid)

    def _in_group(self, uid: str, group: str) -> bool | None:
        members = self.members.get(group)
        if members is None:
            return None
        if uid in members:
            return True
        return None if group in self.nested else False

    def _targeted(self, uid: str, targets: Iterable[dict[str, Any]]) -> tuple[bool | None, str]:
        """(in any of the targets?, the group that left it open or matched)."""
        open_group = ""
        for target in targets:
            ident = target.get("id") or ""
            kind = target.get("targetType")
            if ident == ALL_USERS:
                return True, ident
            if kind == "user":
                if ident == uid:
                    return True, ident
                continue
            if kind != "group":  # unknownFutureValue or absent: cannot say who it is
                open_group = open_group or ident or "?"
                continue
            inside = self._in_group(uid, ident)
            if inside:
                return True, ident
            if inside is None:
                open_group = open_group or ident
        return (None, open_group) if open_group else (False, "")

    def usable(self, uid: str, method: str) -> tuple[bool | None, Msg | None]:
        if not self.dataset.ok:
            return None, Msg(
                "methods_policy.usable.unread", status=self.dataset.status.value, method=method
            )
        found = config(self.snapshot, method)
        if found is None:
            return None, Msg("methods_policy.usable.absent", method=method)
        state = found.get("state")
        if state == "disabled":
            return False, Msg("methods_policy.usable.disabled", method=method)
        if state != "enabled":
            return None, Msg("methods_policy.usable.state_unknown", method=method)
        include, exclude = found.get("includeTargets"), found.get("excludeTargets")
        if include is None or exclude is None:
            name = "includeTargets" if include is None else "excludeTargets"
            return None, Msg("methods_policy.usable.targets_absent", method=method, field=name)
        excluded, group = self._targeted(uid, exclude)
        if excluded:
            return False, Msg("methods_policy.usable.excluded", method=method, group=group)
        if excluded is None:
            return None, Msg("methods_policy.usable.group_unread", method=method, group=group)
        included, group = self._targeted(uid, include)
        if included:
            return True, None
        if included is None:
            return None, Msg("methods_policy.usable.group_unread", method=method, group=group)
        return False, Msg("methods_policy.usable.not_targeted", method=method)


# -- the EIDSCA settings ---------------------------------------------------------------------


def _setting(found: dict[str, Any], *path: str) -> Any:
    value: Any = found
    for key in path:
        if not isinstance(value, dict):
            return None
        value = value.get(key)
    return value


def _unset(method: str, prop: str) -> Msg:
    return Msg("methods_policy.setting_absent", method=method, property=prop)


def _start(
    snapshot: Snapshot, cid: str, method: str, threshold: str
) -> tuple[dict[str, Any], None] | tuple[None, CheckResult]:
    """The method's configuration when it is enabled; otherwise the result: not applicable
    when it is off (there is nothing to configure), unknown when the state cannot be read."""
    found = config(snapshot, method)
    if found is None:
        why = undetermined(sentence([Msg("methods_policy.usable.absent", method=method)]))
        return None, make(cid, Status.UNKNOWN, why, threshold=threshold)
    state = found.get("state")
    if state == "disabled":
        why = Msg(f"{cid}.disabled")
        return None, make(cid, Status.NOT_APPLICABLE, why, threshold=threshold, measured=state)
    if state != "enabled":
        why = undetermined(sentence([Msg("methods_policy.usable.state_unknown", method=method)]))
        return None, make(cid, Status.UNKNOWN, why, threshold=threshold)
    return found, None


def _verdict(
    cid: str,
    threshold: str,
    measured: Any,
    failed: list[Msg],
    gaps: list[Msg],
    unknown: list[Msg],
) -> CheckResult:
    """fail when a failing setting is measured; unknown when a setting that could still fail
    is missing; partial for the lesser gaps; pass when every setting was read and is right.
    A setting Graph did not give is named among the reasons, never shown as a measured null."""
    if isinstance(measured, dict):
        measured = {k: v for k, v in measured.items() if v is not None} or None
    if failed:
        why = Msg.join([*failed, *gaps, *unknown])
        return make(cid, Status.FAIL, why, threshold=threshold, measured=measured)
    if unknown:
        why = Msg.join([Msg("methods_policy.unknown"), *unknown, *gaps])
        return make(cid, Status.UNKNOWN, why, threshold=threshold, measured=measured)
    if gaps:
        why = Msg.join(gaps)
        return make(cid, Status.PARTIAL, why, threshold=threshold, measured=measured)
    return make(cid, Status.PASS, threshold=threshold, measured=measured)


def _keys(restrictions: Any, where: str) -> tuple[list[Msg], list[Msg]]:
    """(gaps, unknowns) of FIDO2 key restrictions (EIDSCA AF04: enforced; AF05/AF06: a list of
    AAGUIDs, to allow or to block). A block list without entries restricts nothing."""
    if not isinstance(restrictions, dict):
        return [], [_unset(where, "keyRestrictions")]
    enforced = restrictions.get("isEnforced")
    if enforced is None:
        return [], [_unset(where, "keyRestrictions.isEnforced")]
    if enforced is False:
        return [Msg("mfa.fido2_settings.keys_open", where=where)], []
    kind = restrictions.get("enforcementType")
    guids = restrictions.get("aaGuids")
    if kind is None:
        return [], [_unset(where, "keyRestrictions.enforcementType")]
    if kind not in ("allow", "block"):  # unknownFutureValue, or a value Graph added since
        return [], [_future(where, "keyRestrictions.enforcementType", kind)]
    if guids is None:
        return [], [_unset(where, "keyRestrictions.aaGuids")]
    if kind == "block" and not guids:
        return [Msg("mfa.fido2_settings.block_nothing", where=where)], []
    return [], []


def _future(method: str, prop: str, value: Any) -> Msg:
    return Msg("methods_policy.not_judged", method=method, property=prop, value=str(value))


def evaluate_fido2(snapshot: Snapshot) -> CheckResult:
    """EIDSCA AF01 (enabled; off is not applicable), AF03 (attestation enforced: fail when
    off), AF04-AF06 (key restrictions: partial when open). With passkey profiles, each
    profile's attestationEnforcement and keyRestrictions are judged instead of the deprecated
    settings on the configuration itself. AF02 (self-service registration) is shown only."""
    cid = FIDO2.id
    threshold = "Passkey (FIDO2): attestatie afgedwongen en sleutelbeperking (AAGUID) aan"
    found, early = _start(snapshot, cid, "Fido2", threshold)
    if found is None:
        assert early is not None
        return early
    failed: list[Msg] = []
    gaps: list[Msg] = []
    unknown: list[Msg] = []
    measured: dict[str, Any] = {
        "isSelfServiceRegistrationAllowed": found.get("isSelfServiceRegistrationAllowed"),
    }
    profiles = found.get("passkeyProfiles")
    if not profiles and found.get("defaultPasskeyProfile"):
        # Migrated to passkey profiles (the default profile exists) but the profiles are not
        # in the answer: the deprecated settings need not say what is enforced.
        unknown.append(_unset("Fido2", "passkeyProfiles"))
    elif profiles:
        for profile in profiles:
            where = f"Fido2 ({profile.get('name') or profile.get('id') or '?'})"
            attest = profile.get("attestationEnforcement")
            measured[f"{where} attestationEnforcement"] = attest
            if attest is None:
                unknown.append(_unset(where, "attestationEnforcement"))
            elif attest == "disabled":
                failed.append(Msg("mfa.fido2_settings.no_attestation", where=where))
            elif attest != "registrationOnly":
                unknown.append(_future(where, "attestationEnforcement", attest))
            more_gaps, more_unknown = _keys(profile.get("keyRestrictions"), where)
            gaps += more_gaps
            unknown += more_unknown
    else:
        attest = found.get("isAttestationEnforced")
        measured["isAttestationEnforced"] = attest
        measured["keyRestrictions.isEnforced"] = _setting(found, "keyRestrictions", "isEnforced")
        if attest is None:
            unknown.append(_unset("Fido2", "isAttestationEnforced"))
        elif attest is False:
            failed.append(Msg("mfa.fido2_settings.no_attestation", where="Fido2"))
        more_gaps, more_unknown = _keys(found.get("keyRestrictions"), "Fido2")
        gaps += more_gaps
        unknown += more_unknown
    return _verdict(cid, threshold, measured, failed, gaps, unknown)


def evaluate_tap(snapshot: Snapshot) -> CheckResult:
    """EIDSCA AT01 (enabled; a school may leave it off, then there is no pass to judge) and
    AT02 (one-time use: fail when a pass can be reused); a maximum lifetime beyond Microsoft's
    default of eight hours is partial."""
    cid = TAP.id
    threshold = "Tijdelijke toegangspas: eenmalig te gebruiken, hooguit 8 uur geldig"
    found, early = _start(snapshot, cid, "TemporaryAccessPass", threshold)
    if found is None:
        assert early is not None
        return early
    once = found.get("isUsableOnce")
    longest = found.get("maximumLifetimeInMinutes")
    measured = {
        "isUsableOnce": once,
        "maximumLifetimeInMinutes": longest,
        "defaultLifetimeInMinutes": found.get("defaultLifetimeInMinutes"),
    }
    known_length = isinstance(longest, int) and not isinstance(longest, bool)
    failed: list[Msg] = []
    gaps: list[Msg] = []
    unknown: list[Msg] = []
    if once is None:
        unknown.append(_unset("TemporaryAccessPass", "isUsableOnce"))
    elif once is False:
        failed.append(
            Msg("mfa.temporary_access_pass.reusable_for", hours=_hours(longest))
            if known_length
            else Msg("mfa.temporary_access_pass.reusable")
        )
    if not known_length:
        unknown.append(_unset("TemporaryAccessPass", "maximumLifetimeInMinutes"))
    elif longest > TAP_MAX_MINUTES:
        gaps.append(Msg("mfa.temporary_access_pass.long", hours=_hours(longest), limit=8))
    return _verdict(cid, threshold, measured, failed, gaps, unknown)


def _hours(minutes: int) -> float | int:
    hours = round(minutes / 60, 1)
    return int(hours) if hours == int(hours) else hours


def evaluate_otp(snapshot: Snapshot) -> CheckResult:
    """EIDSCA AM02: the one-time code in Microsoft Authenticator off (isSoftwareOathEnabled
    false): a code can be phished like any other, and push with number matching is there."""
    cid = OTP.id
    threshold = "Eenmalige codes (OTP) in Microsoft Authenticator uit"
    found, early = _start(snapshot, cid, "MicrosoftAuthenticator", threshold)
    if found is None:
        assert early is not None
        return early
    value = found.get("isSoftwareOathEnabled")
    measured = {"isSoftwareOathEnabled": value}
    failed = [Msg("mfa.authenticator_otp.on")] if value is True else []
    unknown = [_unset("MicrosoftAuthenticator", "isSoftwareOathEnabled")] if value is None else []
    return _verdict(cid, threshold, measured, failed, [], unknown)


# What the three EIDSCA checks share, declared once (base.check_family).
_eidsca = check_family(area=Area.MFA, datasets=(POLICY,), bm=(9,), norms=("SM.02",), effort="klein")


def _settings(*properties: str) -> Any:
    """The declaration of an EIDSCA check: the method's state and the settings it judges."""
    paths = ("state", *properties)
    return reads(
        properties={POLICY: tuple(f"authenticationMethodConfigurations.{p}" for p in paths)},
        judges=("methods_policy",),
    )


FIDO2 = _eidsca(
    id="mfa.fido2_settings",
    severity=Severity.LOW,
    sources=(
        src("Maester EIDSCA AF01, AF03-AF06 (FIDO2 / passkeys)", EIDSCA),
        src("Microsoft: enable passkeys (FIDO2)", FIDO2_DOCS),
    ),
    evaluate=evaluate_fido2,
    reads=_settings(
        "isAttestationEnforced",
        "keyRestrictions.isEnforced",
        "keyRestrictions.enforcementType",
        "keyRestrictions.aaGuids",
        "passkeyProfiles",
        "defaultPasskeyProfile",
    ),
)

TAP = _eidsca(
    id="mfa.temporary_access_pass",
    severity=Severity.MEDIUM,
    sources=(
        src("Maester EIDSCA AT01, AT02 (Temporary Access Pass)", EIDSCA),
        src("Microsoft: Temporary Access Pass", TAP_DOCS),
    ),
    evaluate=evaluate_tap,
    reads=_settings("isUsableOnce", "maximumLifetimeInMinutes"),
)

OTP = _eidsca(
    id="mfa.authenticator_otp",
    severity=Severity.LOW,
    sources=(
        src("Maester EIDSCA AM02 (Microsoft Authenticator OTP)", EIDSCA),
        src("Microsoft: Authenticator app", AUTHENTICATOR_DOCS),
    ),
    evaluate=evaluate_otp,
    reads=_settings("isSoftwareOathEnabled"),
)

CHECKS = [FIDO2, TAP, OTP]
