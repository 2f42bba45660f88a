"""Base: identity, packages, clock, locale, journald and the security baseline on every host.

The baseline (docs/baseline.md): admin users with keys and sudo, sudo with
use_pty and a log, an sshd drop-in (key-only, root login off once an admin
can log in instead, optional port move without lock-out), unattended security
upgrades, fail2ban's sshd jail, a swap file on small hosts, systemd-timesyncd,
network sysctl hardening, and the hardening lynis asks for (login.defs,
banners, PAM modules, audit tools, module blacklist, core dumps, permissions;
docs/baseline.md "Hardening"). Files that a broken version would turn into a
lock-out (sshd, sudoers) go live only after their checker accepts them.
"""

from __future__ import annotations

import hashlib
import logging
import shlex
from io import StringIO

from pyinfra import host
from pyinfra.api import deploy
from pyinfra.api.operation import OperationMeta
from pyinfra.facts.files import File, Link, Sha256File
from pyinfra.facts.server import Arch

from ...changes import PENDING_DIR, ServiceChanges, watched_upload
from ...facts.host import MemoryBytes
from ...operations import files, server, systemd
from ...packages import ensure_packages
from ...paths import HOST_STATE_DIR, template
from ...templates import get_template
from .facts import ContainerType, Swaps, Sysctls
from .settings import BaseSettings, swap_size_bytes

logger = logging.getLogger("groundwork.base")

SSHD_DROP_IN = "/etc/ssh/sshd_config.d/00-groundwork.conf"
SUDOERS_DROP_IN = "/etc/sudoers.d/groundwork"
SWAP_FILE = "/swapfile"
# Network hardening only: nothing here changes how a web app's connections
# behave. log_martians is left out: ufw's /etc/ufw/sysctl.conf sets it to 0 on
# each reload, and two owners of a value would flip it run after run.
# Packages lynis asks for: $TMP per user, password strength, package
# verification and versions, services on outdated libraries, change logs
# before upgrades, performance accounting.
HARDENING_PACKAGES = [
    "libpam-tmpdir", "libpam-passwdqc", "debsums", "apt-show-versions", "needrestart",
    "apt-listchanges", "sysstat", "rkhunter",
]
AIDE_PACKAGES = ["aide", "aide-common"]
UNATTENDED_PACKAGES = ["unattended-upgrades"]
# python3-systemd: fail2ban's journal backend; iptables: its ban action.
FAIL2BAN_PACKAGES = ["fail2ban", "python3-systemd", "iptables"]
TIME_SYNC_PACKAGES = ["systemd-timesyncd"]
AIDE_DB = "/var/lib/aide/aide.db"
RKHUNTER_DB = "/var/lib/rkhunter/db/rkhunter.dat"
# Lynis's profile: cron's files only for root, sshd_config too.
ROOT_ONLY_DIRS = ["/etc/cron.d", "/etc/cron.daily", "/etc/cron.hourly", "/etc/cron.weekly", "/etc/cron.monthly"]
ROOT_ONLY_FILES = ["/etc/crontab", "/etc/ssh/sshd_config"]
NET_SYSCTLS = {
    "net.ipv4.conf.all.accept_redirects": "0",
    "net.ipv4.conf.default.accept_redirects": "0",
    "net.ipv6.conf.all.accept_redirects": "0",
    "net.ipv6.conf.default.accept_redirects": "0",
    "net.ipv4.conf.all.secure_redirects": "0",
    "net.ipv4.conf.default.secure_redirects": "0",
    "net.ipv4.conf.all.send_redirects": "0",
    "net.ipv4.conf.default.send_redirects": "0",
    "net.ipv4.conf.all.accept_source_route": "0",
    "net.ipv4.conf.default.accept_source_route": "0",
    "net.ipv6.conf.all.accept_source_route": "0",
    "net.ipv4.conf.all.rp_filter": "1",
    "net.ipv4.conf.default.rp_filter": "1",
    "net.ipv4.icmp_echo_ignore_broadcasts": "1",
    "net.ipv4.icmp_ignore_bogus_error_responses": "1",
    "net.ipv4.tcp_syncookies": "1",
}


