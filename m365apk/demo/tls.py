"""The simulated Entra login endpoint over HTTPS, so azure-identity's own credentials run
against the simulator unchanged.

azure-identity (MSAL underneath) accepts only an https authority and starts with OIDC
discovery (`/{tenant}/v2.0/.well-known/openid-configuration`). A throwaway CA made here signs
a certificate for 127.0.0.1; only a client that is handed that CA's file trusts it (the system
trust store is never touched). App-registration certificates are made and registered here too,
and the token endpoint checks the signed client assertion as Entra does: a registered key by
thumbprint, a valid signature, the key not expired, the assertion for this app and endpoint.

The Graph side stays plain HTTP on loopback: what differs between the quick demo and a real
scan is the credential, and that is what this module lets the tests run for real.
"""

from __future__ import annotations

import base64
import json
import ssl
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from http.server import ThreadingHTTPServer
from ipaddress import ip_address
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from m365apk.demo.server import RequestRecord, _aad_error, _dump, _Handler
from m365apk.demo.serving import Served

if TYPE_CHECKING:
    from m365apk.demo.server import SimulatedGraph
    from m365apk.demo.tenant import TenantData

JWT_BEARER = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"


@dataclass(frozen=True)
class ServerPki:
    """Files for one HTTPS simulator: the CA a client may trust, and the server's own pair."""

    ca_file: Path
    cert_file: Path
    key_file: Path


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def make_server_pki(folder: Path) -> ServerPki:
    """A throwaway CA and a certificate it signs for 127.0.0.1/localhost (EC keys: fast)."""
    now = datetime.now(UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = _name("m365apk test-CA (alleen voor de simulator)")
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=False,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), False)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name("127.0.0.1"))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.IPAddress(ip_address("127.0.0.1")), x509.DNSName("localhost")]
            ),
            critical=False,
        )
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), False
        )
        .sign(ca_key, hashes.SHA256())
    )
    folder.mkdir(parents=True, exist_ok=True)
    pki = ServerPki(folder / "ca.pem", folder / "server.pem", folder / "server-key.pem")
    pki.ca_file.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    pki.cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    pki.key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return pki


def make_client_certificate(
    path: Path,
    *,
    password: str | None = None,
    valid_days: float = 365,
    expired: bool = False,
) -> x509.Certificate:
    """An app registration's certificate as a school's admin makes one: self-signed, RSA
    (azure-identity signs the client assertion with RSA), key and certificate in one PEM file,
    the key encrypted when a password is given. `expired`: valid last year, not now."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    now = datetime.now(UTC)
    start, end = now - timedelta(minutes=5), now + timedelta(days=valid_days)
    if expired:
        start, end = now - timedelta(days=400), now - timedelta(days=35)
    name = _name("m365apk scanner")
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(end)
        .sign(key, hashes.SHA256())
    )
    encryption: serialization.KeySerializationEncryption = (
        serialization.BestAvailableEncryption(password.encode())
        if password
        else serialization.NoEncryption()
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption
    )
    path.write_bytes(key_pem + cert.public_bytes(serialization.Encoding.PEM))
    return cert


def register_certificate(sim: SimulatedGraph, tenant_id: str, cert: x509.Certificate) -> None:
    """Upload the public certificate to the tenant's app registration (its keyCredentials)."""
    sim.certificates.setdefault(tenant_id, []).append(cert)


# --- the token endpoint's side: a client assertion as Entra checks it ---------------------------


