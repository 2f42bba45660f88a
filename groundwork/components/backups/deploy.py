"""Backups: encrypted dumps on the database hosts, copies on the backup hosts, a weekly restore drill.

Database hosts (role `db`): age, the backup and restore scripts, their config,
the daily backup timer and the weekly drill timer. Backup hosts (inventory
group `backup`, none when nobody is in it): a user whose authorized_keys lets
each database host's key write only to that host's own directory (rrsync -wo).
See docs/backups.md.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass
from io import StringIO

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from pyinfra import host
from pyinfra.api import deploy
from pyinfra.facts.files import FileContents, FindDirectories

from ...changes import ServiceChanges, watched_upload
from ...fleet import FleetHost
from ...metrics import TEXTFILE_DIR
from ...operations import files, server, systemd
from ...packages import ensure_packages
from ...paths import template
from .settings import BackupsSettings, schedule_minute

CONF_DIR = "/etc/groundwork/backup"
SSH_KEY = f"{CONF_DIR}/id_ed25519"
REDIS_DIR = "/var/lib/redis"
SCRIPTS = ("groundwork-backup", "groundwork-restore")
BACKUP_UNIT = "groundwork-backup"
RUN_NAME = re.compile(r"\d{8}T\d{6}Z")  # one directory per run, named by its UTC start
DRILL_UNIT = "groundwork-backup-drill"
RRSYNC = "/usr/bin/rrsync"  # Debian's rsync package ships it there


@dataclass(frozen=True)
class ClientKey:
    public: str  # "ssh-ed25519 AAAA... comment"
    private: str | None  # set only when the host has no key yet and this run uploads it


# Per run: a key made for a host is the same whether the database host's or the
# backup host's deploy asks first.
_client_keys: dict[str, ClientKey] = {}


def client_key(db_host: FleetHost) -> ClientKey:
    """The SSH key a database host writes its copies with.

    Read from the host when it has one; otherwise made here, once per run, and
    uploaded by the database host's deploy: in a single run the backup host
    authorizes it, which a key made on the host could not give.
    """
    if db_host.name not in _client_keys:
        lines = db_host.pyinfra_host.get_fact(FileContents, path=f"{SSH_KEY}.pub")
        if lines:
            key = ClientKey(lines[0].strip(), None)
        else:
            private_key = Ed25519PrivateKey.generate()
            private = private_key.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH, serialization.NoEncryption(),
            ).decode()
            public = private_key.public_key().public_bytes(
                serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH,
            ).decode()
            key = ClientKey(f"{public} groundwork-backup@{db_host.name}", private)
        # Hosts are planned concurrently (gevent): another host's deploy may have
        # asked during the fact read. The first answer wins, so both sides agree.
        _client_keys.setdefault(db_host.name, key)
    return _client_keys[db_host.name]


def host_key(backup_host: FleetHost) -> str:
    lines = backup_host.pyinfra_host.get_fact(FileContents, path="/etc/ssh/ssh_host_ed25519_key.pub")
    if not lines:
        raise ValueError(f"backup host {backup_host.name} has no /etc/ssh/ssh_host_ed25519_key.pub")
    return " ".join(lines[0].split()[:2])


def authorized_keys_line(settings: BackupsSettings, db_name: str, public_key: str) -> str:
    """Lets the key do one thing: rsync into the database host's own directory."""
    area = f"{settings.remote_directory}/{db_name}"
    return f'command="{RRSYNC} -wo {area}",restrict {public_key}'


def remote_target(settings: BackupsSettings, backup_host: FleetHost) -> str:
    """The backup host at the fleet's address for it (private_address first)."""
    return f"{settings.remote_user}@{backup_host.address}"


def timer_times(settings: BackupsSettings, host_name: str) -> dict:
    minute = schedule_minute(host_name)
    return {
        "backup": {"hour": settings.hour, "minute": minute},
        "drill": {"weekday": settings.drill_weekday, "hour": settings.drill_hour, "minute": minute},
    }


def config_values(settings: BackupsSettings, host_name: str, postgres_port: int, redis_on_host: bool,
                  backup_hosts: list) -> dict:
    """backup.conf's values, quoted for bash."""
    return {
        "host_name": shlex.quote(host_name),
        "directory": shlex.quote(settings.directory),
        "keep_daily": settings.keep_daily,
        "keep_weekly": settings.keep_weekly,
        "keep_monthly": settings.keep_monthly,
        "postgres_port": postgres_port,
        "redis_dir": REDIS_DIR if settings.redis and redis_on_host else "''",
        "conf_dir": CONF_DIR,
        "webhook_timeout": settings.webhook_timeout,
        "remote_targets": [shlex.quote(remote_target(settings, b)) for b in backup_hosts],
    }


BACKUP_PACKAGES = ["age", "rsync", "openssh-client", "curl"]
BACKUP_HOST_PACKAGES = ["rsync", "python3"]


@deploy("Backups")
def deploy_backups(settings: BackupsSettings, me: FleetHost, postgres_port: int, redis_on_host: bool,
                   backup_hosts: list[FleetHost]) -> None:
    install_backup_tools()
    configure_backups(settings, postgres_port, redis_on_host, backup_hosts)
    if backup_hosts:
        set_up_offsite_key(me)
    install_scripts()
    schedule_backups(settings)
    take_first_backup(settings)


