"""nginx: the HTTPS reverse proxy and its ACME certificate (certbot) on `web` hosts."""

from __future__ import annotations

from ...component import Component, HostRun, Listener, Opening
from ...fleet import WEB
from ...settings.schema import deploy_problems
from .deploy import NGINX_PACKAGES, deploy_nginx
from .settings import CertbotSettings, NginxSettings
from .upstream import nginx_upstream, upstream_problem


def _checks(run: HostRun) -> list[str]:
    if not run.host.plays(WEB):
        return []
    problems = [*deploy_problems(run.host.name, run.settings.nginx), *deploy_problems(run.host.name, run.settings.certbot)]
    problem = upstream_problem(run.fleet, run.host)
    return [*problems, f"host {run.host.name}: {problem}"] if problem else problems


NGINX = Component(
    name="nginx",
    settings=(NginxSettings, CertbotSettings),
    plays=lambda run: run.host.plays(WEB),
    packages=lambda run: NGINX_PACKAGES,
    openings=lambda run: [Opening(80, comment="http"), Opening(443, comment="https")],
    checks=_checks,
    listens=lambda run: [Listener("nginx (http)", 80), Listener("nginx (https)", 443)],
    deploy=lambda run: deploy_nginx(run.settings.nginx, run.settings.certbot, nginx_upstream(run.fleet, run.host)),
)