def _unb64url(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _thumbprint(data: bytes) -> str:
    return data.hex().upper()


def _invalid(code: int, text: str) -> tuple[int, dict[str, Any]]:
    return _aad_error(401, "invalid_client", code, text)


def check_client_assertion(
    sim: SimulatedGraph, tenant: TenantData, assertion: str
) -> tuple[int, dict[str, Any]] | None:
    """None when the assertion proves possession of a registered, current key; else Entra's
    error answer (AADSTS700027 for the key, 700024 for the time window, 50027 for the rest)."""
    try:
        head_b64, claims_b64, signature_b64 = assertion.split(".")
        header = json.loads(_unb64url(head_b64))
        claims = json.loads(_unb64url(claims_b64))
        signature = _unb64url(signature_b64)
    except ValueError:
        return _invalid(50027, "JWT token is invalid or malformed.")
    alg = header.get("alg")
    if alg == "PS256" and "x5t#S256" in header:
        used, digest = _thumbprint(_unb64url(header["x5t#S256"])), hashes.SHA256()
    elif alg == "RS256" and "x5t" in header:
        used, digest = _thumbprint(_unb64url(header["x5t"])), hashes.SHA1()
    else:
        return _invalid(50027, "JWT token is invalid or malformed.")
    registered = sim.certificates.get(tenant.tenant_id, [])
    cert = next((c for c in registered if _thumbprint(c.fingerprint(digest)) == used), None)
    if cert is None:
        return _invalid(
            700027,
            "The certificate with identifier used to sign the client assertion is not "
            f"registered on application. [Reason - The key was not found., Thumbprint of key "
            f"used by client: '{used}']",
        )
    now = datetime.now(UTC)
    if not cert.not_valid_before_utc <= now <= cert.not_valid_after_utc:
        return _invalid(
            700027,
            "The certificate with identifier used to sign the client assertion is expired on "
            f"application. [Reason - The key used is expired., Thumbprint of key used by "
            f"client: '{used}', Found key 'Start={cert.not_valid_before_utc:%m/%d/%Y %H:%M:%S}, "
            f"End={cert.not_valid_after_utc:%m/%d/%Y %H:%M:%S}']",
        )
    public_key = cert.public_key()
    assert isinstance(public_key, rsa.RSAPublicKey)
    scheme: padding.AsymmetricPadding = (
        padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=32)
        if alg == "PS256"
        else padding.PKCS1v15()
    )
    try:
        public_key.verify(signature, f"{head_b64}.{claims_b64}".encode(), scheme, hashes.SHA256())
    except InvalidSignature:
        return _invalid(700027, "Client assertion failed signature validation.")
    if not claims.get("iss") == claims.get("sub") == tenant.client_id:
        return _invalid(50027, "JWT token is invalid or malformed.")
    audience = urlsplit(str(claims.get("aud", "")))
    if audience.scheme != "https" or audience.path != f"/{tenant.tenant_id}/oauth2/v2.0/token":
        return _invalid(50027, "JWT token is invalid or malformed.")
    if not claims.get("nbf", 0) - 300 <= time.time() <= claims.get("exp", 0) + 300:
        return _invalid(700024, "Client assertion is not within its valid time range.")
    return None


# --- the HTTPS server --------------------------------------------------------------------------


class _LoginServer(ThreadingHTTPServer):
    daemon_threads = True
    context: ssl.SSLContext

    def get_request(self) -> tuple[Any, Any]:
        sock, address = super().get_request()
        # The handshake runs in the request's thread (see _LoginHandler.setup), so one client
        # that never finishes it cannot block the accept loop.
        wrapped = self.context.wrap_socket(sock, server_side=True, do_handshake_on_connect=False)
        return wrapped, address

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # a client that refuses our certificate is the client's test, not a server failure


class _LoginHandler(_Handler):
    """The login host: OIDC discovery and the token endpoint (the latter as on plain HTTP)."""

    def setup(self) -> None:
        self.request.do_handshake()
        super().setup()

    def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
        split = urlsplit(self.path)
        parts = split.path.strip("/").split("/")
        if parts[1:] != ["v2.0", ".well-known", "openid-configuration"]:
            self.send(404, b"", "text/html")
            return
        ref = parts[0]
        tenant = next((t for t in self.sim.tenants if ref in (t.tenant_id, t.default_domain)), None)
        if tenant is None:
            status, payload = _aad_error(
                400,
                "invalid_tenant",
                90002,
                f"Tenant '{ref}' not found. Check to make sure you have the correct tenant ID "
                "and are signing into the correct cloud.",
            )
        else:
            status, payload = 200, self.server_config(tenant.tenant_id)
        self.sim.record(RequestRecord("GET", split.path, "", status))
        self.send(status, _dump(payload), "application/json; charset=utf-8")

    def server_config(self, tenant_id: str) -> dict[str, Any]:
        host, port = self.server.server_address[:2]
        base = f"https://{host}:{port}/{tenant_id}"
        return {
            "token_endpoint": f"{base}/oauth2/v2.0/token",
            "token_endpoint_auth_methods_supported": [
                "client_secret_post",
                "private_key_jwt",
                "client_secret_basic",
            ],
            "jwks_uri": f"https://{host}:{port}/{tenant_id}/discovery/v2.0/keys",
            "issuer": f"{base}/v2.0",
            "authorization_endpoint": f"{base}/oauth2/v2.0/authorize",
            "device_authorization_endpoint": f"{base}/oauth2/v2.0/devicecode",
            "end_session_endpoint": f"{base}/oauth2/v2.0/logout",
            "request_uri_parameter_supported": False,
            "tenant_region_scope": "EU",
            "cloud_instance_name": "microsoftonline.com",
            "msgraph_host": "graph.microsoft.com",
        }


class HttpsLogin(Served):
    """The simulator's login host on https://127.0.0.1:PORT (also a context manager).

    Tokens are the simulator's own (`sim.token_response`), so a token from here reads the
    simulated Graph like one from the plain-HTTP endpoint."""

    def __init__(self, sim: SimulatedGraph, pki: ServerPki, *, port: int = 0) -> None:
        handler = type("LoginHandler", (_LoginHandler,), {"sim": sim})
        self._server = _LoginServer(("127.0.0.1", port), handler)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        context.load_cert_chain(pki.cert_file, pki.key_file)
        self._server.context = context

    @property
    def authority(self) -> str:
        """What azure-identity gets as `authority` (Entra: https://login.microsoftonline.com)."""
        host, port = self._server.server_address[:2]
        return f"https://{host}:{port}"
