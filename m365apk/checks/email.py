"""E-mail domain protection (basismaatregel 5): can someone send mail in the school's name?

Judged per mail domain whose MX points to Exchange Online, from public DNS records read at scan
time (dataset `mailDomainDns`). The mail domains are Graph's verified domains that carry e-mail
and, when Exchange Online's accepted domains were read (`exoAcceptedDomains`, issue 28), every
accepted domain too: Exchange accepts mail for those whatever Graph's supportedServices say.
When they were not read, the verified domains are judged and the result says the accepted
domains were not read; a verdict never improves for their absence. A lookup that timed out or
failed leaves that domain undetermined: the check is then unknown for it, never pass. NXDOMAIN
for `_dmarc` is an answer: there is no DMARC record, a fail.
"""

from __future__ import annotations

import re
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
from m365apk.checks.common import CIS, make, src
from m365apk.messages import Msg
from m365apk.snapshot import Snapshot

SCUBA_EXO = "https://github.com/cisagov/ScubaGear/blob/main/PowerShell/ScubaGear/baselines/exo.md"
MS_AUTH = "https://learn.microsoft.com/defender-office-365/email-authentication-about"
# Exchange Online's inbound hosts: <domain>.mail.protection.outlook.com, and since 2024 the
# DNSSEC-capable <domain>.<x>.mx.microsoft (learn.microsoft.com/exchange/mail-flow-best-practices).
EXO_MX = (".mail.protection.outlook.com", ".mx.microsoft")
ANSWERED = {"ok", "nxdomain", "noanswer"}
DATASET = "mailDomainDns"
ACCEPTED = "exoAcceptedDomains"

# Per mail domain, the lookups each verdict rests on (records and whether DNS answered), and
# the domain list that says which domains must have them.
_MX = ("mx.status", "mx.records")
_DOMAINS = ("id", "isVerified", "supportedServices")


def _reads(*lookups: str) -> Any:
    paths = _MX + tuple(f"{lookup}.{part}" for lookup in lookups for part in ("status", "records"))
    return reads(properties={DATASET: paths, "domains": _DOMAINS, ACCEPTED: ("DomainName",)})


_check = check_family(
    area=Area.ATTACK_SURFACE,
    bm=(5,),
    norms=("SM.01", "SM.11"),
    datasets=(DATASET, "domains"),  # the domain list decides which domains are judged
    optional=(ACCEPTED,),  # Exchange's accepted domains widen it (issue 28)
    effort="klein",
)


def _domains(snapshot: Snapshot) -> dict[str, dict[str, Any]]:
    return snapshot.dataset(DATASET).data or {}


def _mail_domains(snapshot: Snapshot) -> set[str]:
    """The domains carrying e-mail that the lookups are for (the collector's rule, scanner/dns.py
    `mail_domains`): Graph's verified domains with e-mail, and Exchange's accepted domains when
    they were read. Microsoft's *.onmicrosoft.com domain is not the school's to publish records
    for; a wildcard accepted domain (*.school.nl) names no single domain to look up."""
    graph = {
        d["id"].lower()
        for d in snapshot.dataset("domains").data or []
        if d.get("isVerified")
        and "Email" in (d.get("supportedServices") or [])
        and not d["id"].lower().endswith(".onmicrosoft.com")
    }
    return graph | (accepted_domains(snapshot) or set())


def accepted_domains(snapshot: Snapshot) -> set[str] | None:
    """Exchange Online's accepted domains to judge, or None when they were not read (or the
    list cannot be trusted: empty, or an entry without a domain name)."""
    ds = snapshot.dataset(ACCEPTED)
    if not ds.ok or not ds.data:
        return None
    names = set()
    for item in ds.data:
        name = item.get("DomainName") if isinstance(item, dict) else None
        if not isinstance(name, str) or not name.strip():
            return None
        name = name.strip().lower().rstrip(".")
        if not name.startswith("*") and not name.endswith(".onmicrosoft.com"):
            names.add(name)
    return names


def _accepted_note(snapshot: Snapshot) -> Msg | None:
    """Said with every verdict when the accepted domains were not read."""
    if accepted_domains(snapshot) is not None:
        return None
    ds = snapshot.dataset(ACCEPTED)
    return Msg("email.accepted_unread", status=ds.status.value)