@deploy("Base")
def deploy_base(settings: BaseSettings) -> None:
    files.directory(
        name="Create groundwork's state directory",
        path=HOST_STATE_DIR, user="root", group="root", mode="0755",
    )
    if settings.hostname:
        set_hostname(settings.hostname)
    ensure_packages(base_packages(settings), name="Install base packages")
    set_timezone(settings.timezone)
    set_locale(settings.locale)
    configure_journald(settings.journald_max_use)
    container = host.get_fact(ContainerType)
    create_admin_users(settings)
    configure_sudo(settings)
    harden_sshd(settings)
    if settings.unattended_upgrades:
        configure_unattended_upgrades(settings)
    if settings.fail2ban:
        configure_fail2ban(settings)
    configure_swap(settings, container)
    if settings.time_sync:
        configure_time_sync(container)
    if settings.sysctl_hardening:
        harden_sysctls()
    if settings.hardening:
        harden_host(settings)


def base_packages(settings: BaseSettings) -> list[str]:
    """Every package the base deploy installs with these settings: one apt run for all."""
    wanted = [*settings.packages, *settings.extra_packages]
    if settings.unattended_upgrades:
        wanted += UNATTENDED_PACKAGES
    if settings.fail2ban:
        wanted += FAIL2BAN_PACKAGES
    if settings.time_sync:
        wanted += TIME_SYNC_PACKAGES
    if settings.hardening:
        wanted += HARDENING_PACKAGES
        if settings.file_integrity:
            wanted += AIDE_PACKAGES
    return wanted


def set_package_default(name: str, path: str, key: str, value: str, sep: str = "=") -> OperationMeta:
    """KEY=value in a package's config file, replacing the package's own line.

    On a fresh host the package is installed by this same run, after the facts
    are read: files.line would then append its line below the package's, and
    tools that read the first one (lynis) see the old value. So until the file
    exists, a sed after the install does it.
    """
    if host.get_fact(File, path=path) is None:
        pattern = shlex.quote(rf"s/^#?{key}[[:space:]]*=.*/{key}{sep}{value}/")
        line = shlex.quote(f"{key}{sep}{value}")
        return server.shell(name=name, commands=[
            f"sed -i -E {pattern} {path}",
            f"grep -q -E '^{key}[[:space:]]*=' {path} || echo {line} >> {path}",
        ])
    return files.line(name=name, path=path, line=rf"^#?{key}\s*=.*$", replace=f"{key}{sep}{value}",
                      extended_regex=True)


def set_hostname(hostname: str) -> None:
    server.hostname(name="Set the hostname", hostname=hostname)
    short = hostname.split(".")[0]
    names = hostname if short == hostname else f"{hostname} {short}"
    files.line(
        name="Map the hostname to 127.0.1.1 in /etc/hosts",
        path="/etc/hosts",
        line=r"^127\.0\.1\.1\s.*$",
        replace=f"127.0.1.1\t{names}",
    )


def set_timezone(timezone: str) -> None:
    files.link(
        name=f"Set the time zone to {timezone}",
        path="/etc/localtime",
        target=f"/usr/share/zoneinfo/{timezone}",
    )
    files.put(
        name="Write /etc/timezone",
        src=StringIO(f"{timezone}\n"),
        dest="/etc/timezone",
        mode="0644",
    )


