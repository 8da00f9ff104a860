"""The simulated Graph answers as Graph v1.0 would (issue 11, finding 13).

Every answer the collector receives from the simulator, for every profile, is checked against
Graph v1.0's own schema (shared/reference/graph-schema-v1.0.json, copied into m365apk/demo):
nested objects and derived types (@odata.type) included. A simulator that speaks beta lets the
scanner rely on fields a real tenant never returns, so each kind of problem must be zero.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import httpx
import pytest

from m365apk.checks.registry import all_checks
from m365apk.demo import graph_schema
from m365apk.demo.server import ROUTE_TYPES, ROUTES, SimulatedGraph
from m365apk.demo.tenant import demo_settings, load_profile
from m365apk.runs.scan import run_scan
from m365apk.scanner.auth import LoopbackClientSecretCredential
from m365apk.scanner.datasets import DATASETS
from m365apk.scanner.graph import GraphSettings

from .conftest import FAST

REFERENCE = Path(__file__).resolve().parents[2] / "shared" / "reference" / "graph-schema-v1.0.json"
G = graph_schema.NS

COLLECTIONS = {
    r.path for r in ROUTES if r.handler not in ("static_object", "security_defaults", "user")
}


def answer_problems(route: str, body: bytes) -> list[str]:
    type_name = ROUTE_TYPES[route]
    if type_name is None or route == "/users/\\$count":  # text/plain number
        return []
    doc = json.loads(body)
    if route not in COLLECTIONS:
        return graph_schema.check(doc, G + type_name, route)
    if not isinstance(doc.get("value"), list):
        return [f"type: {route} has no value list"]
    problems: list[str] = []
    for i, item in enumerate(doc["value"]):
        problems += graph_schema.check(item, G + type_name, f"{route}[{i}]")
    return problems


def collected_answers(profile: str, out: Path) -> list[tuple[str, str, str, bytes]]:
    tenant = load_profile(profile)
    with SimulatedGraph(tenant, capture=True) as sim:
        cred = LoopbackClientSecretCredential(sim.token_url, tenant.client_id, tenant.client_secret)
        output = run_scan(
            cred,
            # Every opt-in read too (--mail-rules: the inbox rules): held to the schema alike.
            GraphSettings(base_url=sim.base_url, opt_in=frozenset({"mail-rules"}), **FAST),
            all_checks(opt_in=True),
            tenant_id=tenant.tenant_id,
            out_dir=out,
            source="test",
            tenant_settings=demo_settings(profile),
        )
        # No query the collector sends is one Graph v1.0 refuses (a 400 would hide its data).
        refused = {
            n: d.error_message
            for n, d in output.snapshot.datasets.items()
            if d.http_status == 400 and d.error_code == "BadRequest"
        }
        assert not refused, refused
        # Then every plain endpoint once more without query options (the full objects), so the
        # routes no check reads today are held to the schema too.
        access = httpx.post(
            sim.token_url,
            data={
                "grant_type": "client_credentials",
                "client_id": tenant.client_id,
                "client_secret": tenant.client_secret,
                "scope": "https://graph.microsoft.com/.default",
            },
        ).json()["access_token"]
        with httpx.Client(
            base_url=sim.graph_url, headers={"Authorization": f"Bearer {access}"}
        ) as client:
            for route in ROUTES:
                if "{" not in route.path and "$" not in route.path:
                    client.get(route.path)
        assert sim.bodies is not None
        return list(sim.bodies)


@pytest.fixture(scope="module")
def answers(tmp_path_factory) -> dict[str, list[tuple[str, str, str, bytes]]]:
    return {p: collected_answers(p, tmp_path_factory.mktemp(p)) for p in ("weak", "good", "board")}


def test_every_route_has_a_v1_type() -> None:
    assert {r.path for r in ROUTES} == set(ROUTE_TYPES)
    missing = {t for t in ROUTE_TYPES.values() if t and not graph_schema.known(G + t)}
    assert not missing, f"types missing from the schema extract: {missing}"


def test_the_packaged_schema_is_the_reference_copy() -> None:
    if not REFERENCE.exists():
        pytest.skip("shared/reference is not beside this checkout")
    packaged = Path(graph_schema.__file__).with_name("graph-schema-v1.0.json")
    assert json.loads(packaged.read_text("utf-8")) == json.loads(REFERENCE.read_text("utf-8"))


def test_the_checker_finds_each_kind_of_problem() -> None:
    policy = {
        "@odata.type": "#microsoft.graph.windows10CompliancePolicy",
        "id": "p",
        "displayName": None,  # non-nullable
        "defenderEnabled": True,  # beta only
        "createdDateTime": "gisteren",  # not a DateTimeOffset
        "lastModifiedDateTime": "2026-01-01T00:00:00Z",
        "version": 1,
        "passwordRequiredType": "strong",  # not a requiredPasswordType member
    }
    kinds = Counter(
        p.split(":")[0] for p in graph_schema.check(policy, G + "deviceCompliancePolicy")
    )
    assert kinds == {"null": 1, "unknown": 1, "type": 1, "enum": 1}
    assert graph_schema.check("P2W", "Edm.Duration") and graph_schema.check("P1Y", "Edm.Duration")
    assert not graph_schema.check("P14D", "Edm.Duration")
    assert not graph_schema.check("PT1H30M", "Edm.Duration")
    assert graph_schema.check({"@odata.type": "#microsoft.graph.user"}, G + "group")


@pytest.mark.parametrize("profile", ["weak", "good", "board"])
def test_every_simulated_answer_is_graph_v1(profile: str, answers) -> None:
    seen = answers[profile]
    assert len(seen) > 20
    problems = [p for route, _, _, body in seen for p in answer_problems(route, body)]
    kinds = Counter(p.split(":")[0] for p in problems)
    assert not problems, f"{dict(kinds)}: " + "\n".join(sorted(set(problems))[:60])


def test_every_endpoint_was_checked(answers) -> None:
    routes = {route for seen in answers.values() for route, *_ in seen}
    # Read with GET through Graph (not the DNS records, not the audit probe's POST).
    assert {d.path for d in DATASETS.values() if d.source == "graph"} <= routes
    assert set(ROUTE_TYPES) - routes == {"/users/\\$count", "/users/{id}"}


@pytest.mark.parametrize(
    ("url", "message"),
    [
        (
            "/servicePrincipals?$select=id,publisherName",
            "'publisherName' on type 'microsoft.graph.servicePrincipal'",
        ),
        ("/roleManagement/directory/roleAssignments?$select=id,resourceScope", "'resourceScope'"),
        ("/users?$filter=noSuchField eq 'x'", "Invalid filter clause"),
        ("/deviceManagement/deviceCompliancePolicies?$select=defenderEnabled", "defenderEnabled"),
    ],
)
def test_simulator_refuses_a_property_graph_v1_does_not_define(url: str, message: str) -> None:
    tenant = load_profile("good")
    with SimulatedGraph(tenant) as sim:
        access = httpx.post(
            sim.token_url,
            data={
                "grant_type": "client_credentials",
                "client_id": tenant.client_id,
                "client_secret": tenant.client_secret,
                "scope": "https://graph.microsoft.com/.default",
            },
        ).json()["access_token"]
        answer = httpx.get(sim.graph_url + url, headers={"Authorization": f"Bearer {access}"})
        # The same select of v1.0 properties only is answered.
        fine = httpx.get(
            sim.graph_url + "/servicePrincipals?$select=id,verifiedPublisher",
            headers={"Authorization": f"Bearer {access}"},
        )
    assert answer.status_code == 400, answer.text
    error = answer.json()["error"]
    assert error["code"] == "BadRequest" and message in error["message"]
    assert "Could not find a property named" in error["message"]
    assert fine.status_code == 200


def test_every_field_the_client_selects_exists_on_its_v1_type() -> None:
    from m365apk.demo.server import undefined_property

    wrong = {
        (spec.name, field)
        for spec in DATASETS.values()
        for field in spec.select
        if undefined_property(spec.path, field)
    }
    assert not wrong, f"$select of properties Graph v1.0 does not define: {sorted(wrong)}"
    graph_reads = [s for s in DATASETS.values() if s.source == "graph"]
    assert all(spec.path in ROUTE_TYPES for spec in graph_reads)
