"""Mail in Exchange Online (issue 28): who can sign in to a shared mailbox, which mailboxes send
the school's mail on to outside addresses, whether mailbox actions are audited, and whether
people are warned before mailing outside the school.

Read through the Exchange Online Admin API (datasets `exoMailboxes`, `exoAcceptedDomains`,
`exoOrganizationConfig`; the objects keep the cmdlets' PascalCase property names). Which
endpoint returns each property, and what Microsoft documents about it, is recorded in
mappings/exchange_properties.yaml. What the documented API does not return (remote-domain
auto-forwarding, SMTP AUTH, transport rules, audit bypass) is a handmatig controlepunt
(mappings/manual.yaml) with the PowerShell command that settles it.

An Exchange object without the property a verdict rests on is undetermined, never in order;
an empty mailbox or domain list is not "nothing to judge": an organisation in Exchange Online
has at least one accepted domain, and the scan cannot tell an empty mailbox list from one it
was not shown.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
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
from m365apk.checks.common import CIS, make, src, users
from m365apk.messages import Msg
from m365apk.snapshot import Snapshot

MAILBOXES = "exoMailboxes"
ACCEPTED = "exoAcceptedDomains"
ORGANIZATION = "exoOrganizationConfig"

SCUBA_EXO = "https://github.com/cisagov/ScubaGear/blob/main/PowerShell/ScubaGear/baselines/exo.md"
MS_SHARED = (
    "https://learn.microsoft.com/microsoft-365/admin/email/about-shared-mailboxes"
    "#block-sign-in-for-the-shared-mailbox-account"
)
MS_FORWARDING = "https://learn.microsoft.com/defender-office-365/outbound-spam-policies-external-email-forwarding"
MS_ACCEPTED = (
    "https://learn.microsoft.com/exchange/mail-flow-best-practices/manage-accepted-domains/"
    "manage-accepted-domains"
)
MS_DOMAIN_TYPES = (
    "https://learn.microsoft.com/previous-versions/office/exchange-server-api/ff340752(v=exchg.150)"
)
MS_AUDIT = "https://learn.microsoft.com/purview/audit-mailboxes"
MS_ORG_CONFIG = (
    "https://learn.microsoft.com/exchange/reference/admin-api-endpoints-organization-config"
)
MS_MAILTIPS = (
    "https://learn.microsoft.com/exchange/clients-and-mobile-in-exchange-online/mailtips/mailtips"
)

SHARED = "SharedMailbox"
_MISSING = object()


_check = check_family(area=Area.ATTACK_SURFACE, effort="klein")


def _mailboxes(snapshot: Snapshot) -> list[dict[str, Any]]:
    return [m for m in snapshot.dataset(MAILBOXES).data or [] if isinstance(m, dict)]


def _name(mailbox: Mapping[str, Any]) -> str:
    keys = ("PrimarySmtpAddress", "UserPrincipalName", "DisplayName", "ExternalDirectoryObjectId")
    for key in keys:
        value = mailbox.get(key)
        if isinstance(value, str) and value:
            return value
    return "?"


def _shown(mailbox: Mapping[str, Any]) -> str:
    """A mailbox as a person recognises it: its name and address ("Info (info@school.nl)")."""
    name, address = mailbox.get("DisplayName"), _name(mailbox)
    if isinstance(name, str) and name and name != address:
        return f"{name} ({address})"
    return address


def _object(mailbox: Mapping[str, Any], detail: Msg) -> AffectedObject:
    ident = mailbox.get("ExternalDirectoryObjectId") or _name(mailbox)
    shown = mailbox.get("DisplayName") if isinstance(mailbox.get("DisplayName"), str) else None
    return AffectedObject(id=str(ident), display_name=shown or _name(mailbox), detail=detail)


def _no_mailboxes(check_id: str, threshold: str) -> CheckResult:
    return make(check_id, Status.UNKNOWN, Msg("mail.no_mailboxes"), threshold=threshold)


# --- shared mailboxes whose account can sign in ----------------------------------------------


def evaluate_shared_signin(snapshot: Snapshot) -> CheckResult:
    threshold = "Gedeelde postvakken: aanmelden geblokkeerd (accountEnabled false)"
    mailboxes = _mailboxes(snapshot)
    if not mailboxes:
        return _no_mailboxes(SHARED_SIGNIN.id, threshold)
    directory = users(snapshot)
    can_sign_in: list[AffectedObject] = []
    named: list[str] = []
    undetermined: list[AffectedObject] = []
    shared = 0
    for mailbox in mailboxes:
        kind = mailbox.get("RecipientTypeDetails", _MISSING)
        if not isinstance(kind, str) or not kind:
            undetermined.append(_object(mailbox, Msg("mail.kind_unknown")))
            continue
        if kind.strip().casefold() != SHARED.casefold():
            continue
        shared += 1
        account = mailbox.get("ExternalDirectoryObjectId")
        user = directory.get(account) if isinstance(account, str) and account else None
        if user is None:
            detail = Msg("mail.shared.no_account" if not account else "mail.shared.user_not_read")
            undetermined.append(_object(mailbox, detail))
            continue
        enabled = user.get("accountEnabled")
        if enabled is True:
            can_sign_in.append(_object(mailbox, Msg("mail.shared.enabled")))
            named.append(_shown(mailbox))
        elif enabled is not False:  # null or absent: Graph did not say
            undetermined.append(_object(mailbox, Msg("mail.shared.enabled_unknown")))
    counts = {
        "gedeelde_postvakken": shared,
        "aanmelden_mogelijk": len(can_sign_in),
        "onbepaald": len(undetermined),
    }
    if can_sign_in:
        reason = Msg.join(
            [
                Msg("mail.shared.fail", mailboxes=sorted(named, key=str.lower)),
                _undetermined(len(undetermined)),
            ]
        )
        return make(
            SHARED_SIGNIN.id,
            Status.FAIL,
            reason,
            threshold=threshold,
            counts=counts,
            objects=can_sign_in + undetermined,
        )
    if undetermined:
        return make(
            SHARED_SIGNIN.id,
            Status.UNKNOWN,
            Msg("mail.shared.undetermined", n=len(undetermined)),
            threshold=threshold,
            counts=counts,
            objects=undetermined,
        )
    return make(SHARED_SIGNIN.id, Status.PASS, threshold=threshold, counts=counts)


def _undetermined(n: int) -> Msg | None:
    return Msg("mail.also_undetermined", n=n) if n else None


# --- forwarding outside the school -------------------------------------------------------------


def accepted_domains(snapshot: Snapshot) -> tuple[set[str], set[str]] | None:
    """(exact domains, wildcard parents) the school accepts mail for, or None when the list
    cannot be trusted: empty (an organisation always has at least one accepted domain) or an
    entry without a domain name. `*.school.nl` (an accepted domain that matches subdomains,
    Microsoft: SmtpDomainWithSubdomains) covers every subdomain of school.nl; a plain
    `school.nl` covers only itself (manage-accepted-domains).

    An ExternalRelay domain is not the school's: Microsoft's AcceptedDomainType says it "is
    served by an e-mail server outside the Exchange organization and outside the organization's
    control" (MS_DOMAIN_TYPES); an InternalRelay domain is served "inside the organization's
    control" and counts as the school's. (Exchange Online itself offers only Authoritative and
    InternalRelay; an ExternalRelay entry is judged as Microsoft defines it.)"""
    exact: set[str] = set()
    wildcard: set[str] = set()
    items = snapshot.dataset(ACCEPTED).data or []
    if not items:
        return None
    for item in items:
        name = item.get("DomainName") if isinstance(item, dict) else None
        if not isinstance(name, str) or not name.strip():
            return None
        kind = item.get("DomainType")
        if isinstance(kind, str) and kind.strip().casefold() == "externalrelay":
            continue
        name = name.strip()
        bare = name[2:] if name.startswith("*.") else name
        # An odd name (one label, an underscore) is kept as written: it can only match itself.
        parent = mail_domain(bare) or bare.lower().rstrip(".")
        (wildcard if name.startswith("*.") else exact).add(parent)
    return exact, wildcard


def is_inside(domain: str, accepted: tuple[set[str], set[str]]) -> bool:
    """Whether `domain` is one of the school's; every name compared in its DNS form, so a
    domain list from elsewhere (Graph's verified domains, for inbox rules) that writes an
    accented domain as such still matches its punycode form."""

    def dns(name: str) -> str:
        return mail_domain(name) or name.lower().rstrip(".")

    exact, wildcard = ({dns(n) for n in names} for names in accepted)
    domain = dns(domain)
    return domain in exact or any(domain.endswith("." + parent) for parent in wildcard)


_LABEL = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$")
# An unquoted local part: none of what separates or wraps addresses, no spaces.
_LOCAL = re.compile(r'^[^\s@;,<>()\[\]\\:"]+$')


def mail_domain(name: str) -> str | None:
    """A domain as DNS knows it: lower case, without the trailing dot, an accented name in its
    ASCII (punycode) form, so école.nl and xn--cole-9oa.nl are one domain; None when the text
    is no domain name (an invisible character, a space, a single label)."""
    text = name.strip().rstrip(".").lower()
    if not text or not text.isprintable():
        return None
    if not text.isascii():
        try:
            text = text.encode("idna").decode("ascii")
        except UnicodeError:
            return None
    labels = text.split(".")
    if len(labels) < 2 or not all(_LABEL.match(label) for label in labels):
        return None
    return text


_NAMED = re.compile(r"^[^<>]*<([^<>]*)>$")  # "Name <address>"


def smtp_domain(address: str) -> str | None:
    """The domain of a ForwardingSmtpAddress ("smtp:x@domain", as Get-Mailbox returns it; the
    prefix is optional and case does not matter) or of an inbox rule's target (also "Name
    <x@domain>" or "mailto:x@domain"), or None when it holds no one address (no '@', or more
    than one address: "x@gmail.com;y@school.nl" is not school.nl's; an X500 address, whose
    "/o=.../cn=..." may end in something that reads as "@school.nl")."""
    text = address.strip()
    named = _NAMED.match(text)
    if named:
        text = named.group(1).strip()
    for prefix in ("smtp:", "mailto:"):
        if text.lower().startswith(prefix):
            text = text[len(prefix) :].strip()
            break
    local, at, domain = text.rpartition("@")
    quoted = len(local) >= 2 and local[0] == local[-1] == '"' and '"' not in local[1:-1]
    if not at or not (quoted and local.isprintable() or _LOCAL.match(local)):
        return None
    if local.startswith("/"):  # an X500 distinguished name, not an SMTP local part
        return None
    return mail_domain(domain)


def _identities(mailbox: Mapping[str, Any]) -> set[str]:
    """What names this mailbox uniquely. Not its DisplayName: display names are not unique
    among recipients, and an outside mail contact may carry a teacher's."""
    keys = (
        "Identity",
        "Name",
        "Alias",
        "Id",
        "Guid",
        "DistinguishedName",
        "PrimarySmtpAddress",
        "UserPrincipalName",
        "ExternalDirectoryObjectId",
    )
    return {v.strip().lower() for k in keys if isinstance(v := mailbox.get(k), str) and v.strip()}


