"""ASGI front end: gunicorn -k uvicorn_worker.UvicornWorker demoapp.asgi:app"""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

import demoapp

from . import views
from .schemas import AddIn, ItemIn

app = FastAPI(title="groundwork demoapp", version=demoapp.__version__)

# Handlers are plain `def`: FastAPI runs them in its thread pool, so the
# blocking psycopg/redis calls never stall the event loop.


def _reply(result: tuple[int, dict]) -> JSONResponse:
    status, body = result
    return JSONResponse(body, status_code=status)


@app.exception_handler(views.core.BackendError)
@app.exception_handler(views.core.ConfigError)
def _unavailable(_request: Request, exc: Exception) -> JSONResponse:
    return _reply(views.unavailable(exc))


@app.get("/health")
def health() -> JSONResponse:
    return _reply(views.health())


@app.get("/version")
def version() -> JSONResponse:
    return _reply(views.version())


@app.post("/items", status_code=201)
def create_item(item: ItemIn) -> JSONResponse:
    return _reply(views.create_item(item))


@app.get("/items/nearest")
def nearest_items(embedding: str | None = None, limit: str | None = None) -> JSONResponse:
    try:
        return _reply(views.nearest_items(embedding, limit))
    except ValueError as exc:
        return JSONResponse({"detail": str(exc)}, status_code=422)


@app.post("/tasks/add", status_code=202)
def add_task(body: AddIn) -> JSONResponse:
    return _reply(views.add_task(body))


@app.get("/tasks/{task_id}")
def task_status(task_id: str) -> JSONResponse:
    return _reply(views.task_status(task_id))


@app.get("/heartbeat")
def heartbeat() -> JSONResponse:
    return _reply(views.heartbeat())
