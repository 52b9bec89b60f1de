"""Every static kernel of the given specs compiles to PTX that ptxas accepts
for each requested architecture with 0 bytes of spill stores and loads and
no ptxas warnings (wgmma serialisation, setmaxnreg). Each line names the
kernel family: "wgmma" when the PTX holds wgmma.mma_async,
cp.async.bulk.tensor and setmaxnreg (the sm_90a kernel), else "mma_sync";
the summary also counts the kernels whose PARTIAL tiles take their keep bits
from window words (vote.sync.ballot: masks that separate into terms of q, k
and q - k).

Usage: check_spec_ptxas.py --sattn-compile X --sparse-opt Y --ptxas Z
                           --arch sm_90 --arch sm_80 --out DIR SPEC...
Prints one line per (kernel, arch) with the most registers and the spills
summed over its entry functions (the kernel and its device plan stages);
exits 1 on any failure.
"""
import argparse
import os
import re
import subprocess
import sys

ap = argparse.ArgumentParser()
ap.add_argument("--sattn-compile", required=True)
ap.add_argument("--sparse-opt", required=True)
ap.add_argument("--ptxas", required=True)
ap.add_argument("--arch", action="append", required=True)
ap.add_argument("--out", required=True)
ap.add_argument("--pipeline-option", action="append", default=[],
                help="extra sattn-gpu-pipeline option, e.g. backward=1")
ap.add_argument("specs", nargs="+")
args = ap.parse_args()

failures = 0
checked = 0
families = {}  # arch -> {family: kernels}
windowed = {}  # arch -> kernels whose masks come from window words (ballots)
for spec in args.specs:
    mlir = subprocess.run([args.sattn_compile, spec, "--emit=mlir"], capture_output=True, text=True)
    if mlir.returncode != 0:
        print("FAIL %s: sattn-compile: %s" % (spec, mlir.stderr.strip()))
        failures += 1
        continue
    for arch in args.arch:
        out = os.path.join(args.out, os.path.basename(spec), arch)
        os.makedirs(out, exist_ok=True)
        lowered = subprocess.run(
            [args.sparse_opt, "--sattn-gpu-pipeline=%s" % " ".join(["chip=%s" % arch] + args.pipeline_option),
             "--sattn-dump-ptx=dir=%s" % out,
             "-o", os.devnull], input=mlir.stdout, capture_output=True, text=True)
        if lowered.returncode != 0:
            print("FAIL %s %s: GPU pipeline: %s" % (spec, arch, lowered.stderr.strip()[:500]))
            failures += 1
            continue
        ptx_files = sorted(f for f in os.listdir(out) if f.endswith(".ptx"))
        if not ptx_files:
            print("FAIL %s %s: no PTX produced" % (spec, arch))
            failures += 1
        for ptx in ptx_files:
            res = subprocess.run([args.ptxas, "-arch=%s" % arch, "-v", os.path.join(out, ptx),
                                  "-o", os.path.join(out, ptx + ".cubin")], capture_output=True, text=True)
            log = res.stdout + res.stderr
            # One report per entry function (the attention kernel and, where
            # the module holds it, its device plan stages): every one counts.
            spill_pairs = re.findall(r"(\d+) bytes spill stores, (\d+) bytes spill loads", log)
            stores = sum(int(a) for a, _ in spill_pairs)
            loads = sum(int(b) for _, b in spill_pairs)
            used = [int(r) for r in re.findall(r"Used (\d+) registers", log)]
            ok = (res.returncode == 0 and spill_pairs and stores == 0 and loads == 0 and
                  "warning" not in log)
            with open(os.path.join(out, ptx)) as f:
                text = f.read()
            hopper = all(op in text for op in ("wgmma.mma_async", "cp.async.bulk.tensor", "setmaxnreg"))
            checked += 1
            family = "wgmma" if hopper else "mma_sync"
            families.setdefault(arch, {}).setdefault(family, 0)
            families[arch][family] += 1
            windowed[arch] = windowed.get(arch, 0) + ("vote.sync.ballot" in text)
            print("%s %s %s registers=%s spills=%s family=%s" % (
                "ok" if ok else "FAIL", ptx[:-4], arch, max(used) if used else "?",
                "%d/%d" % (stores, loads) if spill_pairs else "?", "wgmma" if hopper else "mma_sync"))
            if not ok:
                failures += 1
                print(log[-2000:])
for arch in args.arch:
    counts = families.get(arch, {})
    print("%s: %d wgmma, %d mma_sync, %d with window masks" % (
        arch, counts.get("wgmma", 0), counts.get("mma_sync", 0), windowed.get(arch, 0)))
print("%d kernels checked, %d failures" % (checked, failures))
sys.exit(1 if failures or not checked else 0)
