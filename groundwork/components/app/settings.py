"""Settings of the ``app`` and ``celery`` components: the web app and its workers."""

from __future__ import annotations

import os

import shlex
from dataclasses import dataclass
from typing import ClassVar, Literal

from ...settings.grammar import (
    DEBIAN_PACKAGE,
    ENV_NAME,
    HOSTNAME,
    PG_NAME,
    QUEUE_NAME,
    URL_PATH,
    all_of,
    each,
    ip_address,
    ip_or_network,
    non_negative,
    on_calendar,
    url,
)
from ...settings.schema import ComponentSettings, matches, setting

NAME = matches(r"[a-z][a-z0-9-]{0,30}", "a lowercase name (letters, digits, -) of at most 31 characters")
CALLABLE = matches(
    r"[A-Za-z_][\w.]*:[A-Za-z_]\w*(\(\))?",
    "a WSGI/ASGI callable like 'package.module:app' or a factory 'package.module:create_app()'",
)
CELERY_APP = matches(r"[A-Za-z_][\w.]*(:[A-Za-z_]\w*)?", "a Celery app like 'package.tasks:celery_app'")


# Names an app may not take: its user, units and /etc/NAME would be another service's.
RESERVED_NAMES = frozenset({
    "root", "daemon", "bin", "sys", "sync", "games", "man", "lp", "mail", "news", "uucp", "proxy", "www-data",
    "backup", "list", "irc", "nobody", "messagebus", "systemd", "dbus", "ssh", "sshd", "cron", "sudo", "apt",
    "nginx", "postgres", "postgresql", "redis", "redis-server", "certbot", "letsencrypt", "ufw", "fail2ban",
    "aide", "rkhunter", "sysstat", "unattended-upgrades", "groundwork", "groundwork-backup", "prometheus",
    "alertmanager", "node-exporter", "default", "network", "networking", "getty", "user", "init",
})


def _app_name(value: str) -> str | None:
    if value in RESERVED_NAMES or value.startswith(("systemd-", "groundwork-", "prometheus-", "postgresql-")):
        return f"expected a name no system user or service has, got {value!r}"
    return None


def _unprivileged_port(value: int) -> str | None:
    # Gunicorn runs as the app's own user, with no capability to bind below 1024.
    return None if 1024 <= value <= 65535 else f"expected a port from 1024 to 65535, got {value}"


def _tcp_bind(value: str) -> str | None:
    address, _, port = value.rpartition(":")
    expected = f"expected an address and port like '0.0.0.0:8000' or '[::1]:8000', got {value!r}"
    if not port.isdigit() or not address:
        return expected
    if address.startswith("[") and address.endswith("]"):
        address = address[1:-1]
    elif ":" in address:  # an IPv6 address needs its brackets: Gunicorn and URLs split on ':'
        return expected
    if ip_address(address):
        return expected
    return _unprivileged_port(int(port))


def _positive(value: int) -> str | None:
    return None if value >= 1 else f"expected 1 or more, got {value}"


def _absolute(value: str) -> str | None:
    return None if value.startswith("/") and ".." not in value.split("/") else f"expected an absolute path, got {value!r}"


def _requirements(values: tuple[str, ...]) -> str | None:
    for value in values:
        # pip reads "--index-url ..." or "-e ..." in a requirement list as its own options.
        if not value.strip() or value.lstrip().startswith("-"):
            return f"expected requirements like 'psycopg[binary]>=3.2' or paths to a .whl/.tar.gz, got {value!r}"
    return None


@dataclass(frozen=True)
class ConfigFile:
    src: str = setting(doc="Jinja2 template on the control machine (relative to the working directory).")
    dest: str = setting(doc="Absolute path on the host.", check=_absolute)
    mode: str = setting("0640", doc="File mode; owner root, group the app's group.", check=matches(r"0?[0-7]{3}", "a mode like '0640'"))


def _command(value: str) -> str | None:
    if not value.strip():
        return "expected a command, got an empty one"
    try:
        shlex.split(value)
    except ValueError as exc:
        return f"expected a command a shell can split ({exc}), got {value!r}"
    return None


@dataclass(frozen=True)
class AppTimer:
    name: str = setting(doc="Name of the timer: unit NAME-timer-<name>.", check=matches(r"[a-z][a-z0-9-]{0,30}", "a lowercase name (letters, digits, -)"))
    command: str = setting(doc="Shell command run in the current release with the app's environment, e.g. 'djangoapp-manage clearsessions'.", check=_command)
    schedule: str = setting(doc="When, in systemd OnCalendar syntax: 'hourly', '*:0/5', 'Mon *-*-* 03:00'.", check=on_calendar)
    hosts: Literal["one", "all"] = setting("one", doc="'one': the first app host; 'all': every app host.")
    randomized_delay: int = setting(60, doc="RandomizedDelaySec: seconds a run may be delayed at random, so hosts do not run at once.", check=non_negative)


