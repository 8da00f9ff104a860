"""CISA SCuBA's Entra ID baseline: every policy is a check, a handmatig controlepunt, a named gap
or out of scope with the reason; the ids named exist; `checks --json` and docs/controles.md
agree."""

from __future__ import annotations

import json
import re
from pathlib import Path

from m365apk.checks.manual import manual_items
from m365apk.checks.registry import all_checks
from m365apk.cli import main
from m365apk.mappings.scuba import scuba_aad

CONTROLES = Path(__file__).resolve().parent.parent / "docs" / "controles.md"


def test_the_baseline_lists_every_policy_once() -> None:
    ids = [p.id for p in scuba_aad().policies]
    assert len(ids) == len(set(ids)) == 34
    sections = {re.match(r"MS\.AAD\.(\d+)\.", i).group(1) for i in ids}
    assert sections == {str(n) for n in range(1, 10)}


def test_every_named_check_and_manual_item_exists() -> None:
    checks = {c.id for c in all_checks(opt_in=True)}
    manual = {m.id for m in manual_items()}
    for policy in scuba_aad().policies:
        assert set(policy.checks) <= checks, policy.id
        assert set(policy.manual) <= manual, policy.id


def test_checks_json_lists_the_scuba_ids_per_check(capsys) -> None:
    assert main(["checks", "--json"]) == 0
    rows = {r["id"]: r for r in json.loads(capsys.readouterr().out)}
    assert rows["mfa.legacy_auth_blocked"]["scuba"] == ["MS.AAD.1.1v1"]
    assert "MS.AAD.7.8v1" in rows["admin.pim_alerts"]["scuba"]
    assert all(isinstance(r["scuba"], list) for r in rows.values())


def test_the_docs_state_the_coverage_as_computed() -> None:
    summary = scuba_aad().summary()
    text = CONTROLES.read_text("utf-8")
    assert f"{summary['gedekt']} van de {summary['totaal']}" in text
