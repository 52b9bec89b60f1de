"""`sattn.compile` and `sattn.load`: spec in, loaded `Kernel` out, through a
content-addressed cache of compiled artifacts.

The cache (``$SATTN_CACHE_DIR``, else ``$XDG_CACHE_HOME/sattn``, else
``~/.cache/sattn``) has two levels:

``kernels/<entry key>/``
    what ``sattn-compile SPEC --emit=ptx -o DIR`` wrote (NAME.json, NAME.ptx,
    NAME.cubin) plus ``entry.json``. The entry key hashes the request (below)
    and the identity of the compiler binary (a SHA-256 of its contents), so a
    rebuilt compiler never serves stale kernels.
``requests/<request key>.json``
    the entry last compiled for a request. The request key hashes the spec
    text, the kernel name, the target and the tile options, and nothing about
    the compiler.

With a compiler present, `compile` looks up the entry key and runs the
compiler only on a miss. Without one (a GPU machine that has no MLIR) it
follows the request index of a cache directory carried from a machine that
compiled the same request. Either way a hit never runs the compiler.
"""

import hashlib
import json
import os
import re
import shutil
import subprocess
import tempfile
import threading

from . import _locate
from .kernel import PLAN_CHOICES as _PLAN_CHOICES
from .kernel import Kernel

__all__ = ["CompilerUnavailableError", "cache_dir", "compile", "compile_all", "find_compiler",
           "load"]

_FORMAT = "sattn.py-cache/1"


class CompilerUnavailableError(RuntimeError):
    """Neither sattn-compile nor a cached entry for the request was found."""


def cache_dir(path=None):
    """The cache directory: `path`, else $SATTN_CACHE_DIR, else
    $XDG_CACHE_HOME/sattn, else ~/.cache/sattn."""
    if path:
        return os.path.abspath(os.fspath(path))
    env = os.environ.get("SATTN_CACHE_DIR")
    if env:
        return os.path.abspath(env)
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "sattn")


def find_compiler():
    """Path of sattn-compile ($SATTN_COMPILE, else the build of the source
    tree this package is in, else PATH), or None."""
    return _locate.find_compiler()


_identity_memo = {}
_lock = threading.Lock()


def _compiler_identity(path):
    """SHA-256 of the compiler binary, memoised per (path, size, mtime)."""
    st = os.stat(path)
    memo_key = (path, st.st_size, st.st_mtime_ns)
    with _lock:
        if memo_key not in _identity_memo:
            digest = hashlib.sha256()
            with open(path, "rb") as f:
                for block in iter(lambda: f.read(1 << 20), b""):
                    digest.update(block)
            _identity_memo[memo_key] = digest.hexdigest()
        return _identity_memo[memo_key]


def _read_spec(spec):
    """(text, path or None) of a spec given as text, a path or a PathLike."""
    if isinstance(spec, bytes):
        spec = spec.decode()
    if isinstance(spec, os.PathLike) or (
            isinstance(spec, str) and "\n" not in spec and "{" not in spec):
        path = os.fspath(spec)
        if not os.path.isfile(path):
            raise FileNotFoundError("spec file %r not found" % path)
        with open(path, encoding="utf-8") as f:
            return f.read(), os.path.abspath(path)
    if not isinstance(spec, str):
        raise TypeError("spec must be spec text or a path, not %s" % type(spec).__name__)
    return spec, None


def _tile_string(tile):
    if tile is None:
        return None
    if isinstance(tile, str):
        return tile
    bm, bn = tile
    return "%dx%d" % (int(bm), int(bn))


def _options(kernel, target, tile, warps, stages, backward=False, exact_estimators=False):
    # $SATTN_TARGET is the default target (e.g. sm_90a for the Hopper kernels):
    # set it where the cache is filled and where the kernels run, and the two
    # resolve every request to the same cache entry.
    if target is None:
        target = os.environ.get("SATTN_TARGET") or None
    options = {"kernel": kernel, "target": target, "tile": _tile_string(tile),
               "warps": None if warps is None else int(warps),
               "stages": None if stages is None else int(stages)}
    # Only when asked for, so that forward-only requests keep their cache keys.
    if backward:
        options["backward"] = True
    if exact_estimators:
        options["exact_estimators"] = True
    return options


def _digest(obj):
    return hashlib.sha256(json.dumps(obj, sort_keys=True).encode()).hexdigest()[:32]


