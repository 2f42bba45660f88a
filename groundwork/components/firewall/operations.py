"""ufw as an idempotent operation: facts in, ufw commands out.

`plan()` is the whole logic and has no host: it compares the UfwState fact
with the wanted openings and policies and returns the commands, none when the
host already matches. Order matters, so that no command ever cuts off the
SSH session the run uses:

1. add missing rules (the SSH rule first),
2. set the default policies,
3. delete rules no longer wanted (groundwork's own; others only with purge),
4. enable ufw, last, and only when a rule for the SSH port in use exists.
"""

from __future__ import annotations

import shlex
from collections.abc import Iterable

from pyinfra import host
from pyinfra.api import OperationError, operation

from ...component import Opening
from .facts import UfwRule, UfwState

MARK = "groundwork:"


def wanted_rules(openings: Iterable[Opening]) -> list[UfwRule]:
    rules: list[UfwRule] = []
    for o in openings:
        for source in o.sources:
            rule = UfwRule("allow", o.proto, str(o.port), "any", "any", source, "in",
                           comment=f"{MARK} {o.comment}".strip())
            if rule.key not in {r.key for r in rules}:
                rules.append(rule)
    return rules


def is_managed(rule: UfwRule) -> bool:
    return rule.comment.startswith(MARK)


def rule_spec(rule: UfwRule) -> str:
    """ufw's arguments for `rule`: add with `ufw SPEC`, delete with `ufw delete SPEC`
    (route rules: `ufw route SPEC` / `ufw route delete SPEC`, see add_command/delete_command)."""
    action = rule.action.removeprefix("route:")
    words = []
    action, _, log = action.partition("_")
    words.append(action)
    for part in rule.direction.split("!"):
        direction, _, iface = part.partition("_")
        words.append(direction)
        if iface:
            words += ["on", iface]
    if log:
        words.append(log)
    if rule.proto != "any" and rule.dapp == "-" and rule.sapp == "-":
        words += ["proto", rule.proto]
    words += ["from", rule.src]
    if rule.sapp != "-":
        words += ["app", rule.sapp.replace("%20", " ")]
    elif rule.sport != "any":
        words += ["port", rule.sport]
    words += ["to", rule.dst]
    if rule.dapp != "-":
        words += ["app", rule.dapp.replace("%20", " ")]
    elif rule.dport != "any":
        words += ["port", rule.dport]
    return shlex.join(words)


def add_command(rule: UfwRule) -> str:
    route = "route " if rule.action.startswith("route:") else ""
    comment = f" comment {shlex.quote(rule.comment)}" if rule.comment else ""
    return f"ufw {route}{rule_spec(rule)}{comment}"


def delete_command(rule: UfwRule) -> str:
    route = "route " if rule.action.startswith("route:") else ""
    return f"ufw --force {route}delete {rule_spec(rule)}"


def plan(
    state: dict | None,
    openings: Iterable[Opening],
    defaults: dict[str, str],
    purge_unmanaged: bool = False,
    ssh_port: int = 22,
) -> list[str]:
    """The ufw commands that take `state` (the UfwState fact) to what is wanted."""
    wanted = wanted_rules(openings)
    if not any(r.dport == str(ssh_port) and r.proto in ("tcp", "any") and r.src == "any" for r in wanted):
        raise OperationError(f"refusing to manage ufw without a rule open to anyone for the SSH port in use ({ssh_port})")
    if state is None:
        raise OperationError("ufw is not installed")
    current: list[UfwRule] = state["rules"]
    have = {(r.key, r.comment) for r in current}
    commands = []
    # The SSH port in use first: everything after it may switch filtering on.
    wanted.sort(key=lambda r: r.dport != str(ssh_port))
    for rule in wanted:
        if (rule.key, rule.comment) not in have:
            commands.append(add_command(rule))
    for direction in ("incoming", "outgoing", "routed"):
        if state["defaults"].get(direction) != defaults[direction]:
            commands.append(f"ufw default {defaults[direction]} {direction}")
    wanted_keys = {r.key for r in wanted}
    for rule in current:
        if rule.key in wanted_keys:
            continue
        if is_managed(rule) or purge_unmanaged:
            commands.append(delete_command(rule))
    if not state["enabled"]:
        commands.append("ufw --force enable")
    return commands


@operation()
def firewall(
    openings: list[Opening],
    defaults: dict[str, str],
    purge_unmanaged: bool = False,
    ssh_port: int = 22,
):
    """Make ufw hold exactly `openings` (plus unmanaged rules unless purged), with `defaults`, enabled."""
    yield from plan(host.get_fact(UfwState), openings, defaults, purge_unmanaged, ssh_port)