def set_locale(locale: str) -> None:
    if locale != "C.UTF-8":
        gen = files.line(
            name=f"Enable the {locale} locale",
            path="/etc/locale.gen",
            line=rf"^#?\s*{locale.replace('.', '[.]')}\s+UTF-8$",
            replace=f"{locale} UTF-8", extended_regex=True,
        )
        server.shell(name="Generate locales", commands=["locale-gen"], _if=gen.did_change)
    # Debian 13 makes /etc/default/locale a link to systemd's /etc/locale.conf;
    # writing through the link would replace it with a file on every run.
    link = host.get_fact(Link, path="/etc/default/locale")
    dest = "/etc/locale.conf" if link and link.get("link_target") == "../locale.conf" else "/etc/default/locale"
    files.template(
        name=f"Set the default locale to {locale}",
        src=template("etc/default/locale"),
        dest=dest,
        mode="0644",
        locale=locale,
    )


def configure_journald(max_use: str) -> None:
    journald = ServiceChanges("systemd-journald", action="restart")
    watched_upload(journald, files.template,
        name="Upload the journald size limit",
        src=template("etc/systemd/journald.conf.d/groundwork.conf"),
        dest="/etc/systemd/journald.conf.d/groundwork.conf",
        mode="0644",
        max_use=max_use,
    )
    journald.apply()



# --- files that must pass a checker before they go live -------------------------------------


def install_checked(name: str, path: str, dest: str, check: str, mode: str = "0644", pending: tuple[str, ...] = (),
                    **variables) -> OperationMeta:
    """Render templates/`path` to `dest` only if `check` then passes; else put the old file back.

    The rendered text is kept in groundwork's state dir; the install runs when it
    changed there or the live file differs from it (a run that died in between).
    """
    content = get_template(template(path)).render(**variables)
    staged_path = f"{HOST_STATE_DIR}/staged{dest}"
    files.directory(name=f"Create the staging directory for {dest}", path=staged_path.rsplit("/", 1)[0], mode="0700")
    staged = files.put(name=f"Stage {dest}", src=StringIO(content), dest=staged_path, mode="0600")
    differs = host.get_fact(Sha256File, path=dest) != hashlib.sha256(content.encode()).hexdigest()
    live, new, prev = (shlex.quote(p) for p in (dest, dest + ".groundwork-new", dest + ".groundwork-prev"))
    return server.shell(
        name=name,
        commands=[
            # The pending markers first: a run killed after the install cannot lose the reload.
            *([f"mkdir -p {PENDING_DIR} && touch {' '.join(map(shlex.quote, pending))}"] if pending else []),
            f"install -m {mode} -o root -g root {shlex.quote(staged_path)} {new}",
            f"if [ -e {live} ]; then cp -a {live} {prev}; fi; mv -f {new} {live}; "
            f"if ! out=$({check} 2>&1); then echo \"$out\" >&2; "
            f"if [ -e {prev} ]; then mv -f {prev} {live}; else rm -f {live}; fi; exit 1; fi; rm -f {prev}",
        ],
        _if=lambda: differs or staged.did_change(),
    )


# --- admin users, sudo, sshd -------------------------------------------------------------------


def create_admin_users(settings: BaseSettings) -> None:
    for user in settings.admin_users:
        created = server.user(
            name=f"Create the admin user {user.name} with its SSH keys",
            user=user.name, shell="/bin/bash", home=f"/home/{user.name}", create_home=True,
            public_keys=list(user.ssh_keys), delete_keys=True,
        )
        # useradd copies login.defs' PASS_MAX_DAYS into the new account; an
        # expired password would make PAM refuse even a key login, and admin
        # users have no password: no ageing for them.
        server.shell(
            name=f"No password ageing for the admin user {user.name}",
            commands=[f"chage -M -1 -m 0 {shlex.quote(user.name)}"], _if=created.did_change,
        )


def configure_sudo(settings: BaseSettings) -> None:
    install_checked(
        "Upload the sudoers drop-in (use_pty, log, admin users), checked by visudo -c",
        "etc/sudoers.d/groundwork", SUDOERS_DROP_IN, "visudo -c", mode="0440",
        log=settings.sudo_log, users=[u.name for u in settings.admin_users if u.sudo],
    )


