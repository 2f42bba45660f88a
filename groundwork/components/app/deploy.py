"""The app: user → release (built here, installed there) → config → units →
migrations → switch with a health gate → Celery."""

from __future__ import annotations

import shlex
from io import StringIO
from pathlib import Path

from pyinfra import host
from pyinfra.api import deploy
from pyinfra.api.exceptions import PyinfraError
from pyinfra.facts.files import File, FindFiles, Link

from ...changes import ServiceChanges, await_answer, watched_upload
from ...escape import python_literal, shell_word, systemd_word
from ...facts.host import CpuCount
from ...facts.once import fact_at_start
from ...operations import files, server, systemd
from ...packages import ensure_packages
from ...paths import template
from .facts import PythonTarget
from .operations import install_release
from .release import Release, build_release
from .rollout import switch_release
from .settings import AppSettings, CelerySettings
from .wiring import env_file

# systemd sandbox of every app unit; `systemd-analyze security` rates it ~1.x.
HARDENING = """\
UMask=0077
NoNewPrivileges=yes
CapabilityBoundingSet=
AmbientCapabilities=
ProtectSystem=strict
ProtectHome=yes
PrivateTmp=yes
PrivateDevices=yes
PrivateUsers=yes
ProtectClock=yes
ProtectHostname=yes
ProtectKernelTunables=yes
ProtectKernelModules=yes
ProtectKernelLogs=yes
ProtectControlGroups=yes
ProtectProc=invisible
ProcSubset=pid
RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6
RestrictNamespaces=yes
RestrictRealtime=yes
RestrictSUIDSGID=yes
LockPersonality=yes
MemoryDenyWriteExecute=yes
RemoveIPC=yes
DevicePolicy=closed
SystemCallArchitectures=native
SystemCallFilter=@system-service
SystemCallFilter=~@privileged @resources
# Gunicorn chowns its unix socket to the app user (in @privileged otherwise).
SystemCallFilter=@chown
SystemCallErrorNumber=EPERM
"""


def build_for_host(settings: AppSettings) -> Release:
    target = host.get_fact(PythonTarget)
    if target is None:
        raise PyinfraError(f"{host.name}: python3 is missing; the base component installs it")
    return build_release(
        Path(settings.source), settings.server, list(settings.extra_requirements), settings.constraints, target,
        salt=settings.static_command or "",
    )


APP_PACKAGES = ["python3-venv", "curl"]


