"""Settings of the ``firewall`` component: ufw defaults, extra openings, unmanaged rules.

What is opened comes from the components (each component declares its openings, groundwork.component.Opening); these settings
only shape the policy around it.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from typing import ClassVar, Literal

from ...settings.schema import ComponentSettings, matches, setting

Policy = Literal["deny", "reject", "allow"]


def _port(value: int) -> str | None:
    return None if 1 <= value <= 65535 else f"expected a port from 1 to 65535, got {value!r}"


def _sources(values: tuple[str, ...]) -> str | None:
    if not values:
        return "expected 'any' or at least one address or network, got an empty list"
    for value in values:
        if value == "any":
            continue
        try:
            ipaddress.ip_network(value, strict=False)
        except ValueError:
            return f"expected 'any', an address or a network like '10.0.0.0/24', got {value!r}"
    if "any" in values and len(values) > 1:
        return f"expected 'any' alone or addresses, got {list(values)!r}"
    return None


@dataclass(frozen=True)
class ExtraOpening:
    port: int = setting(doc="Port to open.", check=_port)
    proto: Literal["tcp", "udp"] = setting("tcp", doc="Protocol.")
    sources: list[str] = setting(
        default_factory=lambda: ["any"], doc="'any', or the addresses/networks allowed in.", check=_sources
    )
    comment: str = setting(
        "extra", doc="Short label shown in `ufw status` after 'groundwork: '.",
        check=matches(r"[A-Za-z0-9 _.:/-]{1,40}", "up to 40 letters, digits, spaces or _.:/-"),
    )


@dataclass(frozen=True)
class FirewallSettings(ComponentSettings):
    """ufw: default policies, the ports components declare, extra openings, unmanaged rules (deploys/firewall.py)."""

    prefix: ClassVar[str] = "firewall"

    enabled: bool = setting(True, doc="Manage ufw on the host; false leaves the firewall alone.")
    default_incoming: Policy = setting("deny", doc="ufw default policy for incoming traffic.")
    default_outgoing: Policy = setting("allow", doc="ufw default policy for outgoing traffic.")
    default_routed: Policy = setting("deny", doc="ufw default policy for routed (forwarded) traffic.")
    unmanaged_rules: Literal["keep", "purge"] = setting(
        "keep",
        doc=(
            "Rules not made by groundwork (no 'groundwork:' comment): keep them, or purge them. "
            "Rules groundwork made and no longer declares are always removed."
        ),
    )
    extra_openings: list[ExtraOpening] = setting(
        default_factory=list, doc="Openings of your own beside those the components declare."
    )

    def cross_check(self):
        if self.default_incoming == "allow":
            yield "default_incoming", "expected 'deny' or 'reject', got 'allow' (that is no firewall)"
