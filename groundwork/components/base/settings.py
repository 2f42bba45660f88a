"""Settings of the ``base`` component: identity, clock, locale, packages and the security baseline (SSH, sudo, updates, fail2ban, swap, sysctl)."""

import re
from dataclasses import dataclass
from typing import ClassVar, Literal

from ...settings.grammar import DEBIAN_PACKAGE, all_of, each, time_zone, utf8_locale
from ...settings.schema import ComponentSettings, matches, setting

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


DEFAULT_BANNER = (
    "Authorized access only. This system is private property and its use is subject to the owner's policy. "
    "Activity is monitored and logged; by continuing you consent to this. Unauthorized access is prohibited "
    "and may be reported to law enforcement for criminal prosecution."
)

# Rare network protocols and removable storage a server does not use.
DISABLED_KERNEL_MODULES = ["dccp", "sctp", "rds", "tipc", "usb-storage", "firewire-core"]


def _non_negative(value: int) -> str | None:
    return None if value >= 0 else f"expected a number of seconds >= 0, got {value!r}"


def _port(value: int) -> str | None:
    return None if 1 <= value <= 65535 else f"expected a port from 1 to 65535, got {value!r}"


def _between(low: int, high: int, unit: str):
    def check(value: int) -> str | None:
        return None if low <= value <= high else f"expected {low} to {high} {unit}, got {value!r}"

    return check


_USER = matches(r"[a-z_][a-z0-9_-]{0,31}", "a user name of lowercase letters, digits, '_', '-'")


def _user_name(value: str) -> str | None:
    if value == "root":
        return "expected a user other than 'root', got 'root'"
    return _USER(value)


def _keys(values: tuple[str, ...]) -> str | None:
    for value in values:
        if not re.fullmatch(r"(?:ssh-(?:ed25519|rsa|dss)|ecdsa-sha2-nistp\d+|sk-[a-z0-9@.-]+) [A-Za-z0-9+/=]+(?: .*)?", value.strip()):
            return f"expected OpenSSH public keys like 'ssh-ed25519 AAAA... comment', got {value[:30]!r}"
    return None


@dataclass(frozen=True)
class AdminUser:
    name: str = setting(doc="Login name.", check=_user_name)
    ssh_keys: list[str] = setting(default_factory=list, doc="OpenSSH public keys allowed to log in.", check=_keys)
    sudo: bool = setting(True, doc="Passwordless sudo (the user has no password).")


