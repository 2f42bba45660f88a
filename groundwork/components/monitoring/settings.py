"""Settings of the ``monitoring`` component: exporters on every host, Prometheus and
Alertmanager on `monitor` hosts, and the thresholds of the alert rules groundwork ships."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from typing import ClassVar

from ...settings.grammar import each, url
from ...settings.schema import ComponentSettings, matches, setting

# Prometheus' own duration grammar (one or more unit groups, largest first): '30s', '1h30m', '14d'.
_DURATION_RE = r"(?:[0-9]+y)?(?:[0-9]+w)?(?:[0-9]+d)?(?:[0-9]+h)?(?:[0-9]+m)?(?:[0-9]+s)?(?:[0-9]+ms)?"
_UNITS = {"y": 365 * 86400, "w": 7 * 86400, "d": 86400, "h": 3600, "m": 60, "s": 1, "ms": 0.001}


def duration_seconds(value: str) -> float:
    """A Prometheus duration ('1h30m') in seconds."""
    return sum(int(n) * _UNITS[u] for n, u in re.findall(r"([0-9]+)(ms|[ywdhms])", value))


def _duration(value: str) -> str | None:
    if value and re.fullmatch(_DURATION_RE, value) and duration_seconds(value) > 0:
        return None
    return f"expected a Prometheus duration like '30s', '5m' or '1h30m' (units y w d h m s ms), got {value!r}"


def _fraction(value: float) -> str | None:
    return None if 0 < value < 1 else f"expected a fraction between 0 and 1 (exclusive), got {value!r}"


_EMAIL = matches(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+", "an e-mail address like 'ops@example.com'")
_SMARTHOST = matches(r"[A-Za-z0-9]([A-Za-z0-9.-]{0,252})?:[0-9]{1,5}", "an SMTP server as 'host:port', like 'smtp.example.com:587'")
_SMTP_USER = matches(r"[A-Za-z0-9._%+@-]{1,128}", "an SMTP user name (letters, digits and ._%+@-)")


@dataclass(frozen=True)
class MonitoringSettings(ComponentSettings):
    """Exporters on every host, Prometheus and Alertmanager on `monitor` hosts, alert thresholds (docs/monitoring.md)."""

    prefix: ClassVar[str] = "monitoring"

    enabled: bool = setting(True, doc="Install the exporters, Prometheus and Alertmanager; false leaves monitoring out.")
    scrape_interval: str = setting("30s", doc="How often Prometheus scrapes every target and evaluates the rules.", check=_duration)
    retention: str = setting("15d", doc="How long Prometheus keeps its samples.", check=_duration)
    app_metrics_path: str | None = setting(
        None, doc="The app's Prometheus metrics path (e.g. '/metrics'), scraped on each app host; null scrapes none.",
        check=matches(r"/[A-Za-z0-9._~/-]*", "a URL path like '/metrics'"),
    )
    probe_ca_bundle: str | None = setting(
        None, doc="CA file on the control machine the site probes trust (a private ACME CA); null trusts the system's CAs.",
    )
    # Alert thresholds and how long a condition must hold before the alert fires.
    down_for: str = setting("2m", doc="How long a host, service, unit or probe is down before its alert fires.", check=_duration)
    warn_for: str = setting("15m", doc="How long a warning condition (disk, memory, connections, lag, 5xx) holds before it fires.", check=_duration)
    disk_full_within: str = setting("24h", doc="Alert when a filesystem is predicted full within this time.", check=_duration)
    memory_available_below: float = setting(0.1, doc="Alert when the available memory is below this fraction.", check=_fraction)
    postgres_connections_above: float = setting(0.8, doc="Alert when connections exceed this fraction of max_connections.", check=_fraction)
    replica_lag_above: str = setting("5m", doc="Alert when a replica replays this far behind its primary.", check=_duration)
    redis_memory_above: float = setting(0.9, doc="Alert when Redis uses this fraction of its maxmemory.", check=_fraction)
    nginx_5xx_ratio_above: float = setting(0.05, doc="Alert when this fraction of nginx's responses are 5xx.", check=_fraction)
    certificate_expires_within: str = setting("14d", doc="Alert when a site's certificate expires within this time.", check=_duration)
    backup_max_age: str = setting("26h", doc="Alert when the last successful backup is older than this.", check=_duration)
    converge_max_age: str = setting(
        "26h", doc="Alert when the last `groundwork converge` on a host is older than this (the schedule stopped).", check=_duration,
    )
    # Alertmanager: where alerts go.
    alert_webhooks: list[str] = setting(
        default_factory=list, doc="Webhook URLs Alertmanager posts every alert and its resolution to.", check=each(url(("http", "https"))),
    )
    alert_emails: list[str] = setting(default_factory=list, doc="E-mail addresses alerts go to (needs monitoring_smtp_smarthost).", check=each(_EMAIL))
    smtp_smarthost: str | None = setting(None, doc="SMTP server alerts are sent through, as 'host:port'.", check=_SMARTHOST)
    smtp_from: str | None = setting(None, doc="Sender address of alert e-mails.", check=_EMAIL)
    smtp_username: str | None = setting(None, doc="SMTP login; null sends without one.", check=_SMTP_USER)
    smtp_password: str | None = setting(None, doc="SMTP password.", secret=True)
    smtp_require_tls: bool = setting(True, doc="Send alert e-mail only over STARTTLS.")
    group_wait: str = setting("30s", doc="How long Alertmanager waits to group the first alerts of a group.", check=_duration)
    group_interval: str = setting("5m", doc="How long Alertmanager waits before notifying about new alerts of a group.", check=_duration)
    repeat_interval: str = setting("4h", doc="How often a still-firing alert is sent again.", check=_duration)

    def deploy_check(self):
        if self.enabled and self.probe_ca_bundle is not None and not os.path.isfile(self.probe_ca_bundle):
            yield "probe_ca_bundle", f"expected a CA file on the control machine, no file at {self.probe_ca_bundle!r}"

    def cross_check(self):
        if self.alert_emails and not (self.smtp_smarthost and self.smtp_from):
            yield "alert_emails", "expected monitoring_smtp_smarthost and monitoring_smtp_from to be set as well, got e-mail receivers without them"
        if (self.smtp_username is None) != (self.smtp_password is None):
            yield "smtp_password", "expected monitoring_smtp_username and monitoring_smtp_password together, got one without the other"
