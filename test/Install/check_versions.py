"""Prints the sattn version as each piece reports it and whether they all
agree (version.test).

Usage: check_versions.py SattnVersion.cmake libsattn_runtime.so "TOOL --version"...
"""
import ctypes
import re
import subprocess
import sys

with open(sys.argv[1]) as f:
    versions = {"cmake/SattnVersion.cmake": re.search(r"set\(SATTN_VERSION ([0-9.]+)\)",
                                                      f.read()).group(1)}
lib = ctypes.CDLL(sys.argv[2])
lib.sattn_version.restype = ctypes.c_char_p
versions["libsattn_runtime sattn_version()"] = lib.sattn_version().decode()
for command in sys.argv[3:]:
    first = subprocess.run(command.split(), capture_output=True, text=True).stdout.split("\n")[0]
    versions[command] = first.rsplit(" ", 1)[-1]
import sattn  # noqa: E402  (the source tree's, through PYTHONPATH)
versions["sattn.__version__"] = sattn.__version__
for source, version in versions.items():
    print("%s: %s" % (source, version))
print("all agree" if len(set(versions.values())) == 1 else "DISAGREE")
