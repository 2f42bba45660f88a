"""app: the web app under Gunicorn on `app` hosts, Celery worker and beat on `worker` hosts."""

from __future__ import annotations

from pyinfra.api.exceptions import PyinfraError

from ...component import Component, HostRun, Listener, Opening
from ...fleet import APP, WEB, WORKER
from ...settings.schema import deploy_problems
from .deploy import app_packages, deploy_app
from .release import check_inputs
from .settings import AppSettings, CelerySettings
from .wiring import app_environment, env_file, runs_app, served_app


def _openings(run: HostRun) -> list[Opening]:
    """Gunicorn's port, open only to the web hosts on other machines that proxy to it."""
    if not runs_app(run.host):
        return []
    proxies = tuple(sorted({w.ip() for w in run.fleet.others(run.host) if w.plays(WEB) and not w.plays(APP)}))
    app = run.settings.app
    return [Opening(app.listen_port or app.port, sources=proxies, comment="app")] if proxies else []


def _checks(run: HostRun) -> list[str]:
    me, settings = run.host, run.settings
    problems = []
    if me.plays(APP):
        problems += deploy_problems(me.name, settings.app)
    if me.plays(WORKER):
        problems += deploy_problems(me.name, settings.celery)
        if not me.plays(APP) and settings.celery.enabled:
            problems.append(
                f"host {me.name}: groups: in group worker but not in group app; Celery runs from the "
                "app's release, so worker hosts must be app hosts too"
            )
    if runs_app(me) and not problems:
        try:
            check_inputs(settings.app.source, settings.app.constraints)
            env_file(app_environment(run.fleet, me))
            served_app(run.fleet, me)
        except (ValueError, PyinfraError) as exc:
            message = str(exc)
            problems.append(message if message.startswith("host ") else f"host {me.name}: {message}")
    return problems


def _deploy(run: HostRun) -> None:
    fleet, me = run.fleet, run.host
    deploy_app(
        served_app(fleet, me), run.settings.celery, app_environment(fleet, me),
        run_migrations=fleet.first_with_role(APP).name == me.name,
        run_worker=me.plays(WORKER),
        run_beat=fleet.first_with_role(WORKER).name == me.name,
    )


def _listens(run: HostRun) -> list[Listener]:
    """Gunicorn's TCP port, and the address it binds when that is one address of the host."""
    if not runs_app(run.host):
        return []
    app = served_app(run.fleet, run.host)
    if app.listen_port is None:
        return []
    address = app.gunicorn_bind.rpartition(":")[0].strip("[]")
    key = "app_bind" if run.settings.app.bind else "app_port"
    return [Listener(key, app.listen_port, () if address in ("0.0.0.0", "::", "") else (address,))]


APP_COMPONENT = Component(
    name="app",
    settings=(AppSettings, CelerySettings),
    plays=lambda run: runs_app(run.host),
    packages=lambda run: app_packages(run.settings.app),
    openings=_openings,
    checks=_checks,
    listens=_listens,
    derived=lambda run: {"app": served_app(run.fleet, run.host)} if run.host.plays(APP) else {},
    deploy=_deploy,
)
