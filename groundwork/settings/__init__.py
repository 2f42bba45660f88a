"""The settings framework: typed, validated per-component settings read from
pyinfra host data. Each component's settings classes live in its own folder
(groundwork/components/<name>/settings.py); groundwork.components collects them."""

from groundwork.settings.schema import (
    ComponentSettings,
    SettingsError,
    build,
    describe,
    redacted,
    setting,
    validate_host,
)

__all__ = [
    "ComponentSettings",
    "SettingsError",
    "build",
    "describe",
    "redacted",
    "setting",
    "validate_host",
]
