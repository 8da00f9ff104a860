"""Issue 28: Exchange Online read through the Exchange Online Admin API (preview), not PowerShell.

The client can send nothing but its allow-list of Get- cmdlets (refused before any I/O); the
datasets exoOrganizationConfig, exoAcceptedDomains and exoMailboxes are read from the simulated
Admin API with every page, and a school where the preview is not available, or whose app lacks
the permission or the RBAC role, gets a dataset that says so (never data, never a failed scan).
"""

from __future__ import annotations

import asyncio
import json
import math
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any

import httpx
import pytest

from m365apk.checks.base import AffectedObject, CheckResult, Evidence, Status, missing_data
from m365apk.cli import main
from m365apk.demo.dns import SimulatedDns
from m365apk.demo.exchange import answer as simulated_answer
from m365apk.demo.exchange import not_available, with_page_size, without_rbac_role
from m365apk.demo.server import Fault, SimulatedGraph
from m365apk.demo.tenant import TenantData, load_profile, without_permission
from m365apk.reports.model import _pseudonymised
from m365apk.runs.setup import exchange_probe
from m365apk.scanner.auth import LoopbackClientSecretCredential
from m365apk.scanner.collector import collect, needed_datasets
from m365apk.scanner.datasets import DATASETS
from m365apk.scanner.exchange import (
    ALLOWED_CMDLETS,
    EXCHANGE_PERMISSION,
    NOT_AVAILABLE_CODE,
    CmdletRefused,
    ExchangeClient,
    anchor_mailbox,
    cmdlet_request,
    exchange_base_url,
    exchange_scope,
)
from m365apk.scanner.graph import GraphClient, GraphSettings
from m365apk.scanner.pacing import Pacer
from m365apk.snapshot import CollectionStats, DatasetStatus, Snapshot

from .conftest import FAST

EXO = ("exoOrganizationConfig", "exoAcceptedDomains", "exoMailboxes")
PERMISSION = EXCHANGE_PERMISSION


@pytest.fixture(scope="module")
def weak() -> TenantData:
    return load_profile("weak", users=40)


@pytest.fixture(scope="module")
def good() -> TenantData:
    return load_profile("good", users=40)


@contextmanager
def served(tenant: TenantData) -> Iterator[SimulatedGraph]:
    with SimulatedGraph(tenant) as sim:
        yield sim


def credential(sim: SimulatedGraph, tenant: TenantData) -> LoopbackClientSecretCredential:
    return LoopbackClientSecretCredential(
        sim.token_url_for(tenant.tenant_id), tenant.client_id, tenant.client_secret
    )


def scan(
    sim: SimulatedGraph, tenant: TenantData, names: tuple[str, ...] = EXO, **options: Any
) -> Snapshot:
    async def go() -> Snapshot:
        settings = GraphSettings(base_url=sim.base_url, **{**FAST, **options})
        client = GraphClient(credential(sim, tenant), settings)
        try:
            return await collect(client, names, tenant_id=tenant.tenant_id, source="test")
        finally:
            await client.aclose()

    return asyncio.run(go())


def exo_requests(sim: SimulatedGraph) -> list[Any]:
    return [r for r in sim.requests if r.path.startswith("/adminapi/")]


# --- acceptance 2: nothing but the allow-list leaves the client ---------------------------------

REFUSED = [
    "Set-Mailbox",
    "Remove-MailboxFolderPermission",
    "Add-MailboxFolderPermission",
    "New-InboxRule",
    "Set-OrganizationConfig",
    "get-mailbox",  # case variants are not normalised: only the exact names pass
    "GET-MAILBOX",
    "Get-mailbox",
    " Get-Mailbox",  # whitespace tricks
    "Get-Mailbox ",
    "Get-Mailbox\n",
    "Get-Mailbox\t",
    "Get-Mailbox\u200b",  # zero-width space
    "Get\u2011Mailbox",  # non-breaking hyphen
    "Ｇet-Mailbox",  # fullwidth G
    "Get-Mailbox; Set-Mailbox -Identity x",
    "Get-Mailbox | Set-Mailbox",
    "Get-Mailbox\x00Set-Mailbox",
    "Get-InboxRule",  # a Get- cmdlet, but not on the list
    "Invoke-Command",
    "",
]


