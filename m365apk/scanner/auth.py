"""Credentials: azure-identity for real tenants, a loopback client-credentials flow for the demo.

Secrets are read from files or environment variables at the last moment and never stored on
our objects' reprs, logs, snapshots or reports.
"""

from __future__ import annotations

import asyncio
import os
import time
from dataclasses import dataclass
from ipaddress import ip_address
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
from azure.core.credentials import AccessToken
from azure.core.exceptions import ClientAuthenticationError

from m365apk.errors import ConfigError


@dataclass(frozen=True)
class CredentialSpec:
    """How to authenticate to one tenant. Holds the *name* of the secret, never the secret."""

    tenant_id: str
    client_id: str | None = None
    certificate_path: Path | None = None
    certificate_password_env: str | None = None
    client_secret_env: str | None = None
    managed_identity: bool = False

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
            if not self.certificate_path.is_file():
                raise ConfigError(f"certificaat niet gevonden: {self.certificate_path}")
            password_env = self.certificate_password_env
            password = _env(password_env) if password_env else None
            return _Threaded(
                CertificateCredential(
                    self.tenant_id,
                    self.client_id,
                    certificate_path=str(self.certificate_path),
                    password=password,
                )
            )
        if self.client_secret_env:
            return _Threaded(
                ClientSecretCredential(self.tenant_id, self.client_id, _env(self.client_secret_env))
            )
        raise ConfigError(
            "geef --certificate PAD, --client-secret-env VARIABELE of --managed-identity op"
        )


def _env(name: str) -> str:
    value = os.environ.get(name)
    if not value:
        raise ConfigError(f"omgevingsvariabele {name} is leeg of niet gezet")
    return value


class _Threaded:
    """azure-identity's sync credentials, run off the event loop (the async ones need aiohttp)."""

    def __init__(self, inner: Any) -> None:
        self._inner = inner

    async def get_token(self, *scopes: str, **kwargs: Any) -> AccessToken:
        kwargs.pop("enable_cae", None)
        return await asyncio.to_thread(self._inner.get_token, *scopes, **kwargs)

    def close(self) -> None:
        self._inner.close()


class LoopbackClientSecretCredential:
    """OAuth 2.0 client-credentials grant against a token endpoint on this machine.

    Used for the simulated Graph (demo, tests, benchmarks): the same protocol azure-identity
    speaks to Entra ID, over plain HTTP, so it refuses any host that is not loopback.
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
        self._token: AccessToken | None = None
        self._lock = asyncio.Lock()

    def __repr__(self) -> str:
        return f"LoopbackClientSecretCredential({self._token_url!r}, {self._client_id!r})"

    async def get_token(self, *scopes: str, **_: Any) -> AccessToken:
        async with self._lock:
            if self._token and self._token.expires_on - 300 > time.time():
                return self._token
            async with httpx.AsyncClient(timeout=30) as client:
                response = await client.post(
                    self._token_url,
                    data={
                        "grant_type": "client_credentials",
                        "client_id": self._client_id,
                        "client_secret": self._secret,
                        "scope": " ".join(scopes),
                    },
                )
            body = response.json() if response.content else {}
            if response.status_code != 200:
                raise ClientAuthenticationError(
                    message=body.get("error_description") or f"HTTP {response.status_code}"
                )
            self._token = AccessToken(body["access_token"], int(time.time()) + body["expires_in"])
            return self._token

    async def close(self) -> None:
        return None