def _receives_via_exo(lookups: dict[str, Any]) -> bool | None:
    """True/False, or None when the MX lookup did not answer."""
    mx = lookups.get("mx") or {}
    if mx.get("status") not in ANSWERED:
        return None
    if mx.get("status") == "ok" and mx.get("records") is None:
        return None  # answered, but the records were not kept: cannot tell
    hosts = [r.split()[-1].lower() for r in mx.get("records") or []]
    return any(h.endswith(EXO_MX) for h in hosts)


Verdict = tuple[str, Msg]  # ("pass" | "fail" | "unknown", what was found)


def _judge(
    snapshot: Snapshot, check_id: str, threshold: str, per_domain: Any, advice: bool = False
) -> CheckResult:
    """Run `per_domain(lookups) -> (verdict, text)` over the mail domains and combine: any fail
    fails, else any unknown is unknown, else pass."""
    results: dict[str, Verdict] = {}
    unread_mx = []
    for domain, lookups in sorted(_domains(snapshot).items()):
        exo = _receives_via_exo(lookups)
        if exo is None:
            unread_mx.append(domain)
        elif exo:
            results[domain] = per_domain(lookups)
    failed = {d: t for d, (v, t) in results.items() if v == "fail"}
    unknown = {d: t for d, (v, t) in results.items() if v == "unknown"} | {
        d: Msg("email.mx_unanswered") for d in unread_mx
    }
    # A mail domain of the domain list without lookups is not judged, not absent.
    unknown |= {
        d: Msg("email.not_looked_up") for d in _mail_domains(snapshot) - set(_domains(snapshot))
    }
    measured = {d: str(t) for d, (_, t) in results.items()}
    counts = {"domeinen": len(results), "niet_in_orde": len(failed), "onbepaald": len(unknown)}
    note = _accepted_note(snapshot)
    objects = [
        AffectedObject(id=d, display_name=d, detail=t)
        for d, t in sorted({**failed, **unknown}.items())
    ]
    if failed:
        named = _named(failed)
        return make(
            check_id,
            Status.FAIL,
            Msg.join(
                [
                    Msg("email.advice_not_ok" if advice else "email.not_ok", domains=named),
                    note,
                ]
            ),
            threshold=threshold,
            measured=measured,
            counts=counts,
            objects=objects,
        )
    if unknown:
        return make(
            check_id,
            Status.UNKNOWN,
            Msg.join([Msg("email.undetermined", domains=_named(unknown)), note]),
            threshold=threshold,
            measured=measured,
            counts=counts,
            objects=objects,
        )
    if not results:
        return make(
            check_id,
            Status.NOT_APPLICABLE,
            Msg.join([Msg("email.no_exo_domains"), note]),
            threshold=threshold,
        )
    return make(check_id, Status.PASS, note, threshold=threshold, measured=measured, counts=counts)


def _named(found: dict[str, Msg]) -> list[Msg]:
    """Each domain with what was found there: "example.nl (geen SPF-record)"."""
    return [Msg("email.domain_finding", domain=d, finding=t) for d, t in sorted(found.items())]


def _unanswered(lookup: dict[str, Any]) -> Verdict | None:
    status = lookup.get("status")
    if status == "ok" and lookup.get("records") is None:
        # answered, but the records were not kept: their absence is not "no record"
        return "unknown", Msg("email.dns_no_records")
    if status in ANSWERED:
        return None
    if not status:  # no status recorded: say so, not "None"
        return "unknown", Msg("email.dns_no_status")
    return "unknown", Msg("email.dns_unanswered", status=str(status))


def spf_verdict(lookups: dict[str, Any]) -> Verdict:
    txt = lookups.get("txt") or {}
    if (problem := _unanswered(txt)) is not None:
        return problem
    spf = [r for r in txt.get("records") or [] if r.lower().startswith("v=spf1")]
    if not spf:
        return "fail", Msg("email.spf.none")
    if len(spf) > 1:
        return "fail", Msg("email.spf.several")
    record = spf[0].lower().split()
    ending = next((t for t in reversed(record) if t.endswith("all")), None)
    if ending in ("-all", "~all"):
        return "pass", Msg.literal(spf[0])
    if ending is None and any(t.startswith("redirect=") for t in record):
        # The redirected record decides; the scan does not follow it, so it cannot say.
        return "unknown", Msg("email.spf.redirect", record=spf[0])
    return "fail", Msg("email.spf.weak_ending", record=spf[0])


_TAG = re.compile(r"\s*([a-z]+)\s*=\s*([^;]*)")


def dmarc_tags(record: str) -> dict[str, str]:
    return {m.group(1).lower(): m.group(2).strip() for m in _TAG.finditer(record.lower())}


