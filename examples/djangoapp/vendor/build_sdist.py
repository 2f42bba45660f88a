#!/usr/bin/env python3
"""Build vendor/djangoapp_sdistonly-1.0.tar.gz from vendor/src, byte for byte reproducibly.

    python3 vendor/build_sdist.py            # writes the tarball beside this script
    python3 vendor/build_sdist.py --check    # exit 1 if the committed tarball differs

Standard library only, so the result does not depend on the version of a
build tool: a PyPA source distribution (pyproject.toml + PKG-INFO under
NAME-VERSION/, pax format, gzip) with fixed mtimes, owners, modes and order.
Any PEP 517 frontend builds a wheel from it with the setuptools backend.
"""

from __future__ import annotations

import argparse
import gzip
import io
import sys
import tarfile
import tomllib
from pathlib import Path

HERE = Path(__file__).resolve().parent
SRC = HERE / "src"
MTIME = 315532800  # 1980-01-01T00:00:00Z


def pkg_info(project: dict, readme: str) -> str:
    """Core metadata 2.2; nothing is dynamic (PEP 643), so it is final."""
    lines = [
        "Metadata-Version: 2.2",
        f"Name: {project['name']}",
        f"Version: {project['version']}",
        f"Summary: {project['description']}",
        f"Requires-Python: {project['requires-python']}",
        *(f"Requires-Dist: {dep}" for dep in project.get("dependencies", [])),
        "Description-Content-Type: text/markdown",
    ]
    return "\n".join(lines) + "\n\n" + readme


def build() -> tuple[str, bytes]:
    project = tomllib.loads((SRC / "pyproject.toml").read_text())["project"]
    base = f"{project['name'].replace('-', '_')}-{project['version']}"
    files = {
        path.relative_to(SRC).as_posix(): path.read_bytes()
        for path in SRC.rglob("*")
        if path.is_file() and "__pycache__" not in path.parts and not path.name.endswith((".pyc", ".egg-info"))
        and not any(part.endswith(".egg-info") for part in path.parts)
    }
    files["PKG-INFO"] = pkg_info(project, files["README.md"].decode()).encode()
    dirs = sorted({parent for name in files for parent in _parents(name)})

    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name in [base, *(f"{base}/{d}" for d in dirs)]:
            tar.addfile(_info(name, tarfile.DIRTYPE, 0o755))
        for name in sorted(files):
            info = _info(f"{base}/{name}", tarfile.REGTYPE, 0o644)
            info.size = len(files[name])
            tar.addfile(info, io.BytesIO(files[name]))
    packed = io.BytesIO()
    with gzip.GzipFile(filename="", mode="wb", fileobj=packed, mtime=MTIME, compresslevel=9) as gz:
        gz.write(raw.getvalue())
    return f"{base}.tar.gz", packed.getvalue()


def _parents(name: str) -> list[str]:
    parts = name.split("/")[:-1]
    return ["/".join(parts[: i + 1]) for i in range(len(parts))]


def _info(name: str, kind: bytes, mode: int) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type, info.mode, info.mtime = kind, mode, MTIME
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    return info


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="compare with the committed tarball, write nothing")
    args = parser.parse_args()
    name, data = build()
    dest = HERE / name
    if args.check:
        same = dest.is_file() and dest.read_bytes() == data
        print(f"{dest.name}: {'up to date' if same else 'differs from vendor/src'}")
        return 0 if same else 1
    dest.write_bytes(data)
    print(f"wrote {dest} ({len(data)} bytes)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
