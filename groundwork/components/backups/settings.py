"""Settings of the ``backups`` component: scheduled, encrypted, checked Postgres (and Redis) backups."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from typing import ClassVar, Literal

from ...settings.schema import ComponentSettings, matches, setting

# An age X25519 recipient: "age1" and 58 bech32 characters.
AGE_RECIPIENT = re.compile(r"age1[02-9ac-hj-np-z]{58}")
WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")


def schedule_minute(host_name: str) -> int:
    """The minute of the hour a host's backup starts: fixed per host name, spread across hosts.

    A hash, not a random draw, so every converge renders the same timer.
    """
    return int.from_bytes(hashlib.sha256(host_name.encode()).digest()[:4], "big") % 60


def _recipients(values: tuple[str, ...]) -> str | None:
    for value in values:
        if not AGE_RECIPIENT.fullmatch(value):
            return f"expected age public keys like 'age1...' (age-keygen -y), got {value!r}"
    return None


def _absolute(value: str) -> str | None:
    if not re.fullmatch(r"/[A-Za-z0-9._/-]*[A-Za-z0-9._-]", value) or "/../" in value + "/" or value.endswith("/."):
        return f"expected an absolute directory path like '/var/backups/groundwork', got {value!r}"
    return None


def _hour(value: int) -> str | None:
    return None if 0 <= value <= 23 else f"expected an hour from 0 to 23, got {value!r}"


def _at_least(low: int):
    def check(value: int) -> str | None:
        return None if value >= low else f"expected {low} or more, got {value!r}"

    return check


def _webhook(value: str) -> str | None:
    # The URL may carry a token: never echo it.
    if not re.fullmatch(r"https?://[^\s\"'\\]+", value):
        return "expected an http:// or https:// URL without spaces or quotes (value hidden)"
    return None


@dataclass(frozen=True)
class BackupsSettings(ComponentSettings):
    """Encrypted pg_dump backups with retention, an off-host copy and a weekly restore drill (deploys/backups.py)."""

    prefix: ClassVar[str] = "backups"

    age_recipients: list[str] = setting(
        default_factory=list,
        doc=(
            "age public keys ('age1...') every dump is encrypted to; their private keys stay off the host. "
            "Required on the hosts that run backups."
        ),
        check=_recipients,
    )
    directory: str = setting(
        "/var/backups/groundwork",
        doc="Directory on the database host holding one subdirectory per backup run.",
        check=_absolute,
    )
    hour: int = setting(
        3,
        doc="Hour (host time) the daily backup starts; the minute is derived from the host name.",
        check=_hour,
    )
    keep_daily: int = setting(7, doc="Newest backup runs kept (one run a day).", check=_at_least(1))
    keep_weekly: int = setting(0, doc="Weeks for which the newest run is kept as well; 0 keeps none extra.", check=_at_least(0))
    keep_monthly: int = setting(0, doc="Months for which the newest run is kept as well; 0 keeps none extra.", check=_at_least(0))
    drill_weekday: Literal["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"] = setting(
        "Sun",
        doc="Day of the weekly restore drill (a backup run that restores its dumps into a scratch database).",
    )
    drill_hour: int = setting(5, doc="Hour (host time) the weekly restore drill starts.", check=_hour)
    redis: bool = setting(
        True,
        doc="Copy Redis's RDB/AOF files with each run on hosts that also run Redis (the cache role).",
    )
    remote_user: str = setting(
        "groundwork-backup",
        doc="User on the backup hosts (inventory group 'backup') that receives the off-host copies.",
        check=matches(r"[a-z_][a-z0-9_-]{0,31}", "a user name of lowercase letters, digits, '_', '-'"),
    )
    remote_directory: str = setting(
        "/srv/backups",
        doc="Directory on the backup hosts; each database host may write only to its own subdirectory.",
        check=_absolute,
    )
    webhook_url: str | None = setting(
        None,
        doc="URL called (POST, JSON body with the status) after every run, success or failure; null calls none.",
        secret=True,
        check=_webhook,
    )
    webhook_timeout: int = setting(10, doc="Seconds the webhook call may take.", check=_at_least(1))
    timeout: int = setting(
        6 * 3600, doc="Seconds a backup run may take before systemd stops it as failed.", check=_at_least(60),
    )

    def deploy_check(self):
        if not self.age_recipients:
            yield "age_recipients", (
                "required on a host that runs backups, not set (dumps are only ever written encrypted)"
            )
