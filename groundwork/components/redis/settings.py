"""Settings of the ``redis`` component: Debian's redis-server, its ACL users, memory and persistence."""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from typing import ClassVar, Literal

from ...settings.grammar import at_least
from ...settings.schema import ComponentSettings, matches, setting

MIB = 1024 * 1024
MIN_PASSWORD_LENGTH = 16
# ACL users groundwork writes itself; the app user must not take their names.
ADMIN_USER = "admin"
EXPORTER_USER = "groundwork-exporter"  # the monitoring component's Prometheus exporter
RESERVED_USERS = ("default", ADMIN_USER, EXPORTER_USER)

# Redis's own size units (redis.conf): k/m/g are powers of 1000, kb/mb/gb of 1024.
_UNITS = {"": 1, "k": 1000, "kb": 1024, "m": 1000**2, "mb": 1024**2, "g": 1000**3, "gb": 1024**3}
_SIZE = r"[1-9][0-9]*(?:[kKmMgG][bB]?)?"


def memory_bytes(size: str) -> int:
    """A redis.conf size ('256mb', '1g', '1048576') in bytes, as Redis reads it."""
    match = re.fullmatch(r"([0-9]+)([a-zA-Z]*)", size)
    if not match or match.group(2).lower() not in _UNITS:
        raise ValueError(f"not a Redis size: {size!r}")
    return int(match.group(1)) * _UNITS[match.group(2).lower()]


