"""E-mail domain protection from public DNS: MX, SPF, DMARC, DKIM selectors and MTA-STS.

Not Graph: these records are public, so no permission is needed, but a lookup can time out or be
refused. Every lookup keeps its own outcome (`ok`, `nxdomain`, `noanswer`, `timeout`, `error`) so
a check can tell "no DMARC record" (NXDOMAIN: a fail) from "the resolver did not answer" (unknown).

The resolver is configurable (`GraphSettings.dns_server`): the system resolver for real scans, the
simulated tenant's loopback DNS server for the demo and the tests.
"""

from __future__ import annotations

import asyncio
from typing import Any
from urllib.parse import urlsplit

import dns.asyncresolver
import dns.exception
import dns.resolver

from m365apk.snapshot import Dataset, DatasetStatus

GRAPH_HOST = "graph.microsoft.com"
# Microsoft 365 publishes DKIM keys under these two selectors (CNAMEs to the tenant's keys):
# https://learn.microsoft.com/defender-office-365/email-authentication-dkim-configure
DKIM_SELECTORS = ("selector1", "selector2")
TIMEOUT_SECONDS = 3.0
MAX_TXT_CHARS = 4096  # a record longer than this is not a mail policy; keep snapshots small


def mail_domains(domains: list[dict[str, Any]]) -> list[str]:
    """Verified domains that carry e-mail in Microsoft 365. The initial *.onmicrosoft.com domain
    is Microsoft's: the school cannot publish records there. A domain whose answer lacks
    isVerified or supportedServices is judged too (issue 25): left out, its records would never
    be looked at, and an unverified or mail-less domain judged costs at most a finding."""
    return sorted(
        d["id"].lower()
        for d in domains
        if d.get("isVerified") is not False
        and (d.get("supportedServices") is None or "Email" in d["supportedServices"])
        and not d["id"].lower().endswith(".onmicrosoft.com")
    )


def _address(server: str) -> tuple[str, int]:
    """`IP`, `IP:port` or `[IPv6]:port` -> (ip, port)."""
    if server.startswith("["):
        host, _, rest = server[1:].partition("]")
        return host, int(rest.lstrip(":") or 53)
    if server.count(":") == 1:
        host, port = server.split(":")
        return host, int(port)
    return server, 53


def resolver_for(dns_server: str | None) -> dns.asyncresolver.Resolver:
    """The resolver at `dns_server` (IP[:port]), or the system resolver for None."""
    if dns_server:
        resolver = dns.asyncresolver.Resolver(configure=False)
        host, resolver.port = _address(dns_server)
        resolver.nameservers = [host]
    else:
        resolver = dns.asyncresolver.Resolver()
    resolver.timeout = resolver.lifetime = TIMEOUT_SECONDS
    return resolver


async def _lookup(resolver: dns.asyncresolver.Resolver, name: str, rdtype: str) -> dict[str, Any]:
    try:
        answer = await resolver.resolve(name, rdtype, raise_on_no_answer=False)
    except dns.resolver.NXDOMAIN:
        return {"status": "nxdomain", "records": []}
    except dns.exception.Timeout:
        return {"status": "timeout", "records": []}
    except (dns.resolver.NoNameservers, dns.exception.DNSException) as exc:
        return {"status": "error", "records": [], "message": type(exc).__name__}
    if answer.rrset is None:
        return {"status": "noanswer", "records": []}
    records = []
    for rdata in answer.rrset:
        if rdtype == "TXT":
            text = b"".join(rdata.strings).decode("utf-8", "replace")[:MAX_TXT_CHARS]
        elif rdtype == "MX":
            text = f"{rdata.preference} {rdata.exchange.to_text(omit_final_dot=True).lower()}"
        else:
            text = rdata.to_text().rstrip(".").lower()
        records.append(text)
    return {"status": "ok", "records": sorted(records)}


async def _domain(resolver: dns.asyncresolver.Resolver, domain: str) -> dict[str, Any]:
    queries = {
        "mx": (domain, "MX"),
        "txt": (domain, "TXT"),
        "dmarc": (f"_dmarc.{domain}", "TXT"),
        "mta_sts": (f"_mta-sts.{domain}", "TXT"),
        **{f"dkim_{s}": (f"{s}._domainkey.{domain}", "CNAME") for s in DKIM_SELECTORS},
    }
    results = await asyncio.gather(*(_lookup(resolver, n, t) for n, t in queries.values()))
    return dict(zip(queries, results, strict=True))


def _uses_real_graph(base_url: str) -> bool:
    return (urlsplit(base_url).hostname or "").lower() == GRAPH_HOST


def accepted_mail_domains(accepted: Dataset | None) -> list[str]:
    """Exchange's accepted domains (Get-AcceptedDomain), when they were read: mail for them is
    accepted, so their records matter as much as those of Graph's verified domains. The
    *.onmicrosoft.com ones are Microsoft's; a wildcard (*.school.nl) names no domain to look
    up. Each name is read as checks/email.py `accepted_domains` reads it (padding, case and a
    trailing dot do not make another name; tests/test_mail.py)."""
    if accepted is None or not accepted.ok:
        return []
    names = set()
    for d in accepted.data or []:
        raw = d.get("DomainName") if isinstance(d, dict) else None
        if not isinstance(raw, str):
            continue
        name = raw.strip().lower().rstrip(".")
        if name and not name.startswith("*") and not name.endswith(".onmicrosoft.com"):
            names.add(name)
    return sorted(names)


async def collect_mail_dns(
    domains_dataset: Dataset,
    *,
    dns_server: str | None,
    graph_base_url: str,
    accepted: Dataset | None = None,
) -> Dataset:
    endpoint = f"DNS {dns_server or 'systeemresolver'}: MX, TXT (SPF), _dmarc, DKIM, _mta-sts"
    if not domains_dataset.ok:
        return Dataset(
            status=DatasetStatus.NOT_COLLECTED,
            endpoint=endpoint,
            permission="",
            error_message="domeinen van de tenant konden niet worden gelezen",
        )
    if dns_server is None and not _uses_real_graph(graph_base_url):
        # A scan against a simulated Graph must not ask the outside world about its domains.
        return Dataset(
            status=DatasetStatus.NOT_COLLECTED,
            endpoint=endpoint,
            permission="",
            error_message="geen DNS-server opgegeven voor deze (gesimuleerde) Graph",
        )
    resolver = resolver_for(dns_server)
    # The union: Graph's verified mail domains and, when Exchange answered, its accepted ones.
    verified = set(mail_domains(domains_dataset.data or []))
    names = sorted(verified | set(accepted_mail_domains(accepted)))
    answers = await asyncio.gather(*(_domain(resolver, d) for d in names))
    data = dict(zip(names, answers, strict=True))
    # Nothing answered at all: the resolver is unreachable, the dataset is unread. Single lookups
    # that failed stay recorded per name; the checks leave those domains undetermined.
    answered = [r["status"] != "timeout" for lookups in data.values() for r in lookups.values()]
    if answered and not any(answered):
        return Dataset(
            status=DatasetStatus.ERROR,
            endpoint=endpoint,
            permission="",
            error_code="dns_timeout",
            error_message="de DNS-server gaf geen antwoord",
        )
    # One "page": the set of answers (the snapshot integrity check wants ok data to be read).
    return Dataset(status=DatasetStatus.OK, endpoint=endpoint, permission="", data=data, pages=1)