def _write_json_atomically(path, obj):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=os.path.dirname(path), prefix=".tmp-")
    with os.fdopen(fd, "w") as f:
        json.dump(obj, f, indent=1, sort_keys=True)
    os.replace(tmp, path)


def _run_compiler(compiler, text, path, options, out_dir):
    """Runs sattn-compile into out_dir; spec errors raise ValueError with the
    compiler's diagnostics, other failures RuntimeError."""
    with tempfile.TemporaryDirectory(prefix="sattn-spec-") as scratch:
        source = path
        if source is None:
            source = os.path.join(scratch, "spec.sattn")
            with open(source, "w", encoding="utf-8") as f:
                f.write(text)
        cmd = [compiler, source, "--emit=ptx", "-o", out_dir]
        for flag in ("kernel", "target", "tile", "warps", "stages"):
            if options[flag] is not None:
                cmd.append("--%s=%s" % (flag, options[flag]))
        if options.get("backward"):
            cmd.append("--backward")
        if options.get("exact_estimators"):
            cmd.append("--exact-estimators")
        proc = subprocess.run(cmd, capture_output=True, text=True)
        message = proc.stderr.strip()
        if path is None:  # name the spec as the caller knows it, not by the scratch file
            message = message.replace(source, "<spec>")
    if proc.returncode == 1:
        raise ValueError(message or "sattn-compile rejected the spec")
    if proc.returncode != 0:
        raise RuntimeError("sattn-compile failed (exit status %d): %s"
                           % (proc.returncode, message or proc.stdout.strip()))


def _manifests(directory):
    return sorted(n for n in os.listdir(directory)
                  if n.endswith(".json") and n != "entry.json" and not n.startswith("."))


def _branch_kernels(directory, names):
    """The kernels of `names` that an nsa kernel of the directory names as
    its compressed or sliding branch (compiled with it, run by kernel.nsa)."""
    branches = set()
    for name in names:
        try:
            with open(os.path.join(directory, name + ".json")) as f:
                est = json.load(f).get("estimator") or {}
        except (OSError, ValueError):
            continue  # reported when that manifest is loaded
        if est.get("kind") == "nsa":
            branches.update(n for n in (est.get("compressed_kernel"),
                                        est.get("sliding_kernel")) if n)
    return branches


def compile(spec, kernel=None, target=None, tile=None, warps=None, stages=None,
            cache=None, plans=None, backward=False, exact_estimators=False):
    """Compiles a spec (text, or the path of a .sattn file) and returns the
    loaded `Kernel`.

    kernel: which kernel of the file (required when it defines several);
    target ("sm_80", "sm_90", "sm_90a"; None: $SATTN_TARGET if set, else
    sattn-compile's default sm_90), tile ((BM, BN) or "BMxBN"), warps,
    stages: sattn-compile's options, None for its defaults; cache: the cache
    directory (see `cache_dir`). "sm_90a" gives the Hopper kernel (TMA,
    wgmma) where sattn-plan-tiles expects it to win; it runs on compute
    capability 9.0 only. plans: "auto", "device" or "host", where calls
    build their tile plans (`Kernel.plans`; None leaves the kernel's
    setting, "auto" unless set before). backward: also compile the
    backward pass (sattn-compile --backward), so that calls are
    differentiable (training; `Kernel.has_backward`); such kernels always
    return LSE. exact_estimators: a compiled estimator computes its logits
    of query rows in f64 in its reference's order (sattn-compile
    --exact-estimators: tables equal to `sattn.estimate`'s bit for bit),
    not on tensor cores (f32 sums, the default; docs/ESTIMATORS.md).

    Raises ValueError with sattn-compile's file:line:col diagnostics for a bad
    spec, and CompilerUnavailableError when there is neither a compiler nor a
    cached entry for this request.
    """
    entry_dir = _compiled_entry(
        spec, _options(kernel, target, tile, warps, stages, backward, exact_estimators), cache)
    return load(entry_dir, kernel=kernel, plans=plans)


def compile_all(spec, target=None, tile=None, warps=None, stages=None, cache=None,
                plans=None, backward=False, exact_estimators=False):
    """Like `compile`, for every kernel of the spec: {name: Kernel}."""
    entry_dir = _compiled_entry(
        spec, _options(None, target, tile, warps, stages, backward, exact_estimators), cache)
    return {name[:-5]: load(os.path.join(entry_dir, name), plans=plans)
            for name in _manifests(entry_dir)}