def derived_maxmemory(total_memory_bytes: int, fraction: float) -> int:
    """maxmemory for a host with this much RAM: the fraction, rounded down to whole MiB (at least 1 MiB)."""
    return max(MIB, int(total_memory_bytes * fraction) // MIB * MIB)


def _password(value: str) -> str | None:
    # Never echo the value or its length: messages end up in CI logs.
    if len(value) < MIN_PASSWORD_LENGTH:
        return f"expected a password of at least {MIN_PASSWORD_LENGTH} characters, got a shorter one"
    return None


def _addresses(values: tuple[str, ...]) -> str | None:
    if not values:
        return "expected at least one address, got an empty list"
    for value in values:
        try:
            ipaddress.ip_address(value.removeprefix("-"))
        except ValueError:
            return f"expected IP addresses like '127.0.0.1' (a leading '-' marks one that may be missing), got {value!r}"
    return None


def _port(value: int) -> str | None:
    return None if 1 <= value <= 65535 else f"expected a port from 1 to 65535, got {value!r}"


_USER_NAME = matches(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}", "a user name of letters, digits, '_', '.', '-'")


def _app_user(value: str) -> str | None:
    if value in RESERVED_USERS:
        return f"expected a user name other than {', '.join(map(repr, RESERVED_USERS))}, got {value!r}"
    return _USER_NAME(value)


# Rules that set passwords or switch the user on/off: groundwork owns those.
_PASSWORD_RULE = re.compile(r"^(?:[<>#!].*|nopass|resetpass|on|off|reset)$", re.IGNORECASE)


# Categories and commands an app user may be granted: none of them reaches admin or
# dangerous commands (@slow, for one, holds CONFIG; a selector "(...)" is a second rule set).
_GRANTABLE_CATEGORIES = frozenset({
    "@read", "@write", "@keyspace", "@string", "@list", "@hash", "@set", "@sortedset", "@stream", "@pubsub",
    "@transaction", "@connection", "@scripting", "@geo", "@bitmap", "@hyperloglog", "@fast",
})
_FORBIDDEN_COMMANDS = frozenset({
    "config", "acl", "debug", "shutdown", "replicaof", "slaveof", "monitor", "module", "save", "bgsave",
    "bgrewriteaof", "flushall", "flushdb", "sync", "psync", "failover", "cluster", "migrate", "restore",
    "client", "latency", "memory", "swapdb", "lastsave", "info", "keys", "sort", "object", "pfdebug",
    "pfselftest", "function", "script", "eval", "evalsha", "readonly", "readwrite", "role", "slowlog",
})


_ACL_RULE = re.compile(
    r"[+-]@?[a-z][a-z0-9|_-]*|~[!-~]+|%R?W?~[!-~]+|&[!-~]+|allkeys|allchannels|allcommands|nocommands|"
    r"resetkeys|resetchannels|[<>#!].*|nopass|resetpass|on|off|reset",
    re.IGNORECASE,
)


def _app_acl(value: str) -> str | None:
    # Redis splits the ACL file's rules on the space character alone.
    if re.search(r"\s", value.replace(" ", "")) or "(" in value or ")" in value:
        return "expected ACL rules separated by single spaces, without selectors '(...)'"
    rules = value.split(" ")
    rules = [rule for rule in rules if rule]
    unknown = [rule for rule in rules if not _ACL_RULE.fullmatch(rule)]
    if unknown:
        # Redis refuses the whole ACL file for one rule it does not know, and does not start.
        return f"expected ACL rules Redis knows (+cmd, -@category, ~pattern, &channel, ...), not {unknown[0]!r}"
    if not rules:
        return "expected ACL rules like '~* &* +@all -@admin -@dangerous', got ''"
    if any(_PASSWORD_RULE.match(rule) for rule in rules):
        # The value may hold a password: do not echo it.
        return "expected ACL rules without password, nopass, on/off or reset rules (groundwork sets those)"
    lowered = [rule.lower() for rule in rules]
    grants_all = [i for i, rule in enumerate(lowered) if rule in ("+@all", "allcommands")]
    withdrawn = lowered[grants_all[-1] + 1:] if grants_all else lowered
    granted = {"+@admin", "+@dangerous"} & set(lowered)
    if granted or (grants_all and not {"-@admin", "-@dangerous"} <= set(withdrawn)):
        return f"expected rules that leave out @admin and @dangerous (e.g. '+@all -@admin -@dangerous'), got {value!r}"
    for rule in lowered:
        if rule.startswith("+@") and rule not in ("+@all", *("+" + c for c in _GRANTABLE_CATEGORIES)):
            return f"expected categories an app may have (+@read, +@write, ...; not {rule}), got {value!r}"
        if rule.startswith("+") and not rule.startswith("+@") and rule[1:].split("|")[0] in _FORBIDDEN_COMMANDS:
            return f"expected commands an app may run (not {rule}: an admin or dangerous command), got {value!r}"
    return None


def _save(values: tuple[str, ...]) -> str | None:
    for value in values:
        if not re.fullmatch(r"[1-9][0-9]* [1-9][0-9]*", value):
            return f"expected snapshot rules 'SECONDS CHANGES' like '3600 1', got {value!r}"
    return None


def _fraction(value: float) -> str | None:
    return None if 0 < value <= 0.9 else f"expected a share of RAM above 0 and at most 0.9, got {value!r}"


@dataclass(frozen=True)
class RedisSettings(ComponentSettings):
    """Debian's redis-server: bind, ACL users, maxmemory and eviction, AOF and RDB persistence (deploys/redis.py)."""

    prefix: ClassVar[str] = "redis"

    bind: list[str] | None = setting(
        None,
        doc=(
            "Addresses Redis listens on (a leading '-' marks an address that may be missing, like "
            "Debian's '-::1'); null derives them from the inventory: 127.0.0.1 and -::1, plus the host's "
            "own address (groundwork.fleet: private_address, else ssh_hostname) when app/worker hosts connect. A list set here wins."
        ),
        check=_addresses,
    )
    port: int = setting(6379, doc="TCP port Redis listens on.", check=_port)
    app_user: str = setting(
        "app",
        doc="ACL user the application authenticates as.",
        check=_app_user,
    )
    app_password: str | None = setting(
        None,
        doc=(
            f"Password of the app ACL user (at least {MIN_PASSWORD_LENGTH} characters); stored on "
            "the host only as a SHA-256 hash. Required on the hosts that run Redis."
        ),
        secret=True,
        check=_password,
    )
    app_acl: str = setting(
        "~* &* +@all -@admin -@dangerous",
        doc="ACL rules of the app user (keys, channels, commands); must leave out @admin and @dangerous.",
        check=_app_acl,
    )
    admin_password: str | None = setting(
        None,
        doc=(
            f"Password of an '{ADMIN_USER}' ACL user with all rights, for operators, backups and "
            "verify tests; null creates no such user."
        ),
        secret=True,
        check=_password,
    )
    start_timeout: int = setting(
        60, doc="Seconds a (re)started Redis has to answer PING before its previous config is put back and the run fails.",
        check=at_least(5),
    )
    maxmemory: str | None = setting(
        None,
        doc="Memory limit like '256mb' or '2gb' (Redis units); null derives it from maxmemory_fraction.",
        check=matches(_SIZE, "a size like '256mb' or '2gb' (digits, then k, kb, m, mb, g or gb)"),
    )
    maxmemory_fraction: float = setting(
        0.25,
        doc="Share of the host's RAM used as maxmemory when maxmemory is null, rounded down to whole MiB.",
        check=_fraction,
    )
    maxmemory_policy: Literal[
        "noeviction",
        "allkeys-lru",
        "allkeys-lfu",
        "allkeys-random",
        "volatile-lru",
        "volatile-lfu",
        "volatile-random",
        "volatile-ttl",
    ] = setting(
        "allkeys-lru",
        doc=(
            "What Redis drops at maxmemory: allkeys-lru suits a pure cache; set noeviction when "
            "this instance also carries a Celery broker, whose queued tasks must never be evicted."
        ),
    )
    appendonly: bool = setting(
        True,
        doc="Keep an append-only file (AOF) so a restart loses at most about a second of writes.",
    )
    appendfsync: Literal["always", "everysec", "no"] = setting(
        "everysec",
        doc="How often the AOF is fsynced: everysec risks one second of writes, always is slow.",
    )
    save: list[str] = setting(
        default_factory=lambda: ["3600 1", "300 100", "60 10000"],
        doc="RDB snapshot rules 'SECONDS CHANGES' (snapshot after SECONDS if at least CHANGES writes); [] turns snapshots off.",
        check=_save,
    )

    @property
    def listen_addresses(self) -> list[str]:
        """The bind addresses without Redis's optional-address '-' mark (none while bind is left to derivation)."""
        return [address.removeprefix("-") for address in self.bind or ()]

    def maxmemory_bytes(self, total_memory_bytes: int) -> int:
        """maxmemory in bytes on a host with this much RAM."""
        if self.maxmemory is not None:
            return memory_bytes(self.maxmemory)
        return derived_maxmemory(total_memory_bytes, self.maxmemory_fraction)

    def deploy_check(self):
        if self.app_password is None:
            yield "app_password", "required on a host that runs Redis, not set (the app's ACL user needs it)"
