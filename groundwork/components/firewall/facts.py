"""ufw's state read from its own files, active or not.

`ufw status` lists rules only while ufw is active; the files under /etc/ufw
hold them either way, each rule as a line ufw itself writes:

    ### tuple ### allow tcp 22 0.0.0.0/0 any 0.0.0.0/0 in comment=67726f756e64776f726b3a20737368

(action proto dport dst sport src [dapp sapp] direction [comment=hex]).
"""

from __future__ import annotations

from dataclasses import dataclass

from pyinfra.api import FactBase

ANY_V4, ANY_V6 = "0.0.0.0/0", "::/0"
POLICIES = {"DROP": "deny", "ACCEPT": "allow", "REJECT": "reject"}

_SECTIONS = ("conf", "default", "rules", "rules6")


@dataclass(frozen=True)
class UfwRule:
    """One user rule; `any` stands for 0.0.0.0/0 and ::/0 (a v4 + v6 pair is one rule)."""

    action: str  # allow, deny, reject, limit; "route:" prefix and "_log"/"_log-all" suffix kept
    proto: str  # tcp, udp, any, ...
    dport: str
    dst: str
    sport: str
    src: str
    direction: str  # in, out, in_eth0, in_eth0!out_eth1
    dapp: str = "-"
    sapp: str = "-"
    comment: str = ""

    @property
    def key(self) -> tuple:
        """The rule without its comment: what ufw matches when adding or deleting."""
        return (self.action, self.proto, self.dport, self.dst, self.sport, self.src, self.direction, self.dapp, self.sapp)


def parse_tuple(line: str) -> UfwRule | None:
    body = line.strip().removeprefix("### tuple ###").split()
    comment = ""
    if body and body[-1].startswith("comment="):
        comment = bytes.fromhex(body.pop()[len("comment="):]).decode("utf-8", "replace")
    if len(body) == 7:
        action, proto, dport, dst, sport, src, direction = body
        dapp = sapp = "-"
    elif len(body) == 9:
        action, proto, dport, dst, sport, src, dapp, sapp, direction = body
    else:
        return None

    def norm(addr: str) -> str:
        return "any" if addr in (ANY_V4, ANY_V6) else addr

    return UfwRule(action, proto, dport, norm(dst), sport, norm(src), direction, dapp, sapp, comment)


def parse_ufw(lines) -> dict | None:
    """The fact's output as {"enabled", "ipv6", "defaults": {incoming, outgoing, routed}, "rules"}."""
    sections: dict[str, list[str]] = {}
    current = None
    for line in lines:
        if line.startswith("@@") and line[2:] in _SECTIONS:
            current = line[2:]
            sections[current] = []
        elif current is not None:
            sections[current].append(line)
    if "conf" not in sections:
        return None

    def values(section: str) -> dict[str, str]:
        out = {}
        for line in sections.get(section, []):
            if "=" in line and not line.lstrip().startswith("#"):
                key, _, value = line.partition("=")
                out[key.strip()] = value.strip().strip('"')
        return out

    conf, default = values("conf"), values("default")
    rules: list[UfwRule] = []
    for section in ("rules", "rules6"):
        for line in sections.get(section, []):
            if line.startswith("### tuple ###"):
                rule = parse_tuple(line)
                if rule is not None and rule not in rules:
                    rules.append(rule)
    return {
        "enabled": conf.get("ENABLED", "no").lower() == "yes",
        "ipv6": default.get("IPV6", "yes").lower() == "yes",
        "defaults": {
            "incoming": POLICIES.get(default.get("DEFAULT_INPUT_POLICY", ""), "unknown"),
            "outgoing": POLICIES.get(default.get("DEFAULT_OUTPUT_POLICY", ""), "unknown"),
            "routed": POLICIES.get(default.get("DEFAULT_FORWARD_POLICY", ""), "unknown"),
        },
        "rules": rules,
    }


class UfwState(FactBase):
    """ufw's enabled flag, default policies and user rules; None when ufw is not installed."""

    # Reads files only: nothing runs ufw or iptables, so the fact works while ufw is off.
    def command(self) -> str:
        return (
            "if [ -e /etc/ufw/ufw.conf ]; then "
            "echo @@conf; cat /etc/ufw/ufw.conf; "
            "echo @@default; cat /etc/default/ufw 2>/dev/null; "
            "echo @@rules; cat /etc/ufw/user.rules 2>/dev/null; "
            "echo @@rules6; cat /etc/ufw/user6.rules 2>/dev/null; "
            "fi; true"
        )

    def process(self, output) -> dict | None:
        return parse_ufw(list(output))