def recipient_command(identity: str) -> str:
    """The PowerShell that says where a ForwardingAddress recipient receives mail (a mail
    contact or mail user, which the Admin API cannot read)."""
    quoted = identity.replace("'", "''")
    fields = "RecipientTypeDetails,ExternalEmailAddress"
    return f"Get-Recipient -Identity '{quoted}' | Format-List {fields}"


def evaluate_forwarding(snapshot: Snapshot) -> CheckResult:
    threshold = "Geen postvak stuurt door naar een adres buiten de geaccepteerde domeinen"
    mailboxes = _mailboxes(snapshot)
    if not mailboxes:
        return _no_mailboxes(FORWARDING.id, threshold)
    accepted = accepted_domains(snapshot)
    if accepted is None:
        problem = Msg("mail.forwarding.no_domains")
        return make(FORWARDING.id, Status.UNKNOWN, problem, threshold=threshold)
    known: dict[str, dict[str, Any]] = {}
    for mailbox in mailboxes:
        for ident in _identities(mailbox):
            known.setdefault(ident, mailbox)
    outside: list[AffectedObject] = []
    targets: list[tuple[str, str]] = []  # (mailbox, domain) for the reason
    undetermined: list[AffectedObject] = []
    commands: list[str] = []
    forwarding = 0
    for mailbox in mailboxes:
        smtp = mailbox.get("ForwardingSmtpAddress", _MISSING)
        recipient = mailbox.get("ForwardingAddress", _MISSING)
        if smtp is _MISSING or recipient is _MISSING:
            # Not returned: whether it forwards was not read (null is "no forwarding").
            undetermined.append(_object(mailbox, Msg("mail.forwarding.not_read")))
            continue
        if smtp or recipient:
            forwarding += 1
        if isinstance(smtp, str) and smtp.strip():
            domain = smtp_domain(smtp)
            if domain is None:
                undetermined.append(_object(mailbox, Msg("mail.forwarding.unparsed")))
            elif not is_inside(domain, accepted):
                outside.append(_object(mailbox, Msg("mail.forwarding.to", domain=domain)))
                targets.append((_name(mailbox), domain))
                continue
        elif smtp is not None and smtp != "":
            undetermined.append(_object(mailbox, Msg("mail.forwarding.unparsed")))
        if isinstance(recipient, str) and recipient.strip():
            if recipient.strip().lower() not in known:
                undetermined.append(
                    _object(mailbox, Msg("mail.forwarding.unresolved", recipient=recipient))
                )
                commands.append(recipient_command(recipient.strip()))
        elif recipient is not None and recipient != "":
            undetermined.append(_object(mailbox, Msg("mail.forwarding.unparsed")))
    counts = {
        "postvakken": len(mailboxes),
        "stuurt_door": forwarding,
        "naar_buiten": len(outside),
        "onbepaald": len(undetermined),
    }
    settle = Msg("mail.forwarding.settle", commands=sorted(set(commands))) if commands else ""
    if outside:
        found = [
            Msg("mail.forwarding.item", mailbox=m, domain=d)
            for m, d in sorted(targets, key=lambda t: (t[0].lower(), t[1]))
        ]
        reason = Msg.join(
            [
                Msg("mail.forwarding.fail", found=found),
                _undetermined(len(undetermined)),
                settle,
            ]
        )
        return make(
            FORWARDING.id,
            Status.FAIL,
            reason,
            threshold=threshold,
            counts=counts,
            objects=outside + undetermined,
        )
    if undetermined:
        return make(
            FORWARDING.id,
            Status.UNKNOWN,
            Msg.join([Msg("mail.forwarding.undetermined", n=len(undetermined)), settle]),
            threshold=threshold,
            counts=counts,
            objects=undetermined,
        )
    return make(FORWARDING.id, Status.PASS, threshold=threshold, counts=counts)


