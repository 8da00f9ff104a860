"""Credentials: azure-identity for real tenants, a loopback client-credentials flow for the demo.

Secrets are read from files or environment variables at the last moment and never stored on
our objects' reprs, logs, snapshots or reports.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import re
import time
from dataclasses import dataclass
from ipaddress import ip_address
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
from azure.core.credentials import AccessToken
from azure.core.exceptions import ClientAuthenticationError

from m365apk.errors import AuthError, ConfigError
from m365apk.scanner.tls import ssl_context


@dataclass(frozen=True)
class CredentialSpec:
    """How to authenticate to one tenant. Holds the *name* of the secret, never the secret."""

    tenant_id: str
    client_id: str | None = None
    certificate_path: Path | None = None
    certificate_password_env: str | None = None
    client_secret_env: str | None = None
    managed_identity: bool = False
    # Only for the simulator's HTTPS login host (tests): its address and the throwaway CA that
    # signed its certificate, trusted by this credential alone. Real scans leave both empty:
    # Entra's public authority, the system's trust store, instance discovery as Microsoft does.
    authority: str | None = None
    ca_bundle: Path | None = None

    def build(self) -> Any:
        from azure.identity import (
            CertificateCredential,
            ClientSecretCredential,
            ManagedIdentityCredential,
        )

        if self.managed_identity:
            # Only for the tenant the identity lives in: Azure-hosted scans of one's own tenant.
            return _Threaded(ManagedIdentityCredential(client_id=self.client_id))
        if not self.client_id:
            raise ConfigError("--client-id ontbreekt (de applicatie-id van de app-registratie)")
        if self.certificate_path:
            password_env = self.certificate_password_env
            password = _env(password_env) if password_env else None
            pem = _certificate_pem(self.certificate_path, password)
            return _Threaded(
                CertificateCredential(
                    self.tenant_id,
                    self.client_id,
                    certificate_data=pem,
                    password=password,
                    **self._endpoint(),
                )
            )
        if self.client_secret_env:
            return _Threaded(
                ClientSecretCredential(
                    self.tenant_id,
                    self.client_id,
                    _env(self.client_secret_env),
                    **self._endpoint(),
                )
            )
        raise ConfigError(
            "geef --certificate PAD, --client-secret-env VARIABELE of --managed-identity op"
        )

    def _endpoint(self) -> dict[str, Any]:
        if not self.authority:
            return {}
        options: dict[str, Any] = {
            "authority": self.authority,
            # The simulator is no cloud Microsoft knows; Entra would answer the discovery no.
            "disable_instance_discovery": True,
        }
        if self.ca_bundle:
            options["connection_verify"] = str(self.ca_bundle)
        return options


def _certificate_pem(path: Path, password: str | None) -> bytes:
    """The certificate file, opened here first so a wrong password or a broken file is one
    clear line (azure-identity would raise it from deep inside, as a traceback)."""
    from cryptography import x509
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.hazmat.primitives.serialization import load_pem_private_key

    if not path.is_file():
        raise ConfigError(f"certificaat niet gevonden: {path}")
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"{path}: niet te lezen ({exc.strerror})") from None
    if b"-----BEGIN" not in data:
        raise ConfigError(
            f"{path}: geen PEM-bestand (verwacht: certificaat en sleutel als PEM; "
            "zet een .pfx om met openssl pkcs12 -nodes)"
        )
    try:
        x509.load_pem_x509_certificate(data)
    except ValueError:
        raise ConfigError(f"{path}: geen leesbaar certificaat in het PEM-bestand") from None
    try:
        key = load_pem_private_key(data, password.encode() if password else None)
    except TypeError:  # cryptography: a password where none is needed, or the other way round
        if password:
            raise ConfigError(
                f"{path}: de sleutel heeft geen wachtwoord; laat --certificate-password-env weg"
            ) from None
        raise AuthError(
            f"{path}: de sleutel is met een wachtwoord beveiligd; "
            "geef --certificate-password-env op"
        ) from None
    except ValueError:
        if password and (b"ENCRYPTED PRIVATE KEY" in data or b"Proc-Type: 4,ENCRYPTED" in data):
            raise AuthError(f"{path}: onjuist wachtwoord voor de sleutel") from None
        raise ConfigError(f"{path}: geen leesbare privésleutel in het PEM-bestand") from None
    if not isinstance(key, rsa.RSAPrivateKey):
        raise ConfigError(f"{path}: de sleutel moet RSA zijn (Entra ondertekent met RS256/PS256)")
    return data


def _env(name: str) -> str:
    value = os.environ.get(name)
    if not value:
        raise ConfigError(f"omgevingsvariabele {name} is leeg of niet gezet")
    return value


def _chain_text(exc: BaseException) -> str:
    texts: list[str] = []
    seen: BaseException | None = exc
    while seen is not None and len(texts) < 5:
        message = getattr(seen, "message", None) or str(seen)
        if message and not any(message in t for t in texts):
            texts.append(message)
        seen = seen.__cause__ or seen.__context__
    return " | ".join(" ".join(t.split()) for t in texts)


# One line per way a token answer can be unusable (the sign-in stops with it, exit 3).
NOT_JSON = "het aanmeldpunt gaf geen JSON maar {what} (een proxy of portaal ertussen?)"
NO_TOKEN = "het antwoord van het aanmeldpunt bevat geen access_token"
BAD_TOKEN = "het antwoord van het aanmeldpunt bevat geen bruikbaar token ({field})"


def _not_json(body: str | bytes, content_type: str | None = None) -> str:
    text = body.decode("utf-8", "replace") if isinstance(body, bytes) else body
    html = text.lstrip()[:1].startswith("<") or "html" in (content_type or "").lower()
    if html:
        what = "een HTML-pagina"
    elif content_type:
        what = content_type.split(";")[0].strip() or "iets anders"
    else:
        what = "iets anders" if text.strip() else "een leeg antwoord"
    return NOT_JSON.format(what=what)


def _sign_in_failure(exc: BaseException) -> str:
    """The one line for a failed sign-in through MSAL: a token answer that is no JSON, one
    without access_token (azure-identity: "Authentication failed: None"), else Entra's own
    words as far down the chain as they go."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, json.JSONDecodeError):
            return _not_json(seen.doc)
        seen = seen.__cause__ or seen.__context__
    text = _chain_text(exc)
    if re.search(r"Authentication failed: None\b", text):
        return NO_TOKEN
    return text


