"""Redis: Debian's redis-server with ACL users, a memory limit, AOF and RDB snapshots."""

from __future__ import annotations

import hashlib
from io import StringIO

from pyinfra import host
from pyinfra.api import deploy
from pyinfra.api.operation import OperationMeta
from pyinfra.facts.files import FindInFile
from pyinfra.operations import server

from ...changes import ServiceChanges, await_answer, watched_upload
from ...facts.host import MemoryBytes
from ...operations import files, systemd
from ...packages import ensure_packages
from ...paths import template
from .access import LOOPBACK_REDIS
from .settings import ADMIN_USER, EXPORTER_USER, MIB, RedisSettings

SERVICE = "redis-server"
CONFIG = "/etc/redis/redis.conf"
USERS_ACL = "/etc/redis/users.acl"
DATA_DIR = "/var/lib/redis"


@deploy("Redis")
def deploy_redis(settings: RedisSettings, bind: tuple[str, ...] = LOOPBACK_REDIS,
                 exporter_password: str | None = None) -> None:
    """`bind`: the addresses Redis listens on (groundwork.components.redis.access);
    `exporter_password`: the monitoring exporter's ACL user, when the host is monitored."""
    aof_was_on = redis_keeps_aof()
    install_redis()
    if settings.appendonly and not aof_was_on:
        carry_rdb_over_to_aof()
    # Redis has no config checker (nothing like `nginx -t`): a bad file shows as a
    # restart that does not answer, which puts the previous files back.
    answers = PINGS
    redis = ServiceChanges(SERVICE, action="restart", ready=answers, timeout=settings.start_timeout)
    watched_upload(redis, configure_redis, watched=(CONFIG,), settings=settings, bind=bind)
    watched_upload(redis, write_redis_users, watched=(USERS_ACL,), settings=settings,
                   exporter_password=exporter_password)
    redis.apply()
    started = systemd.service(
        name="Enable and start redis-server", service=SERVICE, running=True, enabled=True,
    )
    await_answer(started, SERVICE, answers, settings.start_timeout)


# A shell test: Redis answers PING on the first address and the port its config file on disk
# names (after a fallback, the previous ones). NOAUTH is an answer: the default user is off,
# and no password goes on a command line.
PINGS = (
    f"port=$(awk '$1 == \"port\" {{print $2}}' {CONFIG}) && "
    f"address=$(awk '$1 == \"bind\" {{for (i = 2; i <= NF; i++) if ($i !~ /^-/) {{print $i; exit}}}}' {CONFIG}) && "
    f"redis-cli -h \"${{address:-127.0.0.1}}\" -p \"$port\" PING 2>&1 | grep -qE '^(PONG|NOAUTH)'"
)


def redis_keeps_aof() -> bool:
    """Whether the host's redis.conf has AOF on, as the run starts.

    A host without redis.conf gets Debian's from the install, which has AOF off.
    """
    return host.get_fact(FindInFile, path=CONFIG, pattern=r"^appendonly ") == ["appendonly yes"]


# redis-tools brings redis-cli, which operators and the verify tests use.
REDIS_PACKAGES = ["redis-server", "redis-tools"]


def install_redis() -> None:
    ensure_packages(REDIS_PACKAGES, name="Install redis-server")


def configure_redis(settings: RedisSettings, bind: tuple[str, ...] = LOOPBACK_REDIS,
                    pending: tuple[str, ...] = ()) -> OperationMeta:
    maxmemory = settings.maxmemory
    if maxmemory is None:
        maxmemory = f"{settings.maxmemory_bytes(host.get_fact(MemoryBytes)) // MIB}mb"
    return files.template(
        name="Upload the Redis config",
        src=template("etc/redis/redis.conf"),
        dest=CONFIG, pending=pending,
        user="redis", group="redis", mode="0640",
        bind=list(bind),
        port=settings.port,
        aclfile=USERS_ACL,
        maxmemory=maxmemory,
        maxmemory_policy=settings.maxmemory_policy,
        appendonly=settings.appendonly,
        appendfsync=settings.appendfsync,
        save=list(settings.save),
    )


def write_redis_users(settings: RedisSettings, pending: tuple[str, ...] = (),
                      exporter_password: str | None = None) -> OperationMeta:
    # A StringIO, not a template: pyinfra never shows its content, so neither
    # the hashes nor anything else of the file reaches pyinfra's output.
    return files.put(
        name="Upload the Redis ACL users",
        src=StringIO(users_acl(settings, exporter_password)),
        dest=USERS_ACL, pending=pending,
        user="redis", group="redis", mode="0640",
    )


# What the Prometheus Redis exporter asks (INFO, CONFIG GET maxmemory and the like,
# SLOWLOG, LATENCY, CLIENT LIST): reads of server state, no key and no write.
EXPORTER_ACL = ("resetkeys resetchannels -@all +ping +info +config|get +client|list +client|info +slowlog|get "
                "+slowlog|len +latency|latest +latency|histogram +select +dbsize +memory|stats +cluster|info")


def users_acl(settings: RedisSettings, exporter_password: str | None = None) -> str:
    """The aclfile: Redis rejects comments in it, so it carries no header line.

    Passwords are written as '#<sha256 hex>' (no salt in Redis's format), so an
    unchanged password gives the same file and no restart.
    """
    lines = [
        # Without a line of its own, Redis would create `default` with no password and all rights.
        "user default off resetpass resetkeys resetchannels -@all",
        f"user {settings.app_user} on #{password_hash(settings.app_password)} {settings.app_acl}",
    ]
    if settings.admin_password is not None:
        lines.append(f"user {ADMIN_USER} on #{password_hash(settings.admin_password)} ~* &* +@all")
    if exporter_password is not None:
        lines.append(f"user {EXPORTER_USER} on #{password_hash(exporter_password)} {EXPORTER_ACL}")
    return "\n".join(lines) + "\n"


def password_hash(password: str) -> str:
    return hashlib.sha256(password.encode()).hexdigest()


def carry_rdb_over_to_aof() -> None:
    """Keep the data when AOF gets switched on.

    Started with `appendonly yes` and no AOF of its own yet, Redis starts empty
    and ignores dump.rdb. It does load a legacy single-file AOF (which may be an
    RDB) and migrates it. So: stop, which writes dump.rdb when snapshots are on;
    copy it to that file; the restart after the new config loads it. An AOF dir
    left from an earlier time with AOF on is stale and would win: it goes.

    Planned only while redis.conf says AOF off, so its upload and the restart
    follow; run before them, so a run that dies in between repeats it or
    leaves a pending restart that finds the copy.
    """
    server.shell(
        name="Stop Redis to carry its RDB snapshot over to the new AOF",
        commands=[
            f"systemctl stop {SERVICE}",
            f"rm -rf {DATA_DIR}/appendonlydir {DATA_DIR}/appendonly.aof",
            f"if [ -s {DATA_DIR}/dump.rdb ]; then cp -p {DATA_DIR}/dump.rdb {DATA_DIR}/appendonly.aof; fi",
        ],
    )