@pytest.mark.parametrize("cmdlet", REFUSED)
def test_allow_list_refuses_every_other_cmdlet(cmdlet: str) -> None:
    with pytest.raises(CmdletRefused):
        cmdlet_request(cmdlet)


class _Sneaky(str):
    """A str that claims to equal anything: must not get past the list either."""

    def __eq__(self, other: object) -> bool:
        return True

    def __hash__(self) -> int:
        return hash("Get-Mailbox")


@pytest.mark.parametrize("cmdlet", [None, 42, b"Get-Mailbox", ["Get-Mailbox"], _Sneaky("Set-X")])
def test_allow_list_refuses_what_is_no_plain_string(cmdlet: Any) -> None:
    with pytest.raises(CmdletRefused):
        cmdlet_request(cmdlet)


@pytest.mark.parametrize(
    "parameters",
    [
        {"Filter": "RecipientTypeDetails -eq 'SharedMailbox'"},  # not listed for the endpoint
        {"Confirm": False},
        {"identity": "x"},  # parameter names are exact too
        {"Identity": "x\ny"},
        {"Identity": "x" * 600},
        {"Identity": ["a", "b"]},
        {"ResultSize": 1.5},
        {"ResultSize": None},
        {"CmdletName": "Set-Mailbox"},  # a cmdlet smuggled in as a parameter
        {"CmdletInput": {"CmdletName": "Set-Mailbox"}},
        {"Identity": {"CmdletName": "Set-Mailbox"}},  # or as a parameter's value
    ],
)
def test_parameters_outside_the_list_are_refused(parameters: dict[str, Any]) -> None:
    with pytest.raises(CmdletRefused):
        cmdlet_request("Get-Mailbox", parameters)


def test_allow_list_holds_only_get_cmdlets_and_every_dataset_uses_it() -> None:
    assert ALLOWED_CMDLETS and all(c.startswith("Get-") for c in ALLOWED_CMDLETS)
    exchange = [s for s in DATASETS.values() if s.source == "exchange"]
    assert {s.name for s in exchange} == set(EXO)
    for spec in exchange:
        endpoint, body = cmdlet_request(spec.cmdlet, dict(spec.cmdlet_parameters))
        assert body["CmdletInput"]["CmdletName"].startswith("Get-")
        assert spec.permission == PERMISSION
    assert cmdlet_request("Get-Mailbox", {"ResultSize": "Unlimited"}) == (
        "Mailbox",
        {"CmdletInput": {"CmdletName": "Get-Mailbox", "Parameters": {"ResultSize": "Unlimited"}}},
    )


class _Watching:
    """A credential that counts: a refused cmdlet must not even ask for a token."""

    def __init__(self) -> None:
        self.calls = 0

    async def get_token(self, *scopes: str, **_: Any) -> Any:
        self.calls += 1
        raise AssertionError("no token may be asked for a refused cmdlet")


def test_refused_cmdlet_raises_before_any_token_or_request(weak: TenantData) -> None:
    watching = _Watching()
    with served(weak) as sim:

        async def go() -> None:
            settings = GraphSettings(base_url=sim.base_url, **FAST)
            client = ExchangeClient(watching, settings, CollectionStats(), Pacer(), weak.tenant_id)
            try:
                for cmdlet in ("Set-Mailbox", "get-mailbox", " Get-Mailbox"):
                    with pytest.raises(CmdletRefused):
                        await client.invoke(cmdlet)
                with pytest.raises(CmdletRefused):
                    await client.invoke("Get-Mailbox", {"Filter": "x"})
                with pytest.raises(CmdletRefused):
                    await client.invoke("Get-Mailbox", select=("Guid&$top=1",))
                spec = replace(DATASETS["exoMailboxes"], cmdlet="Set-Mailbox")
                with pytest.raises(CmdletRefused):  # raised, not recorded as a dataset error
                    await client.dataset(spec)
            finally:
                await client.aclose()

        asyncio.run(go())
        assert watching.calls == 0
        assert exo_requests(sim) == [] and sim.exchange_writes == []


