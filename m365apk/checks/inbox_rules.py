"""Inbox rules that send the school's mail outside the school (opt-in: `--mail-rules`).

A phished mailbox often gets an inbox rule that quietly forwards or redirects what it receives
to the attacker; a leaver's mailbox may forward to a private address for years. Graph v1.0 lists
each mailbox's inbox rules ("List rules", MailboxSettings.Read); the collector keeps only where
a rule sends mail (forwardTo, forwardAsAttachmentTo, redirectTo) and whether it is on, never its
name or conditions. The report names the mailbox and the target's domain, not the rule.

Inside the school: the accepted domains of Exchange Online when that source was read
(`exoAcceptedDomains`, the Exchange Online Admin API's AcceptedDomain), else Graph's verified
domains (`domains`), and the verdict says which. A target without a domain (an X500 address of
an Exchange recipient, which may be a mail contact outside) cannot be judged: unknown, unless a
rule already sends mail outside.
"""

from __future__ import annotations

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
from m365apk.checks.mail import ACCEPTED, is_inside, smtp_domain
from m365apk.checks.mail import accepted_domains as exchange_accepted_domains
from m365apk.messages import Msg
from m365apk.snapshot import Snapshot

CHECK_ID = "mail.inbox_rules_outside"
RULES = "inboxRules"
# The Exchange Online Admin API's accepted domains (AcceptedDomain), when the scan read them.
EXO_ACCEPTED_DOMAINS = ACCEPTED
LIST_RULES = "https://learn.microsoft.com/graph/api/mailfolder-list-messagerules"
MESSAGE_RULE = "https://learn.microsoft.com/graph/api/resources/messagerule"
FORWARDING_DOCS = "https://learn.microsoft.com/defender-office-365/outbound-spam-policies-external-email-forwarding"
SCUBA_EXO = "https://github.com/cisagov/ScubaGear/blob/main/PowerShell/ScubaGear/baselines/exo.md"
# The actions that send a received message on (messageRuleActions).
FORWARDING_ACTIONS = ("forwardTo", "forwardAsAttachmentTo", "redirectTo")

_check = check_family(area=Area.ATTACK_SURFACE, bm=(5, 4), norms=("SM.01", "ID.01"))


def _domain(address: Any) -> str | None:
    """The domain of one SMTP address, lower case (punycode for an accented one); None when it
    has none (an X500 address) or holds more than one address (checks.mail.smtp_domain)."""
    if not isinstance(address, str):
        return None
    return smtp_domain(address)


def school_domains(snapshot: Snapshot) -> tuple[tuple[set[str], set[str]], Msg | None]:
    """The school's own mail domains (exact, wildcard parents) as checks.mail reads them from
    Exchange Online's accepted domains, and a note when Graph's verified domains stand in (the
    Exchange source unread, unavailable, or its list not to be trusted)."""
    if snapshot.dataset(EXO_ACCEPTED_DOMAINS).ok:
        found = exchange_accepted_domains(snapshot)
        if found is not None:
            return found, None
    verified = {
        str(d["id"]).lower().rstrip(".")
        for d in snapshot.dataset("domains").data or []
        # a domain not known to be verified is not known to be the school's: outside
        if isinstance(d, dict) and d.get("id") and d.get("isVerified") is True
    }
    return (verified, set()), Msg("mail.inbox_rules_outside.graph_domains")


