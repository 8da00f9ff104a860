"""A JSON batch endpoint for respx-mocked Graph: each inner request is answered by the routes
the test registered for plain GETs, so the same mocks serve both paths."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import httpx
import respx

BASE = "https://graph.microsoft.com/v1.0"


def answer(inner: dict[str, Any], response: httpx.Response) -> dict[str, Any]:
    body = json.loads(response.content) if response.content else None
    headers = {k: v for k, v in response.headers.items() if k.lower() != "content-length"}
    return {"id": inner["id"], "status": response.status_code, "headers": headers, "body": body}


def batch_route(
    base: str = BASE,
    *,
    rewrite: Callable[[dict[str, Any], list[dict[str, Any]]], dict[str, Any]] | None = None,
    seen: list[list[dict[str, Any]]] | None = None,
) -> respx.Route:
    """POST {base}/$batch, answered from the registered GET routes. `rewrite(answer, requests)`
    may change the whole batch answer (malformed answers); `seen` collects each batch's inner
    requests."""
    router = respx.mock

    async def handle(request: httpx.Request) -> httpx.Response:
        payload = json.loads(request.content)
        requests = payload["requests"]
        assert len(requests) <= 20, "Graph refuses batches of more than 20 requests"
        if seen is not None:
            seen.append(requests)
        responses = []
        for inner in requests:
            assert inner["url"].startswith("/"), inner["url"]
            sub = httpx.Request(inner["method"], base + inner["url"], headers=inner.get("headers"))
            resolved = await router.aresolve(sub)
            assert isinstance(resolved.response, httpx.Response), f"not mocked: {sub.url}"
            responses.append(answer(inner, resolved.response))
        body: dict[str, Any] = {"responses": responses}
        if rewrite is not None:
            body = rewrite(body, requests)
        return httpx.Response(200, json=body)

    return router.post(f"{base}/$batch").mock(side_effect=handle)