def test_a_whole_scan_sends_only_get_cmdlets(weak: TenantData) -> None:
    with served(weak) as sim:
        snapshot = scan(sim, weak)
        assert all(snapshot.dataset(n).ok for n in EXO)
        assert sim.exchange_writes == []
        assert {r.method for r in exo_requests(sim)} == {"POST"}


# --- collection against the simulator -----------------------------------------------------------


def test_weak_school_shared_mailbox_can_sign_in_and_a_mailbox_forwards_outside(
    weak: TenantData,
) -> None:
    with served(weak) as sim:
        snapshot = scan(sim, weak, (*EXO, "users"))
    users = {u["id"]: u for u in snapshot.dataset("users").data}
    boxes = snapshot.dataset("exoMailboxes").data
    shared = [b for b in boxes if b["RecipientTypeDetails"] == "SharedMailbox"]
    assert shared and all(users[b["ExternalDirectoryObjectId"]]["accountEnabled"] for b in shared)
    accepted = {d["DomainName"].lower() for d in snapshot.dataset("exoAcceptedDomains").data}
    forwarding = [b for b in boxes if b.get("ForwardingSmtpAddress")]
    assert forwarding
    assert all(b["ForwardingSmtpAddress"].split("@")[-1] not in accepted for b in forwarding)
    config = snapshot.dataset("exoOrganizationConfig").data
    assert isinstance(config, list) and len(config) == 1
    assert config[0]["MailTipsExternalRecipientsTipsEnabled"] is False
    # the properties come back as Exchange names them, selected, nothing else
    assert set(boxes[0]) <= set(DATASETS["exoMailboxes"].select)
    assert snapshot.dataset("exoMailboxes").endpoint.startswith(
        "POST /adminapi/v2.0/{tenant}/Mailbox?$select=Guid,"
    )


@pytest.mark.parametrize("profile", ["good", "board"])
def test_good_schools_shared_mailboxes_cannot_sign_in_and_nothing_forwards(profile: str) -> None:
    tenant = load_profile(profile, users=40)
    with served(tenant) as sim:
        snapshot = scan(sim, tenant, (*EXO, "users"))
    users = {u["id"]: u for u in snapshot.dataset("users").data}
    boxes = snapshot.dataset("exoMailboxes").data
    shared = [b for b in boxes if b["RecipientTypeDetails"] == "SharedMailbox"]
    assert len(shared) == 2
    assert all(users[b["ExternalDirectoryObjectId"]]["accountEnabled"] is False for b in shared)
    assert not any(b.get("ForwardingSmtpAddress") or b.get("ForwardingAddress") for b in boxes)
    assert all(b["AuditEnabled"] is True for b in boxes)
    assert snapshot.dataset("exoOrganizationConfig").data[0][
        "MailTipsExternalRecipientsTipsEnabled"
    ]
    assert len(snapshot.dataset("users").data) == 40  # `users` is the total, shared ones in it


def test_every_mailbox_page_is_read(weak: TenantData) -> None:
    tenant = with_page_size(weak, 7)
    assert tenant.exchange is not None
    total = len(tenant.exchange["mailboxes"])
    with served(tenant) as sim:
        snapshot = scan(sim, tenant, ("exoMailboxes",))
        requests = exo_requests(sim)
    boxes = snapshot.dataset("exoMailboxes")
    assert boxes.ok and boxes.pages == math.ceil(total / 7) > 2
    guids = [b["Guid"] for b in boxes.data]
    assert len(guids) == len(set(guids)) == total
    assert len(requests) == boxes.pages  # every page one POST to the next link
    assert snapshot.stats.http_requests >= boxes.pages  # counted like Graph's requests


