"""Celery: `celery -A demoapp.tasks:celery_app worker` / `... beat --schedule PATH`.

Broker and result backend are both REDIS_URL, read at import (it sets only
configuration; Celery connects lazily). The worker and beat refuse to start
without it rather than fall back to Celery's default broker.
"""

from __future__ import annotations

import os

from celery import Celery, signals

from . import core

celery_app = Celery("demoapp")

_SHORT_RETRY = {"max_retries": 2, "interval_start": 0, "interval_step": 0.5, "interval_max": 1}

_redis_url = os.environ.get("REDIS_URL", "").strip() or None
celery_app.conf.update(
    broker_url=_redis_url,
    result_backend=_redis_url,
    broker_connection_retry_on_startup=True,
    # A web request that enqueues or looks up a task while Redis is down
    # fails within seconds, well inside gunicorn's worker timeout (Celery's
    # defaults retry for ~20 s and wait up to 120 s on a socket).
    broker_connection_timeout=core.TIMEOUT,
    task_publish_retry_policy=_SHORT_RETRY,
    redis_socket_connect_timeout=core.TIMEOUT,
    redis_socket_timeout=core.TIMEOUT,
    result_backend_transport_options={"retry_policy": _SHORT_RETRY},
    task_serializer="json",
    result_serializer="json",
    accept_content=["json"],
    timezone="UTC",
    enable_utc=True,
)

HEARTBEAT_EVERY = 10.0  # seconds

celery_app.conf.beat_schedule = {
    "heartbeat": {
        "task": "demoapp.tasks.heartbeat",
        "schedule": HEARTBEAT_EVERY,
        # Heartbeats queued while no worker ran are dropped, not replayed.
        "options": {"expires": HEARTBEAT_EVERY},
    },
}


@celery_app.task(name="demoapp.tasks.add")
def add(x: int, y: int) -> int:
    return x + y


@celery_app.task(name="demoapp.tasks.heartbeat", ignore_result=True)
def heartbeat() -> None:
    core.record_heartbeat()


def _require(*names: str) -> None:
    missing = [name for name in names if not os.environ.get(name, "").strip()]
    if missing:
        raise SystemExit(f"demoapp: {', '.join(missing)} not set")


@signals.celeryd_init.connect
def _worker_config(**_kwargs) -> None:
    _require("REDIS_URL", "DATABASE_URL")


@signals.beat_init.connect
def _beat_config(**_kwargs) -> None:
    _require("REDIS_URL")


# --- Used by the web front ends ----------------------------------------------


def _no_result_subscription(producer, task_id) -> dict:
    return {}


def submit_add(x: int, y: int) -> str:
    """Queue add(x, y); its task id."""
    core.redis_url()  # ConfigError if unset, before Celery tries its default broker
    try:
        # Celery's Redis result backend SUBSCRIBEs to every task it sends so
        # that AsyncResult.get() can wait on pub/sub. The app never waits
        # (GET /tasks/<id> reads the stored state), and before Celery 5.7
        # that shared pub/sub connection is not safe across the ASGI thread
        # pool: skip it. Results are still stored by the worker.
        celery_app.backend.on_task_call = _no_result_subscription
        return add.delay(x, y).id
    except Exception as exc:
        raise _redis_error(exc) from None


def task_status(task_id: str) -> dict:
    """{"state": ..., "result": value on success, error text on failure, else None}."""
    core.redis_url()
    try:
        result = celery_app.AsyncResult(task_id)
        state = result.state
        value = result.result if state in ("SUCCESS", "FAILURE") else None
    except Exception as exc:
        raise _redis_error(exc) from None
    if isinstance(value, BaseException):
        value = core.error_text(value)
    return {"state": state, "result": value}


def _redis_error(exc: Exception) -> core.BackendError:
    # Celery wraps connection errors ("Retry limit exceeded ... must be
    # restarted", which it need not be): report the underlying one.
    return core.BackendError(f"redis: {core.error_text(exc.__cause__ or exc)}")