# --- organisation settings (Get-OrganizationConfig) -------------------------------------------


def _setting(snapshot: Snapshot, prop: str) -> tuple[Any, Msg | None]:
    """A property of the one Get-OrganizationConfig object, or why it cannot be judged (with
    the PowerShell command that settles it)."""
    items = snapshot.dataset(ORGANIZATION).data
    settle = Msg("mail.org.settle", command=f"Get-OrganizationConfig | Format-List {prop}")
    if not isinstance(items, list) or len(items) != 1 or not isinstance(items[0], dict):
        return None, Msg.join([Msg("mail.org.not_one"), settle])
    value = items[0].get(prop, _MISSING)
    if value is _MISSING:
        return None, Msg.join([Msg("mail.org.absent", property=prop), settle])
    if not isinstance(value, bool):
        return None, Msg.join([Msg("mail.org.not_bool", property=prop), settle])
    return value, None


def evaluate_auditing(snapshot: Snapshot) -> CheckResult:
    threshold = "AuditDisabled staat op False (auditing van postvakken standaard aan)"
    disabled, problem = _setting(snapshot, "AuditDisabled")
    if problem is not None:
        return make(AUDITING.id, Status.UNKNOWN, problem, threshold=threshold)
    measured = {"AuditDisabled": disabled}
    if disabled:
        return make(
            AUDITING.id,
            Status.FAIL,
            Msg("mail.audit.disabled"),
            threshold=threshold,
            measured=measured,
        )
    return make(AUDITING.id, Status.PASS, threshold=threshold, measured=measured)