def connection(data=None) -> tuple[int, str | None]:
    """(port, user) the inventory connects with."""
    data = host.data if data is None else data
    return int(data.get("ssh_port") or 22), data.get("ssh_user")


def sshd_ports(settings: BaseSettings, port_in_use: int) -> list[int]:
    """The wanted port, and the port in use beside it until the inventory moves to the new one."""
    wanted = settings.ssh_port or port_in_use
    return [wanted] if wanted == port_in_use else [wanted, port_in_use]


def harden_sshd(settings: BaseSettings) -> None:
    port_in_use, user = connection()
    as_root = user in (None, "root")
    permit = settings.permit_root_login(as_root)
    if settings.ssh_permit_root_login == "no" and permit != "no":
        logger.warning(
            "%s: root login stays key-only (prohibit-password): this inventory connects as root. "
            "Connect as an admin user with _sudo=True, then run again.", host.name,
        )
    ports = sshd_ports(settings, port_in_use)
    if len(ports) > 1:
        logger.warning(
            "%s: sshd listens on %s and %s; deploys/firewall.py opens %s and proves a fresh session "
            "on it; then set ssh_port=%s in the inventory and run again to close %s.",
            host.name, ports[0], port_in_use, ports[0], ports[0], port_in_use,
        )
    sshd = ServiceChanges("ssh", action="reload", check="sshd -t")
    sshd.track(install_checked(
        "Upload the sshd hardening drop-in, checked by sshd -t",
        "etc/ssh/sshd_config.d/00-groundwork.conf", SSHD_DROP_IN, "sshd -t", pending=(sshd.marker,),
        ports=ports, permit_root_login=permit,
        max_auth_tries=settings.ssh_max_auth_tries, login_grace_time=settings.ssh_login_grace_time,
        client_alive_interval=settings.ssh_client_alive_interval,
        client_alive_count_max=settings.ssh_client_alive_count_max,
        allow_forwarding=settings.ssh_allow_forwarding,
    ))
    sshd.apply()


# --- the rest of the baseline --------------------------------------------------------------------


def configure_unattended_upgrades(settings: BaseSettings) -> None:
    ensure_packages(UNATTENDED_PACKAGES, name="Install unattended-upgrades")
    files.template(
        name="Switch on the daily unattended upgrade",
        src=template("etc/apt/apt.conf.d/20auto-upgrades"),
        dest="/etc/apt/apt.conf.d/20auto-upgrades", mode="0644",
    )
    files.template(
        name="Upload the unattended-upgrades policy (security only, reboot window)",
        src=template("etc/apt/apt.conf.d/52groundwork-unattended-upgrades"),
        dest="/etc/apt/apt.conf.d/52groundwork-unattended-upgrades", mode="0644",
        reboot=settings.unattended_reboot, reboot_time=settings.unattended_reboot_time,
    )


def configure_fail2ban(settings: BaseSettings) -> None:
    ensure_packages(FAIL2BAN_PACKAGES, name="Install fail2ban")
    port_in_use, _ = connection()
    fail2ban = ServiceChanges("fail2ban", action="restart", check="fail2ban-client -t")
    watched_upload(fail2ban, files.template,
        name="Upload the fail2ban sshd jail",
        src=template("etc/fail2ban/jail.d/groundwork.local"),
        dest="/etc/fail2ban/jail.d/groundwork.local", mode="0644",
        ports=sshd_ports(settings, port_in_use),
        maxretry=settings.fail2ban_maxretry, findtime=settings.fail2ban_findtime, bantime=settings.fail2ban_bantime,
    )
    fail2ban.apply()
    systemd.service(name="Enable and start fail2ban", service="fail2ban", running=True, enabled=True)


