"""The path every real scan takes: azure-identity's CertificateCredential and
ClientSecretCredential, signing in over HTTPS (the simulator's login host with a throwaway CA,
trusted by that client alone), then a whole `m365apk scan`. And the sign-in failures a school's
admin will meet, each one line with exit 3; a broken certificate file is one line with exit 2."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from m365apk.cli import main
from m365apk.demo.server import SimulatedGraph
from m365apk.demo.tenant import TenantData, load_profile
from m365apk.demo.tls import (
    HttpsLogin,
    ServerPki,
    make_client_certificate,
    make_server_pki,
    register_certificate,
)

pytestmark = pytest.mark.integration

PASSWORD = "Sch00l-cert!"


@dataclass
class Setup:
    sim: SimulatedGraph
    login: HttpsLogin
    pki: ServerPki
    tenant: TenantData
    folder: Path

    def argv(self, *credential: str, tenant_id: str | None = None, ca: bool = True) -> list[str]:
        argv = [
            "scan",
            "--tenant-id",
            tenant_id or self.tenant.tenant_id,
            "--client-id",
            self.tenant.client_id,
            "--graph-url",
            self.sim.base_url,
            "--login-url",
            self.login.authority,
            "--out",
            str(self.folder / "out"),
            "--quiet",
            *credential,
        ]
        return [*argv, "--ca-bundle", str(self.pki.ca_file)] if ca else argv


@pytest.fixture(scope="module")
def certificates(tmp_path_factory) -> dict[str, object]:
    folder = tmp_path_factory.mktemp("certs")
    made = {
        "plain": make_client_certificate(folder / "app.pem"),
        "locked": make_client_certificate(folder / "app-locked.pem", password=PASSWORD),
        "expired": make_client_certificate(folder / "app-expired.pem", expired=True),
        "unregistered": make_client_certificate(folder / "other.pem"),
    }
    return {"folder": folder, **made}


@pytest.fixture
def setup(tmp_path, certificates, monkeypatch) -> Iterator[Setup]:
    tenant = load_profile("weak")
    pki = make_server_pki(tmp_path / "pki")
    with SimulatedGraph(tenant) as sim, HttpsLogin(sim, pki) as login:
        for name in ("plain", "locked", "expired"):  # the app registration's certificates
            register_certificate(sim, tenant.tenant_id, certificates[name])
        monkeypatch.setenv("APK_CERT_PASSWORD", PASSWORD)
        monkeypatch.setenv("APK_SECRET", tenant.client_secret)
        yield Setup(sim, login, pki, tenant, tmp_path)


def cert(certificates: dict[str, object], name: str) -> str:
    return str(certificates["folder"] / name)  # type: ignore[operator]


def signed_in(sim: SimulatedGraph) -> list[tuple[str, str, int]]:
    return [
        (r.method, r.path.split("/", 2)[-1], r.status) for r in sim.requests if "v2.0/" in r.path
    ]


@pytest.mark.parametrize(
    "credential",
    [
        ["--certificate", "app.pem"],
        ["--certificate", "app-locked.pem", "--certificate-password-env", "APK_CERT_PASSWORD"],
        ["--client-secret-env", "APK_SECRET"],
    ],
    ids=["certificate", "certificate-with-password", "client-secret"],
)
def test_real_credentials_complete_a_scan_over_https(setup, certificates, credential) -> None:
    if credential[0] == "--certificate":
        credential = [credential[0], cert(certificates, credential[1]), *credential[2:]]
    assert main(setup.argv(*credential)) == 0
    report = json.loads((setup.folder / "out" / "report.json").read_text(encoding="utf-8"))
    assert report["overall"]["score"] is not None
    # MSAL's own steps, over TLS: OIDC discovery, then the client-credentials grant.
    steps = signed_in(setup.sim)
    assert ("GET", "v2.0/.well-known/openid-configuration", 200) in steps
    assert ("POST", "oauth2/v2.0/token", 200) in steps
    assert {s[2] for s in steps} == {200}
    graph = [r for r in setup.sim.requests if r.path.startswith("/v1.0/")]
    assert graph and not [r for r in graph if r.status == 401]  # Graph took the token


def test_scan_all_signs_in_with_a_certificate_over_https(setup, certificates, tmp_path) -> None:
    """The provider's round: the tenants file names the certificate, login_url the host."""
    tenants = tmp_path / "tenants.yaml"
    tenants.write_text(
        f"graph_url: {setup.sim.base_url}\n"
        f"login_url: {setup.login.authority}\n"
        f"login_ca: {setup.pki.ca_file}\n"
        "tenants:\n"
        f"  - name: {setup.tenant.display_name}\n"
        f"    tenant_id: {setup.tenant.tenant_id}\n"
        f"    client_id: {setup.tenant.client_id}\n"
        f"    credential: {{certificate: {cert(certificates, 'app-locked.pem')}, "
        "certificate_password_env: APK_CERT_PASSWORD}\n",
        encoding="utf-8",
    )
    out = tmp_path / "apk"
    assert main(["scan-all", str(tenants), "--output", str(out), "--quiet"]) == 0
    assert len(list(out.glob("*/*/report.json"))) == 1
    assert ("POST", "oauth2/v2.0/token", 200) in signed_in(setup.sim)