def test_school_where_the_admin_api_preview_is_not_available_gets_unknown_not_pass(
    weak: TenantData,
) -> None:
    with served(not_available(weak)) as sim:
        snapshot = scan(sim, weak)
    for name in EXO:
        ds = snapshot.dataset(name)
        assert ds.status is DatasetStatus.NOT_AVAILABLE, (name, ds.status)
        assert ds.error_code == NOT_AVAILABLE_CODE and "preview" in (ds.error_message or "")
        assert ds.data is None
    assert snapshot.partial  # the report says what could not be read

    class Needs:  # what a mail check declares
        id, licence, alternatives, datasets = "mail.test", None, (), ("exoMailboxes",)

    result = missing_data(Needs(), snapshot)  # type: ignore[arg-type]
    assert result is not None and result.status is Status.UNKNOWN
    text = result.reason.render("nl") if hasattr(result.reason, "render") else str(result.reason)
    assert "niet beschikbaar in deze organisatie" in text


def test_app_without_the_exchange_permission_is_forbidden_with_what_settles_it(
    weak: TenantData,
) -> None:
    tenant = without_permission(weak, PERMISSION)
    with served(tenant) as sim:
        snapshot = scan(sim, tenant)
    for name in EXO:
        ds = snapshot.dataset(name)
        assert ds.status is DatasetStatus.FORBIDDEN and ds.http_status == 401
        assert PERMISSION in (ds.error_message or "") and ds.permission == PERMISSION


def test_app_without_the_rbac_role_is_forbidden_naming_the_role(weak: TenantData) -> None:
    with served(without_rbac_role(weak)) as sim:
        snapshot = scan(sim, weak)
    mailboxes, config = snapshot.dataset("exoMailboxes"), snapshot.dataset("exoOrganizationConfig")
    assert mailboxes.status is DatasetStatus.FORBIDDEN and mailboxes.http_status == 403
    assert "Recipient Management" in (mailboxes.error_message or "")
    assert "View-Only Organization Management" in (config.error_message or "")
    assert "insufficient_rbac" in (mailboxes.error_message or "")  # Exchange's own reason


def test_throttling_is_waited_out_as_for_graph(weak: TenantData) -> None:
    with served(weak) as sim:
        sim.inject("/adminapi/Mailbox", Fault(429), Fault(503))  # no Retry-After: backoff
        snapshot = scan(sim, weak, ("exoMailboxes",))
    assert snapshot.dataset("exoMailboxes").ok and snapshot.stats.retries >= 2


def test_throttled_throughout_is_throttled(weak: TenantData) -> None:
    with served(weak) as sim:
        sim.inject("/adminapi/Mailbox", *[Fault(429)] * 3)
        snapshot = scan(sim, weak, ("exoMailboxes",), max_retries=1)
    assert snapshot.dataset("exoMailboxes").status is DatasetStatus.THROTTLED


@pytest.mark.parametrize(
    "body",
    [
        b"<html><body>proxy</body></html>",
        b'{"@odata.context": "x"}',  # no value
        b'{"value": "not a list"}',
        b'{"value": [{"DisplayName": "no Guid"}]}',  # every object breaks its contract
        b'{"value": [], "@odata.nextLink": "https://elders.example/adminapi/v2.0/t/Mailbox"}',
    ],
)
def test_malformed_answers_are_malformed_never_data(weak: TenantData, body: bytes) -> None:
    with served(weak) as sim:
        sim.inject("/adminapi/Mailbox", Fault(200, body=body))
        snapshot = scan(sim, weak, ("exoMailboxes",))
    ds = snapshot.dataset("exoMailboxes")
    assert ds.status is DatasetStatus.MALFORMED and ds.data is None, ds