@dataclass(frozen=True)
class BaseSettings(ComponentSettings):
    """Identity, clock, locale, packages, journald, SSH hardening and admin users, sudo, security updates, fail2ban, swap, time sync, sysctl, lynis-driven hardening on every host (deploys/base.py)."""

    prefix: ClassVar[str] = "base"

    hostname: str | None = setting(
        None,
        doc="Hostname to set on the host; null leaves the current one.",
        check=matches(_HOSTNAME, "a hostname (letters, digits, hyphens, dots)"),
    )
    timezone: str = setting(
        "UTC",
        doc="IANA time zone of the system clock, e.g. 'Europe/Berlin'.",
        check=all_of(matches(
            r"[A-Za-z0-9_+-]+(?:/[A-Za-z0-9_+-]+)*", "an IANA time zone name like 'Europe/Berlin'"
        ), time_zone),
    )
    locale: str = setting(
        "C.UTF-8",
        doc="System default locale (LANG); must be a UTF-8 locale.",
        check=all_of(matches(
            r"[a-zA-Z]{1,8}(?:_[A-Z]{2})?\.(?:UTF-8|utf8)", "a UTF-8 locale like 'en_US.UTF-8'"
        ), utf8_locale),
    )
    packages: list[str] = setting(
        default_factory=lambda: list(ESSENTIAL_PACKAGES),
        doc="Essential packages installed on every host; setting it replaces the whole list.",
        check=each(DEBIAN_PACKAGE),
    )
    extra_packages: list[str] = setting(
        default_factory=list,
        doc="Additional packages installed on top of base_packages.",
        check=each(DEBIAN_PACKAGE),
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

    # --- SSH (sshd drop-in, admin users) ---------------------------------------------------
    admin_users: list[AdminUser] = setting(
        default_factory=list,
        doc=(
            "Admin users created with their SSH keys and passwordless sudo; once one exists and the "
            "inventory no longer connects as root, root login is switched off."
        ),
    )
    ssh_port: int | None = setting(
        None,
        doc=(
            "Port sshd should listen on; null keeps the port the inventory connects on. A new port is "
            "added beside the old one until the inventory's ssh_port says the new one (docs/baseline.md)."
        ),
        check=_port,
    )
    ssh_permit_root_login: Literal["auto", "prohibit-password", "no"] = setting(
        "auto",
        doc=(
            "auto: 'no' once an admin user with keys exists and the inventory does not connect as root, "
            "else 'prohibit-password' (keys only); 'no' requires both."
        ),
    )
    ssh_allow_forwarding: bool = setting(
        False, doc="Allow TCP, agent, unix-socket and X11 forwarding over SSH."
    )
    ssh_max_auth_tries: int = setting(
        3, doc="sshd MaxAuthTries (1 to 4).", check=_between(1, 4, "attempts")
    )
    ssh_login_grace_time: int = setting(
        30, doc="sshd LoginGraceTime in seconds (1 to 60).", check=_between(1, 60, "seconds")
    )
    ssh_client_alive_interval: int = setting(
        300, doc="sshd ClientAliveInterval: seconds between keep-alive probes of an idle client.",
        check=_between(1, 3600, "seconds"),
    )
    ssh_client_alive_count_max: int = setting(
        2, doc="sshd ClientAliveCountMax: unanswered probes before the session is dropped.",
        check=_between(1, 10, "probes"),
    )

    # --- the rest of the baseline ---------------------------------------------------------------
    unattended_upgrades: bool = setting(
        True, doc="Install security updates daily with unattended-upgrades."
    )
    unattended_reboot: bool = setting(
        False, doc="Let unattended-upgrades reboot the host when an update needs it, at unattended_reboot_time."
    )
    unattended_reboot_time: str = setting(
        "03:30", doc="Time of day (HH:MM, host time zone) of an automatic reboot.",
        check=matches(r"(?:[01][0-9]|2[0-3]):[0-5][0-9]", "a time like '03:30'"),
    )
    fail2ban: bool = setting(True, doc="Run fail2ban with an sshd jail reading the systemd journal.")
    fail2ban_maxretry: int = setting(
        5, doc="Failed SSH logins within fail2ban_findtime that ban an address.", check=_between(1, 100, "failures")
    )
    fail2ban_findtime: str = setting(
        "10m", doc="fail2ban findtime (e.g. '10m').", check=matches(r"[0-9]+[smhdw]?", "a duration like '10m'")
    )
    fail2ban_bantime: str = setting(
        "1h", doc="fail2ban bantime (e.g. '1h').", check=matches(r"[0-9]+[smhdw]?", "a duration like '1h'")
    )
    swap: Literal["auto", "on", "off"] = setting(
        "auto",
        doc="Swap file /swapfile: auto makes one on hosts with less than 4 GiB RAM that have no swap yet.",
    )
    swap_size_mb: int | None = setting(
        None, doc="Swap file size in MiB; null derives it from RAM (RAM up to 2 GiB, then 2 GiB).",
        check=_between(64, 1024 * 1024, "MiB"),
    )
    time_sync: bool = setting(True, doc="Keep the clock in sync with systemd-timesyncd.")
    sysctl_hardening: bool = setting(
        True, doc="Network sysctl hardening (redirects, source routes, rp_filter, syncookies)."
    )
    sudo_log: str = setting(
        "/var/log/sudo.log", doc="File sudo logs every command to.",
        check=matches(r"/[A-Za-z0-9_./-]+", "an absolute path"),
    )

    # --- hardening from lynis's audit (docs/baseline.md, "Hardening") ------------------------
    hardening: bool = setting(
        True,
        doc=(
            "Host hardening from lynis's audit: login.defs password ages and hash rounds, login banners, "
            "libpam-tmpdir and libpam-passwdqc, audit tools (debsums, apt-show-versions, needrestart, "
            "apt-listchanges, sysstat, rkhunter), kernel module blacklist, core dumps, cron and sshd_config permissions."
        ),
    )
    login_banner: str = setting(
        DEFAULT_BANNER,
        doc="Legal banner written to /etc/issue and /etc/issue.net (no backslashes: getty expands them).",
        check=lambda v: None if v.strip() and "\\" not in v else "expected non-empty text without backslashes",
    )
    password_max_days: int = setting(
        365, doc="login.defs PASS_MAX_DAYS for users created from now on (admin users get no expiry: they log in with keys).",
        check=_between(1, 99999, "days"),
    )
    password_min_days: int = setting(
        1, doc="login.defs PASS_MIN_DAYS: days before a password may be changed again.", check=_between(0, 99999, "days")
    )
    password_warn_days: int = setting(
        14, doc="login.defs PASS_WARN_AGE: days of warning before a password expires.", check=_between(0, 99999, "days")
    )
    password_hash_rounds: int = setting(
        100000, doc="login.defs SHA_CRYPT_MIN_ROUNDS and SHA_CRYPT_MAX_ROUNDS for SHA-512 password hashes.",
        check=_between(5000, 999999999, "rounds"),
    )
    disabled_kernel_modules: list[str] = setting(
        default_factory=lambda: tuple(DISABLED_KERNEL_MODULES),
        doc=(
            "Kernel modules blacklisted and refused by modprobe (unused network protocols, USB and FireWire "
            "storage); setting it replaces the whole list."
        ),
        check=lambda values: next(
            (f"expected kernel module names, got {v!r}" for v in values if not re.fullmatch(r"[a-z0-9_-]+", v)), None
        ),
    )
    file_integrity: bool = setting(
        True, doc="File integrity checks with AIDE: a checksum database built once, compared daily (with hardening).",
    )
    shell_umask: str = setting(
        "027", doc="umask of interactive login shells (/etc/profile); services and pyinfra's commands keep theirs.",
        check=matches(r"0?[0-7]{3}", "an octal umask like '027'"),
    )
    shell_timeout: int = setting(
        900, doc="Seconds after which an idle interactive login shell is logged out (TMOUT in /etc/profile); 0 for never.",
        check=_between(0, 86400, "seconds"),
    )
    core_dumps: bool = setting(
        False, doc="Allow core dumps; false turns them off (limits.d hard limit 0, systemd-coredump Storage=none)."
    )

    def cross_check(self):
        names = [u.name for u in self.admin_users]
        for i, name in enumerate(names):
            if name in names[:i]:
                yield f"admin_users[{i}].name", f"expected unique names, got {name!r} twice"
        if self.ssh_permit_root_login == "no" and not any(u.ssh_keys for u in self.admin_users):
            yield "ssh_permit_root_login", (
                "expected 'auto' or 'prohibit-password' while no admin user with ssh_keys is set, got 'no' "
                "(that would lock everyone out)"
            )

    def permit_root_login(self, connects_as_root: bool) -> str:
        """PermitRootLogin for a run whose inventory connects as root (or not)."""
        admin = any(u.ssh_keys for u in self.admin_users)
        if self.ssh_permit_root_login == "prohibit-password" or connects_as_root or not admin:
            return "prohibit-password"
        return "no"


MIB = 1024 * 1024
GIB = 1024 * MIB


def swap_size_bytes(mode: str, size_mb: int | None, memory_bytes: int, existing_swap_bytes: int) -> int:
    """Size of the swap file to make, 0 for none.

    auto: only on hosts under 4 GiB of RAM with no swap yet; on: always;
    the size is swap_size_mb, else RAM up to 2 GiB, rounded down to whole MiB.
    """
    if mode == "off" or (mode == "auto" and (memory_bytes >= 4 * GIB or existing_swap_bytes > 0)):
        return 0
    if size_mb is not None:
        return size_mb * MIB
    return max(64 * MIB, min(memory_bytes, 2 * GIB) // MIB * MIB)
