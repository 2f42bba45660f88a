"""The endpoints, framework-neutral: each returns (HTTP status, JSON body).

asgi.py (FastAPI) and wsgi.py (Flask) only adapt these, so both serve the same
JSON. Postgres/Redis failures surface as core.BackendError / core.ConfigError,
which both adapters answer with 503 {"error": "..."}; invalid input raises
ValueError (or pydantic's ValidationError), answered 422 (ASGI) / 400 (WSGI).
"""

from __future__ import annotations

import os

import demoapp

from . import core, tasks
from .schemas import AddIn, ItemIn, parse_embedding, parse_limit

UNAVAILABLE = (core.BackendError, core.ConfigError)


def health() -> tuple[int, dict]:
    if not demoapp.HEALTHY:  # read per request: deploy tests ship HEALTHY = False
        return 503, {"status": "broken release"}
    ok, parts = core.health()
    return (200 if ok else 503), {"status": "ok" if ok else "error", **parts}


def version() -> tuple[int, dict]:
    return 200, {"version": demoapp.__version__, "release": os.environ.get("GROUNDWORK_RELEASE", "")}


def create_item(item: ItemIn) -> tuple[int, dict]:
    return 201, {"id": core.insert_item(item.name, item.embedding)}


def nearest_items(embedding: str | None, limit: str | None) -> tuple[int, dict]:
    query, n = parse_embedding(embedding), parse_limit(limit)  # ValueError: bad input
    return 200, {"items": core.nearest_items(query, n)}


def add_task(body: AddIn) -> tuple[int, dict]:
    return 202, {"id": tasks.submit_add(body.x, body.y)}


def task_status(task_id: str) -> tuple[int, dict]:
    return 200, tasks.task_status(task_id)


def heartbeat() -> tuple[int, dict]:
    return 200, core.heartbeat_summary()


def unavailable(exc: Exception) -> tuple[int, dict]:
    return 503, {"error": core.error_text(exc)}