@deploy("App")
def deploy_app(settings: AppSettings, celery: CelerySettings, environment: dict[str, str],
               run_migrations: bool, run_worker: bool, run_beat: bool) -> None:
    """`environment` holds DATABASE_URL/REDIS_URL (groundwork.components.app.wiring);
    `run_migrations` and `run_beat` are true on exactly one host (groundwork.fleet):
    the first app host, which also runs the timers and processes meant for one host."""
    name = settings.name
    ensure_packages(app_packages(settings), name="Install the app's packages")
    create_app_user(name)
    release = build_for_host(settings)

    # Gunicorn is up when the health path answers 200; a Celery unit when it stays up.
    answers = health_check(settings)
    # A restart waits for the old workers to finish (graceful_timeout), then for health.
    bound = settings.graceful_timeout + 15 + settings.health_timeout
    web = ServiceChanges(f"{name}.service", action="restart", ready=answers, timeout=bound)
    web_reload = ServiceChanges(f"{name}.service", action="reload", ready=answers, timeout=bound)
    workers = {unit: ServiceChanges(unit, action="restart", ready=stays_active(unit),
                                    timeout=celery.stop_timeout + 30)
               for unit in celery_units(name, celery, run_worker, run_beat)}
    timers = [t for t in settings.timers if t.hosts == "all" or run_migrations]
    processes = {f"{name}-proc-{p.name}.service": p for p in settings.processes if p.hosts == "all" or run_migrations}
    extras = {unit: ServiceChanges(unit, action="restart", ready=stays_active(unit), timeout=60) for unit in processes}
    restarts = [web, *workers.values(), *extras.values()]
    upload_config(settings, environment, restarts, web_reload, restart_after_switch=[*workers, *extras])
    upload_units(settings, celery, web, workers)
    upload_timers_and_processes(settings, timers, processes, extras)

    current = host.get_fact(Link, path=f"/srv/{name}/current")
    live = bool(current) and Path(current.get("link_target", "")).name == release.id
    if not host.get_fact(File, path=f"/srv/{name}/releases/{release.id}/.complete"):
        install_release(name, release, settings.static_command, name=f"Install release {release.id}")
    if not live:
        if run_migrations and settings.migrate_command:
            server.shell(
                name=f"Run the migrations of release {release.id}",
                commands=[f"{name}-run --release {release.id} sh -c {shlex.quote(settings.migrate_command)}"],
            )
        switch_release(
            name, release.id, settings.rollout_batch,
            name=f"Switch to release {release.id} behind a health check, "
            + ("one host at a time" if settings.rollout_batch == 1 else f"{settings.rollout_batch} hosts at a time"),
        )

    # A new release is started by the switch above, behind its health check;
    # a live one found stopped (by hand, a crash) is started here.
    kept = systemd.service(name=f"Keep {name} enabled and running", service=f"{name}.service",
                           running=True if live else None, enabled=True)
    if live:
        await_answer(kept, f"{name}.service", answers, settings.health_timeout)
    for change in (*restarts, web_reload):
        change.apply()
    if run_worker:
        run_celery(name, celery, run_beat)
    run_timers_and_processes(name, timers, processes)


def app_packages(settings: AppSettings) -> list[str]:
    """What the app needs on its hosts: ours, and the app's own (app_packages)."""
    return [*APP_PACKAGES, *settings.packages]


def venv_command(name: str, words: list[str]) -> str:
    """An ExecStart= command line running `words` from the current release: a bare first
    word is the release's (a console script, python)."""
    first, *rest = words
    if "/" not in first:
        first = f"/srv/{name}/current/venv/bin/{first}"
    return " ".join(systemd_word(word) for word in (first, *rest))


def celery_start(name: str, celery: CelerySettings) -> str:
    words = shlex.split(celery.command) if celery.command else ["python", "-m", "celery", "--app", celery.app]
    return venv_command(name, words)


def health_check(settings: AppSettings) -> str:
    """A shell test: the app answers its health path with 200."""
    request = " ".join(shell_word(word) for word in settings.health_request)
    return f"[ \"$(curl -s -o /dev/null -w '%{{http_code}}' --max-time 5 {request})\" = 200 ]"


def stays_active(unit: str, seconds: int = 3) -> str:
    """A shell test: `unit` is active and has been for `seconds` (a crash loop restarts the clock)."""
    quoted = shlex.quote(unit)
    return (f"[ \"$(systemctl show -P ActiveState {quoted})\" = active ] && "
            f"[ $(( $(date +%s) - $(systemctl show -P ActiveEnterTimestamp --timestamp=unix {quoted} | tr -d @) )) "
            f"-ge {seconds} ]")


def celery_units(name: str, celery: CelerySettings, run_worker: bool, run_beat: bool) -> list[str]:
    """The Celery units that run on this host."""
    if not celery.enabled or not run_worker:
        return []
    beat = [f"{name}-celery-beat.service"] if run_beat and celery.beat else []
    return [f"{name}-celery-worker.service", *beat]


def create_app_user(name: str) -> None:
    server.group(name=f"Create the {name} group", group=name, system=True)
    server.user(
        name=f"Create the {name} user", user=name, group=name, system=True,
        shell="/usr/sbin/nologin", home=f"/var/lib/{name}", create_home=False,
    )
    files.directory(name=f"Create /srv/{name}/releases", path=f"/srv/{name}/releases",
                    user="root", group="root", mode="0755")
    files.directory(name=f"Create /etc/{name}", path=f"/etc/{name}", user="root", group=name, mode="0750")