def dmarc_verdict(lookups: dict[str, Any]) -> Verdict:
    lookup = lookups.get("dmarc") or {}
    if (problem := _unanswered(lookup)) is not None:
        return problem
    records = [r for r in lookup.get("records") or [] if r.lower().startswith("v=dmarc1")]
    if not records:
        return "fail", Msg("email.dmarc.none")
    if len(records) > 1:
        return "fail", Msg("email.dmarc.several")
    tags = dmarc_tags(records[0])
    policy = tags.get("p", "")
    if policy not in ("quarantine", "reject"):
        return "fail", Msg("email.dmarc.weak_policy", policy=policy or Msg("email.dmarc.empty"))
    if tags.get("pct", "100") != "100":
        return "fail", Msg("email.dmarc.partial", pct=tags["pct"])  # as written in the record
    if not tags.get("rua"):
        return "fail", Msg("email.dmarc.no_rua")
    return "pass", Msg.literal(records[0])


def dkim_verdict(lookups: dict[str, Any]) -> Verdict:
    missing = []
    for selector in ("selector1", "selector2"):
        lookup = lookups.get(f"dkim_{selector}") or {}
        if (problem := _unanswered(lookup)) is not None:
            return problem
        if not lookup.get("records"):
            missing.append(selector)
    if missing:
        return "fail", Msg("email.dkim.missing", selectors=", ".join(missing))
    return "pass", Msg("email.dkim.published")


def mta_sts_verdict(lookups: dict[str, Any]) -> Verdict:
    lookup = lookups.get("mta_sts") or {}
    if (problem := _unanswered(lookup)) is not None:
        return problem
    if any(r.lower().startswith("v=stsv1") for r in lookup.get("records") or []):
        return "pass", Msg("email.mta_sts.published")
    return "fail", Msg("email.mta_sts.none")


def evaluate_spf(snapshot: Snapshot) -> CheckResult:
    return _judge(snapshot, SPF.id, "SPF-record dat eindigt op -all of ~all", spf_verdict)


def evaluate_dmarc(snapshot: Snapshot) -> CheckResult:
    return _judge(
        snapshot, DMARC.id, "DMARC met p=quarantine of p=reject, pct=100 en rua", dmarc_verdict
    )


def evaluate_dkim(snapshot: Snapshot) -> CheckResult:
    return _judge(snapshot, DKIM.id, "selector1 en selector2._domainkey gepubliceerd", dkim_verdict)


def evaluate_mta_sts(snapshot: Snapshot) -> CheckResult:
    return _judge(
        snapshot, MTA_STS.id, "_mta-sts-record gepubliceerd", mta_sts_verdict, advice=True
    )


SPF = _check(
    id="email.spf",
    reads=_reads("txt"),
    severity=Severity.HIGH,
    sources=(
        src("CISA SCuBA MS.EXO.2.2v3", SCUBA_EXO),
        src("CIS Microsoft 365 Foundations 2.1.8", CIS),
        src("Microsoft: email authentication", MS_AUTH),
    ),
    evaluate=evaluate_spf,
)

DMARC = _check(
    id="email.dmarc",
    reads=_reads("dmarc"),
    severity=Severity.HIGH,
    sources=(
        src("CISA SCuBA MS.EXO.4.1v1, 4.2v1, 4.3v1", SCUBA_EXO),
        src("CIS Microsoft 365 Foundations 2.1.10", CIS),
        src("Microsoft: set up DMARC", MS_AUTH),
    ),
    evaluate=evaluate_dmarc,
)

DKIM = _check(
    id="email.dkim",
    reads=_reads("dkim_selector1", "dkim_selector2"),
    severity=Severity.MEDIUM,
    sources=(
        src("CISA SCuBA MS.EXO.3.1v1", SCUBA_EXO),
        src("CIS Microsoft 365 Foundations 2.1.9", CIS),
        src(
            "Microsoft: set up DKIM",
            "https://learn.microsoft.com/defender-office-365/email-authentication-dkim-configure",
        ),
    ),
    evaluate=evaluate_dkim,
)

MTA_STS = _check(
    id="email.mta_sts",
    reads=_reads("mta_sts"),
    severity=Severity.LOW,
    sources=(
        src(
            "Microsoft: MTA-STS for inbound mail",
            "https://learn.microsoft.com/purview/enhancing-mail-flow-with-mta-sts",
        ),
    ),
    evaluate=evaluate_mta_sts,
)

CHECKS = [SPF, DMARC, DKIM, MTA_STS]
