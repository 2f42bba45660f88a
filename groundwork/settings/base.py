"""Settings of the ``base`` component: identity, clock, locale and essential packages."""

from dataclasses import dataclass
from typing import ClassVar

from groundwork.settings.schema import ComponentSettings, matches, setting


# RFC 1123: dot-separated labels of up to 63 letters, digits and inner hyphens.
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_HOSTNAME = rf"(?=.{{1,253}}$){_LABEL}(?:\.{_LABEL})*"

ESSENTIAL_PACKAGES = [
    "ca-certificates",
    "curl",
    "gnupg",
    "tzdata",
    # Needed to generate any locale other than C.UTF-8.
    "locales",
    "sudo",
    "python3",
    "less",
    "procps",
    "iproute2",
    "rsync",
]


def _non_negative(value: int) -> str | None:
    return None if value >= 0 else f"expected a number of seconds >= 0, got {value!r}"


@dataclass(frozen=True)
class BaseSettings(ComponentSettings):
    """Identity, clock, locale, essential packages and journald on every host (deploys/base.py)."""

    prefix: ClassVar[str] = "base"

    hostname: str | None = setting(
        None,
        doc="Hostname to set on the host; null leaves the current one.",
        check=matches(_HOSTNAME, "a hostname (letters, digits, hyphens, dots)"),
    )
    timezone: str = setting(
        "UTC",
        doc="IANA time zone of the system clock, e.g. 'Europe/Berlin'.",
        check=matches(
            r"[A-Za-z0-9_+-]+(?:/[A-Za-z0-9_+-]+)*", "an IANA time zone name like 'Europe/Berlin'"
        ),
    )
    locale: str = setting(
        "C.UTF-8",
        doc="System default locale (LANG); must be a UTF-8 locale.",
        check=matches(
            r"[a-zA-Z]{1,8}(?:_[A-Z]{2})?\.(?:UTF-8|utf8)", "a UTF-8 locale like 'en_US.UTF-8'"
        ),
    )
    packages: list[str] = setting(
        default_factory=lambda: list(ESSENTIAL_PACKAGES),
        doc="Essential packages installed on every host; setting it replaces the whole list.",
    )
    extra_packages: list[str] = setting(
        default_factory=list,
        doc="Additional packages installed on top of base_packages.",
    )
    apt_cache_max_age: int = setting(
        86400,
        doc=(
            "Seconds an apt package list stays fresh; apt-get update runs only when a package "
            "must be installed and the lists are older than this."
        ),
        check=_non_negative,
    )
    journald_max_use: str = setting(
        "500M",
        doc="journald SystemMaxUse; caps the disk the journal takes.",
        check=matches(r"\d+[KMGT]?", "a size like '500M' (digits, then optionally K, M, G or T)"),
    )
