"""A real DNS server on loopback for the simulated schools' mail domains.

The demo and the tests look the e-mail records up through the same resolver code as a real scan
(dnspython over UDP), so the lookup path is exercised, not mocked. Records come from the profile's
`dns` section (`PROFILE.dns.json`): `{"name": {"MX": [...], "TXT": [...], "CNAME": [...]}}`.
A name under a served domain that has no entry answers NXDOMAIN, as a real authoritative server
does; `silent=True` answers nothing at all (a resolver that times out), and names in `drop`
get no answer (one lookup that times out).
"""

from __future__ import annotations

import socketserver
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import dns.flags
import dns.message
import dns.name
import dns.rcode
import dns.rdataclass
import dns.rdatatype
import dns.rrset

from m365apk.demo.serving import Served
from m365apk.demo.tenant import TenantData, profile_dns

TTL = 300


def _records(tenants: Iterable[TenantData]) -> dict[str, dict[str, list[str]]]:
    out: dict[str, dict[str, list[str]]] = {}
    for tenant in tenants:
        for name, types in profile_dns(tenant.name).items():
            out[name.lower().rstrip(".")] = {t.upper(): list(v) for t, v in types.items()}
    return out


class _Handler(socketserver.BaseRequestHandler):
    server: _Server

    def handle(self) -> None:
        wire, sock = self.request
        if self.server.owner.silent:
            return
        try:
            query = dns.message.from_wire(wire)
        except Exception:  # not a DNS message: ignore, as a real server would
            return
        name = query.question[0].name.to_text(omit_final_dot=True).lower() if query.question else ""
        if name in self.server.owner.drop:
            return
        sock.sendto(self.server.owner.answer(query).to_wire(), self.client_address)


class _Server(socketserver.ThreadingUDPServer):
    daemon_threads = True
    owner: SimulatedDns


class SimulatedDns(Served):
    """Serves the mail records of the given tenants on 127.0.0.1 (UDP) until stopped."""

    def __init__(
        self,
        tenants: TenantData | Sequence[TenantData],
        *,
        records: Mapping[str, Mapping[str, list[str]]] | None = None,
        silent: bool = False,
        drop: Iterable[str] = (),
    ) -> None:
        tenants = [tenants] if isinstance(tenants, TenantData) else list(tenants)
        self.records = _records(tenants) if records is None else dict(records)
        self.zones = {t.default_domain.lower() for t in tenants} | {
            n for n, types in self.records.items() if "MX" in types
        }
        self.silent = silent
        self.drop = {n.lower() for n in drop}
        self.queries: list[tuple[str, str]] = []
        self._server = _Server(("127.0.0.1", 0), _Handler)
        self._server.owner = self

    @property
    def address(self) -> str:
        host, port = self._server.server_address[:2]
        return f"{host}:{port}"

    def answer(self, query: dns.message.Message) -> dns.message.Message:
        response = dns.message.make_response(query)
        response.flags |= dns.flags.AA
        question = query.question[0]
        name = question.name.to_text(omit_final_dot=True).lower()
        rdtype = dns.rdatatype.to_text(question.rdtype)
        self.queries.append((name, rdtype))
        if name in self.records:
            values = self.records[name].get(rdtype, [])
            if values:
                response.answer.append(_rrset(question.name, rdtype, values))
        elif any(name == z or name.endswith("." + z) for z in self.zones):
            response.set_rcode(dns.rcode.NXDOMAIN)
        else:
            response.set_rcode(dns.rcode.REFUSED)  # not our zone; we are no recursive resolver
        return response


def _rrset(name: dns.name.Name, rdtype: str, values: list[str]) -> Any:
    if rdtype == "TXT":  # one character-string per 255 bytes, as published TXT records are
        texts = []
        for value in values:
            raw = value.encode()
            chunks = [raw[i : i + 255] for i in range(0, len(raw), 255)] or [b""]
            texts.append(" ".join('"' + c.decode().replace('"', '\\"') + '"' for c in chunks))
        values = texts
    elif rdtype in ("CNAME", "MX"):
        values = [v if v.endswith(".") else v + "." for v in values]
    return dns.rrset.from_text_list(name, TTL, dns.rdataclass.IN, rdtype, values)
