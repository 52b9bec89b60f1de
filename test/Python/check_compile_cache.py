"""sattn.compile and its cache, end to end with the real sattn-compile.

Usage: check_compile_cache.py SCRATCH_DIR SATTN_COMPILE

SATTN_COMPILE is called through a wrapper script that logs every run, so the
test sees exactly when the compiler ran. Asserts (exit 1 on the first
failure) and prints one line per step for FileCheck.
"""
import os
import stat
import sys

import sattn

scratch, real_compiler = sys.argv[1], os.path.abspath(sys.argv[2])
cache = os.path.join(scratch, "cache")
log = os.path.join(scratch, "runs.log")
os.environ["SATTN_CACHE_DIR"] = cache


def make_wrapper(path, tag):
    with open(path, "w") as f:
        f.write('#!/bin/sh\n# %s\necho "$@" >> %s\nexec %s "$@"\n' % (tag, log, real_compiler))
    os.chmod(path, os.stat(path).st_mode | stat.S_IXUSR)
    return path


def runs():
    return len(open(log).read().splitlines()) if os.path.exists(log) else 0


def check(cond, what):
    if not cond:
        print("FAILED:", what)
        sys.exit(1)


def expect_error(cls, fn):
    try:
        fn()
    except cls as e:
        return str(e)
    print("FAILED: expected %s" % cls.__name__)
    sys.exit(1)


wrapper = make_wrapper(os.path.join(scratch, "sattn-compile"), "v1")
os.environ["SATTN_COMPILE"] = wrapper
check(sattn.find_compiler() == wrapper, "SATTN_COMPILE chooses the compiler")

spec = os.path.join(scratch, "win.sattn")
with open(spec, "w") as f:
    f.write("kernel win {\n  dtype = bf16  head_dim = 64  heads = 4  kv_heads = 2\n"
            "  mask = causal & window(16)\n}\n")

k1 = sattn.compile(spec)
check(runs() == 1, "first compile runs the compiler")
check(os.path.isfile(k1.manifest_path) and k1.manifest_path.startswith(cache), "entry in cache")
check(os.path.isfile(k1.manifest_path[:-5] + ".ptx"), "PTX beside the manifest")
print("miss: %s heads=%d kv_heads=%d block=%dx%d runs=%d"
      % (k1.name, k1.heads, k1.kv_heads, k1.block_m, k1.block_n, runs()))

k2 = sattn.compile(spec)
check(runs() == 1 and k2.manifest_path == k1.manifest_path, "second compile is a hit")
# The same text given inline is the same request.
k3 = sattn.compile(open(spec).read())
check(runs() == 1 and k3.manifest_path == k1.manifest_path, "text and path share an entry")
print("hit with compiler: runs=%d" % runs())

os.environ["SATTN_COMPILE"] = os.path.join(scratch, "no-such-compiler")
check(sattn.find_compiler() is None, "a nonexistent SATTN_COMPILE disables compiling")
k4 = sattn.compile(spec)
check(k4.manifest_path == k1.manifest_path, "hit without a compiler")
print("hit without compiler: %s" % k4.name)

# The request index is data on disk: a tampered entry that names a path
# outside the cache (here a copy of a valid entry) is not followed.
import json
import shutil
shutil.copytree(os.path.dirname(k1.manifest_path), os.path.join(scratch, "outside"))
requests = os.path.join(cache, "requests")
saved = {}
for name in os.listdir(requests):
    with open(os.path.join(requests, name)) as f:
        saved[name] = json.load(f)
    with open(os.path.join(requests, name), "w") as f:
        json.dump(dict(saved[name], entry="../../outside"), f)
err = expect_error(sattn.CompilerUnavailableError, lambda: sattn.compile(spec))
for name, index in saved.items():
    with open(os.path.join(requests, name), "w") as f:
        json.dump(index, f)
check(sattn.compile(spec).manifest_path == k1.manifest_path, "restored index is a hit")
print("tampered index: not followed")

# Anything about the request that changes: a miss.
with open(spec, "a") as f:
    f.write("# edited\n")
err = expect_error(sattn.CompilerUnavailableError, lambda: sattn.compile(spec))
check("sattn-compile not found" in err and cache in err, "unavailable message: " + err)
print("no compiler, no entry: CompilerUnavailableError")

os.environ["SATTN_COMPILE"] = wrapper
k5 = sattn.compile(spec)
check(runs() == 2 and k5.manifest_path != k1.manifest_path, "edited spec is a miss")
k6 = sattn.compile(spec, tile=(64, 64), stages=1)
check(runs() == 3 and k6.manifest["stages"] == 1, "new options are a miss")
print("edited spec: miss, new options: miss, runs=%d" % runs())