_MAILTIPS = ("MailTipsAllTipsEnabled", "MailTipsExternalRecipientsTipsEnabled")


def evaluate_mailtips(snapshot: Snapshot) -> CheckResult:
    threshold = "MailTipsAllTipsEnabled en MailTipsExternalRecipientsTipsEnabled staan op True"
    measured: dict[str, bool] = {}
    for prop in _MAILTIPS:
        value, problem = _setting(snapshot, prop)
        if problem is not None:
            return make(MAILTIPS.id, Status.UNKNOWN, problem, threshold=threshold)
        measured[prop] = value
    off = [p for p, v in measured.items() if not v]
    if off:
        return make(
            MAILTIPS.id,
            Status.FAIL,
            Msg("mail.mailtips.off", properties=off),
            threshold=threshold,
            measured=measured,
        )
    return make(MAILTIPS.id, Status.PASS, threshold=threshold, measured=measured)


# --- declarations ------------------------------------------------------------------------------

SHARED_SIGNIN = _check(
    id="mail.shared_mailbox_signin",
    severity=Severity.HIGH,
    bm=(4, 5),
    norms=("ID.02", "SM.01"),
    datasets=(MAILBOXES, "users"),
    reads=reads(
        properties={
            MAILBOXES: ("RecipientTypeDetails", "ExternalDirectoryObjectId"),
            "users": ("accountEnabled",),
        }
    ),
    sources=(
        src("CIS Microsoft 365 Foundations 1.2.2", CIS),
        src("Microsoft: block sign-in for the shared mailbox account", MS_SHARED),
    ),
    evaluate=evaluate_shared_signin,
)

