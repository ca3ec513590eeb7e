"""Serve the review app on 127.0.0.1 (waitress, in a thread): the local way to review, against AWS or
the stand-in. `python -m monitoring.review --web` uses it; tests and the benchmark too."""
from __future__ import annotations

import threading
from contextlib import contextmanager
from typing import Iterator

from waitress.server import create_server

from reviewing.app import create_app
from reviewing.desk import Desk

LOOPBACK = "127.0.0.1"


class ReviewServer:
    """The app for one named reviewer on 127.0.0.1:port (0: any free port), served in a thread."""

    def __init__(self, desk: Desk, reviewer: str, port: int = 0, threads: int = 8):
        desk.track_claims = True
        self.desk = desk
        app = create_app(desk, identify=lambda environ: reviewer)
        self._server = create_server(app, host=LOOPBACK, port=port, threads=threads, ident="review")
        self._thread = threading.Thread(target=self._server.run, name="review-page", daemon=True)

    @property
    def url(self) -> str:
        return f"http://{LOOPBACK}:{self._server.effective_port}/"

    def start(self) -> "ReviewServer":
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.task_dispatcher.shutdown(cancel_pending=True, timeout=5)
        self._server.close()
        self.desk.release_all()  # what the pages still held goes back on the queue at once
        self._thread.join(timeout=5)


@contextmanager
def serving(desk: Desk, reviewer: str, port: int = 0) -> Iterator[ReviewServer]:
    server = ReviewServer(desk, reviewer, port).start()
    try:
        yield server
    finally:
        server.stop()
