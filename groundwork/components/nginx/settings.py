"""Settings of the ``nginx`` and ``certbot`` components: the edge in front of the app."""

from __future__ import annotations

import os

from dataclasses import dataclass
from typing import ClassVar

from ...settings.grammar import non_negative
from ...settings.schema import ComponentSettings, matches, setting

HOSTNAME = r"(?=.{1,253}$)(\*\.)?[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)+"
SIZE = matches(r"\d+[kKmMgG]?", "a size like '10m'")
RATE = matches(r"\d+r/[sm]", "a rate like '10r/s' or '300r/m'")


def _names(values: tuple[str, ...]) -> str | None:
    import re

    for value in values:
        if not re.fullmatch(HOSTNAME, value):
            return f"expected DNS names like 'app.example.com', got {value!r}"
    return None


def _seconds(value: int) -> str | None:
    return None if value >= 1 else f"expected 1 or more seconds, got {value}"


@dataclass(frozen=True)
class RateLimit:
    location: str = setting(doc="URL prefix the limit applies to, e.g. '/api/'.", check=matches(r"/[A-Za-z0-9._~%/+=:@!,-]*", "a path like '/api/' (letters, digits and ._~%/+=:@!,- only)"))
    rate: str = setting(doc="Requests per client address, e.g. '10r/s'.", check=RATE)
    burst: int = setting(20, doc="Requests allowed above the rate before 429s.", check=non_negative)


def _distinct_locations(limits: tuple[RateLimit, ...]) -> str | None:
    seen: set[str] = set()
    for limit in limits:
        if limit.location in seen:
            return f"expected one limit per location, got {limit.location!r} twice"
        if limit.location.startswith("/static/"):
            # nginx serves these itself from the app's static files.
            return f"expected a location outside /static/ (nginx serves static files itself), got {limit.location!r}"
        seen.add(limit.location)
    return None


@dataclass(frozen=True)
class NginxSettings(ComponentSettings):
    """nginx in front of the app: HTTPS with modern TLS, security headers, limits, static files (deploys/nginx.py)."""

    prefix: ClassVar[str] = "nginx"

    server_names: list[str] = setting(default_factory=list, doc="Names the site answers to; the certificate covers them all.", check=_names)
    hsts_max_age: int = setting(
        63072000, doc="Strict-Transport-Security max-age in seconds (2 years); 0 sends no HSTS.", check=non_negative,
    )
    client_max_body_size: str = setting("10m", doc="Largest request body accepted.", check=SIZE)
    proxy_connect_timeout: int = setting(10, doc="Seconds to connect to the app.", check=_seconds)
    proxy_read_timeout: int = setting(300, doc="Seconds the app may take to answer (long reports need minutes).", check=_seconds)
    proxy_send_timeout: int = setting(300, doc="Seconds to send a request body to the app.", check=_seconds)
    rate_limits: list[RateLimit] = setting(
        default_factory=list, doc="limit_req zones, one per location ('/' limits the whole site).", check=_distinct_locations,
    )
    static_max_age: str = setting("30d", doc="Cache lifetime of static files.", check=matches(r"\d+[smhdwMy]", "a duration like '30d'"))

    def deploy_check(self):
        if not self.server_names:
            yield "server_names", "required on a host that runs nginx, not set (the site's DNS names)"


@dataclass(frozen=True)
class CertbotSettings(ComponentSettings):
    """Certificates from an ACME CA with certbot's webroot method, renewed with an nginx reload (deploys/nginx.py)."""

    prefix: ClassVar[str] = "certbot"

    enabled: bool = setting(True, doc="Get certificates; false serves a self-signed placeholder (tests, or before DNS points here).")
    email: str | None = setting(None, doc="Account e-mail for expiry notices; null registers without one.",
                                check=matches(r"[^@\s]+@[^@\s]+\.[^@\s]+", "an e-mail address"))
    server: str = setting(
        "https://acme-v02.api.letsencrypt.org/directory",
        doc="ACME directory URL: Let's Encrypt production by default; its staging, or any ACME CA.",
        check=matches(r"https://\S+", "an https:// URL"),
    )
    ca_bundle: str | None = setting(
        None, doc="CA file on the control machine trusted for a private ACME server, for issuance and renewal.",
    )

    def deploy_check(self):
        if self.enabled and self.ca_bundle is not None and not os.path.isfile(self.ca_bundle):
            yield "ca_bundle", f"expected a CA file on the control machine, no file at {self.ca_bundle!r}"
