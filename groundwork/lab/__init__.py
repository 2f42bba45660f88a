"""The lab: throwaway Debian hosts booted with systemd-nspawn, each in its own
network namespace on one bridge, reached over SSH exactly like a VPS.

Every claim groundwork makes about a host is checked on these hosts; see
DESIGN.md section 3 for why each step is done the way it is.
"""
