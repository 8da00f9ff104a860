"""Inbox rules that send mail outside the school (issue 28, point 3): read per mailbox through
Graph's JSON batching when the scan is asked to (`--mail-rules`), judged against the school's
own domains, naming the mailbox and the target's domain, never the rule's contents."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from m365apk.checks.base import Status
from m365apk.checks.inbox_rules import CHECK_ID, INBOX_RULES_OUTSIDE, evaluate_inbox_rules
from m365apk.demo.exchange import not_available
from m365apk.demo.mail_rules import MailRules
from m365apk.demo.server import PAGE_LIMITS, Fault, SimulatedGraph
from m365apk.demo.tenant import TenantData, load_profile, without_permission
from m365apk.messages import Msg
from m365apk.runs.scan import report_from_snapshot, run_scan
from m365apk.runs.tenants import TenantsFile
from m365apk.scanner.auth import LoopbackClientSecretCredential
from m365apk.scanner.graph import GraphSettings
from m365apk.snapshot import DatasetStatus, Snapshot

from .conftest import FAST

MAIL_RULES = frozenset({"mail-rules"})


def collect(tenant: TenantData, out: Path, opt_in: frozenset[str] = MAIL_RULES) -> Snapshot:
    with SimulatedGraph(tenant) as sim:
        return scan(sim, tenant, out, opt_in)


def scan(
    sim: SimulatedGraph, tenant: TenantData, out: Path, opt_in: frozenset[str] = MAIL_RULES
) -> Snapshot:
    cred = LoopbackClientSecretCredential(sim.token_url, tenant.client_id, tenant.client_secret)
    output = run_scan(
        cred,
        GraphSettings(base_url=sim.base_url, opt_in=opt_in, **FAST),
        [INBOX_RULES_OUTSIDE],
        tenant_id=tenant.tenant_id,
        out_dir=out,
        source="test",
    )
    return output.snapshot


@pytest.fixture(scope="module")
def weak(tmp_path_factory) -> Snapshot:
    return collect(load_profile("weak", users=60), tmp_path_factory.mktemp("weak"))


@pytest.fixture(scope="module")
def good(tmp_path_factory) -> Snapshot:
    return collect(load_profile("good", users=60), tmp_path_factory.mktemp("good"))


def result(snapshot: Snapshot) -> Any:
    return INBOX_RULES_OUTSIDE.run(snapshot)


def with_rules(snapshot: Snapshot, rules: dict[str, list[dict[str, Any]]]) -> Snapshot:
    ds = snapshot.datasets["inboxRules"]
    data = {**ds.data, **rules}
    changed = ds.model_copy(update={"data": data, "items": len(data)})
    return snapshot.model_copy(update={"datasets": {**snapshot.datasets, "inboxRules": changed}})


def rule(address: str, *, kind: str = "forwardTo", enabled: Any = True) -> dict[str, Any]:
    return {
        "id": "r1",
        "isEnabled": enabled,
        "actions": {kind: [{"emailAddress": {"address": address}}]},
    }


def test_a_phished_administration_mailbox_redirecting_to_free_mail_fails(weak) -> None:
    """The weak school: the administration's mailbox redirects everything to a gmail.com
    address. The verdict names the mailbox and the domain, not the address or the rule."""
    found = result(weak)
    assert found.status is Status.FAIL
    [mailbox] = found.evidence.affected
    assert mailbox.display_name == "Ilse de Groot"
    assert (mailbox.detail or "").startswith("i.degroot@obsderegenboog.nl: ")
    assert "gmail.com" in (mailbox.detail or "")
    said = found.model_dump_json()
    assert "administratie.regenboog" not in said  # the address's own part stays out
    assert found.measured["regels_die_binnen_de_school_doorsturen"] == 1  # p.bakker's forward
    assert Msg.from_json(found.reason_parts).render("en").startswith("1 mailbox has")


def test_the_snapshot_keeps_where_a_rule_sends_mail_never_its_contents(weak) -> None:
    rules = [r for rs in weak.datasets["inboxRules"].data.values() for r in rs]
    assert rules and all(set(r) <= {"id", "isEnabled", "actions"} for r in rules)
    text = json.dumps(weak.datasets["inboxRules"].data)
    for private in ("displayName", "conditions", "Storingsmeldingen", "storing", "Marieke"):
        assert private not in text


def test_the_good_board_forwards_only_inside_the_school(good) -> None:
    found = result(good)
    assert found.status is Status.PASS, found.reason
    assert found.measured["regels_die_binnen_de_school_doorsturen"] == 1


def test_accounts_without_a_mailbox_are_no_failure_of_the_read(weak) -> None:
    """The weak school's cloud admin has no Exchange licence: Graph answers its inbox with 404
    MailboxNotEnabledForRESTAPI. That account has no inbox; the dataset is still complete (it
    was incomplete, so the check unknown, before absent_codes)."""
    ds = weak.datasets["inboxRules"]
    assert ds.status is DatasetStatus.OK and not ds.unread_keys
    admin = next(
        u for u in weak.datasets["users"].data if u["userPrincipalName"].startswith("admin@")
    )
    assert admin["id"] not in ds.data
    members = [u for u in weak.datasets["users"].data if u.get("userType") != "Guest"]
    assert 0 < len(ds.data) < len(members)


def test_the_rules_are_read_in_json_batches(weak) -> None:
    assert weak.stats.batched_requests >= len(weak.datasets["inboxRules"].data)


def test_without_mail_rules_the_check_says_it_was_not_asked(tmp_path) -> None:
    snapshot = collect(load_profile("weak", users=20), tmp_path, opt_in=frozenset())
    ds = snapshot.datasets["inboxRules"]
    assert ds.status is DatasetStatus.NOT_COLLECTED and ds.data is None
    found = result(snapshot)
    assert found.status is Status.UNKNOWN
    assert "--mail-rules" in (found.reason or "") and "niet gevraagd" in (found.reason or "")
    english = Msg.from_json(found.reason_parts).render("en")
    assert "not requested: the scan ran without --mail-rules" in english
    assert not snapshot.partial  # not asking is no gap in the scan
    # The report leaves the check out, as it does the audit probe without --audit-probe: a
    # school whose provider chose not to read every mailbox loses no points and keeps its
    # verdict; re-evaluating a snapshot that has the rules brings it back.
    report = json.loads((tmp_path / "report.json").read_text("utf-8"))
    assert "mail.inbox_rules_outside" not in {c["id"] for c in report["checks"]}


def test_a_snapshot_from_before_mail_rules_existed_leaves_the_check_out(weak, tmp_path) -> None:
    """Last year's snapshot (`m365apk evaluate`, a history re-run) has no inboxRules at all: it
    was not asked for --mail-rules either, so the check is left out rather than undetermined
    against the school."""
    datasets = {k: v for k, v in weak.datasets.items() if k != "inboxRules"}
    older = weak.model_copy(update={"datasets": datasets})
    report_from_snapshot(older, [INBOX_RULES_OUTSIDE], tmp_path)
    report = json.loads((tmp_path / "report.json").read_text("utf-8"))
    assert CHECK_ID not in {c["id"] for c in report["checks"]}


def _phished_path(tenant: TenantData) -> str:
    uid = next(u["id"] for u in tenant.users if u["userPrincipalName"].startswith("i.degroot@"))
    return f"/users/{uid}/mailFolders/inbox/messageRules"


def _error(code: str) -> bytes:
    return json.dumps({"error": {"code": code, "message": code}}).encode()


@pytest.mark.parametrize(
    "fault",
    [
        Fault(403, body=_error("ErrorAccessDenied")),  # an application access policy's scope
        Fault(404, body=_error("ErrorInvalidUser")),
        Fault(500),
        Fault(429, retry_after=1000),  # longer than the scan waits
    ],
    ids=["403", "404-invalid-user", "500", "429-too-long"],
)
def test_the_phished_mailbox_whose_rules_could_not_be_read_never_passes(fault, tmp_path) -> None:
    """The weak school's other mailboxes forward only inside: an unread inbox (its item in the
    JSON batch refused) must leave the check undetermined, naming the mailbox's id."""
    tenant = load_profile("weak", users=12)
    with SimulatedGraph(tenant) as sim:
        sim.inject(_phished_path(tenant), fault)
        snapshot = scan(sim, tenant, tmp_path)
    found = result(snapshot)
    assert found.status is Status.UNKNOWN, found.reason
    assert snapshot.datasets["inboxRules"].unread_keys == [_phished_path(tenant).split("/")[2]]


