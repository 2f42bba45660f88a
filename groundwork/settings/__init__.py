"""Typed, validated per-component settings read from pyinfra host data."""

from groundwork.settings.app import AppSettings, CelerySettings
from groundwork.settings.backups import BackupsSettings
from groundwork.settings.base import BaseSettings
from groundwork.settings.firewall import FirewallSettings
from groundwork.settings.edge import CertbotSettings, NginxSettings
from groundwork.settings.redis import RedisSettings
from groundwork.settings.postgres import PostgresSettings
from groundwork.settings.schema import (
    ComponentSettings,
    SettingsError,
    build,
    describe,
    redacted,
    setting,
    validate_host,
)

# Every component appends its settings class here, so validate_host knows all prefixes.
COMPONENTS: list[type[ComponentSettings]] = [BaseSettings, PostgresSettings]
COMPONENTS.append(RedisSettings)
COMPONENTS += [AppSettings, CelerySettings]
COMPONENTS.append(FirewallSettings)
COMPONENTS += [NginxSettings, CertbotSettings]
COMPONENTS.append(BackupsSettings)

__all__ = [
    "COMPONENTS",
    "BaseSettings",
    "ComponentSettings",
    "SettingsError",
    "build",
    "describe",
    "redacted",
    "setting",
    "validate_host",
]