@dataclass(frozen=True)
class AppProcess:
    name: str = setting(doc="Name of the process: unit NAME-proc-<name>.", check=matches(r"[a-z][a-z0-9-]{0,30}", "a lowercase name (letters, digits, -)"))
    command: str = setting(doc="Long-running shell command in the current release with the app's environment, e.g. 'celery --app x flower'.", check=_command)
    hosts: Literal["one", "all"] = setting("one", doc="'one': the first app host; 'all': every app host.")


@dataclass(frozen=True)
class AppSettings(ComponentSettings):
    """The web app: wheels built on the control machine, releases, Gunicorn under systemd (deploys/app.py)."""

    prefix: ClassVar[str] = "app"

    name: str = setting(
        "app", doc="Name of the app: system user, /srv/NAME, /etc/NAME and its systemd units.", check=all_of(NAME, _app_name),
    )
    source: str | None = setting(
        None,
        doc="What to deploy, on the control machine: a project directory, a .whl file, or a "
        "requirements .txt file; null deploys no app.",
    )
    constraints: str | None = setting(None, doc="A pip constraints file applied when the wheels are resolved.")
    extra_requirements: list[str] = setting(
        default_factory=list, doc="More requirements installed into the release (e.g. a database driver).",
        check=_requirements,
    )
    server: Literal["asgi", "wsgi"] = setting("asgi", doc="ASGI apps run Uvicorn workers; WSGI apps sync or gthread workers.")
    callable: str | None = setting(
        None, doc="The app Gunicorn serves, 'module:attr' or 'module:factory()'; required with a source.", check=CALLABLE
    )
    workers: int | None = setting(None, doc="Gunicorn workers; null takes (2 x CPUs) + 1 from the host.", check=_positive)
    threads: int = setting(1, doc="Threads per worker; above 1 a WSGI app runs gthread workers.", check=_positive)
    timeout: int = setting(120, doc="Seconds a request may take before its worker is restarted.", check=_positive)
    graceful_timeout: int = setting(30, doc="Seconds running requests get to finish on reload or stop.", check=_positive)
    keepalive: int = setting(75, doc="Seconds an idle keep-alive connection stays open; above nginx's upstream keepalive_timeout (60).", check=_positive)
    max_requests: int = setting(
        0, doc="Requests after which a worker is replaced, to bound a leaking app; 0 (the default) never.",
        check=non_negative,
    )
    max_requests_jitter: int = setting(
        100, doc="Random spread added to max_requests so workers do not restart together.", check=non_negative,
    )
    bind: str | None = setting(
        None, doc="TCP address like '10.0.0.5:8000' Gunicorn binds; null binds a unix socket in /run/NAME, or the host's own address and app_port when nginx runs on other hosts.",
        check=_tcp_bind,
    )
    port: int = setting(
        8000, doc="TCP port Gunicorn listens on, on the host's own address, when nginx on other hosts (group web) proxies to it.",
        check=_unprivileged_port,
    )
    forwarded_allow_ips: list[str] = setting(
        default_factory=lambda: ["127.0.0.1", "::1"], doc="Proxies whose X-Forwarded-* headers the app trusts: "
        "IP addresses or networks, or '*'.",
        check=each(lambda v: None if v == "*" else ip_or_network(v)),
    )
    environment: dict[str, str] = setting(
        default_factory=dict, secret=True, doc="Environment of the app's processes (secrets too), kept in /etc/NAME/env (0600).",
        check=lambda env: next((f"expected variable names of letters, digits and '_', got {k!r}" for k in env if ENV_NAME(k)), None),
    )
    database: str | None = setting(
        None, doc="Database for DATABASE_URL (one of postgres_databases); null takes the first one whose owner has a password.",
        check=PG_NAME,
    )
    database_url: str | None = setting(
        None, secret=True, doc="DATABASE_URL as given; null derives it from the postgres settings.",
        check=url(("postgres", "postgresql", "postgresql+psycopg", "postgresql+psycopg2", "postgresql+asyncpg")),
    )
    redis_url: str | None = setting(
        None, secret=True, doc="REDIS_URL as given; null derives it from the redis settings.", check=url(("redis", "rediss")),
    )
    migrate_command: str | None = setting(
        None, doc="Command run once per release on one host before it takes traffic, e.g. 'alembic upgrade head'."
    )
    static_command: str | None = setting(None, doc="Command run in each new release to collect static files into STATIC_ROOT.")
    config_files: list[ConfigFile] = setting(default_factory=list, doc="Files rendered from your templates, e.g. a settings module.")
    keep_releases: int = setting(5, doc="Releases kept on the host, the current one included.", check=_positive)
    rollout_batch: int = setting(
        1, doc="App hosts that switch to a new release at once; the rollout stops at the first host that fails its health check.",
        check=_positive,
    )
    health_path: str = setting("/health", doc="Path polled after a switch; the release must answer 200.", check=URL_PATH)
    health_timeout: int = setting(60, doc="Seconds a new release has to answer health_path with 200 before it is rolled back.", check=_positive)
    health_host: str | None = setting(
        None, doc="Host header of the health check (Django's ALLOWED_HOSTS must admit it); null: the first of "
        "nginx_server_names where nginx serves the app, else 'localhost'.", check=HOSTNAME,
    )
    packages: list[str] = setting(
        default_factory=list, doc="Debian packages the app needs at runtime (e.g. 'git'), installed on app and worker hosts.",
        check=each(DEBIAN_PACKAGE),
    )
    timers: list[AppTimer] = setting(
        default_factory=list, doc="Periodic commands, each a systemd timer and service in the app's sandbox with its environment.",
    )
    processes: list[AppProcess] = setting(
        default_factory=list, doc="Long-running processes beside Gunicorn and Celery (Procfile-style), restarted after a release switch.",
    )

    # --- derived values: every caller asks here ------------------------------------

    @property
    def worker_class(self) -> str:
        """Gunicorn's worker class: Uvicorn workers for ASGI, gthread or sync for WSGI."""
        if self.server == "asgi":
            return "uvicorn_worker.UvicornWorker"
        return "gthread" if self.threads > 1 else "sync"

    @property
    def socket_path(self) -> str:
        return f"/run/{self.name}/gunicorn.sock"

    @property
    def gunicorn_bind(self) -> str:
        """Where Gunicorn listens: app_bind, else its unix socket."""
        return self.bind or f"unix:{self.socket_path}"

    @property
    def listen_port(self) -> int | None:
        """The TCP port Gunicorn listens on; None on its unix socket."""
        return int(self.bind.rsplit(":", 1)[1]) if self.bind else None

    @property
    def curl_target(self) -> str:
        """curl's arguments reaching the app from its own host (the health gate, verify tests)."""
        if self.bind:
            address, port = self.bind.rsplit(":", 1)
            if address in ("0.0.0.0", "[::]", "::", ""):
                address = "127.0.0.1"
            return f"http://{address}:{port}"
        return f"--unix-socket {self.socket_path} http://localhost"

    @property
    def health_request(self) -> list[str]:
        """curl's arguments for the health path, one word each (the activation script quotes them)."""
        host = ["-H", f"Host: {self.health_host}"] if self.health_host else []
        return [*host, *self.curl_target.split(" ")[:-1], self.curl_target.split(" ")[-1] + self.health_path]

    def cross_check(self):
        for kind, items in (("timers", self.timers), ("processes", self.processes)):
            names = [item.name for item in items]
            for i, name in enumerate(names):
                if name in names[:i]:
                    yield f"{kind}[{i}].name", f"expected a name no other of app_{kind} has, got {name!r}"

    def deploy_check(self):
        if self.source is not None and self.callable is None:
            yield "callable", "required with app_source, not set (what Gunicorn serves, e.g. 'package.asgi:app')"
        for i, config in enumerate(self.config_files):
            if not os.path.isfile(config.src):
                yield f"config_files[{i}].src", f"expected a template file on the control machine, no file at {config.src!r}"


@dataclass(frozen=True)
class CelerySettings(ComponentSettings):
    """Celery worker and beat for the app, under systemd (deploys/app.py)."""

    prefix: ClassVar[str] = "celery"

    app: str | None = setting(None, doc="The Celery app ('package.tasks:celery_app'); null runs no Celery (unless celery_command is set).", check=CELERY_APP)
    command: str | None = setting(
        None, doc="The command that starts Celery with the app set up, as the framework documents it (e.g. "
        "'djangoapp-manage celery'); groundwork appends 'worker ...' or 'beat ...'. Null: 'python -m celery --app <celery_app>'.",
        check=_command,
    )
    queues: list[str] = setting(
        default_factory=list, doc="Queues the worker consumes; empty for Celery's default queue.", check=each(QUEUE_NAME),
    )
    concurrency: int | None = setting(None, doc="Worker processes; null lets Celery take the CPU count.", check=_positive)
    beat: bool = setting(True, doc="Run Celery beat, on exactly one host of the worker group.")
    stop_timeout: int = setting(300, doc="Seconds a stopping worker gets to finish running tasks (warm shutdown).", check=_positive)

    @property
    def enabled(self) -> bool:
        return bool(self.app or self.command)