def one_line_exit(capsys, argv: list[str], code: int) -> str:
    assert main(argv) == code
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("m365apk: "), err
    assert "Traceback" not in err
    return lines[0]


def test_wrong_certificate_password(setup, certificates, capsys, monkeypatch) -> None:
    monkeypatch.setenv("APK_CERT_PASSWORD", "fout")
    path = cert(certificates, "app-locked.pem")
    argv = setup.argv("--certificate", path, "--certificate-password-env", "APK_CERT_PASSWORD")
    line = one_line_exit(capsys, argv, 3)
    assert path in line and "onjuist wachtwoord" in line


def test_missing_certificate_password(setup, certificates, capsys) -> None:
    line = one_line_exit(
        capsys, setup.argv("--certificate", cert(certificates, "app-locked.pem")), 3
    )
    assert "wachtwoord" in line


def test_wrong_secret(setup, capsys, monkeypatch, caplog) -> None:
    monkeypatch.setenv("APK_SECRET", "niet-het-geheim")
    line = one_line_exit(capsys, setup.argv("--client-secret-env", "APK_SECRET"), 3)
    assert "AADSTS7000215" in line and "niet-het-geheim" not in line
    # The reads in flight when sign-in failed were cancelled and awaited, not left to fail on
    # against a closed client ("Task exception was never retrieved").
    assert "never retrieved" not in caplog.text


def test_unknown_tenant(setup, certificates, capsys) -> None:
    other = "00000000-0000-4000-8000-000000000000"
    line = one_line_exit(
        capsys, setup.argv("--certificate", cert(certificates, "app.pem"), tenant_id=other), 3
    )
    assert "AADSTS90002" in line and "tenant" in line


def test_expired_certificate(setup, certificates, capsys) -> None:
    line = one_line_exit(
        capsys, setup.argv("--certificate", cert(certificates, "app-expired.pem")), 3
    )
    assert "AADSTS700027" in line and "verlopen" in line
    # refused by the token endpoint, not locally (requests in flight at once may log after it)
    tokens = [r for r in setup.sim.requests if r.path.endswith("/token")]
    assert tokens and all(r.status == 401 for r in tokens)
    assert not [r for r in setup.sim.requests if r.path.startswith("/v1.0") and r.status == 200]


def test_certificate_not_registered_on_the_app(setup, certificates, capsys) -> None:
    line = one_line_exit(capsys, setup.argv("--certificate", cert(certificates, "other.pem")), 3)
    assert "AADSTS700027" in line


def test_login_host_not_trusted_without_its_ca(setup, certificates, capsys) -> None:
    """The throwaway CA is trusted by the client it is handed to, not by the system."""
    argv = setup.argv("--certificate", cert(certificates, "app.pem"), ca=False)
    line = one_line_exit(capsys, argv, 3)
    assert "CERTIFICATE_VERIFY_FAILED" in line
    assert not [r for r in setup.sim.requests if r.path.endswith("/token")]


@pytest.mark.parametrize(
    "content, expected",
    [
        (b"-----BEGIN CERTIFICATE-----\nbm9uc2Vuc2U=\n-----END CERTIFICATE-----\n", "certificaat"),
        (b"just some text, no PEM at all\n", "geen PEM-bestand"),
        (None, "privésleutel"),  # a certificate without its key
    ],
    ids=["malformed", "not-pem", "no-key"],
)
def test_broken_certificate_file(
    setup, certificates, capsys, tmp_path, content: bytes | None, expected: str
) -> None:
    path = tmp_path / "broken.pem"
    if content is None:
        pem = Path(cert(certificates, "app.pem")).read_bytes()
        content = pem[pem.index(b"-----BEGIN CERTIFICATE-----") :]
    path.write_bytes(content)
    line = one_line_exit(capsys, setup.argv("--certificate", str(path)), 2)
    assert str(path) in line and expected in line
    assert not setup.sim.requests  # nothing was sent


def test_certificate_path_is_a_folder(setup, capsys, tmp_path) -> None:
    line = one_line_exit(capsys, setup.argv("--certificate", str(tmp_path)), 2)
    assert str(tmp_path) in line


# -- issue 26, finding 7: token answers checked before use ---------------------------------------


def token_requests(sim: SimulatedGraph) -> int:
    return sum(1 for r in sim.requests if r.path.endswith("/oauth2/v2.0/token"))


def test_token_endpoint_answers_html_one_line_exit_3(setup, capsys, caplog) -> None:
    """A proxy's or captive portal's HTML page instead of Entra's answer: exit 3 was right,
    but 'Authentication failed: Expecting value: line 1 column 1 (char 0)', MSAL's traceback
    logged (57 lines on stderr) and 22 token requests."""
    setup.sim.token_fault = "html"
    line = one_line_exit(capsys, setup.argv("--client-secret-env", "APK_SECRET"), 3)
    assert "HTML" in line and "Expecting value" not in line
    assert not [r for r in caplog.records if r.name.startswith("msal")]
    assert token_requests(setup.sim) == 1