def test_a_throttled_mailbox_is_read_after_its_retry_after_and_a_later_page_counts(
    tmp_path, monkeypatch
) -> None:
    """429 with Retry-After on the phished mailbox's batch item: sent again, read. A mailbox
    whose rules come one per page (@odata.nextLink): the outside rule on its last page fails."""
    monkeypatch.setitem(PAGE_LIMITS, "", (1, 1))  # the rules lists serve one rule per page
    tenant = load_profile("weak", users=12)
    bakker = next(u for u in tenant.users if u["userPrincipalName"].startswith("p.bakker@"))
    rules = MailRules.rules

    def more(self: MailRules, user_id: str) -> list[dict[str, Any]]:
        found = rules(self, user_id)
        if user_id != bakker["id"]:
            return found
        return [
            *found,
            {**found[0], "id": "second"},
            {
                **found[0],
                "id": "late",
                "actions": {
                    "redirectTo": [{"emailAddress": {"address": "leerling.archief@proton.me"}}]
                },
            },
        ]

    monkeypatch.setattr(MailRules, "rules", more)
    with SimulatedGraph(tenant) as sim:
        sim.inject(_phished_path(tenant), Fault(429, retry_after_text="0"))
        snapshot = scan(sim, tenant, tmp_path)
        throttled = [r for r in sim.requests if r.inner and r.status == 429]
    ds = snapshot.datasets["inboxRules"]
    assert ds.ok and len(throttled) == 1
    assert ds.pages == len(ds.data) + 2  # p.bakker's three rules took three pages
    assert len(ds.data[bakker["id"]]) == 3
    found = result(snapshot)
    assert found.status is Status.FAIL
    details = " ".join(o.detail or "" for o in found.evidence.affected)
    assert "gmail.com" in details and "proton.me" in details


