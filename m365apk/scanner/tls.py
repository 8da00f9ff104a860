"""One TLS client context per process (per CA bundle), shared by every HTTP client we open.

httpx builds a fresh `ssl.SSLContext` for every client it creates, and loading the CA bundle
costs some 20 ms: once per tenant in the Graph client and once per token request in the
loopback credential, measured on scan-all (#16). A context is safe to share between clients and
threads once configured, so it is built once and reused. Same trust as httpx's default:
SSL_CERT_FILE / SSL_CERT_DIR when set, else certifi's bundle.
"""

from __future__ import annotations

import os
import ssl
from functools import lru_cache

import httpx


def ssl_context(ca_bundle: str | None = None) -> ssl.SSLContext:
    """The shared client context for `ca_bundle` (None: httpx's default trust)."""
    if ca_bundle:
        return _context(ca_bundle, None, None)
    # The environment is part of the key: a changed SSL_CERT_FILE is honoured, as httpx would.
    return _context(None, os.environ.get("SSL_CERT_FILE"), os.environ.get("SSL_CERT_DIR"))


@lru_cache(maxsize=8)
def _context(ca_bundle: str | None, cert_file: str | None, cert_dir: str | None) -> ssl.SSLContext:
    if ca_bundle:
        return ssl.create_default_context(cafile=ca_bundle)
    return httpx.create_ssl_context(verify=True, trust_env=True)