# ForwardingSmtpAddress and ForwardingAddress are not declared as properties the verdict rests
# on for the generic null transformations: Exchange returns null there for "does not forward"
# (Get-Mailbox), so a null is a measured value, not a missing one. A mailbox that lacks either
# property is undetermined (tests/test_mail.py).
FORWARDING = _check(
    id="mail.forwarding_outside",
    severity=Severity.HIGH,
    bm=(5,),
    norms=("SM.01", "SM.11"),
    datasets=(MAILBOXES, ACCEPTED),
    reads=reads(properties={ACCEPTED: ("DomainName",)}),
    sources=(
        # CIS 6.2.1 audits transport rules and the outbound spam policy, SCuBA MS.EXO.1.1v1 the
        # remote domains: this check reads the mailboxes' own forwarding; those controls are
        # handmatige controlepunten (mappings/manual.yaml).
        src("CIS Microsoft 365 Foundations 6.2.1 (in part: forwarding per mailbox)", CIS),
        src("CISA SCuBA MS.EXO.1.1v1 (related: remote-domain auto-forwarding)", SCUBA_EXO),
        src("Microsoft: control automatic external email forwarding", MS_FORWARDING),
        src("Microsoft: accepted domains in Exchange Online", MS_ACCEPTED),
    ),
    evaluate=evaluate_forwarding,
)

AUDITING = _check(
    id="mail.mailbox_auditing",
    area=Area.AUDIT_LOGGING,
    severity=Severity.MEDIUM,
    bm=(10,),
    norms=("SM.04", "SM.05"),
    datasets=(ORGANIZATION,),
    reads=reads(properties={ORGANIZATION: ("AuditDisabled",)}),
    sources=(
        src("CISA SCuBA MS.EXO.13.1v1", SCUBA_EXO),
        src("CIS Microsoft 365 Foundations 6.1.1", CIS),
        src("Microsoft: manage mailbox auditing", MS_AUDIT),
    ),
    evaluate=evaluate_auditing,
)

MAILTIPS = _check(
    id="mail.external_mailtips",
    severity=Severity.LOW,
    bm=(5,),
    norms=("SM.01",),
    datasets=(ORGANIZATION,),
    reads=reads(properties={ORGANIZATION: _MAILTIPS}),
    sources=(
        src("CIS Microsoft 365 Foundations 6.5.2 (in part)", CIS),
        src("Microsoft: OrganizationConfig endpoint (Exchange Online Admin API)", MS_ORG_CONFIG),
        src("Microsoft: MailTips", MS_MAILTIPS),
    ),
    evaluate=evaluate_mailtips,
)

CHECKS = [SHARED_SIGNIN, FORWARDING, AUDITING, MAILTIPS]