def test_without_mailbox_settings_permission_the_check_is_unknown_naming_it(tmp_path) -> None:
    tenant = without_permission(load_profile("weak", users=20), "MailboxSettings.Read")
    snapshot = collect(tenant, tmp_path)
    assert snapshot.datasets["inboxRules"].status is DatasetStatus.FORBIDDEN
    found = result(snapshot)
    assert found.status is Status.UNKNOWN
    assert "MailboxSettings.Read" in (found.reason or "")


def test_a_disabled_rule_sends_nothing(weak) -> None:
    phished = next(
        uid for uid, rules in weak.datasets["inboxRules"].data.items() if "gmail" in str(rules)
    )
    cleaned = with_rules(weak, {phished: []})
    assert result(cleaned).status is Status.PASS
    off = with_rules(weak, {phished: [rule("x@gmail.com", enabled=False)]})
    assert result(off).status is Status.PASS
    unsaid = with_rules(weak, {phished: [rule("x@gmail.com", enabled=None)]})
    assert result(unsaid).status is Status.FAIL  # null: Graph did not say it is off


@pytest.mark.parametrize("kind", ["forwardTo", "forwardAsAttachmentTo", "redirectTo"])
def test_each_forwarding_action_counts(good, kind: str) -> None:
    uid = next(iter(good.datasets["inboxRules"].data))
    found = result(with_rules(good, {uid: [rule("Leerling@Hotmail.COM", kind=kind)]}))
    assert found.status is Status.FAIL
    assert "hotmail.com" in (found.evidence.affected[0].detail or "")


def test_a_target_without_a_domain_is_undetermined_not_inside(good) -> None:
    """An X500 address names an Exchange recipient, which may be a mail contact outside."""
    uid = next(iter(good.datasets["inboxRules"].data))
    x500 = "/o=ExchangeLabs/ou=Exchange Administrative Group/cn=Recipients/cn=abc"
    assert result(with_rules(good, {uid: [rule(x500)]})).status is Status.UNKNOWN
    unread = {"id": "r2", "isEnabled": True}  # no actions in the answer
    assert result(with_rules(good, {uid: [unread]})).status is Status.UNKNOWN


def test_a_named_inside_address_is_inside_and_a_named_outside_one_names_its_domain(good) -> None:
    """ "Name <address>": the domain is the address's, not "school.nl>"."""
    uid = next(iter(good.datasets["inboxRules"].data))
    inside = rule("Conciërge <conciergerie@Voorbeeldonderwijs.nl>")
    assert result(with_rules(good, {uid: [inside]})).status is Status.PASS
    found = result(with_rules(good, {uid: [rule("Prive <m@gmail.com>", kind="redirectTo")]}))
    assert found.status is Status.FAIL
    assert "gmail.com (" in (found.evidence.affected[0].detail or "")


