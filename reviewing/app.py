"""The reviewers' web app (Bottle, WSGI): the page, its script and a small JSON API over the desk.

Who answers is never read from a request's body: `identify(environ)` says it, the reviewer's name
given to the local server, or the Cognito user whose token API Gateway verified (lambda_handler.py).
"""
from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Callable, Optional

import bottle

import settings
from reviewing.desk import Desk, DeskError

logger = logging.getLogger(__name__)

STATIC_DIR = Path(__file__).resolve().parent / "static"
# How the page signs in: "none" (the local server knows its reviewer) or "cognito" (the stack).
AUTH_NONE, AUTH_COGNITO = "none", "cognito"
ANSWER_LABELS = settings.REVIEW_LABELS


def create_app(desk: Desk, identify: Callable[[dict], Optional[str]], sign_in: Optional[dict] = None) -> bottle.Bottle:
    """The app over one desk. sign_in: the page's Cognito settings ({"region", "client_id",
    "endpoint"}) in the stack; None locally."""
    app = bottle.Bottle()
    page_config = {"auth": AUTH_COGNITO if sign_in else AUTH_NONE, "labels": list(ANSWER_LABELS), **(sign_in or {})}

    def reviewer() -> str:
        worker = identify(bottle.request.environ)
        if not worker:
            bottle.abort(401, "sign in first")
        return worker

    def body() -> dict:
        try:
            document = json.loads(bottle.request.body.read() or b"{}")
        except ValueError:
            bottle.abort(400, "the request body is not JSON")
        if not isinstance(document, dict):
            bottle.abort(400, "the request body must be a JSON object")
        return document

    def field(document: dict, name: str) -> str:
        value = document.get(name)
        if not isinstance(value, str) or not value:
            bottle.abort(400, f"{name} is missing")
        return value

    @app.error(400)
    @app.error(401)
    @app.error(404)
    @app.error(409)
    def error_page(error):
        bottle.response.content_type = "application/json"
        return json.dumps({"error": error.body})

    @app.get("/")
    def page():
        bottle.response.set_header("Cache-Control", "no-store")
        return (STATIC_DIR / "index.html").read_text(encoding="utf-8").replace(
            "__CONFIG__", json.dumps(page_config).replace("<", "\\u003c"))

    @app.get("/static/<path:path>")
    def static(path):
        response = bottle.static_file(path, root=str(STATIC_DIR))
        response.set_header("Cache-Control", "max-age=300")
        return response

    @app.get("/api/status")
    def status():
        worker = reviewer()
        return {"reviewer": worker, "waiting": desk.waiting(), "answered_today": desk.answered_today(worker)}

    @app.post("/api/next")
    def claim():
        reviewer()
        return {"task": desk.claim()}

    @app.post("/api/answer")
    def answer():
        worker, document = reviewer(), body()
        token, label = field(document, "token"), field(document, "label")
        seconds = document.get("seconds_on_screen")
        seconds = float(seconds) if isinstance(seconds, (int, float)) and seconds >= 0 else None
        try:
            if document.get("again"):
                return desk.answer_again(token, label, worker, seconds)
            return desk.answer(token, label, worker, seconds)
        except DeskError as error:
            bottle.abort(409, str(error))

    @app.post("/api/skip")
    def skip():
        reviewer()
        try:
            desk.skip(field(body(), "token"))
        except DeskError as error:
            bottle.abort(409, str(error))
        return {"skipped": True}

    @app.post("/api/undo")
    def undo():
        worker = reviewer()
        try:
            return {"task": desk.undo(field(body(), "answer_id"), worker)}
        except DeskError as error:
            bottle.abort(409, str(error))

    @app.post("/api/set-aside")
    def set_aside():
        reviewer()
        document = body()
        try:
            desk.set_aside(field(document, "token"), str(document.get("reason") or "set aside"))
        except DeskError as error:
            bottle.abort(409, str(error))
        return {"set_aside": True}

    return app