def test_one_broken_mailbox_is_dropped_by_name_and_the_others_kept(weak: TenantData) -> None:
    body = (
        b'{"value": [{"Guid": "g-1", "RecipientTypeDetails": "UserMailbox"},'
        b' {"Guid": "g-2", "DisplayName": 7}]}'
    )
    with served(weak) as sim:
        sim.inject("/adminapi/Mailbox", Fault(200, body=body))
        snapshot = scan(sim, weak, ("exoMailboxes",))
    ds = snapshot.dataset("exoMailboxes")
    assert ds.status is DatasetStatus.INCOMPLETE
    assert [b["Guid"] for b in ds.data] == ["g-1"] and ds.rejected[0].startswith("g-2: ")


def test_organization_config_must_be_one_object(weak: TenantData) -> None:
    with served(weak) as sim:
        sim.inject("/adminapi/OrganizationConfig", Fault(200, body=b'{"value": []}'))
        snapshot = scan(sim, weak, ("exoOrganizationConfig",))
    assert snapshot.dataset("exoOrganizationConfig").status is DatasetStatus.MALFORMED


def test_a_graph_token_is_not_taken_by_exchange(weak: TenantData) -> None:
    with served(weak) as sim:
        token = httpx.post(
            sim.token_url,
            data={
                "grant_type": "client_credentials",
                "client_id": weak.client_id,
                "client_secret": weak.client_secret,
                "scope": "https://graph.microsoft.com/.default",
            },
        ).json()["access_token"]
        answer = httpx.post(
            f"{sim.base_url}/adminapi/v2.0/{weak.tenant_id}/Mailbox",
            json={"CmdletInput": {"CmdletName": "Get-Mailbox"}},
            headers={"Authorization": f"Bearer {token}"},
        )
    assert answer.status_code == 401


def test_base_url_and_token_per_cloud() -> None:
    assert exchange_base_url("https://graph.microsoft.com") == "https://outlook.office365.com"
    assert exchange_base_url("https://graph.microsoft.us") == "https://outlook.office365.us"
    assert exchange_base_url("https://dod-graph.microsoft.us") == "https://outlook-dod.office365.us"
    assert exchange_base_url("http://127.0.0.1:8080") == "http://127.0.0.1:8080"  # simulator
    assert exchange_scope("https://outlook.office365.us") == "https://outlook.office365.us/.default"
    assert exchange_scope("http://127.0.0.1:8080") == "https://outlook.office365.com/.default"


# --- mail DNS over every accepted domain --------------------------------------------------------


def test_mail_dns_covers_the_accepted_domains_when_exchange_answered(
    weak: TenantData, monkeypatch
) -> None:
    from m365apk.scanner import dns as dns_lookup

    monkeypatch.setattr(dns_lookup, "TIMEOUT_SECONDS", 0.3)
    assert weak.exchange is not None
    extra = {"DomainName": "kinderopvang-regenboog.nl", "DomainType": "Authoritative"}
    tenant = replace(
        weak,
        exchange={
            **weak.exchange,
            "accepted_domains": [*weak.exchange["accepted_domains"], extra],
        },
    )
    assert "exoAcceptedDomains" in needed_datasets({"mailDomainDns"})  # read by default
    with served(tenant) as sim, SimulatedDns(tenant) as dns:
        snapshot = scan(sim, tenant, ("mailDomainDns",), dns_server=dns.address)
    assert set(snapshot.dataset("mailDomainDns").data) == {
        "obsderegenboog.nl",
        "kinderopvang-regenboog.nl",
    }
    # Not available: Graph's verified domains only, and DNS is read all the same.
    with served(not_available(tenant)) as sim, SimulatedDns(tenant) as dns:
        snapshot = scan(sim, tenant, ("mailDomainDns",), dns_server=dns.address)
    assert snapshot.dataset("exoAcceptedDomains").status is DatasetStatus.NOT_AVAILABLE
    assert set(snapshot.dataset("mailDomainDns").data) == {"obsderegenboog.nl"}


# --- setup, permissions, doctor -----------------------------------------------------------------