def evaluate_inbox_rules(snapshot: Snapshot) -> CheckResult:
    threshold = "Geen ingeschakelde inboxregel stuurt mail door naar buiten de school"
    inside, note = school_domains(snapshot)
    people = users(snapshot)
    mailboxes: dict[str, list[Any]] = snapshot.dataset(RULES).data or {}
    outside: dict[str, dict[str, int]] = {}  # mailbox -> target domain -> rules
    unjudged: dict[str, int] = {}  # mailbox -> targets without a domain
    internal = 0
    for uid, rules in mailboxes.items():
        for rule in rules or []:
            if not isinstance(rule, dict) or rule.get("isEnabled") is False:
                continue  # a rule that is off sends nothing (null: Graph did not say: judged)
            actions = rule.get("actions")
            if not isinstance(actions, dict):
                # Graph did not say what the rule does: where it sends mail is not known.
                unjudged[uid] = unjudged.get(uid, 0) + 1
                continue
            targets = [
                ((r or {}).get("emailAddress") or {}).get("address")
                for kind in FORWARDING_ACTIONS
                for r in actions.get(kind) or []
            ]
            domains = {_domain(t) for t in targets}
            if None in domains:
                unjudged[uid] = unjudged.get(uid, 0) + 1
            away = sorted(d for d in domains if d is not None and not is_inside(d, inside))
            for domain in away:
                per = outside.setdefault(uid, {})
                per[domain] = per.get(domain, 0) + 1
            if targets and not away and None not in domains:
                internal += 1
    measured: dict[str, Any] = {
        "postvakken_gelezen": len(mailboxes),
        "regels_die_binnen_de_school_doorsturen": internal,
    }

    def mailbox(uid: str, key: str, **params: Any) -> AffectedObject:
        """The mailbox by its owner's name, and its address in the detail (tenant data)."""
        user = people.get(uid) or {}
        address = user.get("userPrincipalName") or uid
        return AffectedObject(
            id=uid,
            display_name=user.get("displayName") or user.get("userPrincipalName"),
            detail=Msg(key, mailbox=address, **params),
        )

    if outside:
        objects = [
            mailbox(
                uid,
                "mail.inbox_rules_outside.detail",
                domains=", ".join(sorted(per)),
                rules=sum(per.values()),
            )
            for uid, per in outside.items()
        ]
        reason = Msg("mail.inbox_rules_outside.outside", n=len(outside))
        return make(
            CHECK_ID,
            Status.FAIL,
            Msg.join([reason, note]) if note else reason,
            threshold=threshold,
            measured=measured,
            counts={"postvakken_die_naar_buiten_sturen": len(outside)},
            objects=objects,
        )
    if unjudged:
        objects = [
            mailbox(uid, "mail.inbox_rules_outside.no_domain", rules=n)
            for uid, n in unjudged.items()
        ]
        return make(
            CHECK_ID,
            Status.UNKNOWN,
            Msg("mail.inbox_rules_outside.unjudged", n=len(unjudged)),
            threshold=threshold,
            measured=measured,
            objects=objects,
        )
    if not mailboxes:
        # No Exchange licences, or mailboxes on-premises (Graph answers both alike): which one
        # is not known, so neither is whether mail is forwarded.
        return make(
            CHECK_ID,
            Status.UNKNOWN,
            Msg("mail.inbox_rules_outside.no_mailboxes"),
            threshold=threshold,
            measured=measured,
        )
    return make(CHECK_ID, Status.PASS, note, threshold=threshold, measured=measured)


INBOX_RULES_OUTSIDE = _check(
    id=CHECK_ID,
    severity=Severity.HIGH,
    datasets=(RULES, "users"),
    # The school's own domains: Exchange Online's accepted domains, else Graph's verified
    # domains (school_domains says which stood in).
    alternatives=(EXO_ACCEPTED_DOMAINS, "domains"),
    sources=(
        src("Microsoft Graph: List rules (messageRule)", LIST_RULES),
        src("Microsoft Graph: messageRule", MESSAGE_RULE),
        src("Microsoft: external email forwarding and outbound spam policies", FORWARDING_DOCS),
        src("CISA SCuBA MS.EXO.1.1v1 (automatic forwarding to external domains)", SCUBA_EXO),
        src("CIS Microsoft 365 Foundations 6.2.1", CIS),
    ),
    evaluate=evaluate_inbox_rules,
    effort="klein",
    reads=reads(
        properties={
            # A forwarding action left out or null is one the rule does not take (Graph sends
            # only the actions a rule has); `actions` itself missing is not known: unjudged.
            RULES: ("isEnabled", "actions"),
            EXO_ACCEPTED_DOMAINS: ("DomainName",),
            "domains": ("id", "isVerified"),
        },
    ),
)

CHECKS = [INBOX_RULES_OUTSIDE]
