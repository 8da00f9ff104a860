from __future__ import annotations

import time
from typing import Any

import pytest
from azure.core.credentials import AccessToken

from m365apk.scanner.graph import GraphClient, GraphSettings


class StaticCredential:
    """A credential that hands out a fixed token: unit tests exercise the pipeline, not Entra."""

    def __init__(self) -> None:
        self.calls = 0

    async def get_token(self, *scopes: str, **_: Any) -> AccessToken:
        self.calls += 1
        return AccessToken("test-token", int(time.time()) + 3600)


FAST = dict(
    backoff_seconds=0.01,
    backoff_max_seconds=0.05,
    jitter_seconds=0.0,
    audit_probe_poll_seconds=0.01,
)


@pytest.fixture
def graph_client() -> GraphClient:
    return GraphClient(StaticCredential(), GraphSettings(**FAST))