def test_permissions_why_names_the_exchange_permission_and_resource(capsys) -> None:
    assert main(["permissions", "--why"]) == 0
    out = capsys.readouterr().out
    line = next(line for line in out.splitlines() if line.startswith(PERMISSION))
    assert "Office 365 Exchange Online" in line and "RBAC" in line


def tenants_yaml(folder: Path, sim: SimulatedGraph, tenant: TenantData) -> Path:
    path = folder / "tenants.yaml"
    path.write_text(
        f"output: out\ngraph_url: {sim.base_url}\nlogin_url: {sim.base_url}\n"
        f"tenants:\n  - name: {tenant.display_name}\n    tenant_id: {tenant.tenant_id}\n"
        f"    school_type: po\n    client_id: {tenant.client_id}\n"
        "    credential: {client_secret_env: EXO_TEST_SECRET}\n",
        encoding="utf-8",
    )
    return path


def test_setup_names_the_permission_the_role_groups_and_the_steps(
    weak: TenantData, tmp_path, capsys
) -> None:
    with served(weak) as sim:
        assert main(["setup", str(tenants_yaml(tmp_path, sim, weak))]) == 0
    out = capsys.readouterr().out
    for text in (
        PERMISSION,
        "Office 365 Exchange Online",
        "00000002-0000-0ff1-ce00-000000000000",
        "New-ServicePrincipal -AppId",
        'Add-RoleGroupMember -Identity "View-Only Organization Management"',
        'Add-RoleGroupMember -Identity "Recipient Management"',
        "admin-api-authentication",
    ):
        assert text in out, text


@pytest.mark.parametrize(
    "variant, kind",
    [
        (lambda t: t, "ok"),
        (not_available, "not_available"),
        (without_rbac_role, "forbidden"),
        (lambda t: without_permission(t, PERMISSION), "forbidden"),
    ],
)
def test_doctor_says_whether_exchange_answers(weak: TenantData, variant, kind: str) -> None:
    tenant = variant(weak)
    with served(tenant) as sim:
        found, said = exchange_probe(credential(sim, tenant), sim.base_url, tenant.tenant_id)
    assert found == kind, said


def test_doctor_prints_the_exchange_line_and_does_not_fail_on_it(
    weak: TenantData, tmp_path, monkeypatch, capsys
) -> None:
    monkeypatch.setenv("EXO_TEST_SECRET", weak.client_secret)
    with served(not_available(weak)) as sim:
        code = main(["doctor", str(tenants_yaml(tmp_path, sim, weak))])
    out = capsys.readouterr().out
    assert code == 0 and "Exchange: niet beschikbaar in deze organisatie (preview)" in out


# --- pseudonymisation ---------------------------------------------------------------------------


def test_pseudonymise_hides_mailbox_names_and_addresses(weak: TenantData) -> None:
    with served(weak) as sim:
        snapshot = scan(sim, weak, ("exoMailboxes", "users"))
    box = next(b for b in snapshot.dataset("exoMailboxes").data if b.get("ForwardingSmtpAddress"))
    lone = {"Guid": "0f0f0f0f-0000-4000-8000-000000000001", "DisplayName": "info@school.example"}
    snapshot.datasets["exoMailboxes"].data.append(lone)  # a mailbox without an Entra account
    result = CheckResult(
        check_id="mail.test",
        status=Status.FAIL,
        reason=f"{box['PrimarySmtpAddress']} stuurt door naar {box['ForwardingSmtpAddress']}",
        evidence=Evidence(
            affected=[
                AffectedObject(
                    id=box["Guid"],
                    display_name=box["DisplayName"],
                    detail=box["ForwardingSmtpAddress"],
                ),
                AffectedObject(id=lone["Guid"], display_name=lone["DisplayName"]),
            ]
        ),
    )
    hidden = _pseudonymised(result, snapshot)
    text = hidden.model_dump_json()
    for secret in (box["DisplayName"], box["PrimarySmtpAddress"], "prive-mail.example", "info@"):
        assert secret not in text, secret
    assert all(o.display_name.startswith("persoon-") for o in hidden.evidence.affected)