# A different compiler binary (its bytes): a miss, even for a cached request.
os.environ["SATTN_COMPILE"] = make_wrapper(os.path.join(scratch, "sattn-compile-2"), "v2")
k7 = sattn.compile(spec)
check(runs() == 4 and k7.manifest_path != k5.manifest_path, "new compiler is a miss")
print("new compiler: miss, runs=%d" % runs())

# $SATTN_TARGET is the default target: the same entry as target= given.
hopper_spec = ("kernel hop {\n  dtype = bf16  head_dim = 128  heads = 2\n"
               "  mask = causal\n}\n")
os.environ["SATTN_TARGET"] = "sm_90a"
n = runs()
k8 = sattn.compile(hopper_spec)
del os.environ["SATTN_TARGET"]
k9 = sattn.compile(hopper_spec, target="sm_90a")
k10 = sattn.compile(hopper_spec)
check(runs() == n + 2 and k9.manifest_path == k8.manifest_path and
      k10.manifest_path != k8.manifest_path, "SATTN_TARGET resolves like target=")
print("SATTN_TARGET: target %s kernel %s, default target %s kernel %s" % (
    k8.manifest["target"], k8.manifest["kernel"], k10.manifest["target"],
    k10.manifest["kernel"]))

# Spec errors: ValueError with the compiler's diagnostics, nothing cached.
bad = "kernel bad {\n  heads = 4\n  mask = causal & nope(3)\n}\n"
entries = sorted(os.listdir(os.path.join(cache, "kernels")))
err = expect_error(ValueError, lambda: sattn.compile(bad))
check(err.startswith("<spec>:3:19: error: unknown pattern 'nope'"), "diagnostic: " + err)
print("spec error (text): " + err.splitlines()[0])
bad_path = os.path.join(scratch, "bad.sattn")
with open(bad_path, "w") as f:
    f.write(bad)
err = expect_error(ValueError, lambda: sattn.compile(bad_path))
check(err.startswith(bad_path + ":3:19: error:"), "diagnostic names the file: " + err)
print("spec error (file): bad.sattn:3:19")
check(sorted(os.listdir(os.path.join(cache, "kernels"))) == entries,
      "a bad spec leaves no entry and no scratch directory behind")

# Several kernels: pick one by name; without a name the error lists them.
two = ("kernel one {\n  heads = 2\n  head_dim = 64\n  mask = causal\n}\n"
       "kernel two {\n  heads = 2\n  head_dim = 64\n  return_lse = true\n  mask = window(8)\n}\n")
n = runs()
err = expect_error(ValueError, lambda: sattn.compile(two))
check("kernels one, two" in err and "kernel=NAME" in err, "several kernels: " + err)
both = sattn.compile_all(two)
check(sorted(both) == ["one", "two"] and runs() == n + 1,
      "compile_all after compile of the same spec: a hit with every kernel")
entry_dir = os.path.dirname(both["one"].manifest_path)
one = sattn.load(entry_dir, kernel="one")
check(one.name == "one" and not one.returns_lse, "load by name from a directory")
two_k = sattn.load(os.path.join(entry_dir, "two.json"))
check(two_k.returns_lse and two_k.scale == 0.125, "load a manifest")
check(sattn.compile(two, kernel="two").name == "two" and runs() == n + 2, "one kernel by name")
print("several kernels: %s" % err.split(" holds ")[1])

# An nsa kernel compiles with its two branch kernels (kernel.nsa runs them);
# it is still its spec's one kernel.
nsa_spec = ("kernel sel {\n  heads = 4\n  kv_heads = 2\n  head_dim = 64\n"
            "  mask = nsa(compress_block = 16, compress_stride = 8, select_block = 32,\n"
            "             select_count = 4, window = 64, local = 1)\n}\n")
sel = sattn.compile(nsa_spec)
sel_dir = os.path.dirname(sel.manifest_path)
names = sorted(n[:-5] for n in os.listdir(sel_dir) if n.endswith(".json") and n != "entry.json")
check(sel.name == "sel" and names == ["sel", "sel_compressed", "sel_sliding"],
      "an nsa spec loads its kernel: %s of %s" % (sel.name, names))
check(sattn.load(sel_dir).name == "sel", "load of the directory picks the nsa kernel")
print("nsa: %s, compiled with %s" % (sel.name, ", ".join(names[1:])))
print("all cache checks passed")