@deploy("Backup host")
def deploy_backup_host(settings: BackupsSettings, db_hosts: list[FleetHost]) -> None:
    """The receiving side: one user, one directory per database host, keys confined by rrsync."""
    ensure_packages(BACKUP_HOST_PACKAGES, name="Install rsync")
    server.user(
        name=f"Create the {settings.remote_user} user",
        user=settings.remote_user, home=settings.remote_directory, shell="/bin/sh",
        system=True, create_home=False, ensure_home=False,
    )
    # Owned by root: the user (and so a database host's key) cannot change its own keys.
    files.directory(name="Create the backup directory", path=settings.remote_directory,
                    user="root", group="root", mode="0755")
    files.directory(name="Create the .ssh directory", path=f"{settings.remote_directory}/.ssh",
                    user="root", group="root", mode="0755")
    lines = []
    for db in db_hosts:
        files.directory(
            name=f"Create the backup directory of {db.name}", path=f"{settings.remote_directory}/{db.name}",
            user=settings.remote_user, group=settings.remote_user, mode="0700",
        )
        lines.append(authorized_keys_line(settings, db.name, client_key(db).public))
    files.put(
        name="Authorize the database hosts' backup keys",
        src=StringIO("# managed by groundwork; local edits are overwritten\n" + "".join(f"{line}\n" for line in lines)),
        dest=f"{settings.remote_directory}/.ssh/authorized_keys",
        user="root", group="root", mode="0644",
    )


def install_backup_tools() -> None:
    ensure_packages(BACKUP_PACKAGES, name="Install age, rsync, ssh and curl")


def configure_backups(settings: BackupsSettings, postgres_port: int, redis_on_host: bool, backup_hosts: list) -> None:
    files.directory(name="Create the backup config directory", path=CONF_DIR, user="root", group="root", mode="0700")
    files.directory(name="Create the backup directory", path=settings.directory, user="root", group="root", mode="0700")
    files.template(
        name="Upload the backup config",
        src=template("etc/groundwork/backup/backup.conf"), dest=f"{CONF_DIR}/backup.conf",
        user="root", group="root", mode="0600",
        **config_values(settings, host.name, postgres_port, redis_on_host, backup_hosts),
    )
    files.template(
        name="Upload the age recipients",
        src=template("etc/groundwork/backup/recipients.txt"), dest=f"{CONF_DIR}/recipients.txt",
        user="root", group="root", mode="0644", recipients=list(settings.age_recipients),
    )
    if settings.webhook_url:
        # A StringIO: pyinfra never shows its content, and the URL may carry a token.
        files.put(name="Upload the backup webhook URL", src=StringIO(settings.webhook_url + "\n"),
                  dest=f"{CONF_DIR}/webhook", user="root", group="root", mode="0600")
    else:
        files.file(name="Remove the backup webhook URL", path=f"{CONF_DIR}/webhook", present=False)
    files.template(
        name="Upload the backup hosts' host keys",
        src=template("etc/groundwork/backup/known_hosts"), dest=f"{CONF_DIR}/known_hosts",
        user="root", group="root", mode="0644",
        host_keys=[(b.address, host_key(b)) for b in backup_hosts],
    )


def set_up_offsite_key(me: FleetHost) -> None:
    key = client_key(me)
    if key.private is not None:
        # A StringIO: never shown by pyinfra; the key was made in memory and is stored only here.
        files.put(name="Upload the off-host copy's SSH key", src=StringIO(key.private),
                  dest=SSH_KEY, user="root", group="root", mode="0600")
        files.put(name="Upload the off-host copy's SSH public key", src=StringIO(key.public + "\n"),
                  dest=f"{SSH_KEY}.pub", user="root", group="root", mode="0644")


def install_scripts() -> None:
    for name in SCRIPTS:
        files.template(
            name=f"Upload {name}", src=template(f"usr/local/sbin/{name}"), dest=f"/usr/local/sbin/{name}",
            user="root", group="root", mode="0750", conf_dir=CONF_DIR, metrics_dir=shlex.quote(TEXTFILE_DIR),
        )


def schedule_backups(settings: BackupsSettings) -> None:
    times = timer_times(settings, host.name)
    for unit, kind in ((BACKUP_UNIT, "backup"), (DRILL_UNIT, "drill")):
        timer = ServiceChanges(f"{unit}.timer", action="restart", daemon_reload=True)
        watched_upload(timer, files.template,
            name=f"Upload {unit}.service", src=template(f"etc/systemd/system/{unit}.service"),
            dest=f"/etc/systemd/system/{unit}.service", mode="0644", timeout=settings.timeout,
        )
        watched_upload(timer, files.template,
            name=f"Upload {unit}.timer", src=template(f"etc/systemd/system/{unit}.timer"),
            dest=f"/etc/systemd/system/{unit}.timer", mode="0644", **times[kind],
        )
        timer.apply()
        systemd.service(name=f"Enable and start {unit}.timer", service=f"{unit}.timer", running=True, enabled=True)


def take_first_backup(settings: BackupsSettings) -> None:
    """A new database host is backed up at once, not at the timer's first turn.

    Planned only while the host has no backup run at all; the service is a
    oneshot, so this waits for the dump and fails the converge if it fails.
    """
    runs = host.get_fact(FindDirectories, path=settings.directory, maxdepth=1) or []
    if not any(RUN_NAME.fullmatch(path.rsplit("/", 1)[-1]) for path in runs):
        server.shell(name="Take the first backup", commands=[f"systemctl start {BACKUP_UNIT}.service"])