def configure_swap(settings: BaseSettings, container: str) -> None:
    swaps = host.get_fact(Swaps)
    existing = sum(size for path, size in swaps.items() if path != SWAP_FILE)
    size = swap_size_bytes(settings.swap, settings.swap_size_mb, host.get_fact(MemoryBytes), existing)
    if SWAP_FILE in swaps or size == 0:
        return
    if container != "none":
        # The kernel refuses swapon inside a container (EPERM): the host's swap is shared.
        logger.warning("%s: no swap file: this host is a %s container, where swapon is refused", host.name, container)
        return
    mib = size // (1024 * 1024)
    if host.get_fact(File, path=SWAP_FILE) is None:
        server.shell(
            name=f"Create the {mib} MiB swap file {SWAP_FILE}",
            commands=[f"dd if=/dev/zero of={SWAP_FILE} bs=1M count={mib} status=none",
                      f"chmod 600 {SWAP_FILE}", f"mkswap {SWAP_FILE}"],
        )
    server.shell(name=f"Switch on the swap file {SWAP_FILE}", commands=[f"swapon {SWAP_FILE}"])
    files.line(
        name="Add the swap file to /etc/fstab", path="/etc/fstab",
        line=rf"^{SWAP_FILE}\s", replace=f"{SWAP_FILE} none swap sw 0 0",
    )


def configure_time_sync(container: str) -> None:
    ensure_packages(TIME_SYNC_PACKAGES, name="Install systemd-timesyncd")
    # systemd-timesyncd.service has ConditionVirtualization=!container: in a
    # container the host's clock is the container's and the unit is skipped,
    # not failed. Enabled either way; started only where it can run.
    systemd.service(
        name="Enable systemd-timesyncd", service="systemd-timesyncd",
        running=None if container != "none" else True, enabled=True,
    )


def harden_sysctls() -> None:
    files.template(
        name="Upload the network sysctl hardening",
        src=template("etc/sysctl.d/90-groundwork.conf"),
        dest="/etc/sysctl.d/90-groundwork.conf", mode="0644",
        settings=sorted(NET_SYSCTLS.items()),
    )
    current = host.get_fact(Sysctls, keys=sorted(NET_SYSCTLS))
    to_set = [k for k, v in NET_SYSCTLS.items() if current.get(k, (None, False))[0] != v and current[k][1]]
    read_only = [k for k, v in NET_SYSCTLS.items() if current.get(k, (None, False))[0] not in (v, None) and not current[k][1]]
    if read_only:
        # A container's /proc/sys is read-only: the file applies at the next boot of a real host.
        logger.warning("%s: sysctls read-only here, not applied: %s", host.name, ", ".join(sorted(read_only)))
    if to_set:
        server.shell(
            name="Apply the network sysctl hardening",
            commands=[f"sysctl -q -w {k}={NET_SYSCTLS[k]}" for k in sorted(to_set)],
        )


# --- hardening from lynis's audit (docs/baseline.md, "Hardening") ------------------------------