def upload_config(settings: AppSettings, environment: dict[str, str],
                  restarts: list[ServiceChanges], web_reload: ServiceChanges, restart_after_switch: list[str]) -> None:
    """The environment and your config files restart every unit; gunicorn.conf.py reloads Gunicorn."""
    name = settings.name

    watched_upload(restarts, files.put,
        name=f"Upload /etc/{name}/env", src=StringIO(env_file(environment)),
        dest=f"/etc/{name}/env", user="root", group="root", mode="0600",
    )
    for config in settings.config_files:
        watched_upload(restarts, files.template,
            name=f"Upload {config.dest}", src=config.src, dest=config.dest,
            user="root", group=name, mode=config.mode, app=settings,
            data_dir=f"/var/lib/{name}", release_root=f"/srv/{name}/current",
        )
    watched_upload(web_reload, files.template,
        name="Upload gunicorn.conf.py", src=template("etc/NAME/gunicorn.conf.py"),
        dest=f"/etc/{name}/gunicorn.conf.py", user="root", group=name, mode="0640",
        app_name=name, **gunicorn_vars(settings, host.get_fact(CpuCount)),
    )
    files.template(
        name=f"Upload {name}-run", src=template("usr/local/bin/NAME-run"),
        dest=f"/usr/local/bin/{name}-run", mode="0755", app_name=name,
    )
    files.template(
        name=f"Upload groundwork-activate-{name}", src=template("usr/local/sbin/groundwork-activate-NAME"),
        dest=f"/usr/local/sbin/groundwork-activate-{name}", mode="0755", app_name=name,
        health_path=settings.health_path, health_timeout=settings.health_timeout,
        keep_releases=settings.keep_releases, graceful_timeout=settings.graceful_timeout,
        health_request=" ".join(shell_word(word) for word in settings.health_request),
        restart_after_switch=" ".join(shell_word(unit) for unit in restart_after_switch),
        health_path_word=shell_word(settings.health_path),
    )


def gunicorn_vars(settings: AppSettings, cpus: int) -> dict:
    """gunicorn.conf.py's values, each a Python literal."""
    return {
        "proc_name": python_literal(settings.name),
        "bind": python_literal(settings.gunicorn_bind),
        "workers": settings.workers or 2 * cpus + 1,
        "worker_class": python_literal(settings.worker_class),
        "uvicorn_workers": settings.server == "asgi",
        "threads": settings.threads,
        "timeout": settings.timeout,
        "graceful_timeout": settings.graceful_timeout,
        "keepalive": settings.keepalive,
        "max_requests": settings.max_requests,
        "max_requests_jitter": settings.max_requests_jitter,
        "forwarded_allow_ips": python_literal(",".join(settings.forwarded_allow_ips)),
        "current_link": python_literal(f"/srv/{settings.name}/current"),
    }


def upload_units(settings: AppSettings, celery: CelerySettings,
                 web: ServiceChanges, workers: dict[str, ServiceChanges]) -> None:
    name = settings.name
    common = {"app_name": name, "hardening": HARDENING}
    uploads = [
        watched_upload(web, files.template,
            name=f"Upload {name}.service", src=template("etc/systemd/system/NAME.service"),
            dest=f"/etc/systemd/system/{name}.service", mode="0644",
            callable=systemd_word(settings.callable), graceful_timeout=settings.graceful_timeout, **common,
        ),
    ]
    if workers:
        worker_unit, beat_unit = f"{name}-celery-worker.service", f"{name}-celery-beat.service"
        uploads.append(watched_upload([c for c in (workers.get(worker_unit),) if c], files.template,
            name=f"Upload {worker_unit}", src=template("etc/systemd/system/NAME-celery-worker.service"),
            dest=f"/etc/systemd/system/{worker_unit}", mode="0644",
            celery_start=celery_start(name, celery), queues=systemd_word(",".join(celery.queues)) if celery.queues else "",
            concurrency=celery.concurrency,
            stop_timeout=celery.stop_timeout, **common,
        ))
        uploads.append(watched_upload([c for c in (workers.get(beat_unit),) if c], files.template,
            name=f"Upload {beat_unit}", src=template("etc/systemd/system/NAME-celery-beat.service"),
            dest=f"/etc/systemd/system/{beat_unit}", mode="0644", celery_start=celery_start(name, celery), **common,
        ))
    systemd.daemon_reload(name="Reload systemd units", _if=lambda: any(op.did_change() for op in uploads))