def test_token_endpoint_answering_html_prints_one_line_on_stderr(setup) -> None:
    """The same as a person sees it: the command's whole stderr is one line."""
    import os
    import subprocess
    import sys

    setup.sim.token_fault = "html"
    argv = setup.argv("--client-secret-env", "APK_SECRET")
    env = {**os.environ, "APK_SECRET": setup.tenant.client_secret}
    root = Path(__file__).resolve().parent.parent
    done = subprocess.run(
        [sys.executable, "-m", "m365apk", *argv],
        capture_output=True,
        text=True,
        env=env,
        cwd=root,
        timeout=120,
    )
    assert done.returncode == 3
    assert done.stderr.strip().count("\n") == 0 and "HTML" in done.stderr, done.stderr


def test_token_endpoint_answering_html_with_debug_shows_msals_details(setup) -> None:
    """--debug keeps the details: MSAL's own account of the answer it could not read."""
    import os
    import subprocess
    import sys

    setup.sim.token_fault = "html"
    argv = ["--debug", *setup.argv("--client-secret-env", "APK_SECRET")]
    env = {**os.environ, "APK_SECRET": setup.tenant.client_secret}
    root = Path(__file__).resolve().parent.parent
    done = subprocess.run(
        [sys.executable, "-m", "m365apk", *argv],
        capture_output=True,
        text=True,
        env=env,
        cwd=root,
        timeout=120,
    )
    assert done.returncode == 3
    assert "Token response is not in json format" in done.stderr
    assert done.stderr.strip().splitlines()[-1].startswith("m365apk: Aanmelden mislukt")


def test_token_answer_without_access_token_says_so_exit_3(setup, capsys) -> None:
    """Was 'Aanmelden mislukt: Authentication failed: None'."""
    setup.sim.token_fault = "no-access-token"
    line = one_line_exit(capsys, setup.argv("--client-secret-env", "APK_SECRET"), 3)
    assert "access_token" in line and "None" not in line
    assert token_requests(setup.sim) == 1


@pytest.mark.parametrize("fault", ["no-access-token", "html"])
def test_demo_sign_in_with_a_bad_token_answer_stops_at_once(fault: str) -> None:
    """The loopback credential (demo; scan-all with an http login URL) went on: 34 token
    requests and every dataset 'KeyError: 'access_token''. Now the scan stops at the first
    answer, with one line."""
    import asyncio

    from m365apk.errors import AuthError
    from m365apk.scanner.auth import LoopbackClientSecretCredential
    from m365apk.scanner.collector import collect
    from m365apk.scanner.datasets import DATASETS
    from m365apk.scanner.graph import GraphClient, GraphSettings

    tenant = load_profile("weak", users=10)
    with SimulatedGraph(tenant) as sim:
        sim.token_fault = fault
        cred = LoopbackClientSecretCredential(sim.token_url, tenant.client_id, tenant.client_secret)

        async def go():
            client = GraphClient(cred, GraphSettings(base_url=sim.base_url))
            try:
                return await collect(client, list(DATASETS), tenant_id="t", source="t")
            finally:
                await client.aclose()

        with pytest.raises(AuthError) as raised:
            asyncio.run(go())
        assert token_requests(sim) == 1
    message = str(raised.value)
    assert "\n" not in message and "KeyError" not in message
    assert ("access_token" if fault == "no-access-token" else "HTML") in message


def test_scan_all_over_an_http_login_url_stops_a_school_at_a_token_answer_without_token(
    tmp_path, monkeypatch, capsys
) -> None:
    """scan-all with an http login URL signs in with the loopback credential: the school whose
    token answer has no access_token is one sign-in failure after one request, not a report
    full of 'KeyError: 'access_token''."""
    tenant = load_profile("weak", users=10)
    with SimulatedGraph(tenant) as sim:
        sim.token_fault = "no-access-token"
        tenants = tmp_path / "tenants.yaml"
        tenants.write_text(
            f"graph_url: {sim.base_url}\nlogin_url: {sim.base_url}\ntenants:\n"
            f"  - name: {tenant.display_name}\n    tenant_id: {tenant.tenant_id}\n"
            f"    client_id: {tenant.client_id}\n    credential: {{client_secret_env: APK_S}}\n",
            encoding="utf-8",
        )
        monkeypatch.setenv("APK_S", tenant.client_secret)
        code = main(["scan-all", str(tenants), "--output", str(tmp_path / "out"), "--quiet"])
        assert token_requests(sim) == 1
    err = capsys.readouterr().err
    assert code != 0 and "auth_error" in err and "KeyError" not in err, err
    assert not list((tmp_path / "out").glob("*/*/report.json"))
