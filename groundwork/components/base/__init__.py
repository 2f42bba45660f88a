"""base: identity, clock, locale, packages, journald and the security baseline, on every host."""

from __future__ import annotations

from ...component import Component, HostRun, Listener, Opening
from ...settings.schema import deploy_problems
from .deploy import base_packages, connection, deploy_base
from .settings import BaseSettings


def _ssh_openings(run: HostRun) -> list[Opening]:
    """sshd's wanted port, and the port the inventory connects on while the two differ
    (never lock the operator out)."""
    in_use = connection(run.host.data)[0]
    wanted = run.settings.base.ssh_port or in_use
    return [Opening(port, comment="ssh") for port in dict.fromkeys((wanted, in_use))]


def _sshd(run: HostRun) -> list[Listener]:
    in_use = connection(run.host.data)[0]
    wanted = run.settings.base.ssh_port or in_use
    return [Listener("base_ssh_port", port) for port in dict.fromkeys((wanted, in_use))]


BASE = Component(
    name="base",
    settings=(BaseSettings,),
    plays=lambda run: True,
    packages=lambda run: base_packages(run.settings.base),
    openings=_ssh_openings,
    listens=_sshd,
    checks=lambda run: deploy_problems(run.host.name, run.settings.base),
    deploy=lambda run: deploy_base(run.settings.base),
)
