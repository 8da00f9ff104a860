"""Issue 28, acceptance 3: `m365apk demo --profile weak` shows the mail findings on the report
(report.json and report.html); `--profile good` none of them. The inbox-rule finding is the
opt-in mail rules' own (`--mail-rules`)."""

from __future__ import annotations

import json
from html import unescape
from pathlib import Path
from typing import Any

import pytest

from m365apk.cli import main

# The weak school: a shared mailbox whose account can sign in, a mailbox forwarding to a private
# address, no MailTip for external recipients (demo/profiles/weak.exchange.json).
WEAK_FINDINGS = {
    "mail.shared_mailbox_signin": "info@",
    "mail.forwarding_outside": "prive-mail.example",
    "mail.external_mailtips": "MailTipsExternalRecipientsTipsEnabled",
}


def demo(profile: str, out: Path) -> tuple[dict[str, Any], str]:
    assert main(["demo", "--profile", profile, "--out", str(out), "--quiet"]) == 0
    report = json.loads((out / "report.json").read_text("utf-8"))
    html = unescape((out / "report.html").read_text("utf-8"))
    return {c["id"]: c for c in report["checks"] if c["id"].startswith("mail.")}, html


@pytest.fixture(scope="module")
def weak(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, Any], str]:
    return demo("weak", tmp_path_factory.mktemp("mail-weak"))


def test_weak_school_demo_report_shows_the_mail_findings(weak) -> None:
    checks, html = weak
    for check_id, named in WEAK_FINDINGS.items():
        result = checks[check_id]["result"]
        assert result["status"] == "fail", (check_id, result["status"], result.get("reason"))
        assert named in result["reason"], (check_id, result["reason"])
        assert checks[check_id]["title"] in html, check_id
    assert "prive-mail.example" in html and "info@" in html


def test_good_board_demo_report_has_no_mail_finding(tmp_path: Path) -> None:
    checks, _ = demo("good", tmp_path)
    assert set(checks) >= set(WEAK_FINDINGS)
    assert {c: v["result"]["status"] for c, v in checks.items()} == dict.fromkeys(checks, "pass")


def test_weak_school_whose_organisation_lacks_the_admin_api_preview_gets_unknown_mail_checks(
    tmp_path: Path,
) -> None:
    """Collected from the simulator answering as Microsoft does where the preview is not
    available: every mail check unknown with the reason, none passes; the e-mail DNS checks
    judge Graph's verified domains and say the accepted domains were not read."""
    from m365apk.checks import email, mail
    from m365apk.demo.dns import SimulatedDns
    from m365apk.demo.exchange import not_available
    from m365apk.demo.server import SimulatedGraph
    from m365apk.demo.tenant import demo_settings, load_profile
    from m365apk.runs.scan import run_scan
    from m365apk.scanner.auth import LoopbackClientSecretCredential
    from m365apk.scanner.graph import GraphSettings

    from .conftest import FAST

    tenant = not_available(load_profile("weak", users=20))
    checks = [*mail.CHECKS, *email.CHECKS]
    with SimulatedGraph(tenant) as sim, SimulatedDns(tenant) as dns:
        cred = LoopbackClientSecretCredential(sim.token_url, tenant.client_id, tenant.client_secret)
        output = run_scan(
            cred,
            GraphSettings(base_url=sim.base_url, dns_server=dns.address, **FAST),
            checks,
            tenant_id=tenant.tenant_id,
            out_dir=tmp_path,
            source="test",
            tenant_settings=demo_settings("weak"),
        )
    results = {r.check_id: r for r in output.results}
    for check in mail.CHECKS:
        result = results[check.id]
        assert result.status.value == "unknown", (check.id, result.status)
        assert "niet beschikbaar in deze organisatie" in result.reason, check.id
    for check in email.CHECKS:  # the weak school's DNS fails them; never better for this
        result = results[check.id]
        assert result.status.value in ("fail", "unknown"), check.id
        assert "geaccepteerde domeinen" in result.reason, check.id
