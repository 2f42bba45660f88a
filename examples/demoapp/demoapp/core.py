"""Postgres (psycopg 3) and Redis (redis-py) access shared by both web front
ends and the Celery tasks.

Configuration comes only from the environment (DATABASE_URL, REDIS_URL), read
when a connection is needed. Nothing connects at import time: gunicorn and
Celery import the app before forking, so each process opens its own
connection on first use. Error texts that leave this module have the URLs'
passwords masked.
"""

from __future__ import annotations

import os
import threading
from datetime import datetime
from urllib.parse import unquote, urlsplit

import psycopg
import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

TIMEOUT = 3  # seconds: connect and socket timeouts of every check

# The per-process Postgres connection (autocommit; psycopg serialises its use
# across threads).
_lock = threading.Lock()
_pg: psycopg.Connection | None = None
_inherited: list[object] = []  # connections from the parent process, never used or closed


def _after_fork_in_child() -> None:
    # A connection inherited through fork shares its socket with the parent:
    # closing it (or letting it be garbage-collected) would end the parent's
    # session, so park it and start afresh.
    global _pg, _lock
    if _pg is not None:
        _inherited.append(_pg)
    _pg = None
    _lock = threading.Lock()


os.register_at_fork(after_in_child=_after_fork_in_child)


class ConfigError(RuntimeError):
    """A required environment variable is missing."""


class BackendError(RuntimeError):
    """Postgres or Redis failed; the message is safe to show (no secrets)."""


def _env(name: str) -> str:
    value = os.environ.get(name, "").strip()
    if not value:
        raise ConfigError(f"{name} is not set")
    return value


def database_url() -> str:
    return _env("DATABASE_URL")


def redis_url() -> str:
    return _env("REDIS_URL")


def _secrets() -> list[str]:
    found = []
    for name in ("DATABASE_URL", "REDIS_URL"):
        url = os.environ.get(name, "")
        if not url:
            continue
        found.append(url)
        try:
            password = urlsplit(url).password
        except ValueError:
            password = None
        if password:
            found += [password, unquote(password)]
    # Longest first, so a URL is masked whole before its password is.
    return sorted({s for s in found if s}, key=len, reverse=True)


def redact(text: str) -> str:
    """`text` with the URLs' passwords (and the URLs themselves) masked."""
    for secret in _secrets():
        text = text.replace(secret, "***")
    return text


def error_text(exc: BaseException) -> str:
    """A one-line, secret-free description of `exc`."""
    text = " ".join(str(exc).split()) or type(exc).__name__
    return redact(text)


# --- Postgres ----------------------------------------------------------------


def _connect_pg(**kwargs) -> psycopg.Connection:
    return psycopg.connect(database_url(), connect_timeout=TIMEOUT, autocommit=True, **kwargs)


def _pg_conn() -> tuple[psycopg.Connection, bool]:
    """This process's connection, opened on first use; and whether it is new."""
    global _pg
    with _lock:
        if _pg is not None and not _pg.closed and not _pg.broken:
            return _pg, False
        _pg = _connect_pg()
        return _pg, True


def _discard_pg(conn: psycopg.Connection) -> None:
    global _pg
    with _lock:
        if _pg is conn:
            _pg = None
    try:
        conn.close()
    except Exception:
        pass


def _pg_run(fn, *, retry: bool):
    """fn(conn) on this process's connection, as a BackendError on failure.

    A reused connection may have gone stale (server restarted): the first
    failure discards it, and `retry` (for statements safe to repeat) runs fn
    once more on a new one.
    """
    try:
        while True:
            conn, fresh = _pg_conn()
            try:
                return fn(conn)
            except psycopg.OperationalError:
                _discard_pg(conn)
                if fresh or not retry:
                    raise
                retry = False
    except ConfigError:
        raise
    except Exception as exc:
        raise BackendError(f"postgres: {error_text(exc)}") from None


def check_postgres() -> None:
    """Raise unless a new connection can run a pgvector query."""
    with _connect_pg(options=f"-c statement_timeout={TIMEOUT * 1000}") as conn:
        distance = conn.execute("SELECT '[1,2,3]'::vector <-> '[1,2,4]'").fetchone()[0]
    if abs(distance - 1.0) > 1e-9:
        raise RuntimeError(f"unexpected pgvector distance {distance!r}")


def vector_literal(embedding) -> str:
    return "[" + ",".join(repr(float(x)) for x in embedding) + "]"


def insert_item(name: str, embedding: list[float]) -> int:
    def run(conn):
        return conn.execute(
            "INSERT INTO items (name, embedding) VALUES (%s, %s::vector) RETURNING id",
            (name, vector_literal(embedding)),
        ).fetchone()[0]

    return _pg_run(run, retry=False)  # not repeated: it might have committed


def nearest_items(embedding: list[float], limit: int) -> list[dict]:
    def run(conn):
        return conn.execute(
            "SELECT id, name, embedding <-> %(q)s::vector AS distance FROM items"
            " ORDER BY embedding <-> %(q)s::vector, id LIMIT %(limit)s",
            {"q": vector_literal(embedding), "limit": limit},
        ).fetchall()

    rows = _pg_run(run, retry=True)
    return [{"id": id_, "name": name, "distance": float(distance)} for id_, name, distance in rows]


def record_heartbeat() -> None:
    _pg_run(lambda conn: conn.execute("INSERT INTO heartbeats DEFAULT VALUES"), retry=False)


def heartbeat_summary() -> dict:
    def run(conn):
        return conn.execute("SELECT max(at), count(*) FROM heartbeats").fetchone()

    last, count = _pg_run(run, retry=True)
    return {"last": last.isoformat() if isinstance(last, datetime) else None, "count": int(count)}


# --- Redis -------------------------------------------------------------------
# Celery keeps its own broker and result-backend connections; the app itself
# only needs Redis for the health check.


def check_redis() -> None:
    """Raise unless Redis answers PING (on a new connection, no retries)."""
    client = redis.Redis.from_url(
        redis_url(),
        socket_connect_timeout=TIMEOUT,
        socket_timeout=TIMEOUT,
        retry=Retry(NoBackoff(), 0),
    )
    try:
        if not client.ping():
            raise RuntimeError("PING was not answered with PONG")
    finally:
        client.close()


# --- Both --------------------------------------------------------------------


def health() -> tuple[bool, dict]:
    """(all ok, {"postgres": "ok" | error text, "redis": "ok" | error text})."""
    parts = {}
    for part, check in (("postgres", check_postgres), ("redis", check_redis)):
        try:
            check()
            parts[part] = "ok"
        except Exception as exc:
            parts[part] = error_text(exc)
    return all(v == "ok" for v in parts.values()), parts