def quiet_msal() -> None:
    """MSAL logs a failed token answer with a traceback of its own (57 lines for an HTML
    page); we print one line instead. Unless someone asked for details: a level set on the
    "msal" logger before (the CLI's --debug), or logging at DEBUG."""
    msal = logging.getLogger("msal")
    if msal.level == logging.NOTSET and not logging.getLogger().isEnabledFor(logging.DEBUG):
        msal.setLevel(logging.CRITICAL)


class _Threaded:
    """azure-identity's sync credentials, run off the event loop (the async ones need aiohttp).

    One token request at a time: azure-identity caches the token, so the scan's concurrent
    reads wait for the first instead of all asking. A failed sign-in is remembered: every
    later read fails with it at once, without asking the token endpoint again."""

    def __init__(self, inner: Any) -> None:
        self._inner = inner
        self._lock = asyncio.Lock()
        # A failed sign-in per resource (scopes): Graph's token must not be lost because the
        # Exchange Online one was refused (and the other way round).
        self._failed: dict[tuple[str, ...], str] = {}
        self._tokens: dict[tuple[str, ...], AccessToken] = {}  # by scopes, while valid
        quiet_msal()

    async def get_token(self, *scopes: str, **kwargs: Any) -> AccessToken:
        kwargs.pop("enable_cae", None)
        cached = None if kwargs else self._tokens.get(scopes)
        if cached is not None and cached.expires_on - 300 > time.time():
            return cached  # no thread and no lock for each of a scan's thousands of requests
        async with self._lock:
            if scopes in self._failed:
                raise ClientAuthenticationError(message=self._failed[scopes])
            try:
                token = await asyncio.to_thread(self._inner.get_token, *scopes, **kwargs)
            except Exception as exc:
                # An unknown tenant fails at MSAL's tenant discovery, whose own message drops
                # Entra's answer (AADSTS90002); that answer is further down the chain: keep it.
                self._failed[scopes] = _sign_in_failure(exc)
                raise ClientAuthenticationError(message=self._failed[scopes]) from None
            if not isinstance(getattr(token, "token", None), str) or not token.token:
                self._failed[scopes] = NO_TOKEN
                raise ClientAuthenticationError(message=NO_TOKEN)
            if not kwargs:
                self._tokens[scopes] = token
            return token

    def close(self) -> None:
        self._inner.close()


