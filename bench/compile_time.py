#!/usr/bin/env python3
"""Compile time of sattn-compile, spec to PTX and spec to cubin.

For every example spec with static kernels, times `sattn-compile SPEC -o DIR`
as a process (wall clock, median of --repeat runs), once writing PTX and the
manifest only (`--emit=ptx,manifest`: parse, check, GPU pipeline, NVPTX
backend) and once with the default artifacts (adds ptxas and the C header).
The in-process time of the GPU pipeline per kernel is read back from the
manifests' `compile_ms`. Prints a table and writes the numbers as JSON.

    python3 bench/compile_time.py [--sattn-compile build/bin/sattn-compile]
        [--repeat 5] [--json bench/results-DATE-compile-time.json] [examples/*.sattn]
"""
import argparse
import glob
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def run(cmd):
    """Wall and CPU (user + sys, children included) milliseconds of cmd."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True)
    wall = (time.perf_counter() - start) * 1000.0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime) * 1000.0
    return wall, cpu, proc


def time_spec(tool, spec, emit, repeat):
    """Median wall and CPU ms over `repeat` runs, and the manifests of the last."""
    walls, cpus, manifests = [], [], {}
    for _ in range(repeat):
        with tempfile.TemporaryDirectory(prefix="sattn-ct-") as out:
            cmd = [tool, spec, "-o", out] + (["--emit=" + emit] if emit else [])
            wall, cpu, proc = run(cmd)
            if proc.returncode != 0:
                return None, proc
            walls.append(wall)
            cpus.append(cpu)
            for name in os.listdir(out):
                if name.endswith(".json"):
                    with open(os.path.join(out, name)) as f:
                        manifests[name[:-5]] = json.load(f)
    return (statistics.median(walls), statistics.median(cpus), manifests), None


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sattn-compile", default=os.path.join(ROOT, "build", "bin", "sattn-compile"))
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--json", default=None, help="results file (default: bench/results-<date>-compile-time.json)")
    ap.add_argument("specs", nargs="*")
    args = ap.parse_args()
    specs = args.specs or sorted(glob.glob(os.path.join(ROOT, "examples", "*.sattn")))

    rows = []
    for spec in specs:
        ptx, err = time_spec(args.sattn_compile, spec, "ptx,manifest", args.repeat)
        if ptx is None:
            first = (err.stderr.strip().splitlines() or ["?"])[-1]
            print(f"skip {os.path.basename(spec)}: {first}", file=sys.stderr)
            continue
        full, err = time_spec(args.sattn_compile, spec, "", args.repeat)
        if full is None:
            print(f"FAIL {spec} with cubin: {err.stderr.strip()}", file=sys.stderr)
            return 1
        ptx_ms, ptx_cpu, manifests = ptx
        full_ms, full_cpu, full_manifests = full
        rows.append({
            "spec": os.path.relpath(spec, ROOT),
            "kernels": sorted(manifests),
            "pipeline_ms": {k: m.get("compile_ms") for k, m in sorted(manifests.items())},
            "wall_ms_to_ptx": round(ptx_ms, 1),
            "cpu_ms_to_ptx": round(ptx_cpu, 1),
            "wall_ms_with_ptxas": round(full_ms, 1),
            "cpu_ms_with_ptxas": round(full_cpu, 1),
            "registers": {k: m.get("registers") for k, m in sorted(full_manifests.items())},
        })

    header = ("spec", "kernel(s)", "pipeline ms", "ms to PTX (wall / CPU)",
              "ms incl. ptxas (wall / CPU)")
    table = [header] + [
        (r["spec"], ",".join(r["kernels"]),
         ",".join(str(v) for v in r["pipeline_ms"].values()),
         "%.0f / %.0f" % (r["wall_ms_to_ptx"], r["cpu_ms_to_ptx"]),
         "%.0f / %.0f" % (r["wall_ms_with_ptxas"], r["cpu_ms_with_ptxas"])) for r in rows]
    widths = [max(len(str(row[i])) for row in table) for i in range(len(header))]
    print("| " + " | ".join(h.ljust(w) for h, w in zip(header, widths)) + " |")
    print("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    for row in table[1:]:
        print("| " + " | ".join(str(c).ljust(w) for c, w in zip(row, widths)) + " |")
    for key, what in (("wall_ms_to_ptx", "wall clock"), ("cpu_ms_to_ptx", "CPU time")):
        per_kernel = [r[key] / max(1, len(r["kernels"])) for r in rows]
        if per_kernel:
            print(f"spec -> PTX per kernel, whole process, {what}: median "
                  f"{statistics.median(per_kernel):.0f} ms, max {max(per_kernel):.0f} ms "
                  f"over {len(rows)} specs")

    commit = subprocess.run(["git", "-C", ROOT, "describe", "--always", "--dirty"],
                            capture_output=True, text=True).stdout.strip()
    date = time.strftime("%Y-%m-%d", time.gmtime())
    path = args.json or os.path.join(ROOT, "bench", f"results-{date}-compile-time.json")
    with open(path, "w") as f:
        json.dump({"date": date, "commit": commit, "machine": platform.platform(),
                   "cpus": os.cpu_count(), "repeat": args.repeat,
                   "command": " ".join(sys.argv), "results": rows}, f, indent=1)
        f.write("\n")
    print(f"wrote {os.path.relpath(path, ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