# --- the demo's switch and the consent check -----------------------------------------------------


@pytest.mark.parametrize(
    "variant, status",
    [
        ("niet-beschikbaar", DatasetStatus.NOT_AVAILABLE),
        ("geen-rol", DatasetStatus.FORBIDDEN),
        ("beschikbaar", DatasetStatus.OK),
    ],
)
def test_demo_exchange_switch(tmp_path, variant: str, status: DatasetStatus) -> None:
    args = ["demo", "--profile", "weak", "--users", "20", "--checks", "email.dmarc"]
    assert main([*args, "--exchange", variant, "--out", str(tmp_path), "--quiet"]) == 0
    snapshot = Snapshot.read(tmp_path / "snapshot.json")
    assert snapshot.dataset("exoAcceptedDomains").status is status


def test_no_consent_is_still_reported_where_exchange_is_not_available(weak: TenantData) -> None:
    from m365apk.runs.scan import consent_problem

    tenant = not_available(replace(weak, granted_permissions=frozenset()))
    with served(tenant) as sim:
        snapshot = scan(sim, tenant, ("users", "exoMailboxes"))
    assert snapshot.dataset("exoMailboxes").status is DatasetStatus.NOT_AVAILABLE
    assert consent_problem(snapshot) is not None


def test_a_refused_exchange_token_does_not_take_graphs_with_it() -> None:
    """Entra can refuse the Exchange Online resource (AADSTS500011 in a tenant without it)
    while Graph signs in: the failure is remembered for that resource only."""
    import time

    from azure.core.credentials import AccessToken
    from azure.core.exceptions import ClientAuthenticationError

    from m365apk.scanner.auth import _Threaded

    class Inner:
        def get_token(self, *scopes: str, **_: Any) -> AccessToken:
            if "outlook" in scopes[0]:
                raise ClientAuthenticationError(message="AADSTS500011: resource not found")
            return AccessToken("graph", int(time.time()) + 3600)

        def close(self) -> None:
            pass

    async def go() -> None:
        credential = _Threaded(Inner())
        with pytest.raises(ClientAuthenticationError):
            await credential.get_token("https://outlook.office365.com/.default")
        token = await credential.get_token("https://graph.microsoft.com/.default")
        assert token.token == "graph"

    asyncio.run(go())


# --- probes (wt/probe-mail): nothing leaves for another endpoint or host ------------------------

_HOST = "https://outlook.office365.com"
_NEXT = [
    "https://evil.example/adminapi/v2.0/tid/Mailbox?$skiptoken=2",  # another host
    f"{_HOST}/adminapi/v2.0/tid/InboxRule?$skiptoken=2",  # another endpoint
    f"{_HOST}/adminapi/v2.0/other-tenant/Mailbox?$skiptoken=2",  # another organisation
    "http://outlook.office365.com/adminapi/v2.0/tid/Mailbox?$skiptoken=2",  # no TLS
    "https://outlook.office365.com@evil.example/adminapi/v2.0/tid/Mailbox",  # userinfo trick
    "/adminapi/v2.0/tid/Mailbox?$skiptoken=2",  # relative
]


def _exchange_read(monkeypatch, answer) -> tuple[Any, list[httpx.Request]]:
    """exoMailboxes read by an ExchangeClient for the commercial cloud, every request answered
    by `answer` at the transport (the middleware runs as in a scan); what was sent is kept."""
    from types import SimpleNamespace

    sent: list[httpx.Request] = []

    async def transport(self, request: httpx.Request) -> httpx.Response:
        await request.aread()
        sent.append(request)
        return answer(request)

    monkeypatch.setattr(httpx.AsyncHTTPTransport, "handle_async_request", transport)

    class Credential:
        def get_token(self, *scopes: str) -> Any:
            return SimpleNamespace(token="exchange-token")

    async def go() -> Any:
        settings = GraphSettings(base_url="https://graph.microsoft.com", **FAST)
        client = ExchangeClient(Credential(), settings, CollectionStats(), Pacer(), "tid")
        try:
            return await client.dataset(DATASETS["exoMailboxes"])
        finally:
            await client.aclose()

    return asyncio.run(go()), sent


