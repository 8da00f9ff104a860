"""A fault-injecting Graph: a loopback HTTP proxy in front of the simulated Graph.

Every request is passed on to the simulator unchanged, except those a `Target` picks out (one
dataset's endpoint), which get one fault from `KINDS`: an HTTP error, throttling, a dropped or
hanging connection, a malformed or wrongly shaped answer, a next link or redirect to another
host, a huge page. A second loopback server, `ForeignHost` (127.0.0.2, so another host name),
plays the host a next link or redirect points to and records whether anyone called it and with
which token. Used by tests/test_faults.py: the fault matrix of issue 11.

Loopback only, like the simulator itself.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import re
import socket
import struct
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, quote, urlsplit

JSON_TYPE = "application/json;odata.metadata=minimal;odata.streaming=true;charset=utf-8"
FOREIGN_IP = "127.0.0.2"  # another host name than 127.0.0.1: the client must treat it as foreign

# Every fault the matrix injects. "once" kinds hit the first matching request only.
KINDS: tuple[str, ...] = (
    "401",
    "403",
    "404",
    "429",  # persistent, Retry-After: 1
    "429-no-retry-after",  # persistent, no Retry-After
    "429-huge-retry-after",  # Retry-After: one hour
    "500",
    "503",
    "reset-once",
    "reset",
    "hang",
    "malformed-json",
    "empty-object",
    "value-object",
    "value-missing",
    "null-fields",
    "wrong-types",
    "nextlink-self",
    "nextlink-foreign",
    "redirect-foreign",
    "huge-page",
    # Issue 26: Retry-After as an HTTP-date, in each of RFC 9110's three forms, one second
    # after the answer's Date; then the same with the server's clock two hours ahead of ours;
    # a Retry-After no one can read (the bucket's backoff); a page served twice (duplicate
    # ids across pages); an answer trickling in below every read timeout (slow-loris).
    "429-retry-after-imf-fixdate",
    "429-retry-after-rfc850",
    "429-retry-after-asctime",
    "429-clock-skew",
    "429-malformed-retry-after",
    "duplicate-page",
    "slow-loris",
    # Issue 26, finding 10: one object breaks its contract (a 300 kB value in every scalar
    # property but its id): the first object of the first matching page that has one, once
    # per plan (`_Plan.altered`). That object is dropped and named, the others kept.
    "one-oversized-object",
)
# Faults after which the dataset must read as in a clean scan: retried, waited, de-duplicated.
RECOVERS = {
    "429-retry-after-imf-fixdate",
    "429-retry-after-rfc850",
    "429-retry-after-asctime",
    "429-clock-skew",
    "429-malformed-retry-after",
    "duplicate-page",
}
ONCE = {"reset-once", "huge-page"} | RECOVERS
# The server's clock under "429-clock-skew": this far ahead of ours.
SKEW_SECONDS = 2 * 3600
# A query parameter of ours on a next link that asks for the page it names again.
REPEAT = "m365apkrepeat"
_ERRORS = {
    401: ("InvalidAuthenticationToken", "Access token validation failure."),
    403: ("Authorization_RequestDenied", "Insufficient privileges to complete the operation."),
    404: ("Request_ResourceNotFound", "Resource does not exist."),
    429: ("TooManyRequests", "Too many requests."),
    500: ("generalException", "An internal server error occurred."),
    503: ("serviceNotAvailable", "Service unavailable. Please try again later."),
}
HUGE_BYTES = 50 * 1024 * 1024
# "one-oversized-object": a display name as the issue found it, far beyond any contract's bound.
OVERSIZED_CHARS = 300_000
NESTED_OVERSIZED_CHARS = 8_192


@dataclass(frozen=True)
class Target:
    """Which requests get the fault: the path (a regex on the path after /v1.0 or /beta) and,
    where two datasets share a path (users, servicePrincipals), the query they send."""

    path: str
    select: str | None = None  # the $select value, exactly ("": none sent); None: any
    filter: str | None = None  # a regex for the whole $filter value ("": none); None: any

    def matches(self, path: str, query: dict[str, list[str]]) -> bool:
        if not re.fullmatch(self.path, path):
            return False
        if self.select is not None and query.get("$select", [""])[0] != self.select:
            return False
        return self.filter is None or bool(re.fullmatch(self.filter, query.get("$filter", [""])[0]))


@dataclass
class ForeignRecord:
    path: str
    authorization: str | None


class ForeignHost:
    """Another host, on 127.0.0.2: answers every GET with an empty page and records the call."""

    def __init__(self) -> None:
        self.calls: list[ForeignRecord] = []
        lock = threading.Lock()
        calls = self.calls

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *_: Any) -> None:
                pass

            def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
                with lock:
                    calls.append(ForeignRecord(self.path, self.headers.get("Authorization")))
                body = b'{"value": []}'
                self.send_response(200)
                self.send_header("Content-Type", JSON_TYPE)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self._server = ThreadingHTTPServer((FOREIGN_IP, 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def __enter__(self) -> ForeignHost:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._server.shutdown()
        self._thread.join()
        self._server.server_close()


@dataclass
class _Plan:
    target: Target | None = None
    kind: str | None = None
    hits: int = 0
    injected: int = 0
    locked_path: str | None = None  # one key of a fan-out: the first concrete path seen
    one_key: bool = False
    batched: int = 0  # of `injected`: faults that landed on a request inside a JSON batch
    altered: bool = False  # "one-oversized-object" has broken its one object
    lock: threading.Lock = field(default_factory=threading.Lock)


class FaultProxy:
    """Passes requests to `upstream` (the simulator's base URL); injects the planned fault."""

    def __init__(self, upstream: str, foreign: ForeignHost, hang_seconds: float = 10.0) -> None:
        self.upstream = urlsplit(upstream)
        self.foreign = foreign
        self.hang_seconds = hang_seconds
        self.plan = _Plan()
        self._stop = threading.Event()
        handler = type("Handler", (_ProxyHandler,), {"proxy": self})
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._local = threading.local()

    @property
    def base_url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def inject(self, target: Target | None, kind: str | None, *, one_key: bool = False) -> None:
        """Plan one fault (None: pass everything). `one_key`: a fan-out's first key only."""
        if kind is not None and kind not in KINDS:
            raise ValueError(f"unknown fault {kind!r}")
        self.plan = _Plan(target, kind, one_key=one_key)

    def __enter__(self) -> FaultProxy:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()  # wakes hanging handlers
        self._server.shutdown()
        self._thread.join()
        self._server.server_close()

    # -- called by the handler -----------------------------------------------------------------

    def fault_for(self, path: str, query: dict[str, list[str]]) -> str | None:
        plan = self.plan
        if plan.kind is None or plan.target is None:
            return None
        with plan.lock:
            if plan.locked_path is not None:
                if path != plan.locked_path:
                    return None
            elif not plan.target.matches(path, query):
                return None
            elif plan.one_key:
                plan.locked_path = path
            plan.hits += 1
            if plan.kind in ONCE and plan.injected:
                return None
            plan.injected += 1
            return plan.kind

    def forward(
        self, method: str, target: str, headers: dict[str, str], body: bytes | None = None
    ) -> tuple[int, Any, bytes]:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = http.client.HTTPConnection(
                self.upstream.hostname, self.upstream.port, timeout=30
            )
            self._local.conn = conn
        try:
            conn.request(method, target, body=body, headers=headers)
            response = conn.getresponse()
            body = response.read()
        except (OSError, http.client.HTTPException):
            conn.close()
            self._local.conn = None
            raise
        # The simulator's absolute next links name the simulator; the client talks to us.
        body = body.replace(
            f"{self.upstream.scheme}://{self.upstream.netloc}".encode(), self.base_url.encode()
        )
        return response.status, response.headers, body


class _ProxyHandler(BaseHTTPRequestHandler):
    proxy: FaultProxy
    protocol_version = "HTTP/1.1"
    skew = 0.0  # seconds the Date header runs ahead (per request: "429-clock-skew")

    def log_message(self, *_: Any) -> None:
        pass

    def finish(self) -> None:
        with contextlib.suppress(OSError, ValueError):
            super().finish()

    def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
        self.skew = 0.0
        split = urlsplit(self.path)
        path = re.sub(r"^/(v1\.0|beta)", "", split.path)
        query = parse_qs(split.query)
        repeat = query.pop(REPEAT, None)
        forward = self.path
        if repeat is not None:  # the page served again: as before, then its own next link
            forward = re.sub(rf"[?&]{REPEAT}=[^&]*$", "", self.path)
        kind = self.proxy.fault_for(path, query)
        if kind is not None and self._before(kind):
            return
        headers = {k: v for k, v in self.headers.items() if k.lower() not in ("host", "connection")}
        status, upstream_headers, body = self.proxy.forward("GET", forward, headers)
        if repeat is not None and 200 <= status < 300:
            body = _repeated(body, repeat[0])
        if kind is not None and 200 <= status < 300:
            body = _rewrite(kind, body, self.proxy, self.path)
        extra = {}
        if upstream_headers.get("Retry-After"):
            extra["Retry-After"] = upstream_headers["Retry-After"]
        if kind == "slow-loris":
            self._trickle(status, body, extra)
            return
        self._send(status, body, extra)

    def do_POST(self) -> None:  # noqa: N802
        """JSON batching: the planned fault lands on the inner requests it targets, as Graph
        would answer them one by one inside the batch (a status, a rewritten body); faults of the
        connection itself (reset, hang, malformed JSON) hit the whole batch."""
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length)
        headers = {k: v for k, v in self.headers.items() if k.lower() not in ("host", "connection")}
        faults: dict[str, tuple[str, str]] = {}  # inner id -> (kind, url)
        if urlsplit(self.path).path.endswith("/$batch"):
            with contextlib.suppress(ValueError, TypeError, AttributeError):
                for inner in json.loads(raw).get("requests", []):
                    split = urlsplit(inner["url"])
                    path = re.sub(r"^/(v1\.0|beta)", "", split.path)
                    kind = self.proxy.fault_for(path, parse_qs(split.query))
                    if kind is not None:
                        self.proxy.plan.batched += 1
                        # inner URLs are relative to the batch's version root (/v1.0/$batch)
                        root = urlsplit(self.path).path.rsplit("/$batch", 1)[0]
                        faults[str(inner["id"])] = (kind, root + "/" + inner["url"].lstrip("/"))
        self.skew = 0.0
        whole = {"reset", "reset-once", "hang", "malformed-json"}
        for kind, _ in faults.values():
            if kind in whole and self._before(kind):
                return
        status, upstream_headers, body = self.proxy.forward("POST", self.path, headers, raw)
        if faults and status == 200:
            body = self._inner_faults(body, faults)
        extra = {}
        if upstream_headers.get("Retry-After"):
            extra["Retry-After"] = upstream_headers["Retry-After"]
        if any(kind == "slow-loris" for kind, _ in faults.values()):  # the batch answer itself
            self._trickle(status, body, extra)
            return
        self._send(status, body, extra)

    def _inner_faults(self, body: bytes, faults: dict[str, tuple[str, str]]) -> bytes:
        doc = json.loads(body)
        for answer in doc.get("responses", []):
            planned = faults.get(str(answer.get("id")))
            if planned is None:
                continue
            kind, url = planned
            if kind.isdigit() or kind.startswith("429"):
                code, message = _ERRORS[int(kind[:3])]
                answer["status"] = int(kind[:3])
                # Graph sends Date on the batch answer, not on each inner one: an inner
                # Retry-After date is the batch server's clock.
                answer["headers"] = {"Content-Type": "application/json", **self._retry_after(kind)}
                answer["body"] = {"error": {"code": code, "message": message}}
            elif kind == "redirect-foreign":
                answer["status"] = 302
                answer["headers"] = {"Location": f"{self.proxy.foreign.base_url}{url}"}
                answer.pop("body", None)
            elif 200 <= int(answer.get("status", 0)) < 300:
                rewritten = _rewrite(kind, json.dumps(answer.get("body")).encode(), self.proxy, url)
                answer["body"] = json.loads(rewritten)
        return json.dumps(doc).encode()

    # -- faults --------------------------------------------------------------------------------

    def _before(self, kind: str) -> bool:
        """Faults answered without asking the simulator; True when answered."""
        if kind.isdigit() or kind.startswith("429"):
            status = int(kind[:3])
            code, message = _ERRORS[status]
            body = json.dumps({"error": {"code": code, "message": message}}).encode()
            self._send(status, body, self._retry_after(kind))
            return True
        if kind in ("reset", "reset-once"):
            # RST instead of FIN: the client sees "connection reset by peer".
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.connection.close()
            self.close_connection = True
            return True
        if kind == "hang":
            self.proxy._stop.wait(self.proxy.hang_seconds)
            self.close_connection = True
            return True
        if kind == "malformed-json":
            self._send(200, b'{"value": [ {"id": ')
            return True
        if kind == "redirect-foreign":
            location = f"{self.proxy.foreign.base_url}{self.path}"
            self._send(302, b"", {"Location": location})
            return True
        return False

    def _retry_after(self, kind: str) -> dict[str, str]:
        """The Retry-After header a 429 kind carries (none for the others). The date forms
        name one second after the Date this answer carries (`date_time_string`)."""
        if kind == "429-clock-skew":
            self.skew = SKEW_SECONDS
        soon = time.time() + self.skew + 1
        value = {
            "429": "1",
            "429-huge-retry-after": "3600",
            "429-retry-after-imf-fixdate": formatdate(soon, usegmt=True),
            "429-clock-skew": formatdate(soon, usegmt=True),
            "429-retry-after-rfc850": time.strftime("%A, %d-%b-%y %H:%M:%S GMT", time.gmtime(soon)),
            "429-retry-after-asctime": time.asctime(time.gmtime(soon)),
            "429-malformed-retry-after": "soon",
        }.get(kind)
        return {"Retry-After": value} if value else {}

    def date_time_string(self, timestamp: float | None = None) -> str:
        """The Date header: our clock, or the server's skewed one ("429-clock-skew")."""
        return formatdate(
            (time.time() if timestamp is None else timestamp) + self.skew, usegmt=True
        )

    def _trickle(self, status: int, body: bytes, extra: dict[str, str]) -> None:
        """The whole answer, but a few bytes at a time, each well within any read timeout,
        over `hang_seconds` in all: only a bound on the whole request cuts it off."""
        self.send_response(status)
        self.send_header("Content-Type", JSON_TYPE)
        self.send_header("Content-Length", str(len(body)))
        for name, value in extra.items():
            self.send_header(name, value)
        self.end_headers()
        size = max(1, -(-len(body) // 30))
        chunks = max(1, -(-len(body) // size))
        with contextlib.suppress(OSError):
            self.wfile.flush()
            for start in range(0, len(body), size):
                if self.proxy._stop.wait(self.proxy.hang_seconds / chunks):
                    break
                self.wfile.write(body[start : start + size])
                self.wfile.flush()
        self.close_connection = True

    def _send(self, status: int, body: bytes, extra: dict[str, str] | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", JSON_TYPE)
        self.send_header("Content-Length", str(len(body)))
        for name, value in (extra or {}).items():
            self.send_header(name, value)
        self.end_headers()
        with contextlib.suppress(OSError):
            self.wfile.write(body)


def _objects(doc: Any) -> list[dict[str, Any]]:
    """The Graph objects in an answer: the items of a page, or the single object."""
    if isinstance(doc, dict) and isinstance(doc.get("value"), list):
        return [o for o in doc["value"] if isinstance(o, dict)]
    return [doc] if isinstance(doc, dict) else []


def _each_property(doc: Any, change: Callable[[str, Any], Any]) -> None:
    for obj in _objects(doc):
        for key in list(obj):
            if not key.startswith("@odata."):
                obj[key] = change(key, obj[key])


def _rewrite(kind: str, body: bytes, proxy: FaultProxy, path: str) -> bytes:
    """Faults that alter a successful answer of the simulator."""
    doc = json.loads(body)
    context = {"@odata.context": "https://graph.microsoft.com/v1.0/$metadata#x"}
    if kind == "empty-object":
        return b"{}"
    if kind == "value-object":
        first = (_objects(doc) or [{}])[0]
        return json.dumps({**context, "value": first}).encode()
    if kind == "value-missing":
        return json.dumps(context).encode()
    if kind == "null-fields":
        _each_property(doc, lambda _k, _v: None)
    elif kind == "wrong-types":
        _each_property(doc, lambda _k, _v: [1])
    elif kind == "nextlink-self" and isinstance(doc, dict):
        doc["@odata.nextLink"] = f"{proxy.base_url}{path}"
    elif kind == "nextlink-foreign" and isinstance(doc, dict):
        doc["@odata.nextLink"] = f"{proxy.foreign.base_url}{path}"
    elif kind == "huge-page":
        target = (_objects(doc) or [doc])[0]
        if isinstance(target, dict):
            target["extensionJunk"] = "x" * HUGE_BYTES
    elif kind == "one-oversized-object" and isinstance(doc, dict):
        found = _objects(doc) if isinstance(doc.get("value"), list) else []  # a page's only
        with proxy.plan.lock:
            first = bool(found) and not proxy.plan.altered
            proxy.plan.altered = proxy.plan.altered or first
        if first:
            _oversized(found[0])
    elif kind == "duplicate-page" and isinstance(doc, dict) and isinstance(doc.get("value"), list):
        # This page again next (same path and query, so a next link Graph could have sent),
        # then the page that was to follow it.
        after = quote(doc.get("@odata.nextLink") or "-", safe="")
        joiner = "&" if urlsplit(path).query else "?"
        doc["@odata.nextLink"] = f"{proxy.base_url}{path}{joiner}{REPEAT}={after}"
    return json.dumps(doc).encode()


def _oversized(obj: dict[str, Any], size: int = OVERSIZED_CHARS) -> None:
    """Every scalar or null property of `obj` but its id a 300 kB string, and those of the
    objects inside it 8 kB (still beyond every contract's bound, and the answer stays far
    below the client's size cap): the object breaks whichever of them its contract holds (too
    long, or a string where Graph sends another type), and can still be named by its id."""
    for key, value in obj.items():
        if isinstance(value, dict):
            _oversized(value, NESTED_OVERSIZED_CHARS)
        elif isinstance(value, list):
            for inner in value:
                if isinstance(inner, dict):
                    _oversized(inner, NESTED_OVERSIZED_CHARS)
        elif key != "id" or size != OVERSIZED_CHARS:
            obj[key] = "x" * size


def _repeated(body: bytes, after: str) -> bytes:
    """The repeated page with the next link its first answer had (none: "-")."""
    doc = json.loads(body)
    if isinstance(doc, dict):
        doc.pop("@odata.nextLink", None)
        if after != "-":
            doc["@odata.nextLink"] = after
    return json.dumps(doc).encode()