def harden_host(settings: BaseSettings) -> None:
    ensure_packages(HARDENING_PACKAGES, name="Install the hardening and audit packages")
    login_defs = {
        "PASS_MAX_DAYS": settings.password_max_days,
        "PASS_MIN_DAYS": settings.password_min_days,
        "PASS_WARN_AGE": settings.password_warn_days,
        "SHA_CRYPT_MIN_ROUNDS": settings.password_hash_rounds,
        "SHA_CRYPT_MAX_ROUNDS": settings.password_hash_rounds,
    }
    for key, value in login_defs.items():
        files.line(
            name=f"Set {key} in /etc/login.defs", path="/etc/login.defs",
            line=rf"^#?{key}\s.*$", replace=f"{key}\t{value}", extended_regex=True,
        )
    for path in ("etc/issue", "etc/issue.net"):
        files.template(
            name=f"Upload the legal banner /{path}", src=template(path), dest=f"/{path}",
            user="root", group="root", mode="0644", banner=settings.login_banner.strip(),
        )
    files.template(
        name="Upload the kernel module blacklist",
        src=template("etc/modprobe.d/groundwork-blacklist.conf"),
        dest="/etc/modprobe.d/groundwork-blacklist.conf", mode="0644",
        modules=list(dict.fromkeys(settings.disabled_kernel_modules)),
    )
    for path in ("etc/security/limits.d/groundwork.conf", "etc/systemd/coredump.conf.d/groundwork.conf"):
        if settings.core_dumps:
            files.file(name=f"Remove the core dump limit /{path}", path=f"/{path}", present=False)
        else:
            files.template(name=f"Upload the core dump limit /{path}", src=template(path), dest=f"/{path}", mode="0644")
    files.template(
        name="Upload the needrestart policy (list, never restart from apt)",
        src=template("etc/needrestart/conf.d/groundwork.conf"),
        dest="/etc/needrestart/conf.d/groundwork.conf", mode="0644",
    )
    set_package_default("Switch on sysstat's data collection", "/etc/default/sysstat", "ENABLED", '"true"')
    systemd.service(name="Enable and start sysstat", service="sysstat", running=True, enabled=True)
    set_package_default("Let debsums check installed files weekly", "/etc/default/debsums", "CRON_CHECK", "weekly")
    # rkhunter: a daily scan, and its file properties refreshed after every apt
    # run (else each upgrade reads as tampering). No database downloads.
    for key, value in (("CRON_DAILY_RUN", "true"), ("APT_AUTOGEN", "true")):
        set_package_default(f"Set rkhunter's {key}", "/etc/default/rkhunter", key, f'"{value}"')
    if not host.get_fact(File, path=RKHUNTER_DB):
        server.shell(name="Record rkhunter's baseline of file properties", commands=["rkhunter --propupd --nocolors >/dev/null"])
    if settings.file_integrity:
        # AIDE: a database of file checksums, checked daily by aide-common's
        # dailyaidecheck; made once here (aideinit scans the whole disk).
        ensure_packages(AIDE_PACKAGES, name="Install AIDE")
        # One strong hash instead of every one AIDE knows ("H"): the same
        # assurance, a fraction of the time per scan.
        checksums = set_package_default(
            "Make AIDE checksum with SHA-512", "/etc/aide/aide.conf", "Checksums", "sha512", sep=" = ",
        )
        if not host.get_fact(File, path=AIDE_DB):
            server.shell(name="Build AIDE's first database", commands=["aideinit --yes --force >/dev/null"])
        else:
            server.shell(name="Rebuild AIDE's database with the new checksums", _if=checksums.did_change,
                         commands=["aideinit --yes --force >/dev/null"])
    # Interactive login shells only (/etc/profile): an admin's new files are
    # not world-readable. Services and pyinfra's own commands keep their umask.
    lines = [f"umask {settings.shell_umask}"]
    if settings.shell_timeout:
        lines += [f"TMOUT={settings.shell_timeout}", "readonly TMOUT", "export TMOUT"]
    files.block(
        name="Set the umask and idle timeout of login shells", path="/etc/profile",
        marker="# {mark} groundwork: login shell umask and idle timeout", content="\n".join(lines),
    )
    # The assembler binutils brings (rkhunter needs binutils) only for root:
    # a dpkg-statoverride, so upgrades keep the mode.
    # The fact is read before this run installs binutils: a missing file is
    # handled by the command itself, so the first run already restricts it.
    path = f"/usr/bin/{host.get_fact(Arch)}-linux-gnu-as"
    info = host.get_fact(File, path=path)
    if not info or info.get("mode") != 750:
        server.shell(
            name=f"Restrict {path} to root",
            commands=[f"if [ -e {path} ]; then dpkg-statoverride --remove {path} 2>/dev/null || true; "
                      f"dpkg-statoverride --update --add root root 0750 {path}; fi"],
        )