@pytest.mark.parametrize("link", _NEXT)
def test_a_next_link_to_another_endpoint_or_host_is_not_followed(monkeypatch, link: str) -> None:
    def answer(request: httpx.Request) -> httpx.Response:
        box = {"Guid": "g-1", "RecipientTypeDetails": "UserMailbox"}
        return httpx.Response(200, json={"value": [box], "@odata.nextLink": link})

    ds, sent = _exchange_read(monkeypatch, answer)
    assert ds.status is DatasetStatus.MALFORMED and ds.data is None
    assert len(sent) == 1 and sent[0].url.host == "outlook.office365.com"
    assert sent[0].url.path == "/adminapi/v2.0/tid/Mailbox"


@pytest.mark.parametrize("status", [301, 302, 307, 308])
def test_a_redirect_is_not_followed_and_carries_no_token(monkeypatch, status: int) -> None:
    def answer(request: httpx.Request) -> httpx.Response:
        return httpx.Response(status, headers={"Location": f"{_HOST}/adminapi/v2.0/tid/X"})

    ds, sent = _exchange_read(monkeypatch, answer)
    assert ds.status is DatasetStatus.ERROR and ds.data is None
    assert len(sent) == 1
    body = json.loads(sent[0].content)
    assert body == {
        "CmdletInput": {"CmdletName": "Get-Mailbox", "Parameters": {"ResultSize": "Unlimited"}}
    }
    assert sent[0].headers["X-AnchorMailbox"].startswith("APP:SystemMailbox{")


def test_simulated_organization_config_is_one_object_as_microsoft_documents(weak) -> None:
    """admin-api-endpoints-organization-config: 'Pagination isn't available ... The
    Get-OrganizationConfig response is a single JSON object' - not a collection page."""
    with served(weak) as sim:
        scope = exchange_scope(exchange_base_url("https://graph.microsoft.com"))
        token = asyncio.run(credential(sim, weak).get_token(scope)).token
        headers = {
            "Authorization": f"Bearer {token}",
            "X-AnchorMailbox": anchor_mailbox(weak.tenant_id),
        }
        body = json.dumps({"CmdletInput": {"CmdletName": "Get-OrganizationConfig"}})
        path = f"/adminapi/v2.0/{weak.tenant_id}/OrganizationConfig"
        status, payload, _, objects = simulated_answer(sim, path, "", headers, body)
        assert status == 200 and objects == 1
        assert "value" not in payload and "@odata.nextLink" not in payload
        assert isinstance(payload.get("AuditDisabled"), bool)
        snapshot = scan(sim, weak, ("exoOrganizationConfig",))
    ds = snapshot.dataset("exoOrganizationConfig")
    assert ds.status is DatasetStatus.OK and len(ds.data) == 1


@pytest.mark.parametrize("status", [404, 500, 403])
def test_a_mailbox_list_whose_second_page_failed_is_no_list(monkeypatch, status: int) -> None:
    """The first page read, the next one refused: what was read is not every mailbox, so the
    dataset holds none of them (never a pass on half a school); a later 404 is no 'not
    available in this organisation'."""
    link = f"{_HOST}/adminapi/v2.0/tid/Mailbox?$skiptoken=2"

    def answer(request: httpx.Request) -> httpx.Response:
        if "skiptoken" in str(request.url):
            return httpx.Response(status, json={"error": {"code": "x", "message": "y"}})
        box = {"Guid": "g-1", "RecipientTypeDetails": "UserMailbox"}
        return httpx.Response(200, json={"value": [box], "@odata.nextLink": link})

    ds, sent = _exchange_read(monkeypatch, answer)
    assert len(sent) == 2 and ds.data is None
    assert ds.status in (DatasetStatus.ERROR, DatasetStatus.FORBIDDEN), ds.status