def _compiled_entry(spec, options, cache):
    """The cache entry directory for a request, compiling on a miss."""
    text, path = _read_spec(spec)
    request = _digest({"format": _FORMAT, "spec": text, "options": options})
    root = cache_dir(cache)
    index = os.path.join(root, "requests", request + ".json")
    compiler = find_compiler()
    if compiler is None:
        entry_dir = _entry_from_index(root, index)
        if entry_dir is None:
            raise CompilerUnavailableError(
                "%s. The cache %s (SATTN_CACHE_DIR) has no entry for this spec and these "
                "options either; compile it where sattn-compile exists (e.g. "
                "scripts/gpu-python-prep.sh) and carry the cache directory here, pointing "
                "SATTN_CACHE_DIR at it" % (_locate.compiler_not_found(), root))
        return entry_dir

    identity = _compiler_identity(compiler)
    entry = _digest({"request": request, "compiler": identity})
    entry_dir = os.path.join(root, "kernels", entry)
    if not os.path.isfile(os.path.join(entry_dir, "entry.json")):
        os.makedirs(os.path.join(root, "kernels"), exist_ok=True)
        scratch = tempfile.mkdtemp(dir=os.path.join(root, "kernels"), prefix=".tmp-")
        try:
            _run_compiler(compiler, text, path, options, scratch)
            info = {"format": _FORMAT, "request": request, "compiler": compiler,
                    "compiler_sha256": identity, "options": options,
                    "spec_path": path, "kernels": [n[:-5] for n in _manifests(scratch)]}
            with open(os.path.join(scratch, "entry.json"), "w") as f:
                json.dump(info, f, indent=1, sort_keys=True)
            try:
                os.rename(scratch, entry_dir)
            except OSError:  # another process stored the same entry first
                if not os.path.isfile(os.path.join(entry_dir, "entry.json")):
                    raise
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
    _write_json_atomically(index, {"format": _FORMAT, "entry": entry})
    return entry_dir


_ENTRY_NAME = re.compile(r"[0-9A-Za-z_-][0-9A-Za-z_.-]{0,127}")


def _entry_from_index(root, index):
    try:
        with open(index) as f:
            entry = json.load(f)["entry"]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    # The index is data on disk: an entry is one plain name inside kernels/,
    # never a path that could lead outside the cache.
    if not (isinstance(entry, str) and _ENTRY_NAME.fullmatch(entry)):
        return None
    entry_dir = os.path.join(root, "kernels", entry)
    return entry_dir if os.path.isfile(os.path.join(entry_dir, "entry.json")) else None


def load(path, kernel=None, plans=None):
    """Loads a compiled kernel without compiling: `path` is a manifest
    (NAME.json, with NAME.ptx / NAME.cubin beside it) or a directory that
    `sattn-compile --emit=ptx -o DIR` (or the cache) wrote. kernel: the
    kernel's name, required when the directory holds several (an nsa
    kernel's two branch kernels do not count). plans: as for `compile`."""
    if plans is not None and plans not in _PLAN_CHOICES:
        raise ValueError("plans must be one of %s or None, not %r"
                         % (", ".join(repr(c) for c in _PLAN_CHOICES), plans))
    path = os.path.abspath(os.fspath(path))
    if os.path.isdir(path):
        names = [n[:-5] for n in _manifests(path)]
        if kernel is None:
            # An nsa kernel's branch kernels come with it: not a choice.
            main = [n for n in names if n not in _branch_kernels(path, names)]
            if len(main) == 1:
                names = main
            if len(names) != 1:
                raise ValueError("%s holds %s; pass kernel=NAME"
                                 % (path, "kernels " + ", ".join(names) if names
                                    else "no kernel manifest"))
            kernel = names[0]
        elif kernel not in names:
            raise ValueError("%s has no kernel %r (it has %s)"
                             % (path, kernel, ", ".join(names) or "none"))
        path = os.path.join(path, kernel + ".json")
    elif not os.path.isfile(path):
        raise FileNotFoundError("no kernel manifest or directory at %s" % path)
    loaded = Kernel._from_manifest(path)
    if plans is not None:
        loaded.plans = plans
    return loaded
