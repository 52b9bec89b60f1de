"""A PEP 517 build backend for the sattn Python package that needs nothing
but the standard library, so that `pip install ./python` works offline and in
a plain venv (no setuptools or wheel to fetch).

The wheel holds python/sattn/*.py, the metadata (the version from
sattn/_version.py, the rest from pyproject.toml's [project] table, read with
a few lines of parsing because tomllib is not in Python < 3.11) and, when
one is found at build time, libsattn_runtime.so inside the package, where
sattn._locate looks for it: $SATTN_RUNTIME_LIB, else build/lib (or
$SATTN_BUILD_DIR/lib) of the checkout this directory belongs to. With the
library the wheel is tagged for this platform, without it it is pure Python.
Editable installs (pip install -e) put a .pth file pointing at this directory.
"""

import base64
import hashlib
import io
import os
import re
import sysconfig
import tarfile
import zipfile

HERE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))  # python/
PACKAGE = "sattn"
RUNTIME_LIB = "libsattn_runtime.so"


def _version():
    with open(os.path.join(HERE, PACKAGE, "_version.py"), encoding="utf-8") as f:
        return re.search(r'__version__ = "([^"]+)"', f.read()).group(1)


def _project():
    """The [project] table's string and list entries (what METADATA needs)."""
    with open(os.path.join(HERE, "pyproject.toml"), encoding="utf-8") as f:
        text = f.read()
    table = text.split("[project]", 1)[1].split("\n[", 1)[0]
    fields = dict(re.findall(r'^(\w[\w-]*) = "([^"]*)"', table, re.M))
    extras = {}
    if "[project.optional-dependencies]" in text:
        block = text.split("[project.optional-dependencies]", 1)[1].split("\n[", 1)[0]
        for name, deps in re.findall(r'^(\w+) = \[([^\]]*)\]', block, re.M):
            extras[name] = re.findall(r'"([^"]+)"', deps)
    return fields, extras


def _metadata():
    fields, extras = _project()
    lines = ["Metadata-Version: 2.1", "Name: " + PACKAGE, "Version: " + _version(),
             "Summary: " + fields.get("description", ""),
             "Requires-Python: " + fields.get("requires-python", ">=3.9")]
    for extra, deps in sorted(extras.items()):
        lines.append("Provides-Extra: " + extra)
        lines.extend('Requires-Dist: %s; extra == "%s"' % (d, extra) for d in deps)
    return "\n".join(lines) + "\n"


def _runtime_library():
    """The libsattn_runtime.so to carry, or None."""
    env = os.environ.get("SATTN_RUNTIME_LIB")
    if env:
        return env if os.path.isfile(env) else None
    build = os.environ.get("SATTN_BUILD_DIR") or "build"
    path = os.path.join(os.path.dirname(HERE), build, "lib", RUNTIME_LIB)
    return path if os.path.isfile(path) else None


def _tag(with_library):
    if not with_library:
        return "py3-none-any"
    return "py3-none-" + re.sub(r"[^A-Za-z0-9]", "_", sysconfig.get_platform())


class _Wheel:
    """Writes a wheel: files in, RECORD and WHEEL written at close."""

    def __init__(self, directory, tag):
        self.dist_info = "%s-%s.dist-info" % (PACKAGE, _version())
        self.name = "%s-%s-%s.whl" % (PACKAGE, _version(), tag)
        self.zip = zipfile.ZipFile(os.path.join(directory, self.name), "w",
                                   zipfile.ZIP_DEFLATED)
        self.tag, self.records = tag, []

    def add(self, arcname, data):
        if isinstance(data, str):
            data = data.encode("utf-8")
        info = zipfile.ZipInfo(arcname, date_time=(2020, 1, 1, 0, 0, 0))
        info.external_attr = (0o755 if arcname.endswith(".so") else 0o644) << 16
        info.compress_type = zipfile.ZIP_DEFLATED
        self.zip.writestr(info, data)
        digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=")
        self.records.append("%s,sha256=%s,%d" % (arcname, digest.decode(), len(data)))

    def close(self):
        self.add(self.dist_info + "/METADATA", _metadata())
        self.add(self.dist_info + "/WHEEL", "Wheel-Version: 1.0\nGenerator: sattn_backend\n"
                 "Root-Is-Purelib: %s\nTag: %s\n"
                 % ("true" if self.tag.endswith("any") else "false", self.tag))
        record = self.dist_info + "/RECORD"
        self.zip.writestr(zipfile.ZipInfo(record, date_time=(2020, 1, 1, 0, 0, 0)),
                          "\n".join(self.records + [record + ",,"]) + "\n")
        self.zip.close()
        return self.name


def _package_files():
    source = os.path.join(HERE, PACKAGE)
    for name in sorted(os.listdir(source)):
        if name.endswith(".py"):
            with open(os.path.join(source, name), "rb") as f:
                yield "%s/%s" % (PACKAGE, name), f.read()


# -- PEP 517 hooks ------------------------------------------------------------

def get_requires_for_build_wheel(config_settings=None):
    return []


def get_requires_for_build_editable(config_settings=None):
    return []


def get_requires_for_build_sdist(config_settings=None):
    return []


def prepare_metadata_for_build_wheel(metadata_directory, config_settings=None):
    dist_info = "%s-%s.dist-info" % (PACKAGE, _version())
    os.makedirs(os.path.join(metadata_directory, dist_info), exist_ok=True)
    with open(os.path.join(metadata_directory, dist_info, "METADATA"), "w") as f:
        f.write(_metadata())
    return dist_info


prepare_metadata_for_build_editable = prepare_metadata_for_build_wheel


def build_wheel(wheel_directory, config_settings=None, metadata_directory=None):
    library = _runtime_library()
    wheel = _Wheel(wheel_directory, _tag(library))
    for arcname, data in _package_files():
        wheel.add(arcname, data)
    if library:
        with open(library, "rb") as f:
            wheel.add("%s/%s" % (PACKAGE, RUNTIME_LIB), f.read())
    return wheel.close()


def build_editable(wheel_directory, config_settings=None, metadata_directory=None):
    wheel = _Wheel(wheel_directory, _tag(False))
    wheel.add("%s.pth" % PACKAGE, HERE + "\n")
    return wheel.close()


def build_sdist(sdist_directory, config_settings=None):
    base = "%s-%s" % (PACKAGE, _version())
    name = base + ".tar.gz"
    with tarfile.open(os.path.join(sdist_directory, name), "w:gz") as tar:
        for rel in ["pyproject.toml", "_backend/sattn_backend.py"] + [
                a for a, _ in _package_files()]:
            tar.add(os.path.join(HERE, rel), arcname="%s/%s" % (base, rel))
        info = tarfile.TarInfo(base + "/PKG-INFO")
        data = _metadata().encode()
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    return name
