"""Where groundwork's own files are, wherever it is run from."""

import os
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TEMPLATES = ROOT / "templates"

# On every managed host: groundwork's own state (pending restarts, stamps).
HOST_STATE_DIR = "/var/lib/groundwork"


def control_cache_dir() -> Path:
    """On the control machine: groundwork's cache ($XDG_CACHE_HOME, else ~/.cache, then groundwork/)."""
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "groundwork"


def template(path: str) -> str:
    """A template by the path it installs to, e.g. "etc/hosts" -> templates/etc/hosts.j2."""
    src = TEMPLATES / f"{path.lstrip('/')}.j2"
    if not src.exists():
        raise FileNotFoundError(f"no template for /{path.lstrip('/')} at {src}")
    return str(src)