def test_exchange_accepted_domains_are_the_schools_domains(good) -> None:
    """The Exchange Online Admin API's accepted domains (read in the same scan) decide what is
    inside; a wildcard accepted domain takes in its subdomains only."""
    assert good.datasets["exoAcceptedDomains"].ok
    assert result(good).reason is None  # no note that Graph's domains stood in
    uid = next(iter(good.datasets["inboxRules"].data))
    partner = with_rules(good, {uid: [rule("a.de.vries@partnerschool.nl")]})
    assert result(partner).status is Status.FAIL
    accepted = partner.datasets["exoAcceptedDomains"]

    def accepting(snapshot: Snapshot, names: list[str]) -> Snapshot:
        ds = accepted.model_copy(update={"data": [{"DomainName": n} for n in names]})
        return snapshot.model_copy(
            update={"datasets": {**snapshot.datasets, "exoAcceptedDomains": ds}}
        )

    own = "voorbeeldonderwijs.nl"
    assert evaluate_inbox_rules(accepting(partner, [own, "partnerschool.nl"])).status is (
        Status.PASS
    )
    wildcard = [own, "*.partnerschool.nl"]
    sub = with_rules(good, {uid: [rule("a.de.vries@mail.partnerschool.nl")]})
    assert evaluate_inbox_rules(accepting(sub, wildcard)).status is Status.PASS
    assert evaluate_inbox_rules(accepting(partner, wildcard)).status is Status.FAIL


def test_where_the_exchange_api_is_not_available_graphs_domains_stand_in(tmp_path) -> None:
    """An organisation without the Admin API preview: the school's verified domains (Graph)
    decide, and the verdict says so; the finding itself stays."""
    snapshot = collect(not_available(load_profile("weak", users=20)), tmp_path)
    assert snapshot.datasets["exoAcceptedDomains"].status is DatasetStatus.NOT_AVAILABLE
    found = result(snapshot)
    assert found.status is Status.FAIL
    assert "Microsoft Graph" in (found.reason or "")
    english = Msg.from_json(found.reason_parts).render("en")
    assert "Exchange Online's accepted domains were not read" in english


def test_no_mailbox_at_all_is_undetermined(good) -> None:
    """No Exchange licences and mailboxes kept on-premises look alike to Graph."""
    ds = good.datasets["inboxRules"].model_copy(update={"data": {}, "items": 0})
    empty = good.model_copy(update={"datasets": {**good.datasets, "inboxRules": ds}})
    assert result(empty).status is Status.UNKNOWN


def test_tenants_file_asks_for_mail_rules_per_school() -> None:
    entry = {
        "name": "School",
        "tenant_id": "6f1c2b9e-3d4a-4e5f-8a7b-1c2d3e4f5a6b",
        "client_id": "x",
        "credential": {"client_secret_env": "S"},
    }
    other = {**entry, "tenant_id": "7f1c2b9e-3d4a-4e5f-8a7b-1c2d3e4f5a6b", "mail_rules": False}
    config = TenantsFile.model_validate({"mail_rules": True, "tenants": [entry, other]})
    assert [config.mail_rules_for(t) for t in config.tenants] == [True, False]
    assert not TenantsFile.model_validate({"tenants": [entry]}).mail_rules


def test_demo_asks_for_the_rules_and_shows_the_finding(demo_reports) -> None:
    """Acceptance 3: `m365apk demo --profile weak` shows the inbox rule that redirects outside;
    the good and board schools do not."""
    statuses = {
        profile: next(str(c.result.status) for c in report.checks if c.id == CHECK_ID)
        for profile, report in demo_reports.items()
    }
    assert statuses == {"weak": "fail", "good": "pass", "board": "pass"}


def test_a_rule_target_holding_an_outside_and_a_school_address_is_not_inside(good) -> None:
    """'leerling@hotmail.com;info@<school>' is no one address: read by its last '@' it looked
    like the school's own domain and the rule passed as forwarding inside."""
    uid = next(iter(good.datasets["inboxRules"].data))
    accepted = good.datasets["exoAcceptedDomains"].data
    own = next(d["DomainName"] for d in accepted if not d["DomainName"].startswith("*"))
    target = f"leerling@hotmail.com;info@{own}"
    assert result(with_rules(good, {uid: [rule(target)]})).status is Status.UNKNOWN