def upload_timers_and_processes(settings: AppSettings, timers: list, processes: dict, extras: dict) -> None:
    """The app's timers and extra processes on this host; those no longer declared go."""
    name = settings.name
    common = {"app_name": name, "hardening": HARDENING}
    uploads = []
    for timer in timers:
        unit = f"{name}-timer-{timer.name}"
        uploads.append(files.template(
            name=f"Upload {unit}.service", src=template("etc/systemd/system/NAME-timer-TIMER.service"),
            dest=f"/etc/systemd/system/{unit}.service", mode="0644", timer_name=timer.name,
            command=systemd_word(timer.command), **common,
        ))
        timer_changes = ServiceChanges(f"{unit}.timer", action="restart", daemon_reload=True)
        uploads.append(watched_upload(timer_changes, files.template,
            name=f"Upload {unit}.timer", src=template("etc/systemd/system/NAME-timer-TIMER.timer"),
            dest=f"/etc/systemd/system/{unit}.timer", mode="0644", timer_name=timer.name,
            schedule=timer.schedule, randomized_delay=timer.randomized_delay, app_name=name,
        ))
        timer_changes.apply()
    for unit, process in processes.items():
        uploads.append(watched_upload(extras[unit], files.template,
            name=f"Upload {unit}", src=template("etc/systemd/system/NAME-proc-PROCESS.service"),
            dest=f"/etc/systemd/system/{unit}", mode="0644", process_name=process.name,
            command=systemd_word(f"exec {process.command}"), **common,
        ))
    systemd.daemon_reload(name="Reload systemd units for the app's timers and processes",
                          _if=lambda: any(op.did_change() for op in uploads))
    wanted = {f"{name}-timer-{t.name}.{kind}" for t in timers for kind in ("service", "timer")} | set(processes)
    for path in sorted(fact_at_start(FindFiles, path="/etc/systemd/system", maxdepth=1,
                                     fname=f"{name}-*") or []):
        unit = path.rsplit("/", 1)[-1]
        if unit not in wanted and unit.startswith((f"{name}-timer-", f"{name}-proc-")):
            server.shell(name=f"Remove {unit}, no longer declared",
                         commands=[f"systemctl disable --now {shlex.quote(unit)} 2>/dev/null || true; "
                                   f"rm -f {shlex.quote(path)} && systemctl daemon-reload"])


def run_timers_and_processes(name: str, timers: list, processes: dict) -> None:
    for timer in timers:
        systemd.service(name=f"Run the {timer.name} timer", service=f"{name}-timer-{timer.name}.timer",
                        running=True, enabled=True)
    for unit, process in processes.items():
        started = systemd.service(name=f"Run the {process.name} process", service=unit, running=True, enabled=True)
        await_answer(started, unit, stays_active(unit), 60)


def run_celery(name: str, celery: CelerySettings, run_beat: bool) -> None:
    if not celery.enabled:
        return
    systemd.service(name="Run the Celery worker", service=f"{name}-celery-worker.service",
                    running=True, enabled=True)
    beat = run_beat and celery.beat
    systemd.service(
        name="Run Celery beat" if beat else "Keep Celery beat off on this host",
        service=f"{name}-celery-beat.service", running=beat, enabled=beat,
    )
