"""One lifecycle for the loopback servers of the demo (simulated Graph, HTTPS login, DNS): serve
from a daemon thread between start() and stop(), or as a context manager."""

from __future__ import annotations

import contextlib
import signal
import socketserver
import threading
from typing import Self


class Served:
    """Mixin: the subclass sets `self._server` (a socketserver) in its __init__."""

    _server: socketserver.BaseServer
    _thread: threading.Thread | None = None

    def start(self) -> Self:
        if self._thread is None:
            # A short poll: stop() waits for it, and tests start and stop many servers.
            self._thread = threading.Thread(
                target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
            )
            self._thread.start()
        return self

    def stop(self) -> None:
        if self._thread is not None:
            self._server.shutdown()
            self._thread.join()
            self._thread = None
        self._server.server_close()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()

    def serve_until_terminated(self, url: str) -> None:
        """Run as a child process of a benchmark or test: start, say `READY <url>` on stdout,
        serve until SIGTERM or Ctrl-C, then stop."""
        self.start()
        print(f"READY {url}", flush=True)
        stop = threading.Event()
        signal.signal(signal.SIGTERM, lambda *_: stop.set())
        with contextlib.suppress(KeyboardInterrupt):
            stop.wait()
        self.stop()
