"""firewall: ufw holding exactly the openings every other component declared; last in the run."""

from __future__ import annotations

from ...component import Component, HostRun, Opening
from .deploy import UFW_PACKAGES, deploy_firewall, ssh_port_in_use
from .settings import FirewallSettings


def _extra_openings(run: HostRun) -> list[Opening]:
    return [Opening(o.port, o.proto, tuple(o.sources), o.comment) for o in run.settings.firewall.extra_openings]


def _deploy(run: HostRun) -> None:
    # Every component of the run declares its openings; this one only collects them.
    deploy_firewall(run.settings.firewall, run.openings(),
                    ssh_port=run.settings.base.ssh_port or ssh_port_in_use(run.host.data))


FIREWALL = Component(
    name="firewall",
    settings=(FirewallSettings,),
    plays=lambda run: run.settings.firewall.enabled,
    packages=lambda run: UFW_PACKAGES,
    openings=_extra_openings,
    deploy=_deploy,
)
