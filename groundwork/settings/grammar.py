"""Checks for settings that are names, paths, addresses and URLs: each value is
parsed as what it is, not accepted as any string (it lands in unit files,
scripts and config files). Every check returns None or an "expected ..., got ..." text.
"""

from __future__ import annotations

import ipaddress
import locale
import re
import zoneinfo
from collections.abc import Callable, Iterable
from functools import cache
from urllib.parse import urlsplit

from .schema import matches

Check = Callable[[object], "str | None"]

# A URL path as an app serves it: no space, quote, `$`, backtick, `;` or parenthesis.
URL_PATH = matches(r"/[A-Za-z0-9._~%/+=:@!,-]*(\?[A-Za-z0-9._~%/+=:@!,&-]*)?",
                   "a URL path like '/health' (letters, digits and ._~%/+=:@!,- only; an optional ?query)")
ENV_NAME = matches(r"[A-Za-z_][A-Za-z0-9_]*", "an environment variable name (letters, digits, '_')")
DEBIAN_PACKAGE = matches(r"[a-z0-9][a-z0-9+.-]+", "a Debian package name (lowercase letters, digits, '+', '.', '-')")
# Celery/AMQP queue names: keep to what every broker and a systemd command line take as a word.
QUEUE_NAME = matches(r"[A-Za-z0-9_][A-Za-z0-9_.:-]{0,99}", "a queue name (letters, digits, '_', '.', ':', '-')")
PG_NAME = matches(r"[a-z_][a-z0-9_$]{0,62}", "a Postgres name (lowercase letters, digits, '_', at most 63 characters)")
PG_EXTENSION = matches(r"[a-z_][a-z0-9_-]{0,62}", "an extension name like 'vector' or 'pg_trgm'")
PG_ENCODING = matches(r"[A-Za-z0-9_]{1,30}", "an encoding name like 'UTF8'")
PG_LOCALE = matches(r"(C|POSIX|[A-Za-z]{2,3}(_[A-Za-z]{2})?)(\.[A-Za-z0-9-]+)?(@[a-z]+)?",
                    "a locale like 'C.UTF-8' or 'en_US.UTF-8'")
# postgresql.conf parameter names: letters, digits, '_' and one '.' for an extension's own.
PG_PARAMETER = matches(r"[a-z_][a-z0-9_]*(\.[a-z_][a-z0-9_]*)?", "a parameter name like 'work_mem'")


HOSTNAME = matches(r"(?=.{1,253}$)[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*",
                   "a host name like 'shop.example.com'")


def on_calendar(value: str) -> str | None:
    """A systemd OnCalendar= expression, as systemd itself parses it (systemd-analyze,
    where the control machine has it; else a loose shape check)."""
    import shutil
    import subprocess

    expected = f"expected a systemd OnCalendar expression like 'hourly' or '*:0/5', got {value!r}"
    if not re.fullmatch(r"[A-Za-z0-9*:/,.~ +-]+", value):
        return expected
    analyze = shutil.which("systemd-analyze")
    if analyze:
        proc = subprocess.run([analyze, "calendar", value], capture_output=True, text=True, timeout=30)
        return None if proc.returncode == 0 else expected
    return None


def non_negative(value: int) -> str | None:
    return None if value >= 0 else f"expected 0 or more, got {value}"


def at_least(low: int) -> Check:
    def check(value: int) -> str | None:
        return None if value >= low else f"expected {low} or more, got {value}"

    return check


def ip_address(value: str) -> str | None:
    try:
        ipaddress.ip_address(value)
    except ValueError:
        return f"expected an IP address, got {value!r}"
    return None


def ip_or_network(value: str) -> str | None:
    try:
        ipaddress.ip_network(value, strict=False)
    except ValueError:
        return f"expected an IP address or network like '10.0.0.0/24', got {value!r}"
    return None


def all_of(*checks: Check) -> Check:
    """The first complaint of `checks`, in order."""

    def check_all(value) -> str | None:
        return next((m for m in (c(value) for c in checks) if m), None)

    return check_all


def each(check: Check) -> Check:
    """A check of every item of a list, naming the first that fails."""

    def check_all(values: Iterable) -> str | None:
        for i, value in enumerate(values):
            message = check(value)
            if message:
                return f"[{i}]: {message}"
        return None

    return check_all


def listen_address(value: str) -> str | None:
    """Where a server listens: an IP address, '*' (every address) or 'localhost'."""
    if value in ("*", "localhost") or ip_address(value) is None:
        return None
    return f"expected an IP address, '*' or 'localhost', got {value!r}"


def url(schemes: Iterable[str]) -> Check:
    """A URL with one of `schemes` and a host; the value may hold a password, so it is never shown."""
    schemes = tuple(schemes)

    def check(value: str) -> str | None:
        try:
            parts = urlsplit(value)
            parts.port  # noqa: B018 (raises on a bad port)
        except ValueError:
            return f"expected a {'/'.join(schemes)} URL, got one that does not parse"
        if parts.scheme not in schemes or not parts.hostname or any(c in value for c in " \"'`\\"):
            return f"expected a {'/'.join(schemes)} URL with a host and no quotes or spaces"
        return None

    return check


@cache
def _time_zones() -> frozenset[str]:
    return frozenset(zoneinfo.available_timezones())


def time_zone(value: str) -> str | None:
    """An IANA time zone the tz database knows (the host gets its zone from tzdata too)."""
    zones = _time_zones()
    if value in zones or (not zones and re.fullmatch(r"[A-Za-z_]+(/[A-Za-z0-9_+-]+){0,2}", value)):
        return None
    return f"expected an IANA time zone like 'Europe/Berlin', got {value!r}"


def utf8_locale(value: str) -> str | None:
    """A UTF-8 locale glibc knows by name ('C.UTF-8', 'en_US.UTF-8')."""
    name, _, encoding = value.partition(".")
    if encoding.lower().replace("-", "") != "utf8":
        return f"expected a UTF-8 locale like 'en_US.UTF-8', got {value!r}"
    if name in ("C", "POSIX") or name.lower() in locale.locale_alias:
        return None
    return f"expected a UTF-8 locale glibc knows, like 'en_US.UTF-8', got {value!r}"
