"""A PEP 517 build backend small enough to ship inside the test sdists.

It needs nothing installed (`requires = []`), so pip builds these sdists in
its isolated environment with no index at all. On purpose it stamps every
wheel entry with a random date and writes entries in random order, like a
backend that ignores SOURCE_DATE_EPOCH: the release must be reproducible
anyway. `[tool.tiny] c-extension` compiles a real C module with the
control machine's compiler, so that wheel is tagged for this platform.
"""

import base64
import hashlib
import random
import subprocess
import sys
import sysconfig
import tempfile
import tomllib
import zipfile
from pathlib import Path


def _project():
    data = tomllib.loads(Path("pyproject.toml").read_text())
    return data["project"], data.get("tool", {}).get("tiny", {})


def _metadata(project):
    lines = ["Metadata-Version: 2.1", f"Name: {project['name']}", f"Version: {project['version']}"]
    if "requires-python" in project:
        lines.append(f"Requires-Python: {project['requires-python']}")
    lines += [f"Requires-Dist: {dep}" for dep in project.get("dependencies", [])]
    return "\n".join(lines) + "\n"


def _compile(module, tmp):
    """The C stub as a real extension module, named for this interpreter."""
    out = Path(tmp) / f"{module}{sysconfig.get_config_var('EXT_SUFFIX')}"
    subprocess.run(
        ["gcc", "-shared", "-fPIC", "-I", sysconfig.get_paths()["include"], "-o", str(out), f"{module}.c"],
        check=True,
    )
    return out


def _tag(c_extension):
    if not c_extension:
        return "py3-none-any"
    py = f"cp{sys.version_info.major}{sys.version_info.minor}"
    return f"{py}-{py}-{sysconfig.get_platform().replace('-', '_').replace('.', '_')}"


def prepare_metadata_for_build_wheel(metadata_directory, config_settings=None):
    project, _ = _project()
    dist_info = Path(metadata_directory) / f"{project['name'].replace('-', '_')}-{project['version']}.dist-info"
    dist_info.mkdir()
    (dist_info / "METADATA").write_text(_metadata(project))
    return dist_info.name


def build_wheel(wheel_directory, config_settings=None, metadata_directory=None):
    project, tiny = _project()
    dist = project["name"].replace("-", "_")
    stem = f"{dist}-{project['version']}"
    tag = _tag(tiny.get("c-extension"))
    files = {Path(p).name: Path(p).read_bytes() for p in tiny.get("modules", [])}
    with tempfile.TemporaryDirectory() as tmp:
        if tiny.get("c-extension"):
            built = _compile(tiny["c-extension"], tmp)
            files[built.name] = built.read_bytes()
    files[f"{stem}.dist-info/METADATA"] = _metadata(project).encode()
    files[f"{stem}.dist-info/WHEEL"] = (
        f"Wheel-Version: 1.0\nGenerator: tinybackend\nRoot-Is-Purelib: {'false' if tiny.get('c-extension') else 'true'}\n"
        f"Tag: {tag}\n"
    ).encode()
    record = "".join(
        f"{name},sha256={base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b'=').decode()},{len(data)}\n"
        for name, data in files.items()
    )
    files[f"{stem}.dist-info/RECORD"] = (record + f"{stem}.dist-info/RECORD,,\n").encode()
    name = f"{stem}-{tag}.whl"
    entries = list(files.items())
    random.shuffle(entries)
    with zipfile.ZipFile(Path(wheel_directory) / name, "w", zipfile.ZIP_DEFLATED) as whl:
        for arcname, data in entries:
            stamp = (random.randint(1990, 2030), random.randint(1, 12), random.randint(1, 28), 12, 0, 0)
            whl.writestr(zipfile.ZipInfo(arcname, stamp), data)
    return name
