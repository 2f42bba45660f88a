"""The alert rules groundwork ships (/etc/prometheus/rules/groundwork.rules.yml), from the monitoring settings.

The template is rendered the way the deploy installs it (pyinfra's get_template:
StrictUndefined, trailing newline kept), so the file the unit tests feed to
`promtool test rules` is the file the monitor hosts load.
"""

from __future__ import annotations

from ...paths import template
from ...templates import get_template
from .settings import MonitoringSettings, duration_seconds

RULES_PATH = "etc/prometheus/rules/groundwork.rules.yml"


def render_rules(settings: MonitoringSettings) -> str:
    """The text of groundwork.rules.yml for these settings."""
    return get_template(template(RULES_PATH)).render(rules_context(settings))


def rules_context(settings: MonitoringSettings) -> dict:
    """The template's variables: `for:` durations as Prometheus durations, thresholds
    compared in PromQL as plain numbers (seconds, or fractions), and the durations
    as written for the alert descriptions."""
    s = settings
    return {
        # How long a condition holds before its alert fires (Prometheus durations).
        "down_for": s.down_for,
        "warn_for": s.warn_for,
        # Thresholds in PromQL arithmetic: seconds ...
        "disk_full_within_seconds": _number(duration_seconds(s.disk_full_within)),
        "replica_lag_above_seconds": _number(duration_seconds(s.replica_lag_above)),
        "certificate_expires_within_seconds": _number(duration_seconds(s.certificate_expires_within)),
        "backup_max_age_seconds": _number(duration_seconds(s.backup_max_age)),
        "converge_max_age_seconds": _number(duration_seconds(s.converge_max_age)),
        # ... and fractions.
        "memory_available_below": s.memory_available_below,
        "postgres_connections_above": s.postgres_connections_above,
        "redis_memory_above": s.redis_memory_above,
        "nginx_5xx_ratio_above": s.nginx_5xx_ratio_above,
        # The same durations as the operator wrote them, for the descriptions.
        "disk_full_within": s.disk_full_within,
        "replica_lag_above": s.replica_lag_above,
        "certificate_expires_within": s.certificate_expires_within,
        "backup_max_age": s.backup_max_age,
        "converge_max_age": s.converge_max_age,
        # The fractions as percentages, for the descriptions.
        "memory_available_below_percent": _percent(s.memory_available_below),
        "postgres_connections_above_percent": _percent(s.postgres_connections_above),
        "redis_memory_above_percent": _percent(s.redis_memory_above),
        "nginx_5xx_ratio_above_percent": _percent(s.nginx_5xx_ratio_above),
    }


def _number(seconds: float) -> int | float:
    """Whole seconds as an int (PromQL reads '93600' better than '93600.0')."""
    return int(seconds) if float(seconds).is_integer() else seconds


def _percent(fraction: float) -> str:
    """0.05 -> '5%' (as Prometheus' humanizePercentage writes it: four significant digits)."""
    return f"{fraction * 100:.4g}%"
