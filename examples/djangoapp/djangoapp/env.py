"""Reading settings from the environment (no third-party helpers)."""

from __future__ import annotations

import os
from urllib.parse import parse_qsl, unquote, urlsplit

from django.core.exceptions import ImproperlyConfigured

TRUE = {"1", "true", "yes", "on"}
FALSE = {"0", "false", "no", "off", ""}
POSTGRES_SCHEMES = {"postgres", "postgresql", "postgresql+psycopg"}


def flag(name: str, default: bool = False) -> bool:
    """A boolean variable: 1/true/yes/on or 0/false/no/off (any case)."""
    value = os.environ.get(name)
    if value is None:
        return default
    if value.strip().lower() in TRUE:
        return True
    if value.strip().lower() in FALSE:
        return False
    raise ImproperlyConfigured(f"{name}: expected 1/true/yes/on or 0/false/no/off, got {value!r}")


def integer(name: str, default: int) -> int:
    value = os.environ.get(name, "").strip()
    if not value:
        return default
    try:
        return int(value)
    except ValueError:
        raise ImproperlyConfigured(f"{name}: expected an integer, got {value!r}") from None


def csv(name: str) -> list[str]:
    """A comma-separated list; blanks and empty items are dropped."""
    return [item.strip() for item in os.environ.get(name, "").split(",") if item.strip()]


def required(name: str) -> str:
    value = os.environ.get(name, "")
    if not value:
        raise ImproperlyConfigured(f"{name} is not set")
    return value


def database_from_url(url: str) -> dict:
    """Django's DATABASES entry for a URL.

    postgresql://USER:PASSWORD@HOST:PORT/NAME?sslmode=require (also postgres://,
    postgresql+psycopg://): user, password, host and name are percent-decoded;
    query parameters become connection OPTIONS. sqlite:///relative.db or
    sqlite:////absolute/path.db is accepted for local development and tests.
    """
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise ImproperlyConfigured(f"DATABASE_URL: not a valid URL ({exc})") from None
    scheme = parts.scheme.lower()
    if scheme == "sqlite":
        # Three slashes and a relative path, or four and an absolute one.
        path = unquote(parts.path[1:] if parts.path.startswith("/") else parts.path)
        return {"ENGINE": "django.db.backends.sqlite3", "NAME": path or ":memory:"}
    if scheme not in POSTGRES_SCHEMES:
        raise ImproperlyConfigured(
            f"DATABASE_URL: expected a postgresql:// (or sqlite:///) URL, got scheme {parts.scheme!r}"
        )
    name = unquote(parts.path.lstrip("/"))
    if not name:
        raise ImproperlyConfigured("DATABASE_URL: no database name in the path")
    return {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": name,
        "USER": unquote(parts.username or ""),
        "PASSWORD": unquote(parts.password or ""),
        # A percent-encoded path is a unix socket directory: postgresql://u@%2Frun%2Fpostgresql/db
        "HOST": unquote(parts.hostname or ""),
        "PORT": str(port) if port else "",
        "OPTIONS": dict(parse_qsl(parts.query)),
    }


def csrf_origins(allowed_hosts: list[str]) -> list[str]:
    """https:// origins for ALLOWED_HOSTS: '.example.com' -> 'https://*.example.com'; '*' is skipped."""
    origins = []
    for host in allowed_hosts:
        if host == "*":
            continue
        origins.append(f"https://*{host}" if host.startswith(".") else f"https://{host}")
    return origins
