"""WSGI front end: gunicorn demoapp.wsgi:app"""

from __future__ import annotations

import json

from flask import Flask, Response, request
from pydantic import ValidationError
from werkzeug.exceptions import HTTPException

from . import views
from .schemas import AddIn, ItemIn

app = Flask(__name__)


class _NotJSON(Exception):
    """The request body is missing or not JSON."""


def _reply(result: tuple[int, dict]) -> Response:
    status, body = result
    return Response(json.dumps(body), status=status, mimetype="application/json")


def _bad_request(detail) -> Response:
    return _reply((400, {"detail": detail}))


def _body(model):
    """The request's JSON body validated as `model` (ValidationError if not)."""
    payload = request.get_json(silent=True)
    if payload is None:
        raise _NotJSON()
    return model.model_validate(payload)


@app.errorhandler(views.core.BackendError)
@app.errorhandler(views.core.ConfigError)
def _unavailable(exc: Exception) -> Response:
    return _reply(views.unavailable(exc))


@app.errorhandler(ValidationError)
def _invalid(exc: ValidationError) -> Response:
    return _bad_request(json.loads(exc.json(include_url=False)))


@app.errorhandler(_NotJSON)
def _not_json(_exc: Exception) -> Response:
    return _bad_request("expected a JSON request body")


@app.errorhandler(HTTPException)
def _http_error(exc: HTTPException) -> Response:
    # JSON rather than Flask's HTML pages (404, 405, ...), like FastAPI.
    response = _reply((exc.code or 500, {"detail": exc.description or exc.name}))
    if exc.code == 405 and (allow := exc.get_response().headers.get("Allow")):
        response.headers["Allow"] = allow
    return response


@app.get("/health")
def health() -> Response:
    return _reply(views.health())


@app.get("/version")
def version() -> Response:
    return _reply(views.version())


@app.post("/items")
def create_item() -> Response:
    return _reply(views.create_item(_body(ItemIn)))


@app.get("/items/nearest")
def nearest_items() -> Response:
    try:
        return _reply(views.nearest_items(request.args.get("embedding"), request.args.get("limit")))
    except ValueError as exc:
        return _bad_request(str(exc))


@app.post("/tasks/add")
def add_task() -> Response:
    return _reply(views.add_task(_body(AddIn)))


@app.get("/tasks/<task_id>")
def task_status(task_id: str) -> Response:
    return _reply(views.task_status(task_id))


@app.get("/heartbeat")
def heartbeat() -> Response:
    return _reply(views.heartbeat())