class LoopbackClientSecretCredential:
    """OAuth 2.0 client-credentials grant against a token endpoint on this machine.

    Used for the simulated Graph (demo, tests, benchmarks): the same protocol azure-identity
    speaks to Entra ID, over plain HTTP, so it refuses any host that is not loopback.

    Why it stays: azure-identity accepts only an https authority, so the real credentials need
    a CA and a server certificate for the simulator. The quick demo (and the many tests and
    benchmarks built on it) should start with nothing but Python and no key material made per
    run. The real credentials, certificate and secret, run against the simulator over HTTPS in
    tests/test_credentials.py (demo/tls.py), so the path a real scan takes is tested too.
    """

    def __init__(self, token_url: str, client_id: str, client_secret: str) -> None:
        host = urlsplit(token_url).hostname or ""
        try:
            loopback = ip_address(host).is_loopback
        except ValueError:
            loopback = host == "localhost"
        if not loopback:
            raise ConfigError("de demo-aanmelding werkt alleen met een server op 127.0.0.1")
        self._token_url = token_url
        self._client_id = client_id
        self._secret = client_secret
        self._tokens: dict[tuple[str, ...], AccessToken] = {}
        # A failed sign-in, per resource (scopes): every later call for it fails with it.
        self._failed: dict[tuple[str, ...], str] = {}
        self._lock = asyncio.Lock()

    def __repr__(self) -> str:
        return f"LoopbackClientSecretCredential({self._token_url!r}, {self._client_id!r})"

    async def get_token(self, *scopes: str, **_: Any) -> AccessToken:
        async with self._lock:
            if scopes in self._failed:
                raise ClientAuthenticationError(message=self._failed[scopes])
            # One token per resource (Graph, Exchange Online), as Entra issues them.
            token = self._tokens.get(scopes)
            if token and token.expires_on - 300 > time.time():
                return token
            try:
                token = self._tokens[scopes] = await self._request(scopes)
            except ClientAuthenticationError as exc:
                # The scan stops at the first failed sign-in; reads already waiting for a
                # token fail with the same line instead of each asking again.
                self._failed[scopes] = str(exc.message or exc)
                raise
            return token

    async def _request(self, scopes: tuple[str, ...]) -> AccessToken:
        """One client-credentials grant; every way its answer can be unusable is one line."""
        try:
            async with httpx.AsyncClient(timeout=30, verify=ssl_context()) as client:
                response = await client.post(
                    self._token_url,
                    data={
                        "grant_type": "client_credentials",
                        "client_id": self._client_id,
                        "client_secret": self._secret,
                        "scope": " ".join(scopes),
                    },
                )
        except httpx.HTTPError as exc:
            raise ClientAuthenticationError(
                message=f"aanmeldpunt niet bereikbaar: {type(exc).__name__}: {exc}"
            ) from None
        try:
            body = response.json() if response.content else {}
        except ValueError:
            body = None
        if not isinstance(body, dict):
            content_type = response.headers.get("Content-Type")
            raise ClientAuthenticationError(message=_not_json(response.content, content_type))
        if response.status_code != 200:
            described = body.get("error_description") or body.get("error")
            raise ClientAuthenticationError(
                message=str(described) if described else f"HTTP {response.status_code}"
            )
        token, lifetime = body.get("access_token"), body.get("expires_in")
        if not isinstance(token, str) or not token:
            raise ClientAuthenticationError(message=NO_TOKEN)
        if isinstance(lifetime, str) and lifetime.isdigit():  # some servers send a string
            lifetime = int(lifetime)
        if not isinstance(lifetime, int) or isinstance(lifetime, bool) or lifetime <= 0:
            raise ClientAuthenticationError(message=BAD_TOKEN.format(field="expires_in"))
        return AccessToken(token, int(time.time()) + lifetime)

    async def close(self) -> None:
        return None
